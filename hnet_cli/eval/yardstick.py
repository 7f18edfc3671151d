"""The yardstick: what a simple Markov chain scores on the same held-out data as the model.

    from hnet_cli.eval.yardstick import fit_yardstick
    fitted = fit_yardstick(split.train(stream), split.validation, fitted_on="the training part of genome.fa")
    fitted.order, fitted.validation_bits      # the order chosen on validation; bits per order tried
    figure = fitted.score(held_out_docs, count_units=domain.count_units)
    figure.bpb, figure.bits_per_unit, figure.as_dict()

"1.970 bits per base" says little on its own; "1.970 where an order-5 Markov chain
gets 1.950" says the network has not yet learned what counting 5-mers learns.
The chain (hnet_cli.eval.markov) is fitted on the training part only, its order
k is the one with the fewest bits on validation data, and it is scored on the
same bytes as the model.

Bounds, so that a whole genome costs seconds, not minutes: at most FIT_BYTES
training bytes are counted (the first ones of the training part), so every
count table holds at most that many entries; the highest order is counted and
the lower ones derived from it (about 1.2 s for 6 MB of genomes on a 2-core VM,
reading included), and only order 0 is fitted if TIME_BOUND_S seconds have
passed before counting starts; the highest order tried is
also where the expected number of distinct contexts, 2^(k * H0) with H0 the
order-0 entropy of the training bytes, passes the number of training bytes
(beyond it almost every context is seen once): up to 8 for DNA (H0 ~ 2 bits),
3-5 for text.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from hnet_cli.data.documents import Document
from hnet_cli.eval.corpus import Score
from hnet_cli.eval.markov import MarkovChain

FIT_BYTES = 8 << 20  # training bytes counted at most
MAX_ORDER = 8
TIME_BOUND_S = 60.0  # reading the training bytes took longer than this: order 0 only
SMOOTHING = "interpolated Witten-Bell"


def planned_order(train_bytes: int, order0_bits: float, cap: int = MAX_ORDER) -> int:
    """The highest order worth counting: 2^(k * H0) distinct contexts should not outnumber the training bytes."""
    if train_bytes < 2:
        return 0
    return max(0, min(cap, int(math.log2(train_bytes) / max(order0_bits, 1.0))))


def _order0_bits(datas: Sequence[bytes]) -> float:
    import torch

    counts = torch.zeros(256, dtype=torch.float64)
    for data in datas:
        counts += torch.bincount(torch.frombuffer(bytearray(data), dtype=torch.uint8).long(), minlength=256).double()
    p = counts[counts > 0] / counts.sum()
    return float(-(p * torch.log2(p)).sum())


def take_bytes(documents: Iterable[Document], limit: int) -> list[bytes]:
    """The data of the first documents, `limit` bytes in all (the last one cut)."""
    out, size = [], 0
    for doc in documents:
        if size >= limit:
            break
        data = doc.data[: limit - size]
        if data:
            out.append(data)
            size += len(data)
    close = getattr(documents, "close", None)
    if close is not None:
        close()
    return out


@dataclass
class YardstickFigure:
    """The yardstick's score on some data, and how it was obtained (`as_dict` is what --json prints)."""

    order: int
    score: Score  # bits, bytes and units of the scored data
    unit: str
    fitted_on: str
    fit_bytes: int
    chosen_on: str
    orders_tried: list[int] = field(default_factory=list)
    validation_bpb: list[float] = field(default_factory=list)  # per order tried, on the data the order was chosen on
    time_bound_hit: bool = False
    seconds: float = 0.0

    @property
    def bpb(self) -> float:
        return self.score.bpb

    @property
    def bits_per_unit(self) -> float:
        return self.score.bits_per_unit

    @property
    def bytes(self) -> int:
        return self.score.bytes

    @property
    def units(self) -> int:
        return self.score.units

    @property
    def name(self) -> str:
        return f"order-{self.order} Markov chain"

    def describe(self, model_bits_per_unit: float | None = None) -> str:
        return describe(self.as_dict(), model_bits_per_unit)

    def as_dict(self) -> dict:
        return {
            "model": self.name, "smoothing": SMOOTHING, "order": self.order, "bpb": self.bpb,
            "bits_per_unit": self.bits_per_unit, "unit": self.unit, "bits": self.score.bits, "bytes": self.bytes,
            "units": self.units, "fitted_on": self.fitted_on, "fit_bytes": self.fit_bytes, "chosen_on": self.chosen_on,
            "orders_tried": list(self.orders_tried), "validation_bpb_by_order": list(self.validation_bpb),
            "time_bound_hit": self.time_bound_hit, "seconds": self.seconds,
        }


