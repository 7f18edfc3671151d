"""The arms of a comparison: which models, built from one reference recipe, trained alike.

An arm is named `hnet` (the reference recipe's H-Net), `transformer` or `mamba`
(the isotropic model closest to it in forward FLOPs per byte at compression 1/N,
`hnet_cli.train.baseline`), or a recipe (a bundled name or a JSON file: its own
model and optimiser settings). Every arm takes the reference's `SHARED_FIELDS`:
the data (rows, batch, split, reader options, shuffling, seed), the run's length
and learning-rate schedule, and when it evaluates and logs. So every arm reads
the same rows in the same order and is scored at the same steps; what differs
is the model and, for a recipe arm, its learning rates and H-Net objective.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from hnet_cli.errors import ConfigError
from hnet_cli.model.flops import forward_flops_per_byte
from hnet_cli.recipes import Recipe, load_recipe
from hnet_cli.train.baseline import baseline_recipe
from hnet_cli.train.build import resolve_targets

ISOTROPIC = ("transformer", "mamba")
REFERENCE = "hnet"
DEFAULT_ARMS = (REFERENCE, "transformer", "mamba")
MATCH_TOLERANCE = 0.05  # arms whose forward FLOPs per byte differ more from the reference's are flagged

# Fields every arm takes from the reference recipe (see the module docstring).
DATA_FIELDS = ("seq_len", "batch_size", "grad_accum", "val_fraction", "eval_bytes", "domain_options",
               "shuffle_docs", "shuffle_rows", "seed")
LENGTH_FIELDS = ("steps", "max_bytes", "max_time")
SCHEDULE_FIELDS = ("warmup", "schedule", "decay_fraction", "min_lr_ratio")
RECORD_FIELDS = ("eval_every", "log_every")
SHARED_FIELDS = DATA_FIELDS + LENGTH_FIELDS + SCHEDULE_FIELDS + RECORD_FIELDS

# How an arm can fail without stopping the others (each is reported, and the command fails at the end).
FAILED = ("diverged", "out of memory")


@dataclass
class Arm:
    """One model of the comparison, ready to train."""

    name: str  # as given: hnet, transformer, mamba, or the recipe's name
    kind: str  # "hnet", "transformer", "mamba" or "recipe"
    recipe: Recipe
    targets: list[float]  # N per stage (empty for isotropic models)
    flops_per_byte: float  # forward FLOPs per byte at compression 1/N (hnet_cli.model.flops)
    seed: int

    @property
    def arch(self) -> str:
        """What `hnet train --arch` calls it (recorded in RUN/run.json)."""
        return self.kind if self.kind in ISOTROPIC else "hnet"


def parse_arm_names(spec) -> list[str]:
    """'hnet,transformer' or ['hnet', 'mamba'] -> names, in order; a repeat or an empty name is an error."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [str(item).strip() for item in items]
    if not names or any(not n for n in names):
        raise ConfigError(f"--archs {spec!r}: give a comma-separated list such as hnet,transformer,mamba")
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"--archs: {name!r} is listed twice")
        seen.add(name)
    return names


def dir_name(arm_name: str) -> str:
    """The run directory's name for an arm: a recipe file's stem, else the name itself."""
    return Path(arm_name).stem if arm_name.endswith(".json") else arm_name


def check_length(recipe: Recipe) -> None:
    """Arms are compared at the same step: the length must be steps or bytes, not time."""
    if recipe.train.schedule.max_time is not None:
        raise ConfigError(f"recipe {recipe.name}: train.max_time stops each arm after a different number of steps; "
                          "a comparison needs train.steps or train.max_bytes (--steps N)")


def share_settings(recipe: Recipe, reference: Recipe) -> Recipe:
    """`recipe` with the reference's SHARED_FIELDS (a copy)."""
    out = copy.deepcopy(recipe)
    for name in SHARED_FIELDS:
        out.train.set_flat(name, copy.deepcopy(reference.train.get_flat(name)))
    return out


def flops_per_byte(recipe: Recipe, targets: list[float]) -> float:
    compression = [1.0 / n for n in targets] if targets else None
    return forward_flops_per_byte(recipe.model, recipe.train.data.seq_len, compression).per_byte


def build_arms(names: list[str], reference: Recipe, domain, seed: int, train_overrides: list[str] = ()) -> list[Arm]:
    """Arms for `names` from the resolved reference recipe (its --set overrides applied), at `seed`.

    `train_overrides` (the `train.*` part of --set) also apply to recipe arms;
    model overrides belong to the reference alone.
    """
    reference = copy.deepcopy(reference)
    reference.train.seed = seed
    check_length(reference)
    ref_targets = resolve_targets(reference, domain)
    arms = []
    for name in names:
        if name == REFERENCE:
            recipe, kind = reference, REFERENCE
        elif name in ISOTROPIC:
            recipe, kind = baseline_recipe(reference, name, ref_targets), name
        else:
            recipe, kind = share_settings(load_recipe(name, list(train_overrides)), reference), "recipe"
        recipe.train.validate(f"arm {name}: train")
        targets = resolve_targets(recipe, domain)
        # a recipe file is shown and stored under its stem, as its run directory is named
        arms.append(Arm(name=dir_name(name), kind=kind, recipe=recipe, targets=targets,
                        flops_per_byte=flops_per_byte(recipe, targets), seed=seed))
    names_on_disk = [dir_name(a.name) for a in arms]
    if len(set(names_on_disk)) != len(names_on_disk):
        raise ConfigError(f"--archs: two arms would share a run directory ({', '.join(names_on_disk)})")
    return arms


def reference_flops(arms: list[Arm]) -> float:
    """The FLOPs per byte the others are matched to: the `hnet` arm's, else the first arm's."""
    for arm in arms:
        if arm.kind == REFERENCE:
            return arm.flops_per_byte
    return arms[0].flops_per_byte


def data_signature(recipe: dict, info: dict) -> str:
    """A short hash of what decides the rows a run reads: inputs, reader options and the data fields.

    From a run's own records (RUN/recipe.json, RUN/run.json), so a comparison can
    check its arms after the fact, whichever session trained them.
    """
    train = recipe.get("train", {})
    what = {"domain": info.get("domain"), "paths": info.get("paths"), "domain_options": info.get("domain_options"),
            "world_size": info.get("world_size", 1), **{name: train.get(name) for name in DATA_FIELDS}}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]
