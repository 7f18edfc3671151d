"""Training settings: small dataclasses, one per concern, each validating itself.

A recipe's "train" object is flat JSON ({"seq_len": 1024, "lr": 1e-3, ...}:
the names `--set train.NAME=VALUE` takes); in Python it is parsed once into
sections:

    settings.data        sequence length, batch layout, split, shuffling, reader options
    settings.schedule    length of the run (steps / max_bytes / max_time) and the lr schedule
    settings.optim       AdamW: lr, per-stage multipliers, decay, betas, clipping
    settings.objective   the ratio loss: alpha and the target compression N per stage
    settings.checkpoint  how often to evaluate, save and log; how many checkpoints to keep
    settings.speed       precision, compiled blocks, chunk budgets
    settings.parallel    ddp or fsdp under torchrun
    settings.health      when a runaway compression ratio is reported
    settings.seed        the one seed of the run (weights, data order, augmentation)

Each field carries its own checks; the JSON name of a field is its own name
unless its metadata says otherwise (`schedule` for ScheduleSettings.kind, ...).
The allowed `--set train.NAME` keys are derived from these dataclasses.
Lengths and counts are per process: one optimizer step sees
batch_size * grad_accum * world_size rows of seq_len bytes.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from hnet_cli.errors import ConfigError

SCHEDULES = ("wsd", "cosine", "constant")

# A check takes a value and returns what is wrong with it (completing "train.NAME ..."), or None.
Check = Callable[[Any], "str | None"]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def positive_int(v):
    return None if _is_int(v) and v > 0 else f"must be a positive integer, got {v!r}"


def positive_number(v):
    return None if _is_number(v) and v > 0 else f"must be a positive number, got {v!r}"


def non_negative(v):
    return None if _is_number(v) and v >= 0 else f"must be a number >= 0, got {v!r}"


def optional(check: Check) -> Check:
    return lambda v: None if v is None else check(v)


def between(low: float, high: float, open_ends: bool = False) -> Check:
    def check(v):
        inside = _is_number(v) and (low < v < high if open_ends else low <= v <= high)
        return None if inside else f"must be between {low:g} and {high:g}, got {v!r}"
    return check


def one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else f"{v!r}: choose one of {', '.join(choices)}"


def positive_list(v):
    good = isinstance(v, list) and v and all(_is_number(x) and x > 0 for x in v)
    return None if good else f"must be null or a list of positive numbers, got {v!r}"


def setting(default, *checks: Check, key: str | None = None):
    """A field with its checks (and its JSON name, when not the field's own)."""
    meta = {"checks": checks, "key": key}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


class Section:
    """A group of settings that validates itself when built (see `setting`)."""

    def validate(self, where: str) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            for check in f.metadata.get("checks", ()):
                problem = check(value)
                if problem:
                    raise ConfigError(f"{where}.{json_key(f)} {problem}")
        self.check_together(where)

    def check_together(self, where: str) -> None:
        """Checks that involve several fields of the section."""


def json_key(f: dataclasses.Field) -> str:
    return f.metadata.get("key") or f.name


@dataclass
class DataSettings(Section):
    seq_len: int = setting(1024, positive_int)  # bytes per packed row (documents start with BOS = 254)
    batch_size: int = setting(8, positive_int)  # rows per micro-batch per process
    grad_accum: int = setting(1, positive_int)  # micro-batches per optimizer step
    val_fraction: float = setting(0.05, between(0, 1, open_ends=True))  # held out (hnet_cli.data.split)
    eval_bytes: int = setting(1 << 20, positive_int)  # at most this many validation bytes per evaluation
    domain_options: dict = setting({}, lambda v: None if isinstance(v, dict) else "must be an object of reader options")
    shuffle_docs: int = setting(4096, positive_int)  # document shuffle buffer (documents)
    shuffle_rows: int = setting(1024, positive_int)  # row shuffle buffer (rows)
    prefetch: int = setting(4, positive_int)  # batches prepared ahead by the background loader

    def check_together(self, where: str) -> None:
        if self.seq_len < 2:
            raise ConfigError(f"{where}.seq_len must be at least 2")


@dataclass
class ScheduleSettings(Section):
    # the length of the run: `steps`, or `max_bytes` of training data; `max_time` stops early
    steps: int | None = setting(None, optional(positive_int))
    max_bytes: int | None = setting(None, optional(positive_int))
    max_time: float | None = setting(None, optional(positive_number))  # seconds; sized from the measured speed
    warmup: int = setting(100, lambda v: None if _is_int(v) and v >= 0 else "must be a number of steps >= 0")
    kind: str = setting("wsd", one_of(*SCHEDULES), key="schedule")  # wsd (warmup-stable-decay), cosine, constant
    decay_fraction: float = setting(0.2, between(0, 1))  # wsd: the last fraction of steps decays linearly
    min_lr_ratio: float = setting(0.0, between(0, 1))  # the final learning rate as a fraction of lr

    def check_together(self, where: str) -> None:
        if self.steps is None and self.max_bytes is None and self.max_time is None:
            raise ConfigError(f"{where}: set one of steps, max_bytes or max_time")

    def set_steps(self, steps: int) -> None:
        """The run lasts exactly `steps` (--steps): no byte or time limit."""
        self.steps, self.max_bytes, self.max_time = steps, None, None


def _betas(v):
    good = isinstance(v, list) and len(v) == 2 and all(_is_number(b) and 0 <= b < 1 for b in v)
    return None if good else f"must be two numbers in [0, 1), got {v!r}"


@dataclass
class OptimSettings(Section):
    lr: float = setting(1e-3, positive_number)
    lr_multipliers: list | None = setting(None, optional(positive_list))  # per stage, outer first (outer higher)
    # the routing modules' q/k projections, on top of their stage's rate: while a byte model first
    # learns which bytes occur, the encoder's outputs grow a shared component and routing collapses
    # until q/k learn to look past it (recipes/README.md, "The DNA comparison")
    routing_lr_multiplier: float = setting(1.0, positive_number)
    weight_decay: float = setting(0.1, non_negative)  # not on norms, biases and other 1-D parameters
    betas: list = setting([0.9, 0.95], _betas)
    eps: float = setting(1e-8, non_negative)
    grad_clip: float = setting(1.0, non_negative)  # max global gradient norm; 0 = no clipping


@dataclass
class ObjectiveSettings(Section):
    ratio_loss_weight: float = setting(0.03, non_negative)  # alpha
    compression_targets: list | None = setting(None, optional(positive_list))  # N per stage; null = the domain's
    # where F and G of the ratio loss are counted under torchrun: "unit" = each micro-batch of
    # each process (world size and grad_accum never change the objective, so a run resumes
    # exactly on another number of GPUs); "global" = micro-batch m of all processes pooled,
    # like one GPU with a P times larger batch_size (one small all_reduce per micro-batch)
    ratio_stats: str = setting("unit", one_of("unit", "global"))

    def check_together(self, where: str) -> None:
        if self.compression_targets is not None and any(n <= 1 for n in self.compression_targets):
            raise ConfigError(f"{where}.compression_targets: every N must be > 1, got {self.compression_targets!r}")


@dataclass
class CheckpointSettings(Section):
    eval_every: int = setting(100, positive_int)
    checkpoint_every: int = setting(500, positive_int)
    keep_checkpoints: int = setting(3, positive_int)  # the last K, plus the best
    log_every: int = setting(1, positive_int)  # metrics.jsonl lines every K steps


@dataclass
class SpeedSettings(Section):
    dtype: str = "auto"  # auto = bf16 autocast on GPU, fp32 on CPU
    # GPU speed (hnet_cli.model.fast): compiled blocks, and chunk budgets of
    # chunk_budget_margin / N slots per row so shapes and memory do not vary
    compile: str = setting("auto", one_of("auto", "on", "off"))
    chunk_budget_margin: float | None = setting(1.25, optional(positive_number))  # null = no budget


@dataclass
class ParallelSettings(Section):
    # several processes (torchrun): ddp replicates the model, fsdp shards weights,
    # gradients and optimizer state (for models that outgrow one GPU)
    mode: str = setting("ddp", one_of("ddp", "fsdp"), key="parallel")


@dataclass
class HealthSettings(Section):
    grace: int = setting(300, positive_int, key="health_grace")  # steps before compression is watched
    patience: int = setting(200, positive_int, key="health_patience")  # steps out of range before a warning
    # out of range: bytes per chunk > factor*N or < N/factor
    factor: float = setting(2.0, lambda v: None if _is_number(v) and v > 1 else "must be > 1", key="health_factor")


@dataclass
class TrainSettings:
    """Every training setting of a recipe, by section (see the module docstring)."""

    data: DataSettings = field(default_factory=DataSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    objective: ObjectiveSettings = field(default_factory=ObjectiveSettings)
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)
    speed: SpeedSettings = field(default_factory=SpeedSettings)
    parallel: ParallelSettings = field(default_factory=ParallelSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    seed: int = 0

    def validate(self, where: str = "train") -> None:
        for section in self.sections():
            section.validate(where)
        if not _is_int(self.seed):
            raise ConfigError(f"{where}.seed must be an integer")

    def sections(self) -> list[Section]:
        return [getattr(self, f.name) for f in fields(self) if f.name != "seed"]

    @classmethod
    def from_flat(cls, flat: dict, where: str = "train") -> "TrainSettings":
        """From a recipe's flat "train" object (every key known; see TRAIN_KEYS), validated."""
        settings = cls()
        for key, value in flat.items():
            if key not in TRAIN_KEYS:
                raise ConfigError(f"{where}: unknown field {key!r}")
            settings.set_flat(key, list(value) if isinstance(value, tuple) else value)
        settings.validate(where)
        return settings

    def _holder(self, key: str) -> tuple[Any, str]:
        """The object holding the setting of flat JSON name `key` (`--set train.NAME`), and its field."""
        section, name = TRAIN_KEYS[key]
        return (self if section is None else getattr(self, section)), name

    def get_flat(self, key: str):
        holder, name = self._holder(key)
        return getattr(holder, name)

    def set_flat(self, key: str, value) -> None:
        holder, name = self._holder(key)
        setattr(holder, name, value)

    def to_flat(self) -> dict:
        """The flat "train" object, every field filled in (what RUN/recipe.json holds)."""
        flat: dict[str, Any] = {}
        for section in self.sections():
            for f in fields(section):
                flat[json_key(f)] = copy.deepcopy(getattr(section, f.name))
        flat["seed"] = self.seed
        return flat


def _train_keys() -> dict[str, tuple[str | None, str]]:
    keys: dict[str, tuple[str | None, str]] = {}
    for section in fields(TrainSettings):
        if section.name == "seed":
            keys["seed"] = (None, "seed")
            continue
        for f in fields(section.default_factory):
            keys[json_key(f)] = (section.name, f.name)
    return keys


# JSON key -> (section attribute, field name): the `--set train.NAME` names.
TRAIN_KEYS = _train_keys()
# The keys whose value is an object: `--set train.NAME.KEY=VALUE` sets one entry.
TRAIN_OBJECT_KEYS = frozenset(key for key, value in TrainSettings().to_flat().items() if isinstance(value, dict))
