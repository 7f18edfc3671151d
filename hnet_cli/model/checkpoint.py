"""Finding, reading and writing model checkpoints. Nothing here executes code from a file.

A model is named by
- a checkpoint folder: `config.json` (official config format) with
  `model.safetensors`, or with shards listed in `model.safetensors.index.json`;
- a training run folder: several checkpoints under `checkpoints/`, with
  `checkpoints/LATEST` and `checkpoints/BEST` naming one (BEST is loaded);
- a weights file: `.safetensors`, or an official `.pt` state dict
  (`torch.load(..., weights_only=True)`; {"state_dict": ...} wrappers too) with
  its JSON config given or next to it;
- a folder holding one official weights file and its config (a Hub repository);
- a Hugging Face Hub id, `org/name[@revision]` (the `hub` extra; model/hub.py),
  which becomes one of the folders above.

Checkpoints describe themselves: `config.json` carries an "hnet" block with the
domain, reader options, BOS/EOS, recipe and the hnet version that wrote it,
and the safetensors header carries the same block as JSON. Checkpoints from
before that (and the official ones) have neither and load as before.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from hnet_cli.errors import CheckpointError, ConfigError
from hnet_cli.model import hub
from hnet_cli.model.config import HNetConfig, load_config
from hnet_cli.model.hnet import BOS, EOS, HNetLM
from hnet_cli.model.memory import check_fits
from hnet_cli.model.skeleton import allocate, skeleton
from hnet_cli.model.weights import (
    INDEX_NAME,
    WEIGHTS_NAME,
    read_weights,
    safetensors_metadata,
    write_safetensors,
)
from hnet_cli.outputs import write_output

CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
CHECKPOINTS_DIR = "checkpoints"
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
OFFICIAL_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
METADATA_KEY = "hnet"  # the block of config.json (and safetensors metadata key) describing the checkpoint
RUN_INFO_NAME = "run.json"  # what `hnet train` records in a run folder (hnet_cli.run reads the rest)
RUN_FIELDS = ("domain", "unit", "domain_options", "recipe", "arch", "compression_targets", "hnet_version")


def _has_weights(folder: Path) -> bool:
    return (folder / WEIGHTS_NAME).is_file() or (folder / INDEX_NAME).is_file()


def _weights_in(folder: Path) -> Path:
    # A shard index wins: a single file next to it is what an interrupted re-save left behind.
    return folder / INDEX_NAME if (folder / INDEX_NAME).is_file() else folder / WEIGHTS_NAME


def resolve_checkpoint_dir(path: str | Path, which: str = "best") -> Path:
    """A checkpoint directory from a checkpoint dir or a run dir (its BEST, else LATEST)."""
    path = Path(path)
    if _has_weights(path):
        return path
    ckdir = path / CHECKPOINTS_DIR
    if ckdir.is_dir():
        order = ["BEST", "LATEST"] if which == "best" else ["LATEST", "BEST"]
        for pointer in order:
            f = ckdir / pointer
            if f.is_file():
                target = ckdir / f.read_text().strip()
                if _has_weights(target):
                    return target
        raise CheckpointError(f"{path}: run directory has no complete checkpoint yet")
    raise CheckpointError(f"{path}: not a checkpoint (no {WEIGHTS_NAME} or {INDEX_NAME}) or run directory "
                          f"(no {CHECKPOINTS_DIR}/)")


@dataclass(frozen=True)
class ModelFiles:
    """Where a named model's pieces are on disk."""

    source: str  # what the user gave: a path or a Hub id
    weights: Path  # .safetensors, a shard index, or an official .pt
    config: Path | None  # its config.json, if one was found
    run_dir: Path | None = None  # the training run the checkpoint belongs to, if any


def _config_next_to(weights: Path) -> Path | None:
    candidates = [weights.parent / CONFIG_NAME, weights.with_suffix(".json"),
                  weights.parent / f"config_{weights.stem}.json"]
    return next((c for c in candidates if c.is_file() and c != weights), None)


