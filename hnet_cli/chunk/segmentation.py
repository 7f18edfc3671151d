"""The segmentation of one document, at every stage, in the document's own byte coordinates.

What is reported (the model reads each document as in training, BOS first):

- Stage s's *elements* are that stage's input positions: stage 0's are the
  document's bytes; stage s+1's are the chunks of stage s, each starting at
  the byte where that chunk starts. Every element carries the model's
  boundary probability p_t and decision b_t = [p_t > 0.5] for that stage.
- The BOS position itself is not reported. The model's first chunk always
  begins at BOS (p_0 = 1) and runs into the document until the first byte
  with b_t = 1, so *byte 0 always starts chunk 0* at every stage; its p is
  still the model's own p for byte 0 (which may be <= 0.5 when byte 0 merely
  continues the BOS chunk). At stage s >= 1 the element that begins at byte 0
  can be the BOS chunk itself; its p is then the model's p_0 = 1.
- Stage s's *chunks* are runs of its elements that start at an element with
  b_t = 1 (or at byte 0) and end before the next such element. Inner-stage
  chunks map back to bytes through their elements: a stage-1 chunk spans the
  bytes of the stage-0 chunks it is made of. Starts of stage s+1 chunks are
  always starts of stage s chunks.
- Per chunk: `boundary_prob` is p at the chunk's first element, and
  `mean_confidence` is the mean of c_t = max(p_t, 1 - p_t) over the chunk's
  elements (the paper's confidence; BED scores are mean_confidence * 1000).

Coordinates are 0-based, half-open, relative to the document's data; add
`offset` (Document.meta["offset"], 0 when absent) for record coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hnet_cli.data.documents import Document


@dataclass
class StageSegmentation:
    """Stage s of one document: its input elements and the model's decisions on them.

    element_start (m,) int64    byte (in the document) where each element begins, increasing
    boundary_prob (m,) float32  p_t of each element
    boundary      (m,) bool     b_t = [p_t > 0.5] as the model decided it
    """

    element_start: torch.Tensor
    boundary_prob: torch.Tensor
    boundary: torch.Tensor

    def __len__(self) -> int:
        return int(self.element_start.numel())

    @property
    def starts_chunk(self) -> torch.Tensor:
        """(m,) bool: the element begins a chunk (b_t, or it begins the document)."""
        return self.boundary | (self.element_start == 0)

    @property
    def confidence(self) -> torch.Tensor:
        """(m,) c_t = max(p_t, 1 - p_t)."""
        return torch.maximum(self.boundary_prob, 1 - self.boundary_prob)


@dataclass
class ChunkTable:
    """The chunks of one stage: (k,) tensors, document coordinates."""

    start: torch.Tensor  # int64, first byte
    end: torch.Tensor  # int64, one past the last byte
    boundary_prob: torch.Tensor  # float32, p at the chunk's first element
    mean_confidence: torch.Tensor  # float32, mean c_t over its elements
    elements: torch.Tensor  # int64, number of stage-s elements in it

    def __len__(self) -> int:
        return int(self.start.numel())

    @property
    def length(self) -> torch.Tensor:
        return self.end - self.start


@dataclass
class WindowAgreement:
    """How far apart two overlapping windows were where the later one takes over.

    Measured on each seam's comparison region (the second half of the overlap,
    where the earlier window has full context and the later one is used):
    per stage, |chunk starts both windows agree on| / |chunk starts either has|.
    """

    seams: int = 0
    agreement: list[float | None] = field(default_factory=list)  # per stage, mean over seams (None: no overlap)
    exact_seams: list[int] = field(default_factory=list)  # per stage, seams with identical starts


@dataclass
class Segmentation:
    """One document and its segmentation at every stage (outermost stage 0 first)."""

    document: Document
    stages: list[StageSegmentation]
    index: int = 0  # position of the document in the input
    windows: int = 1  # forward passes it took
    seams: WindowAgreement | None = None  # set when windows > 1

    @property
    def data(self) -> bytes:
        return self.document.data

    @property
    def length(self) -> int:
        return len(self.document.data)

    @property
    def offset(self) -> int:
        """Record coordinate of data[0] (DNA readers set it; 0 otherwise)."""
        return int(self.document.meta.get("offset", 0) or 0)

    @property
    def record(self) -> str:
        """The record (FASTA id) when the reader gives one, else the document name."""
        return str(self.document.meta.get("record", self.document.name))

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def chunk_starts(self, stage: int) -> torch.Tensor:
        st = self.stages[stage]
        return st.element_start[st.starts_chunk]

    def chunk_ids(self, stage: int) -> torch.Tensor:
        """(n,) int64: the stage-s chunk each byte belongs to."""
        flags = torch.zeros(self.length, dtype=torch.int64)
        flags[self.chunk_starts(stage)] = 1
        return torch.cumsum(flags, 0) - 1

    def element_prob_per_byte(self, stage: int) -> torch.Tensor:
        """(n,) float32: p of the stage-s element that begins at each byte; NaN where none begins."""
        st = self.stages[stage]
        out = torch.full((self.length,), float("nan"), dtype=torch.float32)
        out[st.element_start] = st.boundary_prob.to(torch.float32)
        return out

    def chunk_table(self, stage: int) -> ChunkTable:
        st = self.stages[stage]
        starts_chunk = st.starts_chunk
        start = st.element_start[starts_chunk]
        end = torch.cat([start[1:], torch.tensor([self.length], dtype=torch.int64)]) if len(start) else start.clone()
        group = torch.cumsum(starts_chunk.to(torch.int64), 0) - 1  # chunk of each element
        k = int(start.numel())
        conf = st.confidence.to(torch.float64)
        conf_sum = torch.zeros(k, dtype=torch.float64).index_add_(0, group, conf)
        count = torch.zeros(k, dtype=torch.int64).index_add_(0, group, torch.ones_like(group))
        mean_conf = (conf_sum / count.clamp_min(1)).to(torch.float32)
        return ChunkTable(start, end, st.boundary_prob[starts_chunk].to(torch.float32), mean_conf, count)

    def compression(self, stage: int) -> float:
        """L_{s+1} / L_s: chunks per element of this stage."""
        n = len(self.stages[stage])
        return float(self.stages[stage].starts_chunk.sum()) / n if n else 0.0
