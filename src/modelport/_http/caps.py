"""How much of a server's answer is read, and for how long: the caps and the deadline
every transport applies, and the collector that enforces a cap while a body is read.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_CAPS", "DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_ERROR_BYTES", "Body", "Caps"]

DEFAULT_MAX_BODY_BYTES = 128 * 1024 * 1024
DEFAULT_MAX_ERROR_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Caps:
    """How much of a server's answer is read, and for how long."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """A non-streamed body, after decompression."""
    max_error_bytes: int = DEFAULT_MAX_ERROR_BYTES
    """An error body: enough for any message, never a server's whole dump."""
    deadline: float | None = None
    """Seconds a non-streamed request may take in all; ``None``: twice its read timeout."""


DEFAULT_CAPS = Caps()


class Body:
    """Collects a body's chunks up to a cap, and notes whether it was cut."""

    __slots__ = ("chunks", "cut", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.cut = False

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; ``False`` once the cap is reached (stop reading)."""
        room = self.limit - self.size
        if len(chunk) > room:
            self.chunks.append(chunk[:room])
            self.size = self.limit
            self.cut = True
            return False
        self.chunks.append(chunk)
        self.size += len(chunk)
        return True

    def bytes(self) -> bytes:
        return b"".join(self.chunks)
