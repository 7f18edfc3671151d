"""Recipes: a model and its training settings, by name, overridable field by field.

A recipe is a JSON file in `recipes/` (installed as the package `hnet_recipes`)
or any path ending in `.json`:

    {"description": "...",
     "base": "tiny",                  # optional: inherit from another recipe
     "model": {official HNetConfig JSON},
     "train": {"seq_len": 1024, "batch_size": 8, "steps": 600, "lr": 2e-3, ...}}

Resolution: the base chain is merged first (objects merge key by key, anything
else - lists included - is replaced), then command-line overrides
`--set train.lr=1e-3 --set model.d_model=[64,128]` (the value is JSON when it
parses as JSON, a string otherwise). Every key must be a known field: a typo is
a one-line ConfigError naming it and the closest known field.

The resolved recipe (no "base", every train field filled in) is what a run
saves as RUN/recipe.json; `Recipe.from_dict` reads it back.
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from hnet_cli import jsonio
from hnet_cli.errors import ConfigError
from hnet_cli.model.config import AttnConfig, HNetConfig, SSMConfig
from hnet_cli.settings import TRAIN_KEYS, TRAIN_OBJECT_KEYS, TrainSettings

RECIPE_PACKAGE = "hnet_recipes"
TRAIN_FIELDS = frozenset(TRAIN_KEYS)

# The model fields `--set model.NAME` takes, from the config's dataclasses; nested objects list theirs.
_NESTED = {"ssm_cfg": SSMConfig, "attn_cfg": AttnConfig}
MODEL_FIELDS: dict[str, frozenset | None] = {
    f.name: frozenset(_NESTED[f.name].__dataclass_fields__) if f.name in _NESTED else None
    for f in fields(HNetConfig) if f.init and f.name != "extra"
}
TOP_FIELDS = {"description", "base", "model", "train"}


@dataclass
class Recipe:
    """A resolved recipe: the model config and the training settings, each parsed once."""

    name: str
    description: str
    model: HNetConfig
    train: TrainSettings

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "model": self.model.to_dict(),
                "train": self.train.to_flat()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict, source: str = "recipe") -> "Recipe":
        _check_keys(data, source, allow_name=True)
        if "base" in data:
            raise ConfigError(f"{source}: a resolved recipe has no 'base'")
        return _build(data.get("name", source), data, source)


# ---------------------------------------------------------------------------- lookup


def recipes_dir() -> Path:
    from hnet_cli.bundled import ensure_bundled_packages

    ensure_bundled_packages()  # a source checkout run without installing
    return Path(str(resources.files(RECIPE_PACKAGE)))


def available_recipes() -> dict[str, str]:
    """Name -> description of every bundled recipe."""
    out = {}
    for path in sorted(recipes_dir().glob("*.json")):
        try:
            out[path.stem] = jsonio.loads(path.read_text()).get("description", "")
        except (OSError, jsonio.JSONDecodeError):
            out[path.stem] = "(unreadable)"
    return out


def _read_raw(name_or_path: str) -> tuple[dict, str]:
    """The raw JSON of a recipe given by bundled name or by path."""
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".json") or path.is_file():
        source = str(path)
    else:
        path = recipes_dir() / f"{text}.json"
        source = f"recipe {text!r}"
        if not path.is_file():
            names = sorted(available_recipes())
            close = difflib.get_close_matches(text, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown recipe {text!r}{hint} (available: {', '.join(names)})")
    try:
        data = jsonio.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{source}: recipe file not found") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read recipe ({exc.strerror})") from None
    except jsonio.JSONDecodeError as exc:
        raise ConfigError(f"{source}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a recipe is a JSON object")
    # A run's own RUN/recipe.json (a resolved recipe) names the recipe it came from; it is
    # accepted as a recipe file, named like any other by the file it is read from.
    _check_keys(data, source, allow_name=True)
    data.pop("name", None)
    return data, source


def _check_keys(data: dict, source: str, allow_name: bool = False) -> None:
    allowed = TOP_FIELDS | ({"name"} if allow_name else set())
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{source}: unknown recipe field {key!r}{_suggest(key, allowed)}")
    for key in data.get("train", {}) or {}:
        if key not in TRAIN_FIELDS:
            raise ConfigError(f"{source}: unknown field 'train.{key}'{_suggest(key, TRAIN_FIELDS, 'train.')}")
    model = data.get("model", {}) or {}
    if not isinstance(model, dict):
        raise ConfigError(f"{source}: 'model' must be an object (an H-Net config)")
    for key, value in model.items():
        if key not in MODEL_FIELDS:
            raise ConfigError(f"{source}: unknown field 'model.{key}'{_suggest(key, MODEL_FIELDS, 'model.')}")
        sub = MODEL_FIELDS[key]
        if sub is not None and isinstance(value, dict):
            for k in value:
                if k not in sub:
                    raise ConfigError(f"{source}: unknown field 'model.{key}.{k}'{_suggest(k, sub, f'model.{key}.')}")


def _suggest(key: str, known, prefix: str = "") -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    if close:
        return f"; did you mean '{prefix}{close[0]}'?"
    return f" (known: {', '.join(prefix + k for k in sorted(known))})"


def _merge(base: dict, top: dict) -> dict:
    """Objects merge key by key; anything else in `top` replaces `base`."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve_raw(name_or_path: str, seen: tuple = ()) -> dict:
    data, source = _read_raw(name_or_path)
    base = data.pop("base", None)
    if base is None:
        return data
    if base in seen or base == name_or_path:
        raise ConfigError(f"{source}: recipe inheritance loops through {base!r}")
    parent = _resolve_raw(base, seen + (name_or_path,))
    parent.pop("description", None)
    # The model of a recipe replaces its base's model as a whole when it names a new
    # arch_layout (a different shape); otherwise fields merge (e.g. only d_model changes).
    if "model" in data and "arch_layout" in data["model"]:
        parent.pop("model", None)
    return _merge(parent, data)


