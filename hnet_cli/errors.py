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
