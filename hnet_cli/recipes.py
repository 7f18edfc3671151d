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
import dataclasses
import difflib
import json
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from hnet_cli.errors import ConfigError
from hnet_cli.model.config import SSMConfig

RECIPE_PACKAGE = "hnet_recipes"
SCHEDULES = ("wsd", "cosine", "constant")


@dataclass
class TrainSettings:
    """Every training field a recipe may set, with its default.

    Lengths and counts are per process: one optimizer step sees
    batch_size * grad_accum * world_size rows of seq_len bytes.
    """

    # data
    seq_len: int = 1024  # bytes per packed row (documents start with BOS = 254)
    batch_size: int = 8  # rows per micro-batch per process
    grad_accum: int = 1  # micro-batches per optimizer step
    val_fraction: float = 0.05  # share of the data held out (see hnet_cli.data.split)
    eval_bytes: int = 1 << 20  # at most this many validation bytes per evaluation
    domain_options: dict = field(default_factory=dict)  # reader options of the domain (--domain-opt)
    shuffle_docs: int = 4096  # document shuffle buffer (documents)
    shuffle_rows: int = 1024  # row shuffle buffer (rows)
    prefetch: int = 4  # batches prepared ahead by the background loader
    # length of the run: `steps`, or `max_bytes` of training data; `max_time` stops early
    steps: int | None = None
    max_bytes: int | None = None
    max_time: float | None = None  # seconds; the schedule is sized from the measured speed
    # optimisation
    lr: float = 1e-3
    lr_multipliers: list | None = None  # per stage, outer first (paper: outer stages higher)
    weight_decay: float = 0.1  # not on norms, biases and other 1-D parameters
    betas: list = field(default_factory=lambda: [0.9, 0.95])
    eps: float = 1e-8
    warmup: int = 100  # steps of linear warmup
    schedule: str = "wsd"  # wsd (warmup-stable-decay), cosine or constant
    decay_fraction: float = 0.2  # wsd: the last fraction of steps decays linearly
    min_lr_ratio: float = 0.0  # the final learning rate as a fraction of lr
    grad_clip: float = 1.0  # max global gradient norm; 0 = no clipping
    # H-Net objective
    ratio_loss_weight: float = 0.03  # alpha
    compression_targets: list | None = None  # N per stage, outer first; null = the domain's
    # where F and G of the ratio loss are counted under torchrun: "unit" = each micro-batch of
    # each process (world size and grad_accum never change the objective, so a run resumes
    # exactly on another number of GPUs); "global" = micro-batch m of all processes pooled,
    # like one GPU with a P times larger batch_size (one small all_reduce per micro-batch)
    ratio_stats: str = "unit"
    # bookkeeping
    eval_every: int = 100
    checkpoint_every: int = 500
    keep_checkpoints: int = 3  # the last K, plus the best
    log_every: int = 1  # metrics.jsonl lines every K steps
    seed: int = 0
    dtype: str = "auto"  # auto = bf16 autocast on GPU, fp32 on CPU
    # GPU speed (hnet_cli.model.fast): compiled blocks, and chunk budgets of
    # chunk_budget_margin / N slots per row so shapes and memory do not vary
    compile: str = "auto"  # auto (on CUDA), on, off
    # several processes (torchrun): ddp replicates the model, fsdp shards weights,
    # gradients and optimizer state (for models that outgrow one GPU)
    parallel: str = "ddp"
    chunk_budget_margin: float | None = 1.25  # null = no budget (shapes follow each batch)
    # health
    health_grace: int = 300  # steps before compression is watched (the hockey stick)
    health_patience: int = 200  # steps out of range before a warning
    health_factor: float = 2.0  # out of range: bytes per chunk > factor*N or < N/factor

    def validate(self, where: str = "train") -> None:
        def positive(name, allow_none=False, kind=(int,)):
            value = getattr(self, name)
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
                raise ConfigError(f"{where}.{name} must be a positive {'integer' if kind == (int,) else 'number'}, got {value!r}")

        for name in ("seq_len", "batch_size", "grad_accum", "eval_bytes", "eval_every", "checkpoint_every",
                     "keep_checkpoints", "log_every", "shuffle_docs", "shuffle_rows", "prefetch"):
            positive(name)
        positive("steps", allow_none=True)
        positive("max_bytes", allow_none=True)
        positive("max_time", allow_none=True, kind=(int, float))
        positive("lr", kind=(int, float))
        if self.steps is None and self.max_bytes is None and self.max_time is None:
            raise ConfigError(f"{where}: set one of steps, max_bytes or max_time")
        if self.seq_len < 2:
            raise ConfigError(f"{where}.seq_len must be at least 2")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"{where}.val_fraction must be between 0 and 1, got {self.val_fraction!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"{where}.schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ConfigError(f"{where}.warmup must be a number of steps >= 0")
        if not 0 <= self.decay_fraction <= 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"{where}.decay_fraction and min_lr_ratio must be between 0 and 1")
        for name in ("weight_decay", "grad_clip", "ratio_loss_weight", "eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{where}.{name} must be a number >= 0, got {value!r}")
        if not (isinstance(self.betas, list) and len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas)):
            raise ConfigError(f"{where}.betas must be two numbers in [0, 1), got {self.betas!r}")
        for name in ("lr_multipliers", "compression_targets"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, list) and value and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value)):
                raise ConfigError(f"{where}.{name} must be null or a list of positive numbers, got {value!r}")
        if self.compression_targets is not None and any(n <= 1 for n in self.compression_targets):
            raise ConfigError(f"{where}.compression_targets: every N must be > 1, got {self.compression_targets!r}")
        if not isinstance(self.domain_options, dict):
            raise ConfigError(f"{where}.domain_options must be an object of reader options")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"{where}.seed must be an integer")
        if self.ratio_stats not in ("unit", "global"):
            raise ConfigError(f"{where}.ratio_stats must be unit or global, got {self.ratio_stats!r}")
        if self.parallel not in ("ddp", "fsdp"):
            raise ConfigError(f"{where}.parallel must be ddp or fsdp, got {self.parallel!r}")
        if self.compile not in ("auto", "on", "off"):
            raise ConfigError(f"{where}.compile must be auto, on or off, got {self.compile!r}")
        if self.chunk_budget_margin is not None and (
                isinstance(self.chunk_budget_margin, bool) or not isinstance(self.chunk_budget_margin, (int, float))
                or self.chunk_budget_margin <= 0):
            raise ConfigError(f"{where}.chunk_budget_margin must be null or a positive number")
        if self.health_factor <= 1:
            raise ConfigError(f"{where}.health_factor must be > 1")


