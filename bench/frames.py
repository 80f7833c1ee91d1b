"""How deep a streamed chunk's read goes: ``python bench/frames.py``.

Issue 19 asks how many Python frames sit between the caller's ``for chunk in stream``
(or ``async for``) and the socket read that brings the chunk's bytes. This script starts
``bench/server.py`` (loopback), streams one chat of ``CHUNKS`` chunks with
``modelport.Client`` and with ``modelport.AsyncClient``, and, with ``sys.setprofile``,
records how many frames separate the caller's frame from, in sync code, every C-level
socket read (``recv``, ``recv_into``), and in async code (where the event loop reads the
socket outside the caller's stack and the awaiting coroutines resume on a buffer) the
transport's ``read`` that waits for the bytes (httpx), or the asyncio pool's
``aiter_bytes`` that takes them from the protocol's buffer. The server paces the chunks
(``pace-CHUNKS-2``: one every 2 ms) so each arrives in its own read. The first chunk
(sending the request, reading the head) is left out. It prints, per mode, the depth at
the read (the most frequent and the largest) and the frames of the deepest stack, from
the caller's side down. No timing: the numbers only change when the code's shape does.
"""

from __future__ import annotations

import asyncio
import collections
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import modelport

CHUNKS = 50
_READS = {"recv", "recv_into"}


def _depth(frame: types.FrameType | None, stop: types.CodeType) -> tuple[int, list[str]]:
    """Frames from ``frame`` up to (not including) the one running ``stop``."""
    names: list[str] = []
    while frame is not None and frame.f_code is not stop:
        code = frame.f_code
        module = Path(code.co_filename).name
        names.append(f"{module}:{code.co_name}")
        frame = frame.f_back
    return (len(names), names) if frame is not None else (-1, names)


class _Probe:
    def __init__(self, stop: types.CodeType, reads_only: bool) -> None:
        self.stop = stop
        self.reads_only = reads_only
        self.depths: collections.Counter[int] = collections.Counter()
        self.deepest: list[str] = []

    def __call__(self, frame: types.FrameType, event: str, arg: Any) -> None:
        if event != "c_call" or (self.reads_only and getattr(arg, "__name__", "") not in _READS):
            return
        depth, names = _depth(frame, self.stop)
        if depth < 0:
            return
        # Async: the socket is read by the event loop, off this stack; the awaiting
        # chain ends in the transport's ``read`` (httpx), which waits on a buffer, or in
        # modelport's asyncio pool in ``aiter_bytes``, which takes what the protocol
        # buffered or waits for it: count to it.
        reads = [i for i, name in enumerate(names) if name.endswith(":read")] or [
            i for i, name in enumerate(names) if name == "aiopool.py:aiter_bytes"
        ]
        if not self.reads_only:
            if not reads:
                return
            names = names[reads[-1] :]
            depth = len(names)
        self.depths[depth] += 1
        if depth > len(self.deepest):
            self.deepest = names


def _sync(url: str) -> _Probe:
    with modelport.Client(services=[modelport.OpenAICompatibleProvider(url)]) as client:
        stream = iter(client.chat_stream(f"pace-{CHUNKS}-2", "hi"))
        next(stream)  # the request is sent and the head read: from here on, chunks only
        probe = _Probe(_sync.__code__, reads_only=True)
        sys.setprofile(probe)
        try:
            for _ in stream:
                pass
        finally:
            sys.setprofile(None)
    return probe


async def _async_run(url: str) -> _Probe:
    async with modelport.AsyncClient(services=[modelport.OpenAICompatibleProvider(url)]) as client:
        stream = aiter(client.chat_stream(f"pace-{CHUNKS}-2", "hi"))
        await anext(stream)  # the request is sent and the head read: chunks only from here
        probe = _Probe(_async_run.__code__, reads_only=False)
        sys.setprofile(probe)
        try:
            async for _ in stream:
                pass
        finally:
            sys.setprofile(None)
    return probe


def _report(mode: str, probe: _Probe) -> None:
    if not probe.depths:
        print(f"{mode}: no socket read seen under the loop")
        return
    common = probe.depths.most_common(1)[0][0]
    gens = probe.deepest
    print(
        f"{mode}: frames from the caller's loop to the read: "
        f"most often {common}, at most {max(probe.depths)}"
    )
    for name in reversed(gens):
        print(f"    {name}")


def main() -> None:
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("server.py")), "--port", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().split()
        if not line or line[0] != "READY":
            raise SystemExit(f"bench/server.py did not start: {line!r}")
        url = f"http://127.0.0.1:{line[1]}"
        _report("sync Client.chat_stream", _sync(url))
        _report("async AsyncClient.chat_stream", asyncio.run(_async_run(url)))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
