"""The robustness suite: the paper's five text perturbations, seeded and character-based.

The H-Net paper (following the Byte Latent Transformer's noised benchmarks)
measures how a model copes with AntSpeak, Drop, RandomCase, Repeat and
UpperCase. Here each one turns a document's text into a perturbed text, and
`hnet eval --perturb` reports the model's bits per byte on it next to the
clean score. Exact definitions (characters = Unicode code points of the
UTF-8-decoded document; bytes that are not valid UTF-8 pass through unchanged
as single "characters" that have no case):

- uppercase:  every character upper-cased (`str.upper`; "ß" becomes "SS").
- randomcase: each character independently upper-cased with probability 1/2,
              otherwise lower-cased.
- antspeak:   upper-case the text, then put one space between every two
              characters: "ant speak" -> "A N T   S P E A K" (an original
              space becomes a character of its own, so three spaces in a row).
- drop:       remove exactly round(10% of the characters), chosen uniformly
              without replacement.
- repeat:     choose exactly round(20% of the characters) uniformly without
              replacement; each chosen character is written r times in a row,
              r drawn uniformly from {2, 3, 4} ("repeated up to 4x").

Randomness: each (perturbation, document) gets its own generator,
`random.Random(f"{seed}:{name}:{document_index}")` (Python's string seeding is
stable across runs and platforms), where document_index counts the documents
of the corpus in reading order. So a result does not depend on batch size,
device or which other perturbations were asked for.

Scores on a perturbed document are bits per byte OF THE PERTURBED TEXT (what
the model read); `bits_per_original_byte` divides the same bits by the clean
document's length instead, for perturbations that change the length.
"""

from __future__ import annotations

import random
from typing import Callable

from hnet_cli.errors import ConfigError

DROP_FRACTION = 0.10
REPEAT_FRACTION = 0.20
REPEAT_TIMES = (2, 3, 4)


def uppercase(text: str, rng: random.Random) -> str:
    return text.upper()


def randomcase(text: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)


def antspeak(text: str, rng: random.Random) -> str:
    return " ".join(text.upper())


def drop(text: str, rng: random.Random) -> str:
    k = round(DROP_FRACTION * len(text))
    dropped = set(rng.sample(range(len(text)), k))
    return "".join(c for i, c in enumerate(text) if i not in dropped)


def repeat(text: str, rng: random.Random) -> str:
    k = round(REPEAT_FRACTION * len(text))
    chosen = sorted(rng.sample(range(len(text)), k))
    times = {i: rng.choice(REPEAT_TIMES) for i in chosen}
    return "".join(c * times.get(i, 1) for i, c in enumerate(text))


PERTURBATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "antspeak": antspeak,
    "drop": drop,
    "randomcase": randomcase,
    "repeat": repeat,
    "uppercase": uppercase,
}


def parse_perturbations(spec: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """'antspeak,drop' or ['drop', ...] (or 'all') -> validated names, in the given order, no repeats."""
    if not spec:
        return []
    items = spec.split(",") if isinstance(spec, str) else [part for s in spec for part in s.split(",")]
    names: list[str] = []
    for item in items:
        name = item.strip().lower().replace("-", "").replace("_", "")
        if not name:
            continue
        if name == "all":
            names.extend(n for n in PERTURBATIONS if n not in names)
            continue
        if name not in PERTURBATIONS:
            raise ConfigError(f"unknown perturbation {item.strip()!r}; choose from {', '.join(PERTURBATIONS)} or all")
        if name not in names:
            names.append(name)
    return names


def perturb_bytes(data: bytes, name: str, seed: int, document_index: int) -> bytes:
    """The perturbed UTF-8 bytes of one document (see the module docstring)."""
    fn = PERTURBATIONS[name]
    rng = random.Random(f"{seed}:{name}:{document_index}")
    # surrogateescape: bytes that are not UTF-8 survive the round trip unchanged.
    text = data.decode("utf-8", errors="surrogateescape")
    return fn(text, rng).encode("utf-8", errors="surrogateescape")
