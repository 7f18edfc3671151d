"""Which model, domain, reader options and context a job uses: one answer for eval, chunk and generate.

    from hnet_cli.run import resolve
    found = resolve("runs/dna", paths=["reads.fa"])     # checks and reads records; loads nothing
    found.domain, found.options, found.context          # Domain, typed reader options, train.seq_len
    model = found.load(device)                          # HNetLM in eval mode (also found.model)

The domain: the one named, else the one `hnet train` recorded for the run
(RUN/run.json; a "domain" entry in the safetensors metadata of a bare weights
file), else the domain that recognises every input file by its name (FASTA
files read as dna), else the default domain (text).

The reader options: the domain's defaults; then the ones the run was trained
with, when the domain is the trained one (a value this version no longer
accepts keeps its default); then the given ones. So `-m runs/dna` reads data
the way the model was trained, and `-o key=value` still wins.

The context: train.seq_len of the run's RUN/recipe.json (the length the model
was trained on), or None.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from hnet_cli.data.domain import Domain
from hnet_cli.errors import CheckpointError, ConfigError
from hnet_cli.model.checkpoint import WEIGHTS_NAME, resolve_checkpoint_dir
from hnet_cli.run.rundir import RECIPE_NAME, RUN_INFO_NAME, RunDir

# Where the domain came from (ResolvedModel.domain_from).
GIVEN, RUN_RECORD, METADATA, FILE_NAMES, DEFAULT = "given", "run", "metadata", "file names", "default"


@dataclass
class ResolvedModel:
    """A model path resolved for a job: what to load and how to read data for it."""

    path: str  # as given
    checkpoint: Path  # the checkpoint directory or weights file that is read
    domain: Domain
    options: dict  # every reader option of the domain, typed
    given_options: frozenset = frozenset()  # the option keys the caller set
    domain_from: str = DEFAULT  # GIVEN, RUN_RECORD, METADATA, FILE_NAMES or DEFAULT
    run: RunDir | None = None  # the model's run (its RUN/run.json), if any
    context: int | None = None  # train.seq_len of the run
    context_from: Path | None = None  # the recipe.json it came from
    config: Any = None  # a config for a bare weights file (path, dict or HNetConfig)
    model: Any = field(default=None, repr=False)  # the HNetLM, once loaded

    def load(self, device="cpu", dtype=None):
        """Load the model (once) onto `device`; the same object on later calls."""
        if self.model is None:
            from hnet_cli.model.checkpoint import load

            self.model = load(self.path, config=self.config, device=device, dtype=dtype)
        return self.model


def resolve(
    model_path: str | os.PathLike,
    domain: str | None = None,
    options: Mapping[str, Any] | None = None,
    *,
    config=None,
    paths: Sequence[str] = (),
) -> ResolvedModel:
    """Resolve `model_path` (run dir, checkpoint dir, weights file) for a job; see the module docstring.

    options: reader options the caller sets (typed values, or strings as typed on the
    command line). paths: the job's input paths, for guessing the domain by file names.
    Raises CheckpointError for a path that is not there or a run without a checkpoint.
    """
    raw = os.fspath(model_path)
    path = Path(raw)
    if not path.exists():
        raise CheckpointError(f"{raw}: checkpoint not found")
    checkpoint = resolve_checkpoint_dir(path) if path.is_dir() else path
    run = RunDir.find(path, RUN_INFO_NAME)
    trained = run.record(RUN_INFO_NAME) if run is not None else {}
    dom, domain_from = _pick_domain(domain, trained, checkpoint, paths)
    given = dom.given_options(options or {})
    resolved = dom.resolve_options({**_trained_options(dom, trained), **given})
    found = ResolvedModel(path=raw, checkpoint=checkpoint, domain=dom, options=resolved,
                          given_options=frozenset(given), domain_from=domain_from,
                          run=run, config=config)
    found.context, found.context_from = _trained_length(path)
    return found


def _pick_domain(name: str | None, trained: dict, checkpoint: Path, paths: Sequence[str]) -> tuple[Domain, str]:
    from hnet_cli.data.registry import default_domain, get_domain, recognising_domain

    if name:
        return get_domain(name), GIVEN
    if isinstance(trained.get("domain"), str):
        return get_domain(trained["domain"]), RUN_RECORD
    recorded = _metadata_domain(checkpoint)
    if recorded is not None:
        return get_domain(recorded), METADATA
    guessed = recognising_domain(paths)
    if guessed is not None:
        return guessed, FILE_NAMES
    return default_domain(), DEFAULT


def _trained_options(domain: Domain, trained: dict) -> dict:
    """The reader options the run was trained with, when it was trained on `domain`; values that still check."""
    recorded = trained.get("domain_options")
    if trained.get("domain") != domain.name or not isinstance(recorded, dict):
        return {}
    kept = {}
    for key, value in recorded.items():
        if key in domain.options:
            try:
                kept[key] = domain.options[key].check(key, tuple(value) if isinstance(value, list) else value)
            except ConfigError:
                pass  # a value this version no longer accepts: keep the default
    return kept


def _metadata_domain(checkpoint: Path) -> str | None:
    """A "domain" entry in the safetensors metadata, or None (a damaged file is reported by the loader)."""
    weights = checkpoint / WEIGHTS_NAME if checkpoint.is_dir() else checkpoint
    if weights.suffix != ".safetensors":
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(weights), "pt") as f:
            domain = (f.metadata() or {}).get("domain")
    except Exception:  # unreadable here means: no record; loading the model says why
        return None
    return domain if isinstance(domain, str) else None


def _trained_length(model_path: Path) -> tuple[int | None, Path | None]:
    """(train.seq_len, recipe.json) of the model's run, or (None, None)."""
    run = RunDir.find(model_path, RECIPE_NAME)
    if run is None:
        return None, None
    train = run.record(RECIPE_NAME).get("train")
    seq_len = train.get("seq_len") if isinstance(train, dict) else None
    if isinstance(seq_len, int) and not isinstance(seq_len, bool) and seq_len >= 2:
        return seq_len, run.recipe_path
    return None, None