TRAIN_FIELDS = {f.name for f in fields(TrainSettings)}

# The official config's fields (hnet_cli.model.config); nested objects list theirs.
MODEL_FIELDS: dict[str, Any] = {
    "arch_layout": None, "d_model": None, "d_intermediate": None, "vocab_size": None, "tie_embeddings": None,
    "ssm_cfg": set(SSMConfig.__dataclass_fields__),
    "attn_cfg": {"num_heads", "rotary_emb_dim", "window_size"},
}
TOP_FIELDS = {"description", "base", "model", "train"}


@dataclass
class Recipe:
    """A resolved recipe: the model config (official JSON dict) and the training settings."""

    name: str
    description: str
    model: dict
    train: TrainSettings

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "model": copy.deepcopy(self.model),
                "train": dataclasses.asdict(self.train)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict, source: str = "recipe") -> "Recipe":
        _check_keys(data, source, allow_name=True)
        if "base" in data:
            raise ConfigError(f"{source}: a resolved recipe has no 'base'")
        return _build(data.get("name", source), data, source)

    def model_config(self):
        from hnet_cli.model.config import HNetConfig

        return HNetConfig.from_dict(self.model, source=f"recipe {self.name}: model")


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
            out[path.stem] = json.loads(path.read_text()).get("description", "")
        except (OSError, json.JSONDecodeError):
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
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{source}: recipe file not found") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read recipe ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
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
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    parts = key.split(".")
    if parts[0] not in ("model", "train") or len(parts) < 2:
        raise ConfigError(f"--set {key}: fields are model.NAME or train.NAME (e.g. train.lr, model.d_model)")
    section = parts[0]
    if section == "train":
        if parts[1] not in TRAIN_FIELDS:
            raise ConfigError(f"--set {key}: unknown field{_suggest(parts[1], TRAIN_FIELDS, 'train.')}")
        if len(parts) > 2 and parts[1] != "domain_options":
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
    train_data = dict(data.get("train", {}) or {})
    try:
        train = TrainSettings(**train_data)
    except TypeError as exc:  # unknown keys are caught earlier; this is belt and braces
        raise ConfigError(f"{source}: {exc}") from None
    for name_ in ("betas", "lr_multipliers", "compression_targets"):
        value = getattr(train, name_)
        if isinstance(value, tuple):
            setattr(train, name_, list(value))
    train.validate(f"{source}: train")
    recipe = Recipe(name=name, description=data.get("description", ""), model=copy.deepcopy(data["model"]), train=train)
    cfg = recipe.model_config()  # validates the model section
    for name_ in ("lr_multipliers", "compression_targets"):
        value = getattr(train, name_)
        need = cfg.num_stages + 1 if name_ == "lr_multipliers" else cfg.num_stages
        if value is not None and len(value) != need:
            raise ConfigError(
                f"{source}: train.{name_} has {len(value)} entries but the model has "
                f"{cfg.num_stages} stage(s) (needs {need})"
            )
    return recipe


def load_recipe(name_or_path: str, overrides: list[str] | None = None) -> Recipe:
    """A bundled recipe by name (`tiny`, `dna-tiny`, ...) or a JSON file, with `--set` overrides."""
    data = _resolve_raw(str(name_or_path))
    data = apply_overrides(data, list(overrides or []))
    _check_keys(data, f"recipe {name_or_path!r}")
    name = Path(str(name_or_path)).stem if str(name_or_path).endswith(".json") else str(name_or_path)
    return _build(name, data, f"recipe {name}")