def describe(figure: dict, model_bits_per_unit: float | None = None) -> str:
    """One line for summaries from a figure's `as_dict()` (also as read back from JSON), with the
    model's distance to it when its bits per unit are given."""
    unit = figure["unit"]
    per_unit = f"{figure['bits_per_unit']:.4f} bits/{unit}, " if unit != "byte" else ""
    bound = f", time bound of {TIME_BOUND_S:g} s reached" if figure.get("time_bound_hit") else ""
    tried = figure.get("orders_tried") or [figure["order"]]
    line = (f"yardstick: {figure['model']} ({figure['smoothing']}) {per_unit}{figure['bpb']:.4f} bits/byte "
            f"on the same bytes; fitted on {figure['fit_bytes'] / 1e6:.3g} MB of {figure['fitted_on']}, "
            f"order chosen on {figure['chosen_on']} (orders {tried[0]}-{tried[-1]} tried{bound})")
    if model_bits_per_unit is not None and figure.get("bits_per_unit") is not None:
        gap = model_bits_per_unit - figure["bits_per_unit"]
        side = "below" if gap < 0 else "above"
        line += f"; the model is {abs(gap):.4f} bits/{unit} {side} it"
    return line


@dataclass
class FittedYardstick:
    """A fitted chain with its order chosen; `score` gives its figure on any documents."""

    chain: MarkovChain
    order: int
    validation_bits: list[float]  # total bits of the validation bytes, per order 0..chain.max_order
    validation_bytes: int
    fitted_on: str
    chosen_on: str
    fit_bytes: int
    time_bound_hit: bool
    seconds: float

    def score(self, documents: Iterable[Document], count_units: Callable[[bytes], int], unit: str) -> YardstickFigure:
        """The chosen order's bits on every byte of the documents."""
        size = units = 0

        def datas():
            nonlocal size, units
            for doc in documents:
                size += len(doc.data)
                units += count_units(doc.data)
                yield doc.data

        bits = float(self.chain.bits(datas())[self.order])
        return self.figure(bits, size, units, unit)

    def figure(self, bits: float, size: int, units: int, unit: str) -> YardstickFigure:
        return YardstickFigure(
            order=self.order, score=Score(bits=bits, bytes=size, units=units), unit=unit,
            fitted_on=self.fitted_on, fit_bytes=self.fit_bytes, chosen_on=self.chosen_on,
            orders_tried=list(range(self.chain.max_order + 1)),
            validation_bpb=[b / self.validation_bytes for b in self.validation_bits],
            time_bound_hit=self.time_bound_hit, seconds=self.seconds)


def fit_yardstick(train_documents: Iterable[Document], validation: Sequence[Document], *, fitted_on: str,
                  chosen_on: str = "the validation part", fit_bytes: int = FIT_BYTES, max_order: int = MAX_ORDER,
                  time_bound_s: float = TIME_BOUND_S) -> FittedYardstick:
    """Fit on (at most fit_bytes of) the training documents; choose the order with the fewest bits on `validation`.

    Ties go to the lower order. Raises ValueError when there is no training or no validation byte.
    """
    start = time.monotonic()
    datas = take_bytes(train_documents, fit_bytes)
    size = sum(map(len, datas))
    if not size:
        raise ValueError("no training bytes")
    if not any(len(d.data) for d in validation):
        raise ValueError("no validation bytes")
    order = planned_order(size, _order0_bits(datas), max_order)
    chain = MarkovChain.fit(datas, order, deadline=start + time_bound_s)
    del datas
    bits = [float(b) for b in chain.bits(d.data for d in validation)]
    best = min(range(len(bits)), key=lambda k: (bits[k], k))
    return FittedYardstick(chain=chain, order=best, validation_bits=bits,
                           validation_bytes=sum(len(d.data) for d in validation), fitted_on=fitted_on,
                           chosen_on=chosen_on, fit_bytes=size, time_bound_hit=chain.max_order < chain.planned_order,
                           seconds=time.monotonic() - start)


