"""The deterministic train/validation split."""

import random

from hnet_cli.data.documents import Document
from hnet_cli.data.split import MIN_DOCUMENTS, plan_split, utf8_cut


def corpus(n, seed=0, size=100):
    rng = random.Random(seed)
    return [Document(bytes(rng.randrange(97, 123) for _ in range(size)), f"dir/file{i % 3}.txt", f"doc{i}") for i in range(n)]


def test_few_documents_split_at_the_tail():
    docs = corpus(3)
    split = plan_split(lambda: iter(docs), 0.1, 10_000)
    assert split.mode == "tail"
    assert [d.data for d in split.validation] == [d.data[90:] for d in docs]
    assert [d.data for d in split.train(iter(docs))] == [d.data[:90] for d in docs]


def test_many_documents_split_by_document_and_never_overlap():
    docs = corpus(400)
    split = plan_split(lambda: iter(docs), 0.1, 10**9)
    assert split.mode == "documents"
    val = {d.name for d in split.validation}
    train = {d.name for d in split.train(iter(docs))}
    assert val and not (val & train) and val | train == {d.name for d in docs}
    assert 20 <= len(val) <= 60  # ~10% of 400


def test_split_does_not_depend_on_order_or_directory():
    docs = corpus(300, seed=1)
    moved = [Document(d.data, d.source.replace("dir/", "elsewhere/"), d.name) for d in docs]
    shuffled = list(reversed(moved))
    a = {d.name for d in plan_split(lambda: iter(docs), 0.05, 10**9).validation}
    b = {d.name for d in plan_split(lambda: iter(shuffled), 0.05, 10**9).validation}
    assert a == b


def test_validation_is_capped_and_planning_stops_early():
    consumed = []

    def stream():
        for d in corpus(5000, seed=2):
            consumed.append(d)
            yield d

    split = plan_split(stream, 0.05, eval_bytes=1000)
    assert split.mode == "documents"
    assert split.validation_bytes == 1000
    assert MIN_DOCUMENTS <= len(consumed) < 5000


def test_tail_cut_keeps_utf8_characters_whole():
    text = "汉字汉字汉字汉字".encode()  # 24 bytes, 3 per character
    cut = utf8_cut(text, 10)
    assert cut == 12 and text[cut:].decode() == "汉字汉字"
    docs = [Document(text, "a.txt", "a")]
    split = plan_split(lambda: iter(docs), 0.3, 10**6)
    assert split.validation[0].data.decode() and b"".join([split.validation[0].data]) in text
