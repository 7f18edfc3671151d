"""Stop strings, matched on bytes as they are sampled, without ever showing part of one.

Bytes that might be the start of a stop string are held back until the next
bytes show whether they are: `feed` returns only bytes that are certainly
output. A stop string is not part of the output (as in most sampling APIs).
The sample ends where a stop string first ends; if several end there, the
longest is the one removed.
"""

from __future__ import annotations


class StopMatcher:
    def __init__(self, stops: tuple[bytes, ...] = ()):
        self.stops = tuple(stops)
        self._pending = bytearray()  # held back: a suffix that is a prefix of some stop string

    def feed(self, byte: int) -> tuple[bytes, bytes | None]:
        """Add one sampled byte -> (bytes now safe to output, the stop string if one just completed)."""
        if not self.stops:
            return bytes((byte,)), None
        self._pending.append(byte)
        pending = bytes(self._pending)
        matched = [stop for stop in self.stops if pending.endswith(stop)]
        if matched:
            # Everything before the stop string is output; the stop string is dropped.
            # Several ending here (b"\n" and b"\n\n"): the longest, so none of one is left.
            stop = max(matched, key=len)
            self._pending.clear()
            return pending[: len(pending) - len(stop)], stop
        keep = self._held_back_length(pending)
        self._pending = bytearray(pending[len(pending) - keep:]) if keep else bytearray()
        return pending[: len(pending) - keep], None

    def flush(self) -> bytes:
        """The sample ended without a stop string: the held-back bytes are output after all."""
        rest = bytes(self._pending)
        self._pending.clear()
        return rest

    def _held_back_length(self, pending: bytes) -> int:
        """Length of the longest suffix of `pending` that is a proper prefix of a stop string."""
        best = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(pending)), best, -1):
                if pending.endswith(stop[:k]):
                    best = k
                    break
        return best