def yardstick_on_validation(train_documents: Iterable[Document], validation: Sequence[Document],
                            count_units: Callable[[bytes], int], unit: str, *, fitted_on: str,
                            **bounds) -> YardstickFigure:
    """Training's yardstick: fitted on the training part, order chosen on and scored on the validation part
    (as the model's best checkpoint is chosen on the validation data it is reported on)."""
    fitted = fit_yardstick(train_documents, validation, fitted_on=fitted_on, **bounds)
    units = sum(count_units(d.data) for d in validation)
    return fitted.figure(fitted.validation_bits[fitted.order], fitted.validation_bytes, units, unit)


def fit_on_data(open_documents: Callable[[], Iterable[Document]], *, val_fraction: float, eval_bytes: int,
                fitted_on: str, chosen_on: str, **bounds) -> FittedYardstick:
    """Split the documents as `hnet train` does (hnet_cli.data.split), fit on the training part, choose on the rest."""
    from hnet_cli.data.split import plan_split

    split = plan_split(open_documents, val_fraction, eval_bytes)
    return fit_yardstick(split.train(open_documents()), split.validation, fitted_on=fitted_on, chosen_on=chosen_on,
                         **bounds)


def fit_for_eval(domain, options: dict, run=None, train_paths: Sequence[str] = (), **bounds) -> FittedYardstick:
    """`hnet eval`'s yardstick, fitted on `train_paths` when given, else on the training split `run` recorded.

    train_paths: split like a training run with the default settings (val_fraction 0.05, 1 MiB held out);
    the order is chosen on their held-out part. run: a RunDir; its recorded inputs (run.json) are read
    with this evaluation's domain options and split with the run's own val_fraction and eval_bytes, which
    gives the run's own training and validation parts. Raises ValueError saying why it cannot.
    """
    from hnet_cli.errors import HnetError
    from hnet_cli.settings import DataSettings

    if train_paths:
        paths, defaults = list(train_paths), DataSettings()
        val_fraction, eval_bytes = defaults.val_fraction, defaults.eval_bytes
        fitted_on = f"the training part of {', '.join(paths)}"
        chosen_on = f"the held-out part of {', '.join(paths)}"
    elif run is not None:
        from hnet_cli.recipes import Recipe
        from hnet_cli.run.rundir import RECIPE_NAME, RUN_INFO_NAME

        info = run.record(RUN_INFO_NAME) or {}
        if info.get("domain") != domain.name:
            raise ValueError(f"{run.path} was trained on {info.get('domain')} data and this evaluation reads "
                             f"{domain.name}")
        try:
            data = Recipe.from_dict(run.read(RECIPE_NAME, "recipe"), source=str(run.recipe_path)).train.data
        except HnetError as exc:
            raise ValueError(str(exc)) from None
        paths, val_fraction, eval_bytes = list(info.get("paths", [])), data.val_fraction, data.eval_bytes
        source = ", ".join(paths) if paths else f"{domain.default_data} (bundled)"
        fitted_on, chosen_on = f"the training split of {run.path} ({source})", "that run's validation split"
    else:
        raise ValueError("no training data known for this model")
    try:
        return fit_on_data(lambda: domain.read(paths, **options), val_fraction=val_fraction, eval_bytes=eval_bytes,
                           fitted_on=fitted_on, chosen_on=chosen_on, **bounds)
    except HnetError as exc:
        raise ValueError(str(exc)) from None