def locate(spec: str | Path, which: str = "best") -> ModelFiles:
    """The weights and config of a model named by `spec` (see the module docstring); Hub ids are fetched."""
    path = hub.local_path(spec)
    if not path.exists():
        raise CheckpointError(f"{spec}: checkpoint not found")
    if path.is_dir():
        if _has_weights(path) or (path / CHECKPOINTS_DIR).is_dir():
            folder = resolve_checkpoint_dir(path, which)
            config = folder / CONFIG_NAME
            run_dir = folder.parent.parent if folder.parent.name == CHECKPOINTS_DIR else None
            return ModelFiles(str(spec), _weights_in(folder), config if config.is_file() else None, run_dir)
        official = sorted(p for p in path.iterdir() if p.suffix.lower() in OFFICIAL_SUFFIXES and p.is_file())
        if len(official) == 1:  # e.g. a Hub repository of a released model: hnet_2stage_XL.pt + config
            return ModelFiles(str(spec), official[0], _config_next_to(official[0]))
        what = f"{len(official)} weights files ({', '.join(p.name for p in official[:3])})" if official else "no weights"
        raise CheckpointError(f"{spec}: not a checkpoint ({what}; expected {WEIGHTS_NAME}, {INDEX_NAME}, "
                              f"{CHECKPOINTS_DIR}/ or one .pt file)")
    if path.name.endswith(".index.json"):
        return ModelFiles(str(spec), path, _config_next_to(path))
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise CheckpointError(
            f"{spec}: not a checkpoint (expected a run or checkpoint directory, a .safetensors or a .pt file)"
        )
    return ModelFiles(str(spec), path, _config_next_to(path))


def read_metadata(files: ModelFiles) -> dict:
    """What the checkpoint says about itself: config.json's "hnet" block over the safetensors header's; {} if none."""
    described: dict = {}
    if files.weights.suffix == ".safetensors" or files.weights.name.endswith(".index.json"):
        header = safetensors_metadata(files.weights)
        if isinstance(header.get("domain"), str):  # the one entry written before the block existed
            described["domain"] = header["domain"]
        try:
            block = json.loads(header.get(METADATA_KEY, "null"))
        except ValueError:
            block = None
        if isinstance(block, dict):
            described.update(block)
    if files.config is not None:
        try:
            block = json.loads(files.config.read_text(encoding="utf-8")).get(METADATA_KEY)
        except (OSError, ValueError, AttributeError):
            block = None
        if isinstance(block, dict):
            described.update(block)
    if described:
        return described
    if files.run_dir is not None:  # a run from before checkpoints described themselves
        try:
            info = json.loads((files.run_dir / RUN_INFO_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict):
            return {k: info[k] for k in RUN_FIELDS if k in info}
    return {}


def architecture_only(cfg: HNetConfig) -> HNetConfig:
    """`cfg` without the checkpoint's description block: the config is the architecture alone."""
    if METADATA_KEY not in cfg.extra:
        return cfg
    return dataclasses.replace(cfg, extra={k: v for k, v in cfg.extra.items() if k != METADATA_KEY})


def checkpoint_metadata(spec: str | Path) -> dict:
    """read_metadata for a model name; {} when it cannot be found (loading it reports why)."""
    try:
        return read_metadata(locate(spec))
    except (CheckpointError, ConfigError, OSError):
        return {}


def load_state_dict_strict(model: HNetLM, state: dict[str, torch.Tensor], source: str) -> None:
    """Load with exact key and shape match; mismatches become one readable line."""
    own = model.state_dict()
    if model.config.tie_embeddings and "lm_head.weight" not in state and "embeddings.weight" in state:
        state = {**state, "lm_head.weight": state["embeddings.weight"]}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise CheckpointError(f"{source}: weights do not match the config: " + ", ".join(parts))
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(
                f"{source}: weights do not match the config: {k} has shape {tuple(state[k].shape)}, config gives {tuple(v.shape)}"
            )
    for k in own:
        value = state[k]
        if value.is_floating_point() and value.device.type != "meta" and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{source}: weight {k} holds NaN or infinite values (did training diverge?); "
                                  "every score it gave would be NaN")
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(state[k].to(v.dtype))


