"""Weight files: safetensors (one file, or shards listed in model.safetensors.index.json) and official `.pt`.

Nothing here executes code from a file: safetensors holds tensors only, and
`.pt` files are read with `torch.load(weights_only=True)`.

The sharded layout is the Hugging Face one, so folders made by other tools
load here and ours load there:

    model.safetensors.index.json   {"metadata": {...}, "weight_map": {tensor name: shard file}}
    model-00001-of-00003.safetensors
    ...
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from hnet_cli.errors import CheckpointError
from hnet_cli.outputs import write_output

WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
SHARD_PATTERN = "model{suffix}.safetensors"  # huggingface_hub fills in -00001-of-00003


def torch_load_safely(path: Path, missing: str = "checkpoint not found"):
    """torch.load(weights_only=True): tensors, numbers, strings, lists and dicts; never code.

    Anything else (a raw pickle, a pickled object) is refused with one line of
    our own: torch's message would advise weights_only=False, which is exactly
    what must not be done with a file of unknown origin, and its warnings
    about pickle protocols are not the user's business.
    """
    import pickle
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: {missing}") from None
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path}: not a file of tensors (a pickle of other objects); it is not loaded, since that could run code"
        ) from None
    except Exception as exc:  # zip errors, truncated files
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise CheckpointError(f"{path}: cannot read as a PyTorch file ({type(exc).__name__}: {first})") from None


def read_pt(path: Path) -> dict[str, torch.Tensor]:
    obj = torch_load_safely(path)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: does not contain a state dict of tensors")
    return obj


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read safetensors weights ({exc})") from None


def read_index(path: Path) -> dict:
    """The parsed model.safetensors.index.json, checked to be {"weight_map": {name: file}}."""
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the shard index ({exc})") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CheckpointError(f"{path}: not a safetensors shard index (no \"weight_map\" of tensor -> file)")
    for shard in set(weight_map.values()):
        if Path(shard).is_absolute() or ".." in Path(shard).parts:
            raise CheckpointError(f"{path}: shard {shard!r} lies outside the checkpoint folder")
    return index


def read_sharded(index_path: Path) -> dict[str, torch.Tensor]:
    weight_map = read_index(index_path)["weight_map"]
    state: dict[str, torch.Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        shard_path = index_path.parent / shard
        if not shard_path.is_file():
            raise CheckpointError(f"{index_path}: shard {shard} is missing")
        state.update(read_safetensors(shard_path))
    listed = [k for k in weight_map if k not in state]
    if listed:
        raise CheckpointError(f"{index_path}: {len(listed)} tensors listed in the index are in no shard (e.g. {listed[0]})")
    return state


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a weights file: .safetensors, a shard index, or a .pt state dict."""
    if path.name.endswith(".index.json"):
        return read_sharded(path)
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    return read_pt(path)


def safetensors_metadata(path: Path) -> dict[str, str]:
    """The string metadata of a safetensors header (or of a shard index); {} when there is none or it cannot be read."""
    try:
        if path.name.endswith(".index.json"):
            meta = read_index(path).get("metadata") or {}
            return {k: v for k, v in meta.items() if isinstance(v, str)} if isinstance(meta, dict) else {}
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            return dict(f.metadata() or {})
    except Exception:  # damaged files are reported by the loader, with the reason
        return {}


def parse_size(size: int | str) -> int:
    """Bytes from 2000000, "500MB", "2GB" or "1GiB"."""
    if isinstance(size, int) and not isinstance(size, bool):
        value = size
    else:
        text = str(size).strip().upper().replace(" ", "")
        units = {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "KB": 10**3, "MB": 10**6, "GB": 10**9, "B": 1}
        for unit, factor in units.items():
            if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
                value = int(float(text[: -len(unit)]) * factor)
                break
        else:
            if not text.isdigit():
                raise ValueError(f"not a size: {size!r} (e.g. 2GB, 500MB or a number of bytes)")
            value = int(text)
    if value <= 0:
        raise ValueError(f"shard size must be positive, got {size!r}")
    return value


def write_safetensors(directory: Path, state: dict[str, torch.Tensor], metadata: dict[str, str],
                      max_shard_size: int | str | None = None) -> list[Path]:
    """Write `state` as model.safetensors, or as shards plus an index when it exceeds `max_shard_size`.

    Every file is written atomically; files of the other layout left by an
    earlier save into the same folder are removed once the new one is complete,
    so the folder never holds two different models. Returns the files written.
    """
    from safetensors.torch import save

    written: list[Path] = []
    if max_shard_size is None:
        write_output(directory / WEIGHTS_NAME, save(state, metadata=metadata))
        written.append(directory / WEIGHTS_NAME)
    else:
        try:
            from huggingface_hub import split_torch_state_dict_into_shards
        except ImportError:
            raise CheckpointError("writing sharded safetensors needs huggingface_hub: pip install 'hnet-cli[hub]'") from None
        # huggingface_hub plans the shards (names, sizes, tensors that share storage) the way
        # every Hub tool expects; we write the files ourselves to keep each write atomic.
        plan = split_torch_state_dict_into_shards(state, filename_pattern=SHARD_PATTERN,
                                                  max_shard_size=parse_size(max_shard_size))
        for filename, names in plan.filename_to_tensors.items():
            shard = {name: state[name] for name in names}
            write_output(directory / filename, save(shard, metadata=metadata))
            written.append(directory / filename)
        if plan.is_sharded:
            index = {"metadata": {**metadata, "total_size": plan.metadata.get("total_size")},
                     "weight_map": plan.tensor_to_filename}
            write_output(directory / INDEX_NAME, json.dumps(index, indent=2, sort_keys=True) + "\n")
            written.append(directory / INDEX_NAME)
    _remove_stale(directory, keep={p.name for p in written})
    return written


def _remove_stale(directory: Path, keep: set[str]) -> None:
    stale = [directory / WEIGHTS_NAME, directory / INDEX_NAME, *directory.glob("model-*-of-*.safetensors")]
    for path in stale:
        if path.name not in keep and path.is_file():
            path.unlink()
