"""Which model, domain, reader options and context a job uses: one answer for eval, chunk and generate.

    from hnet_cli.run import resolve
    found = resolve("runs/dna", paths=["reads.fa"])     # checks and reads records; loads nothing
    found.domain, found.options, found.context          # Domain, typed reader options, train.seq_len
    model = found.load(device)                          # HNetLM in eval mode (also found.model)

The model: anything `hnet_cli.model.checkpoint.locate` names (run or
checkpoint folder, weights file, sharded folder, Hugging Face Hub id).

The domain: the one named, else the one `hnet train` recorded for the run
(RUN/run.json), else the one the checkpoint records about itself (config.json's
"hnet" block, or the safetensors header: a checkpoint folder outside its run,
a saved or Hub model), else the domain that recognises every input file by
its name (FASTA files read as dna), else the default domain (text).

The reader options: the domain's defaults; then the ones the run (or the
checkpoint's description) was trained with, when the domain is the trained one (a value this version no longer
accepts keeps its default); then the given ones. So `-m runs/dna` reads data
the way the model was trained, and `-o key=value` still wins.

The context: train.seq_len of the run's RUN/recipe.json (the length the model
was trained on), else the checkpoint's recorded seq_len, or None.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from hnet_cli.data.domain import Domain
from hnet_cli.errors import ConfigError
from hnet_cli.model.checkpoint import INDEX_NAME, WEIGHTS_NAME, locate, read_metadata
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
    context_from: Path | None = None  # the recipe.json (or checkpoint config) it came from
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
    files = locate(raw)  # CheckpointError for a missing path or a run without a checkpoint; fetches Hub ids
    in_folder = files.weights.name in (WEIGHTS_NAME, INDEX_NAME)
    checkpoint = files.weights.parent if in_folder else files.weights
    run = RunDir.find(path, RUN_INFO_NAME)
    trained = run.record(RUN_INFO_NAME) if run is not None else {}
    described = {} if trained else read_metadata(files)
    dom, domain_from = _pick_domain(domain, trained, described, paths)
    given = dom.given_options(options or {})
    resolved = dom.resolve_options({**_trained_options(dom, trained or described), **given})
    found = ResolvedModel(path=raw, checkpoint=checkpoint, domain=dom, options=resolved,
                          given_options=frozenset(given), domain_from=domain_from,
                          run=run, config=config)
    found.context, found.context_from = _trained_length(path, described, files.config or files.weights)
    return found


def _pick_domain(name: str | None, trained: dict, described: dict, paths: Sequence[str]) -> tuple[Domain, str]:
    from hnet_cli.data.registry import default_domain, get_domain, recognising_domain

    if name:
        return get_domain(name), GIVEN
    if isinstance(trained.get("domain"), str):
        return get_domain(trained["domain"]), RUN_RECORD
    if isinstance(described.get("domain"), str):
        return get_domain(described["domain"]), METADATA
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


def _trained_length(model_path: Path, described: dict, described_in: Path) -> tuple[int | None, Path | None]:
    """(train.seq_len, where) of the model's run (its recipe.json), else of the checkpoint's description."""
    run = RunDir.find(model_path, RECIPE_NAME)
    if run is not None:
        train = run.record(RECIPE_NAME).get("train")
        seq_len, where = (train.get("seq_len") if isinstance(train, dict) else None), run.recipe_path
    else:
        seq_len, where = described.get("seq_len"), described_in
    if isinstance(seq_len, int) and not isinstance(seq_len, bool) and seq_len >= 2:
        return seq_len, where
    return None, None
