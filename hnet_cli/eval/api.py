"""`evaluate`: several models over one corpus, clean and perturbed — what `hnet eval` calls.

    from hnet_cli.eval import evaluate
    report = evaluate(["runs/dna", "runs/dna-2stage"], ["held_out.fa.gz"], domain="dna",
                      context=8192, stride=4096, perturb=["drop"])
    report.models[0].clean.corpus.bpb, report.models[0].clean.stages[0].compression
    report.as_dict()                      # what --json prints

Models are loaded one at a time (the previous one is freed first). The corpus
is read again for each pass (model x perturbation), so memory does not grow
with it; input from stdin is read once and kept, since it cannot be re-read.
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import torch

from hnet_cli.data.readers.sources import STDIN, expand_paths
from hnet_cli.data.readers.stats import ReadStats
from hnet_cli.errors import ConfigError, InputError
from hnet_cli.eval.corpus import evaluate_documents
from hnet_cli.eval.models import ModelSource, resolve_models
from hnet_cli.eval.perturb import parse_perturbations, perturb_bytes
from hnet_cli.eval.results import EvalReport, ModelReport
from hnet_cli.eval.windows import check_window_args, default_stride
from hnet_cli.progress import NullReporter
from hnet_cli.run.resolve import RUN_RECORD
from hnet_cli.runtime import pick_device, pick_dtype

DEFAULT_CONTEXT = 8192  # the paper's context, for models with no recorded training length


class _Corpus:
    """Re-readable documents of the inputs (stdin is read once and kept)."""

    def __init__(self, domain, paths: list[str], options: dict, regions=None):
        self.domain, self.paths, self.options = domain, paths, options
        self.regions = regions  # a RegionFilter, or None for whole documents
        self.stats = ReadStats()
        self._kept = None
        self._read = False

    def documents(self) -> Iterable:
        if self._kept is not None:
            return iter(self._kept)
        stats = self.stats if not self._read else ReadStats()
        self._read = True
        stream = self.domain.read(self.paths, stats=stats, **self.options)
        if self.regions is not None:
            stream = self.regions.restrict(stream)
        if STDIN in self.paths:
            self._kept = list(stream)
            return iter(self._kept)
        return stream

    def total_bytes(self) -> int | None:
        """Bytes of all documents, counted before scoring so that progress has a total."""
        if STDIN in self.paths:
            return sum(len(doc.data) for doc in self.documents())
        from hnet_cli.data.size import input_bytes

        return input_bytes(self.domain, self.paths, self.options)


def _check_paths(domain, paths: Sequence[str]) -> list[str]:
    if not paths:
        raise InputError("hnet eval", "no data to evaluate: give files, directories, globs or - (stdin)")
    paths = [os.fspath(p) for p in paths]
    for source in expand_paths(paths):  # a missing path fails here, before any model is loaded
        if not source.is_dir:
            domain.check_input(source.path)
    return paths


def evaluate(
    models: Sequence[str | os.PathLike],
    paths: Sequence[str | os.PathLike],
    *,
    domain: str | None = None,
    domain_options: dict | None = None,
    config: str | os.PathLike | None = None,
    context: int | None = None,
    stride: int | None = None,
    batch_size: int = 8,
    device: str = "auto",
    dtype: str = "auto",
    perturb: Sequence[str] | str | None = None,
    seed: int = 0,
    per_file: bool = False,
    per_record: bool = False,
    region: Sequence[str] | str | None = None,
    regions: str | os.PathLike | None = None,
    yardstick: bool = True,
    yardstick_train: Sequence[str | os.PathLike] = (),
    reporter=None,
) -> EvalReport:
    """Score every model on the documents of `paths`, read by `domain` (see the module docstring).

    domain, domain_options: None = as the first model was trained (`hnet_cli.run.resolve`),
    else text; given options override. config: JSON config for models given as official
    `.pt` (or bare `.safetensors`) files. context: default the first model's training
    length, else 8192. stride: default context // 2. perturb: names from
    hnet_cli.eval.perturb (or "all").
    region: "chr:start-end" (1-based inclusive, repeatable); regions: a BED file (0-based
    half-open): only those parts of the records are scored (see hnet_cli.data.regions).
    yardstick: also score an order-k Markov chain on the same documents (report.yardstick), fitted
    on `yardstick_train` files when given, else on the training split the first model's run
    recorded; without either, report.yardstick_note says why there is none.
    """
    if not models:
        raise ConfigError("no model to evaluate: give a run directory, checkpoint directory, .pt or .safetensors")
    paths = [os.fspath(p) for p in paths]
    sources: list[ModelSource] = resolve_models([os.fspath(m) for m in models], config, domain, domain_options, paths)
    first = sources[0].resolved
    context_from = None
    if context is None:
        context, context_from = (first.context, str(first.context_from)) if first.context else (DEFAULT_CONTEXT, None)
    stride = default_stride(context) if stride is None else stride
    check_window_args(context, stride)
    if batch_size < 1:
        raise ConfigError(f"--batch-size {batch_size}: must be at least 1")
    perturbations = parse_perturbations(perturb)
    dom, options = first.domain, first.options
    paths = _check_paths(dom, paths)
    yardstick_train = _yardstick_paths(dom, yardstick, yardstick_train)
    dev = pick_device(device)
    dt = pick_dtype(dtype, dev)
    reporter = reporter or NullReporter()

    from hnet_cli.data.regions import RegionFilter, gather_regions

    region_list = gather_regions(region, None if regions is None else os.fspath(regions))
    corpus = _Corpus(dom, paths, options, RegionFilter(region_list) if region_list else None)
    report = EvalReport(domain=dom.name, unit=dom.unit, domain_options=options, paths=paths, context=context, stride=stride,
                        batch_size=batch_size, device=str(dev), dtype=str(dt).replace("torch.", ""), seed=seed,
                        perturbations=perturbations, read_stats=corpus.stats, context_from=context_from,
                        domain_from=str(first.run.info_path) if first.domain_from == RUN_RECORD else None)
    common = dict(count_units=dom.count_units, context=context, stride=stride, batch_size=batch_size,
                  device=dev, dtype=dt, keep_files=per_file, keep_records=per_record, reporter=reporter)
    # Counted once for the progress total (nobody sees it when the reporter is silent).
    clean_bytes = None if type(reporter) is NullReporter else corpus.total_bytes()
    for source in sources:
        result = _evaluate_model(source, corpus, dev, perturbations, seed, clean_bytes, common)
        clean_bytes = result.clean.corpus.bytes
        report.models.append(result)
    if yardstick:
        report.yardstick, report.yardstick_note = _yardstick(corpus, first, yardstick_train, reporter)
    return report


def _yardstick_paths(domain, yardstick: bool, paths: Sequence[str | os.PathLike]) -> list[str]:
    """--yardstick-train FILES, checked before any model is loaded."""
    if not paths:
        return []
    if not yardstick:
        raise ConfigError("--yardstick-train and --no-yardstick: choose one")
    return _check_paths(domain, [os.fspath(p) for p in paths])


def _yardstick(corpus: _Corpus, first, train_paths: list[str], reporter):
    """(the yardstick's figure on the corpus, None) or (None, why there is none)."""
    from hnet_cli.eval.yardstick import fit_for_eval

    run = first.run  # the run directory the first model belongs to, if any
    if not train_paths and run is None:
        return None, (f"no yardstick: {first.path} records no training data; give --yardstick-train FILES "
                      "(or --no-yardstick)")
    reporter.log("fitting the Markov yardstick on " + (", ".join(train_paths) if train_paths else
                                                      f"the training split of {run.path}"))
    try:
        fitted = fit_for_eval(corpus.domain, corpus.options, run=run, train_paths=train_paths)
    except ValueError as exc:
        return None, f"no yardstick: {exc}; give --yardstick-train FILES (or --no-yardstick)"
    return fitted.score(corpus.documents(), corpus.domain.count_units, corpus.domain.unit), None


def _evaluate_model(source: ModelSource, corpus: _Corpus, dev: torch.device, perturbations: list[str], seed: int,
                    clean_bytes: int | None, common: dict) -> ModelReport:
    """One model: the clean pass, then one pass per perturbation; the model is freed afterwards."""
    from hnet_cli.model.flops import count_parameters

    model = source.load(dev)
    try:
        clean = evaluate_documents(model, corpus.documents(), total_bytes=clean_bytes,
                                   description=f"{source.label}", **common)
        if corpus.regions is not None:
            corpus.regions.check_matched(corpus.paths)
        if clean.corpus.bytes == 0:
            raise InputError(", ".join(corpus.paths), f"no bytes to evaluate ({clean.empty_documents} empty documents)")
        result = ModelReport(label=source.label, path=source.path, checkpoint=source.checkpoint,
                             num_stages=model.config.num_stages, parameters=count_parameters(model), clean=clean)
        for name in perturbations:
            result.perturbed[name] = evaluate_documents(
                model, corpus.documents(), transform=_perturbation(name, seed), description=f"{source.label} {name}",
                **common)
        return result
    finally:
        del model
        if dev.type == "cuda":
            torch.cuda.empty_cache()


def _perturbation(name: str, seed: int):
    def transform(index: int, data: bytes) -> bytes:
        return perturb_bytes(data, name, seed, index)

    return transform
