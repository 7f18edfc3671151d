"""Training batches: shuffled, packed, sharded over processes, prepared in the background.

One epoch is one pass over the training documents. Everything random in an
epoch - document order (a shuffle buffer), augmentation, the phase at which
rows are cut, row order (a second shuffle buffer) - comes from generators
seeded by (seed, epoch), so the epoch's row sequence is a pure function of the
data, the seed and the epoch number. That makes the loader's position two
integers, (epoch, step in epoch): `load_state_dict` replays the epoch and skips
the rows already used, so a resumed run sees exactly the batches an
uninterrupted one would have.

Sharding: global step k of an epoch takes rows [k*G, (k+1)*G) of the epoch's
row sequence, G = batch_size * grad_accum * world_size. They form
grad_accum * world_size micro-batches ("units") of batch_size rows; process
`rank` takes units rank*grad_accum ... rank*grad_accum + grad_accum - 1. So
one process with grad_accum=2 sees exactly the micro-batches that two
processes with grad_accum=1 see between them. The rows left over at the end
of an epoch (fewer than G) are dropped.

Every process reads the whole stream and keeps its rows (reading is far
cheaper than training); a thread prepares `prefetch` steps ahead so the model
does not wait on reading and packing.
"""

from __future__ import annotations

import queue
import random
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from hnet_cli.data.documents import Document
from hnet_cli.data.packing import Batch, Row, RowPacker, collate, pack_documents
from hnet_cli.data.split import Split
from hnet_cli.errors import InputError


def shuffled(items: Iterable, buffer_size: int, rng: random.Random) -> Iterator:
    """Streaming shuffle through a buffer of `buffer_size` items (a full shuffle for small inputs)."""
    buf: list = []
    for item in items:
        if len(buf) < buffer_size:
            buf.append(item)
            continue
        i = rng.randrange(buffer_size)
        yield buf[i]
        buf[i] = item
    rng.shuffle(buf)
    yield from buf


def epoch_rng(seed: int, epoch: int, what: str) -> random.Random:
    # Seeding with a string is deterministic across runs and Python versions (hashed by SHA-512).
    return random.Random(f"hnet:{seed}:{epoch}:{what}")


@dataclass
class Step:
    """The micro-batches of one optimizer step for this process, and the loader position after it."""

    micro_batches: list[Batch]
    epoch: int
    step_in_epoch: int  # steps of this epoch done once this one is
    # Targets of the whole step over all processes: every process reads every row, so the
    # objective's denominator is known here, without a collective or a wait for the GPU.
    n_targets: int = 0


class TrainLoader:
    def __init__(
        self,
        open_documents: Callable[[], Iterable[Document]],
        split: Split,
        *,
        seq_len: int,
        batch_size: int,
        grad_accum: int = 1,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle_docs: int = 4096,
        shuffle_rows: int = 1024,
        augment: Callable[[Document, random.Random], Document] | None = None,
        prefetch: int = 4,
    ):
        self.open_documents = open_documents
        self.split = split
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.grad_accum = grad_accum
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.shuffle_docs = shuffle_docs
        self.shuffle_rows = shuffle_rows
        self.augment = augment
        self.prefetch = prefetch
        self.epoch = 0
        self.step_in_epoch = 0
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()

    @property
    def rows_per_step(self) -> int:
        return self.batch_size * self.grad_accum * self.world_size

    @property
    def bytes_per_step(self) -> int:
        return self.rows_per_step * self.seq_len

    # ------------------------------------------------------------------ position
    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "seed": self.seed,
                "rows_per_step": self.rows_per_step, "seq_len": self.seq_len}

    def load_state_dict(self, state: dict) -> None:
        if state.get("rows_per_step", self.rows_per_step) != self.rows_per_step or \
                state.get("seq_len", self.seq_len) != self.seq_len:
            raise InputError("checkpoint", "the data position was saved with another batch layout "
                             f"({state.get('rows_per_step')} rows of {state.get('seq_len')} bytes per step)")
        self.close()
        self.epoch = int(state["epoch"])
        self.step_in_epoch = int(state["step_in_epoch"])

    # ------------------------------------------------------------------ rows
    def epoch_rows(self, epoch: int) -> Iterator[Row]:
        """The epoch's global row sequence (the same in every process)."""
        docs: Iterable[Document] = self.split.train(self.open_documents())
        docs = shuffled(docs, self.shuffle_docs, epoch_rng(self.seed, epoch, "documents"))
        if self.augment is not None:
            aug_rng = epoch_rng(self.seed, epoch, "augment")
            docs = (self.augment(doc, aug_rng) for doc in docs)
        packer = RowPacker(self.seq_len)
        packer.skip(epoch_rng(self.seed, epoch, "phase").randrange(self.seq_len))

        def rows() -> Iterator[Row]:
            for doc in docs:
                yield from packer.add(doc.data)

        yield from shuffled(rows(), self.shuffle_rows, epoch_rng(self.seed, epoch, "rows"))

    def _steps(self, epoch: int, start_step: int) -> Iterator[Step]:
        """Steps of one epoch from `start_step`, for this process (endless over epochs)."""
        G, B = self.rows_per_step, self.batch_size
        first_unit = self.rank * self.grad_accum
        while not self._stop.is_set():
            step = 0
            pending: list[Row] = []
            for row in self.epoch_rows(epoch):
                if self._stop.is_set():
                    return
                pending.append(row)
                if len(pending) < G:
                    continue
                if step >= start_step:
                    units = [pending[(first_unit + m) * B:(first_unit + m + 1) * B] for m in range(self.grad_accum)]
                    yield Step([collate(u) for u in units], epoch, step + 1, sum(r.n_targets for r in pending))
                pending = []
                step += 1
            if step == 0:
                raise InputError(
                    "training data",
                    f"too small for one step: an epoch holds fewer than {G} rows of {self.seq_len} bytes "
                    "(lower train.seq_len or train.batch_size, or give more data)",
                )
            epoch, start_step = epoch + 1, 0

    # ------------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[Step]:
        self.close()
        self._stop.clear()
        q: queue.Queue = queue.Queue(maxsize=max(1, self.prefetch))
        self._queue = q
        start = (self.epoch, self.step_in_epoch)

        def produce():
            try:
                for item in self._steps(*start):
                    while not self._stop.is_set():
                        try:
                            q.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if self._stop.is_set():
                        return
            except BaseException as exc:  # handed to the consumer, which re-raises it
                q.put(exc)

        self._thread = threading.Thread(target=produce, name="hnet-train-loader", daemon=True)
        self._thread.start()
        try:
            while True:
                item = q.get()
                if isinstance(item, BaseException):
                    raise item
                self.epoch, self.step_in_epoch = item.epoch, item.step_in_epoch
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            if self._queue is not None:
                try:  # unblock a producer waiting on a full queue
                    while True:
                        self._queue.get_nowait()
                except queue.Empty:
                    pass
            self._thread.join(timeout=5)
            self._thread = None


def validation_batches(split: Split, seq_len: int, batch_size: int, rank: int = 0, world_size: int = 1) -> list[Batch]:
    """The validation rows (every byte scored once), this process's share, batched."""
    rows = list(pack_documents((d.data for d in split.validation), seq_len, carry_context=True, pad_last=True))
    mine = rows[rank::world_size]
    return [collate(mine[i:i + batch_size]) for i in range(0, len(mine), batch_size)]
