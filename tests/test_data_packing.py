"""Packing documents into rows: checked against a plain-Python model of the layout."""

import random

import torch

from hnet_cli.data.packing import BOS, RowPacker, collate, pack_documents


def reference_stream(docs):
    """The byte stream and per-byte document number that packing must cut into rows."""
    data, doc_of = [], []
    for i, d in enumerate(docs):
        data += [BOS] + list(d)
        doc_of += [i] * (len(d) + 1)
    return data, doc_of


def random_docs(seed, n=30, max_len=50):
    rng = random.Random(seed)
    return [bytes(rng.randrange(0, 254) for _ in range(rng.randrange(0, max_len))) for _ in range(n)]


def test_rows_are_the_stream_cut_into_pieces():
    docs = random_docs(0)
    L = 16
    rows = list(pack_documents(docs, L))
    data, doc_of = reference_stream(docs)
    full = len(data) // L
    assert len(rows) == full  # the partial last row is dropped in training
    for r, row in enumerate(rows):
        piece = data[r * L:(r + 1) * L]
        assert list(row.ids) == piece
        # a segment starts at 0 and wherever the document changes (a BOS position)
        expected = [0] + [t for t in range(1, L) if doc_of[r * L + t] != doc_of[r * L + t - 1]]
        assert list(row.starts) == expected


def test_seq_idx_and_targets():
    docs = [b"abc", b"defgh", b"ij"]  # stream: ^abc^defgh^ij (^ = BOS), 13 bytes
    rows = list(pack_documents(docs, 6))
    assert [r.ids for r in rows] == [bytes([BOS]) + b"abc" + bytes([BOS]) + b"d", b"efgh" + bytes([BOS]) + b"i"]
    batch = collate(rows)
    assert batch.seq_idx.tolist() == [[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 1, 1]]
    # targets: next byte inside the same segment only (nothing across a document boundary)
    assert batch.target_mask.tolist() == [[True, True, True, False, True], [True, True, True, False, True]]
    assert batch.mask is None
    assert batch.input_ids.dtype == torch.long


def test_phase_skip_drops_bytes_from_the_start():
    docs = [b"abcdefgh", b"xyz"]
    packer = RowPacker(4)
    packer.skip(3)  # drops BOS, a, b
    rows = [r for d in docs for r in packer.add(d)]
    assert [r.ids for r in rows] == [b"cdef", b"gh" + bytes([BOS]) + b"x"]
    assert rows[0].starts == (0,) and rows[1].starts == (0, 2)


def test_validation_rows_score_every_byte_exactly_once():
    docs = random_docs(1, n=12, max_len=40)
    L = 8
    rows = list(pack_documents(docs, L, carry_context=True, pad_last=True))
    batch = collate(rows)
    # Rebuild, from scored (context, target) pairs, the text of every document.
    scored = []
    ids, tm = batch.input_ids, batch.target_mask
    for r in range(ids.shape[0]):
        for t in range(L - 1):
            if tm[r, t]:
                scored.append(int(ids[r, t + 1]))
    assert batch.n_targets == sum(len(d) for d in docs)
    assert scored == [b for d in docs for b in d]
    assert batch.mask is not None and not batch.mask[-1, -1] or rows[-1].length == L


def test_long_document_spans_rows():
    doc = bytes(range(100))
    rows = list(pack_documents([doc], 10))
    assert len(rows) == 10  # 101 bytes -> 10 full rows
    assert all(r.starts == (0,) for r in rows)
    assert rows[0].ids[0] == BOS and rows[1].ids == bytes(range(9, 19))
