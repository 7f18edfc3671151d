"""Default target compression N per H-Net stage, per domain (outer stage first).

PROVISIONAL. These are starting points taken from the paper where it has
them and reasoned from bytes-per-unit where it does not. The issue asks for
values measured by a sweep of N per domain (tiny models, validation bits per
byte at equal compute); that sweep needs the training loop and its table will
go to recipes/README.md. When it lands, replace the numbers here and set
MEASURED = True (`hnet domains` shows "provisional" until then).

Reasoning (N = bytes per chunk at stage 0, chunks per chunk above):
- text:    the paper's English settings: 1 stage N=6 (chunks settle near
           4.5-5 bytes, about a BPE token); 2 stages (3, 3).
- code:    like English text, but code's identifiers and keywords are longer
           and its whitespace runs compress well: one BPE token of code is
           ~3.5-4 bytes, so 1 stage N=5; 2 stages (3, 3) as in the paper.
- chinese: a CJK character is 3 UTF-8 bytes and carries about a word's
           information (a word is ~1.5 characters). 1 stage N=4.5 is about
           one word per chunk; 2 stages (3, 3): stage 0 ~ one character per
           chunk, stage 1 ~ three characters (about two words).
- dna:     one byte per base and little redundancy at short range: 1 stage
           N=3 (the paper's DNA setting); 2 stages (3, 2) so the outer
           chunks stay short (~6 bases).
"""

MEASURED = False

COMPRESSION_TARGETS: dict[str, dict[int, list[float]]] = {
    "text": {1: [6.0], 2: [3.0, 3.0]},
    "code": {1: [5.0], 2: [3.0, 3.0]},
    "chinese": {1: [4.5], 2: [3.0, 3.0]},
    "dna": {1: [3.0], 2: [3.0, 2.0]},
}
