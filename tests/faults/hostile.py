"""Shared pieces of the hostile-server tests (issue 11): hostile bodies, the checks every
one of them makes, and routes that make a fault server look healthy to a health probe.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from modelport import ModelportError, Provider

from .kinds import OLLAMA, OPENAI, Kind
from .servers import Script, answer

T = TypeVar("T")

DEPTH = 100_000
DEEP = b"[" * DEPTH + b"]" * DEPTH
"""JSON nested 100,000 deep: ``json.loads`` raises RecursionError on it."""
DEEP_TEXT = DEEP.decode()

SECRET = "sk-SECRET-zq7x"
"""An API key that must never be shown: each test looks for ``zq7x`` in what it sees."""
SECRET_MARK = "zq7x"


def typed(error: BaseException | None, cls: type[ModelportError], provider: Provider) -> Any:
    """The error is a ``cls`` (or a subclass) naming the provider's service and URL.

    Looser than ``check_error``: the hostile cases say which family of error they
    expect, not the exact message or status.
    """
    assert error is not None, "no error was raised"
    assert isinstance(error, cls), f"expected {cls.__name__}, got {type(error).__name__}: {error!r}"
    assert error.service == provider.name, (error.service, provider.name)
    assert error.base_url == provider.base_url, (error.base_url, provider.base_url)
    return error


def modelport_error_or_result(run: Callable[[], T]) -> T | ModelportError:
    """``run()``'s result, or the ModelportError it raised; anything else fails the test."""
    try:
        return run()
    except ModelportError as exc:
        return exc
    except pytest.fail.Exception:
        raise
    except BaseException as exc:  # the defect: a foreign exception escaped
        pytest.fail(f"a foreign exception escaped: {type(exc).__name__}: {exc!r}"[:2000])


def wait_until(condition: Callable[[], object], seconds: float = 15.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass; whether it held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


def open_fds(pid: int | str = "self") -> int:
    """How many file descriptors this process (or process ``pid``) has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def sockets_to(port: int) -> int:
    """How many sockets this process has open to ``127.0.0.1:port`` (a client's side of
    its connections to a server on that port), in whatever TCP state: the
    ``socket:[inode]`` links in /proc/self/fd that /proc/net/tcp lists with that remote
    port. A server in the same process is not counted (its sockets have it as their
    local port)."""
    inodes: set[str] = set()
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)
        for line in table:
            fields = line.split()
            if int(fields[2].rpartition(":")[2], 16) == port:
                inodes.add(fields[9])
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            count += 1
    return count


def rss_bytes(pid: int | str = "self") -> int:
    """The resident set size of this process (or ``pid``), from /proc/PID/status."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def health_routes(kind: Kind) -> dict[str, Script]:
    """Routes that make a health probe (and a model listing) of ``kind`` succeed.

    Only the OpenAI-compatible and Ollama kinds are used where health matters: they
    cover both wire formats (SSE and NDJSON) with the simplest probes.
    """
    if kind is OPENAI:
        listing = {"object": "list", "data": [{"id": kind.model, "object": "model"}]}
        return {"GET /v1/models": answer(200, json.dumps(listing).encode())}
    if kind is OLLAMA:
        tags = {
            "models": [
                {
                    "name": kind.model,
                    "model": kind.model,
                    "size": 1,
                    "digest": "sha256:0",
                    "details": {"family": "llama"},
                }
            ]
        }
        return {
            "GET /": answer(200, b"Ollama is running", content_type="text/plain"),
            "GET /api/version": answer(200, b'{"version": "0.9.0"}'),
            "GET /api/tags": answer(200, json.dumps(tags).encode()),
        }
    raise AssertionError(f"no health routes for {kind}")


HEALTH_KINDS = [OPENAI, OLLAMA]
"""The kinds whose health probes :func:`health_routes` can satisfy."""
