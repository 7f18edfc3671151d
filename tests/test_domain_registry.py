"""Every bundled domain is a complete Domain, found through the entry points; options parse strictly."""

import math
import random

import pytest

from hnet_cli.data.domain import Domain
from hnet_cli.data.registry import available_domains, get_domain
from hnet_cli.errors import ConfigError

BUNDLED = {"dna": "dna-tiny", "code": "code-tiny", "text": "text-tiny", "chinese": "zh-tiny"}


def test_bundled_domains_are_registered():
    domains = available_domains()
    assert set(BUNDLED) <= set(domains)
    for name, recipe in BUNDLED.items():
        domain = domains[name]
        assert isinstance(domain, Domain) and domain.name == name
        assert domain.default_recipe == recipe
        assert domain.summary and domain.unit in ("base", "char")
        for path in domain.default_paths():
            assert path.exists(), path


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_compression_targets_are_well_formed(name):
    domain = get_domain(name)
    assert set(domain.compression_targets) == {1, 2}
    for stages, targets in domain.compression_targets.items():
        assert len(targets) == stages and all(n > 1 and math.isfinite(n) for n in targets)
        assert domain.targets_for(stages) == targets
    with pytest.raises(ConfigError, match="no compression targets for 5 stages"):
        domain.targets_for(5)


def test_lookup_by_alias_and_unknown_name():
    assert get_domain("zh") is get_domain("chinese") is get_domain(" ZH ")
    with pytest.raises(ConfigError) as err:
        get_domain("protein")
    message = str(err.value)
    assert "unknown domain 'protein'" in message and "dna" in message and "chinese (zh" in message


def test_parse_options_types_defaults_and_errors():
    dna = get_domain("dna")
    options = dna.parse_options(["softmask=keep", "rc_prob=0.25", "n_split=1_000", "max_length=64"])
    assert options == {"format": "auto", "softmask": "keep", "n_split": 1000, "max_length": 64,
                       "min_length": 1, "rc_prob": 0.25}
    with pytest.raises(ConfigError, match=r"unknown option 'colour' for domain 'dna' \(valid options: format, max_length"):
        dna.parse_options(["colour=blue"])
    with pytest.raises(ConfigError, match="rc_prob='x': expected a number"):
        dna.parse_options(["rc_prob=x"])
    with pytest.raises(ConfigError, match="rc_prob=1.5: must be at most 1"):
        dna.parse_options(["rc_prob=1.5"])
    with pytest.raises(ConfigError, match="softmask='drop': choose one of fold, keep"):
        dna.parse_options(["softmask=drop"])
    with pytest.raises(ConfigError, match="expected key=value"):
        dna.parse_options(["softmask"])
    code = get_domain("code")
    assert code.parse_options(["gitignore=no", "include=src/**, lib/**"])["include"] == ("src/**", "lib/**")
    with pytest.raises(ConfigError, match="gitignore='maybe': expected true or false"):
        code.parse_options(["gitignore=maybe"])


def test_read_checks_python_options_too():
    with pytest.raises(ConfigError, match="unknown option 'softmsk'"):
        get_domain("dna").read([], softmsk="keep")
    with pytest.raises(ConfigError, match="max_length=0: must be at least 1"):
        get_domain("dna").read([], max_length=0)


def test_augment_is_identity_for_text_domains():
    from hnet_cli.data.documents import Document

    doc = Document("床前明月光".encode(), "poem.txt", "poem.txt")
    for name in ("text", "chinese", "code"):
        assert get_domain(name).augment(doc, random.Random(0)) is doc


def test_bundled_domains_found_without_installed_entry_points(monkeypatch):
    """Running from a source tree on PYTHONPATH (no package metadata) still finds dna/code/text/chinese."""
    from hnet_cli.data import registry

    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    registry.refresh()
    try:
        assert set(registry.available_domains()) == {"dna", "code", "text", "chinese"}
        assert registry.get_domain("zh").name == "chinese"
    finally:
        monkeypatch.undo()
        registry.refresh()


def test_domains_say_what_the_jobs_ask_of_them():
    """chunk, score, embed and generate ask these instead of naming a domain."""
    dna, text = get_domain("dna"), get_domain("text")
    assert dna.describe()["sequence"] is True and text.describe()["sequence"] is False
    assert dna.double_stranded and not text.double_stranded
    assert dna.reverse_strand(b"AACG") == b"CGTT"
    assert dna.whole_record_options({"n_split": 100}, given=())["n_split"] == 0
    assert dna.whole_record_options({"n_split": 100}, given=("n_split",))["n_split"] == 100
    assert text.whole_record_options({"max_bytes": 10}, given=()) == {"max_bytes": 10}
    assert dna.size_options == ("max_length",) and text.size_options == ("max_bytes",)
    with pytest.raises(ConfigError, match="no second strand"):
        text.reverse_strand(b"abc")
