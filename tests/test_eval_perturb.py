"""The robustness perturbations do exactly what the documentation says, on characters, seeded."""

from collections import Counter
from itertools import groupby

import pytest

from hnet_cli.errors import ConfigError
from hnet_cli.eval.perturb import PERTURBATIONS, parse_perturbations, perturb_bytes

ENGLISH = "Anne Elliot walked to the window; the rain had stopped."
CHINESE = "兰叶春葳蕤，桂华秋皎洁。欣欣此生意，自尔为佳节。"
MIXED = (ENGLISH + " " + CHINESE + " Straße ") * 4


def p(text: str, name: str, seed: int = 0, index: int = 0) -> str:
    return perturb_bytes(text.encode("utf-8"), name, seed, index).decode("utf-8")


def test_uppercase_and_antspeak_are_exact():
    assert p("ant speak, ß", "uppercase") == "ANT SPEAK, SS"
    assert p("ant speak", "antspeak") == "A N T   S P E A K"
    assert p("兰叶", "antspeak") == "兰 叶"  # characters, not bytes


def test_randomcase_changes_only_case_about_half_upper():
    text = (ENGLISH + CHINESE) * 4  # no "ß": every character keeps its length
    out = p(text, "randomcase")
    assert out.lower() == text.lower() and len(out) == len(text) and out != text
    letters = [o for c, o in zip(text, out) if c.isascii() and c.isalpha()]
    assert 0.35 < sum(o.isupper() for o in letters) / len(letters) < 0.65


def test_drop_removes_exactly_ten_percent_of_characters():
    out = p(MIXED, "drop")
    assert len(out) == len(MIXED) - round(0.1 * len(MIXED))
    it = iter(MIXED)  # what is left is a subsequence of the original
    assert all(c in it for c in out)
    assert Counter(MIXED) - Counter(out)  # something was removed


def test_repeat_writes_twenty_percent_of_characters_two_to_four_times():
    distinct = "".join(chr(0x4E00 + i) for i in range(500))  # no two neighbours alike: runs are exact
    out = p(distinct, "repeat")
    runs = [(c, len(list(g))) for c, g in groupby(out)]
    assert "".join(c for c, _ in runs) == distinct
    counts = Counter(n for _, n in runs)
    assert sum(v for k, v in counts.items() if k > 1) == round(0.2 * len(distinct))
    assert set(counts) == {1, 2, 3, 4}


def test_invalid_utf8_bytes_pass_through():
    data = b"abc\xff\xfedef"
    assert perturb_bytes(data, "uppercase", 0, 0) == b"ABC\xff\xfeDEF"
    assert perturb_bytes(data, "antspeak", 0, 0) == b"A B C \xff \xfe D E F"


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_seeded_and_per_document(name):
    data = MIXED.encode("utf-8")
    assert perturb_bytes(data, name, 0, 3) == perturb_bytes(data, name, 0, 3)
    perturbed = perturb_bytes(data, name, 0, 3)
    perturbed.decode("utf-8")  # still valid UTF-8: no character was cut
    if name in ("drop", "repeat", "randomcase"):
        assert perturb_bytes(data, name, 1, 3) != perturbed
        assert perturb_bytes(data, name, 0, 4) != perturbed


def test_parse_perturbations():
    assert parse_perturbations("drop, UpperCase,drop") == ["drop", "uppercase"]
    assert parse_perturbations("all") == ["antspeak", "drop", "randomcase", "repeat", "uppercase"]
    assert parse_perturbations(None) == []
    assert parse_perturbations("random-case") == ["randomcase"]
    with pytest.raises(ConfigError, match="unknown perturbation 'shout'"):
        parse_perturbations("drop,shout")