def _config_for(files: ModelFiles, config) -> HNetConfig:
    if config is not None:
        return load_config(config)
    if files.config is not None:
        return HNetConfig.from_json(files.config)
    raise ConfigError(f"{files.source}: no config given; pass --config CONFIG.json (the model's JSON config)")


def checkpoint_config(path: str | Path, config=None) -> HNetConfig:
    """The config of the model `load(path, config)` would return, without reading its weights."""
    return _architecture(locate(path), config)


def _architecture(files: ModelFiles, config) -> HNetConfig:
    return architecture_only(_config_for(files, config))


def build_model(config, device=None, dtype=None) -> HNetLM:
    config = load_config(config)
    check_fits(config, device or "cpu")
    return HNetLM(config, device=device, dtype=dtype)


def load(path: str | Path, config=None, device="cpu", dtype=None) -> HNetLM:
    """A model from any name in the module docstring: run or checkpoint folder, weights file, Hub id.

    `config`: path, dict or HNetConfig; required for official `.pt` files
    without a config next to them. The model is returned in eval mode, with
    what the checkpoint says about itself in `model.metadata` ({} if nothing).
    """
    files = locate(path)
    cfg = _architecture(files, config)
    metadata = read_metadata(files)
    model = skeleton(HNetLM, cfg)
    check_fits(cfg, device, source=str(path), parameters=sum(p.numel() for p in model.parameters()))
    model = allocate(model, device)
    model.tie_weights()
    load_state_dict_strict(model, read_weights(files.weights), str(path))
    model.metadata = metadata
    if dtype is not None:
        model = cast_model(model, dtype)
    return model.eval()


def cast_model(model: HNetLM, dtype: torch.dtype) -> HNetLM:
    """Cast to `dtype`, keeping residual_proj in fp32 as the released model does."""
    model.to(dtype)
    for module in model.modules():
        if hasattr(module, "residual_proj"):
            module.residual_proj.float()
    return model


def metadata_block(model: HNetLM, metadata: dict | None = None) -> dict:
    """The "hnet" block written with a model: its own metadata, `metadata` on top, BOS/EOS and our version."""
    from hnet_cli.version import __version__

    block = {"bos": BOS, "eos": EOS, **dict(getattr(model, "metadata", None) or {}), **dict(metadata or {})}
    block["hnet_version"] = __version__
    return block


def save_model(model: HNetLM, directory: str | Path, extra_metadata: dict | None = None,
               state_dict: dict[str, torch.Tensor] | None = None, *, metadata: dict | None = None,
               max_shard_size: int | str | None = None, model_card: bool = False) -> Path:
    """Write `config.json` and the weights into `directory`, each file atomically.

    `metadata`: what the checkpoint should say about itself (domain,
    domain_options, recipe, ...), on top of `model.metadata`; it goes into
    config.json's "hnet" block and the safetensors header. `extra_metadata`:
    more safetensors header entries (strings). `state_dict` replaces
    `model.state_dict()` (e.g. the gathered weights of a sharded model).
    `max_shard_size` (bytes, or "2GB"): split the weights into shards with a
    model.safetensors.index.json; `model_card`: write README.md for the Hub.
    Both need huggingface_hub (the `hub` extra).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    source = model.state_dict() if state_dict is None else state_dict
    state = {k: v.detach().contiguous().cpu() for k, v in source.items()}
    if model.config.tie_embeddings:
        state.pop("lm_head.weight", None)
    block = metadata_block(model, metadata)
    header = {"format": "hnet", METADATA_KEY: json.dumps(block, sort_keys=True),
              **({"domain": block["domain"]} if isinstance(block.get("domain"), str) else {}),
              **{k: str(v) for k, v in (extra_metadata or {}).items()}}
    write_safetensors(directory, state, header, max_shard_size)
    config = {**model.config.to_dict(), METADATA_KEY: block}
    write_output(directory / CONFIG_NAME, json.dumps(config, indent=4) + "\n")
    if model_card:
        from hnet_cli.model.card import model_card_text

        write_output(directory / CARD_NAME, model_card_text(model, block))
    return directory
