"""User-facing errors.

Every problem a user can cause (a missing file, a malformed record, a bad
config) is raised as an HnetError subclass. The CLI prints its message as one
line and exits non-zero; no traceback. Library users catch HnetError.
"""

from __future__ import annotations


class HnetError(Exception):
    """An error whose message is meant for the user, as one line."""

    exit_code = 1


class ConfigError(HnetError):
    """An invalid model or recipe configuration."""


class InputError(HnetError):
    """Bad input data. Names the file and, where known, the line or record."""

    def __init__(self, path, problem: str, line: int | None = None, record: str | None = None):
        self.path = str(path)
        self.problem = problem
        self.line = line
        self.record = record
        where = self.path
        if line is not None:
            where += f":{line}"
        if record is not None:
            where += f" (record {record!r})"
        super().__init__(f"{where}: {problem}")


class CheckpointError(HnetError):
    """A checkpoint that cannot be read or does not match its config."""


class OutputError(HnetError):
    """An output that cannot be written: a directory, a missing folder, a full disk."""


class OutputClosed(HnetError):
    """The reader of the output went away (`hnet chunk ... | head`): stop quietly, as if killed by SIGPIPE."""

    exit_code = 141


# What each command calls the knobs that set how much is computed at once.
_TRAINING_BATCH = "a smaller train.batch_size (--set train.batch_size=N) or train.seq_len"
_SMALLER_BATCH = {
    "train": _TRAINING_BATCH,
    "compare": _TRAINING_BATCH,
    "generate": "a smaller --batch-size",
    "chunk": "a smaller --window or --batch-tokens",
}


def out_of_memory_message(exc: BaseException, command: str | None = None) -> str | None:
    """One line for running out of GPU or host memory (None: `exc` is something else).

    PyTorch reports it as torch.OutOfMemoryError (CUDA) or as a RuntimeError from
    its CPU allocator. The line keeps how much was asked for and what was free,
    and drops the allocator advice, which rarely applies.
    """
    import re

    text = str(exc)
    if type(exc).__name__ == "OutOfMemoryError" or "CUDA out of memory" in text:
        asked = re.search(r"Tried to allocate ([\d.]+ \w+)", text)
        free = re.search(r"total capacity of ([\d.]+ \w+) of which ([\d.]+ \w+) is free", text)
        detail = ", ".join(filter(None, [asked and f"{asked.group(1)} asked for",
                                         free and f"{free.group(2)} of {free.group(1)} free"]))
        where = "GPU memory"
    elif isinstance(exc, MemoryError) or "can't allocate memory" in text:
        asked = re.search(r"tried to allocate (\d+) bytes", text)
        detail = f"{int(asked.group(1)) / 2**30:.2f} GiB asked for" if asked else ""
        where = "memory"
    else:
        return None
    advice = _SMALLER_BATCH.get(command or "", "a smaller --batch-size or --context")
    return f"out of {where}{f' ({detail})' if detail else ''}: try {advice}"