# ---------------------------------------------------------------------------- overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    """'train.lr=1e-3' -> (['train', 'lr'], 0.001). JSON values; anything else is a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: expected FIELD=VALUE, e.g. train.lr=1e-3")
    try:
        value = jsonio.loads(raw)
    except jsonio.JSONDecodeError:
        value = raw
    parts = key.split(".")
    if parts[0] not in ("model", "train") or len(parts) < 2:
        raise ConfigError(f"--set {key}: fields are model.NAME or train.NAME (e.g. train.lr, model.d_model)")
    section = parts[0]
    if section == "train":
        if parts[1] not in TRAIN_FIELDS:
            raise ConfigError(f"--set {key}: unknown field{_suggest(parts[1], TRAIN_FIELDS, 'train.')}")
        if len(parts) > 2 and parts[1] not in TRAIN_OBJECT_KEYS:
            raise ConfigError(f"--set {key}: train.{parts[1]} has no sub-fields")
        if len(parts) > 3:
            raise ConfigError(f"--set {key}: too many levels")
    else:
        if parts[1] not in MODEL_FIELDS:
            raise ConfigError(f"--set {key}: unknown field{_suggest(parts[1], MODEL_FIELDS, 'model.')}")
        sub = MODEL_FIELDS[parts[1]]
        if len(parts) > 2:
            if sub is None or len(parts) > 3:
                raise ConfigError(f"--set {key}: model.{parts[1]} has no sub-fields")
            if parts[2] not in sub:
                raise ConfigError(f"--set {key}: unknown field{_suggest(parts[2], sub, f'model.{parts[1]}.')}")
    return parts, value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    out = copy.deepcopy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text}: {part} is not an object")
        node[parts[-1]] = value
    return out


# ---------------------------------------------------------------------------- build


def _build(name: str, data: dict, source: str) -> Recipe:
    if "model" not in data:
        raise ConfigError(f"{source}: the recipe has no 'model'")
    train = TrainSettings.from_flat(dict(data.get("train", {}) or {}), f"{source}: train")
    cfg = HNetConfig.from_dict(copy.deepcopy(data["model"]), source=f"recipe {name}: model")
    for key, value, need in (("lr_multipliers", train.optim.lr_multipliers, cfg.num_stages + 1),
                             ("compression_targets", train.objective.compression_targets, cfg.num_stages)):
        if value is not None and len(value) != need:
            raise ConfigError(
                f"{source}: train.{key} has {len(value)} entries but the model has "
                f"{cfg.num_stages} stage(s) (needs {need})"
            )
    return Recipe(name=name, description=data.get("description", ""), model=cfg, train=train)


def load_recipe(name_or_path: str, overrides: list[str] | None = None) -> Recipe:
    """A bundled recipe by name (`tiny`, `dna-tiny`, ...) or a JSON file, with `--set` overrides."""
    data = _resolve_raw(str(name_or_path))
    data = apply_overrides(data, list(overrides or []))
    _check_keys(data, f"recipe {name_or_path!r}")
    name = Path(str(name_or_path)).stem if str(name_or_path).endswith(".json") else str(name_or_path)
    return _build(name, data, f"recipe {name}")
