"""The unit tests open no sockets: a guard fails any test that connects or binds one,
unless it is marked ``socket`` (the loopback discovery tests). ``pytest tests/unit -m
"not socket"`` is the socket-free set."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _no_sockets(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if request.node.get_closest_marker("socket") is not None:
        yield
        return

    def refuse(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(
            f"a unit test opened a socket ({args!r}): replay with httpx.MockTransport, "
            "or mark the test with @pytest.mark.socket"
        )

    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, refuse)
    yield
