"""An order-k Markov chain over bytes, the yardstick a bits-per-byte figure is read against.

The model. Byte x_t is predicted from the k bytes before it, its context
h = x_{t-k} .. x_{t-1}; positions before the start of a document are a start
symbol (the counterpart of the network's BOS), so the first byte of a document
is predicted from "start of document" alone. Counts come from training bytes:

    c(h x)       how often byte x followed context h
    c(h)         = sum_x c(h x), how often h was followed by anything
    N1+(h .)     how many distinct bytes followed h

and the probabilities are smoothed with interpolated Witten-Bell smoothing
(Witten & Bell 1991, in the interpolated form of Chen & Goodman 1998, section
2.5; the escape estimate of the PPM-C compressor):

    P_k(x | h) = (c(h x) + N1+(h .) * P_{k-1}(x | h')) / (c(h) + N1+(h .))    if c(h) > 0
    P_k(x | h) = P_{k-1}(x | h')                                             if h was never seen
    P_{-1}(x)  = 1 / 256

where h' is h without its oldest byte. N1+(h .) / (c(h) + N1+(h .)) is the
weight given to the shorter context: large after contexts that keep being
followed by something new, small after contexts that always continue alike.
Witten-Bell needs no tuned discount, works with alphabets of 4 (DNA) to 256
symbols, and never gives a byte probability zero. Bits of a byte are
-log2 P_k(x_t | h_t); one fit serves every order 0..K at once (P_k is built
from P_{k-1}), which is how the order is chosen on validation data cheaply.

Why by hand: no maintained Python library fits and scores smoothed byte-level
n-gram models on tensors (NLTK's `lm` is pure Python over token tuples, far
too slow for genomes; KenLM needs a compiled binary and word tokens). The
counting here is a few vectorised `torch.unique`/`searchsorted` calls.

Keys. Bytes are mapped to dense symbols 0..A-1 in the order first seen in
training, plus START = A and UNSEEN = A+1 (a byte never seen in training:
all its counts are zero, so which unseen byte it was never matters). A
context of order k and its next symbol are one int64 written in base
B = A + 2, which is exact while B^(k+1) < 2^63; `max_exact_order` caps k there.

Memory: each order keeps its distinct (context, byte) keys and distinct
contexts, at most the number of training bytes each; the caller bounds the
training bytes (hnet_cli.eval.yardstick).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch

UNIFORM = 1.0 / 256  # P_{-1}: every byte value equally likely
SCORE_BLOCK = 1 << 22  # bytes scored per vectorised block (bounds scoring memory on whole chromosomes)


def max_exact_order(symbols: int) -> int:
    """The largest k whose (context, next byte) keys fit an int64 exactly, in base symbols + 2."""
    base = symbols + 2
    k = 0
    while base ** (k + 2) < 2**63:
        k += 1
    return k


@dataclass
class OrderCounts:
    """The counts of one order k, as sorted key tables."""

    pair_keys: torch.Tensor  # sorted int64 keys of (h, x)
    pair_counts: torch.Tensor  # float64 c(h x)
    context_keys: torch.Tensor  # sorted int64 keys of h
    context_totals: torch.Tensor  # float64 c(h)
    context_types: torch.Tensor  # float64 N1+(h .)


def _lookup(keys: torch.Tensor, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(index into keys, found) for each query key; index is only meaningful where found (keys not empty)."""
    at = torch.searchsorted(keys, query).clamp_(max=keys.numel() - 1)
    return at, keys[at] == query


