"""Reading and writing model checkpoints. Nothing here executes code from a file.

Formats:
- ours: a directory with `config.json` (official config format) and
  `model.safetensors`. A training run directory holds several of them under
  `checkpoints/`, with `checkpoints/LATEST` and `checkpoints/BEST` naming one.
- official: a `.pt` state dict of the released model (`torch.load(...,
  weights_only=True)`), with its JSON config given separately. Files that wrap
  the state dict as {"state_dict": ...} are accepted too.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from hnet_cli.errors import CheckpointError, ConfigError
from hnet_cli.model.config import HNetConfig, load_config
from hnet_cli.model.hnet import HNetLM
from hnet_cli.outputs import write_output

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CHECKPOINTS_DIR = "checkpoints"
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")


def resolve_checkpoint_dir(path: str | Path, which: str = "best") -> Path:
    """A checkpoint directory from a checkpoint dir or a run dir (its BEST, else LATEST)."""
    path = Path(path)
    if (path / WEIGHTS_NAME).is_file():
        return path
    ckdir = path / CHECKPOINTS_DIR
    if ckdir.is_dir():
        order = ["BEST", "LATEST"] if which == "best" else ["LATEST", "BEST"]
        for pointer in order:
            f = ckdir / pointer
            if f.is_file():
                target = ckdir / f.read_text().strip()
                if (target / WEIGHTS_NAME).is_file():
                    return target
        raise CheckpointError(f"{path}: run directory has no complete checkpoint yet")
    raise CheckpointError(f"{path}: not a checkpoint (no {WEIGHTS_NAME}) or run directory (no {CHECKPOINTS_DIR}/)")


def _read_state_dict_pt(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except Exception as exc:  # pickle errors, zip errors, refused globals
        raise CheckpointError(f"{path}: cannot read as a PyTorch state dict ({type(exc).__name__}: {exc})".split("\n")[0]) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: does not contain a state dict of tensors")
    return obj


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
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(state[k].to(v.dtype))


def _find_config(path: Path, config) -> HNetConfig:
    if config is not None:
        return load_config(config)
    candidates = [path.parent / CONFIG_NAME, path.with_suffix(".json"), path.parent / f"config_{path.stem}.json"]
    for c in candidates:
        if c.is_file():
            return HNetConfig.from_json(c)
    raise ConfigError(f"{path}: no config given; pass --config CONFIG.json (the model's JSON config)")


def checkpoint_config(path: str | Path, config=None) -> HNetConfig:
    """The config of the model `load(path, config)` would return, without reading its weights."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.is_dir():
        return load_config(config) if config is not None else HNetConfig.from_json(resolve_checkpoint_dir(path) / CONFIG_NAME)
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise CheckpointError(
            f"{path}: not a checkpoint (expected a run or checkpoint directory, a .safetensors or a .pt file)"
        )
    return _find_config(path, config)


def build_model(config, device=None, dtype=None) -> HNetLM:
    return HNetLM(load_config(config), device=device, dtype=dtype)


def load(path: str | Path, config=None, device="cpu", dtype=None) -> HNetLM:
    """A model from our checkpoint/run directory, a safetensors file, or an official `.pt`.

    `config`: path, dict or HNetConfig; required for official `.pt` files
    (otherwise looked for next to the file). The model is returned in eval mode.
    """
    path = Path(path)
    cfg = checkpoint_config(path, config)
    weights = resolve_checkpoint_dir(path) / WEIGHTS_NAME if path.is_dir() else path
    model = HNetLM(cfg, device="meta")
    model = model.to_empty(device=device)
    model.tie_weights()
    if weights.suffix == ".safetensors":
        state = _read_safetensors(weights)
    else:
        state = _read_state_dict_pt(weights)
    load_state_dict_strict(model, state, str(path))
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


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read safetensors weights ({exc})") from None


def save_model(model: HNetLM, directory: str | Path, extra_metadata: dict | None = None,
               state_dict: dict[str, torch.Tensor] | None = None) -> Path:
    """Write `config.json` and `model.safetensors` into `directory`, each atomically.

    `state_dict` replaces `model.state_dict()` (e.g. the gathered weights of a sharded model).
    """
    from safetensors.torch import save

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    source = model.state_dict() if state_dict is None else state_dict
    state = {k: v.detach().contiguous().cpu() for k, v in source.items()}
    if model.config.tie_embeddings:
        state.pop("lm_head.weight", None)
    metadata = {"format": "hnet", **{k: str(v) for k, v in (extra_metadata or {}).items()}}
    write_output(directory / WEIGHTS_NAME, save(state, metadata=metadata))
    write_output(directory / CONFIG_NAME, json.dumps(model.config.to_dict(), indent=4) + "\n")
    return directory