def _order_counts(pair_keys: torch.Tensor, pair_counts: torch.Tensor, base: int) -> OrderCounts:
    """The tables of one order from its sorted distinct (h x) keys and their counts."""
    context_keys, inverse, types = torch.unique_consecutive(pair_keys // base, return_inverse=True, return_counts=True)
    totals = torch.zeros(context_keys.numel(), dtype=torch.float64).index_add_(0, inverse, pair_counts.double())
    return OrderCounts(pair_keys, pair_counts.double(), context_keys, totals, types.double())


class MarkovChain:
    """Interpolated Witten-Bell Markov chains of orders 0..max_order over bytes (see the module docstring).

        chain = MarkovChain.fit([b"ACGTACGT", b"ACGGT"], max_order=3)
        bits = chain.bits([b"ACGTA"])     # float64 tensor: total bits of the bytes at order 0, 1, 2, 3
    """

    def __init__(self, symbol_of: torch.Tensor, symbols: int, orders: list[OrderCounts], planned_order: int):
        self.symbol_of = symbol_of  # int64 [256]: byte value -> dense symbol (UNSEEN for bytes not in training)
        self.symbols = symbols  # A, the distinct bytes seen in training
        self.orders = orders  # orders[k] = the counts of order k
        self.planned_order = planned_order  # contexts are padded for this order (>= max_order)

    @property
    def max_order(self) -> int:
        return len(self.orders) - 1

    @property
    def base(self) -> int:
        return self.symbols + 2

    @property
    def start(self) -> int:
        return self.symbols

    @classmethod
    def fit(cls, documents: Iterable[bytes], max_order: int, deadline: float | None = None) -> "MarkovChain":
        """Count orders 0..max_order over the documents' bytes.

        deadline: a time.monotonic() value; when it has passed before counting starts, only
        order 0 is counted (the caller's bound on the training bytes bounds the rest).
        """
        datas = [bytes(d) for d in documents if len(d)]
        if not datas:
            raise ValueError("no training bytes to fit a Markov chain on")
        seen = torch.zeros(256, dtype=torch.bool)
        for data in datas:
            seen[torch.frombuffer(bytearray(data), dtype=torch.uint8).long()] = True
        values = seen.nonzero().flatten()
        symbols = values.numel()
        max_order = min(max_order, max_exact_order(symbols))
        symbol_of = torch.full((256,), symbols + 1, dtype=torch.long)
        symbol_of[values] = torch.arange(symbols)
        chain = cls(symbol_of, symbols, [], max_order)
        padded, targets = chain._encode(datas)
        base = chain.base
        top = max_order if deadline is None or time.monotonic() <= deadline else 0
        # Only the highest order is counted over every training byte; each lower order is derived
        # from the distinct keys of the one above (far fewer than the bytes, for DNA a few thousand
        # against millions). In a key h x, h's most recent byte is the most significant digit, so
        # dropping h's oldest byte (h -> h') drops the digit just above x's.
        context = torch.zeros_like(targets)  # key of h (order 0: the empty context)
        for k in range(1, top + 1):
            context = context * base + padded[targets - k]
        pair_keys, pair_counts = torch.unique(context * base + padded[targets], sorted=True, return_counts=True)
        del context
        orders = [_order_counts(pair_keys, pair_counts, base)]
        for _ in range(top):
            shorter = pair_keys // (base * base) * base + pair_keys % base  # (h x) -> (h' x)
            pair_keys, inverse = torch.unique(shorter, sorted=True, return_inverse=True)
            pair_counts = torch.zeros(pair_keys.numel(), dtype=pair_counts.dtype).index_add_(0, inverse, pair_counts)
            orders.append(_order_counts(pair_keys, pair_counts, base))
        chain.orders = orders[::-1]
        return chain

    def _encode(self, datas: Sequence[bytes]) -> tuple[torch.Tensor, torch.Tensor]:
        """(padded symbols, positions of the scored bytes): each document after planned_order START symbols."""
        pad = self.planned_order
        pieces, targets, offset = [], [], 0
        for data in datas:
            symbols = self.symbol_of[torch.frombuffer(bytearray(data), dtype=torch.uint8).long()]
            pieces.append(torch.full((pad,), self.start, dtype=torch.long))
            pieces.append(symbols)
            targets.append(torch.arange(offset + pad, offset + pad + len(data)))
            offset += pad + len(data)
        return torch.cat(pieces), torch.cat(targets)

    def bits(self, documents: Iterable[bytes]) -> torch.Tensor:
        """Total bits of every byte of the documents under orders 0..max_order (float64 [max_order + 1])."""
        total = torch.zeros(self.max_order + 1, dtype=torch.float64)
        block: list[tuple[bytes, bytes]] = []
        size = 0
        for data in documents:
            data = bytes(data)
            # A long document is cut into blocks, each carrying the bytes before it as context.
            for begin in range(0, len(data), SCORE_BLOCK):
                block.append((data[max(0, begin - self.planned_order):begin], data[begin:begin + SCORE_BLOCK]))
                size += min(SCORE_BLOCK, len(data) - begin)
                if size >= SCORE_BLOCK:
                    total += self._block_bits(block)
                    block, size = [], 0
        if block:
            total += self._block_bits(block)
        return total

    def _block_bits(self, pieces: list[tuple[bytes, bytes]]) -> torch.Tensor:
        padded, targets = self._encode([before + scored for before, scored in pieces])
        # `before` (the planned_order bytes before a block cut from a long document, or all of them
        # since its start) is context only: its positions are not scored.
        keep = torch.ones(targets.numel(), dtype=torch.bool)
        at = 0
        for before, scored in pieces:
            keep[at:at + len(before)] = False
            at += len(before) + len(scored)
        targets = targets[keep]
        base = self.base
        nexts = padded[targets]
        context = torch.zeros_like(targets)
        p = torch.full((targets.numel(),), UNIFORM, dtype=torch.float64)
        out = torch.zeros(self.max_order + 1, dtype=torch.float64)
        for k, counts in enumerate(self.orders):
            if k > 0:
                context = context * base + padded[targets - k]
            at_context, seen_context = _lookup(counts.context_keys, context)
            at_pair, seen_pair = _lookup(counts.pair_keys, context * base + nexts)
            c_hx = torch.where(seen_pair, counts.pair_counts[at_pair], 0.0)
            c_h, types = counts.context_totals[at_context], counts.context_types[at_context]
            smoothed = (c_hx + types * p) / (c_h + types)
            p = torch.where(seen_context, smoothed, p)
            out[k] = -torch.log2(p).sum()
        return out
