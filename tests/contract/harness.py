"""The provider contract: one fake server per provider kind, one set of behaviours for all.

Each :class:`Harness` emulates its server's real wire format behind an
``httpx.MockTransport``. The contract tests (``test_contract.py``) then check that
every provider behaves the same through the public API. The model name picks the
scenario, so one fake server covers every case:

==============  ==============================================================
model           what the fake server does
==============  ==============================================================
``alpha``       chat answers ``"echo: <last user text>"``; streams it word by word
``beta``        listed, but otherwise like ``alpha``
``missing``     the server's own "model not found" error
``overflow``    the server's own "prompt longer than the context" error
``busy``        503 / busy
``crash``       500
``midstream``   the stream sends two pieces, then an in-band error
``truncated``   the stream sends two pieces, then ends without finishing
``embedder``    embeddings: one 3-float vector per input
==============  ==============================================================

To add a provider to the contract, subclass :class:`Harness` in a
``harness_<kind>.py`` module and register it in ``HARNESSES`` in ``test_contract.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from modelport.providers.base import Provider

MODELS = ["alpha", "beta", "embedder"]
ECHO_PREFIX = "echo: "
USAGE = {"prompt": 5, "completion": 3}
STREAM_PIECES_BEFORE_FAILURE = ["Partial ", "answer"]
EMBED_VECTOR = [0.1, 0.2, 0.3]
MIDSTREAM_ERROR = "the runner crashed"


@dataclass
class Call:
    """One request the fake server received."""

    method: str
    path: str
    json: Any
    headers: httpx.Headers


@dataclass
class Harness:
    """A fake server of one kind, and how to build its provider."""

    kind: str = ""
    base_url: str = ""
    calls: list[Call] = field(default_factory=list)
    manages_models: bool = False
    """The fake emulates loading and unloading (``alpha`` loaded, ``beta`` not, at first)."""

    # ---- what each provider kind must supply --------------------------------------

    def listed(self, name: str) -> str:
        """The name the server lists the scenario model ``name`` by (a gateway lists
        models by its client's ``service/name`` ids)."""
        return name

    def make_provider(self, transport: httpx.MockTransport, **kwargs: Any) -> Provider:
        raise NotImplementedError

    def route(self, request: httpx.Request, body: Any) -> tuple[str, str | None]:
        """Which operation a request is: ``models``, ``chat``, ``stream``, ``embed``,
        ``health`` or ``other``; and the model it names."""
        raise NotImplementedError

    def models_response(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    def health_response(self, request: httpx.Request) -> httpx.Response:
        return self.models_response(request)

    def chat_response(self, model: str, text: str) -> httpx.Response:
        raise NotImplementedError

    def stream_response(
        self, model: str, pieces: list[str], *, finish: bool = True, error: str | None = None
    ) -> httpx.Response:
        """A streamed reply of ``pieces``; ``finish=False`` ends it early; ``error`` adds
        the server's in-band error after the pieces."""
        raise NotImplementedError

    def embed_response(self, model: str, count: int) -> httpx.Response:
        raise NotImplementedError

    def error_response(self, scenario: str, model: str) -> httpx.Response:
        """The server's own body for ``missing``, ``overflow``, ``busy`` or ``crash``."""
        raise NotImplementedError

    def other_response(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="404 page not found")

    # ---- the fake server ----------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        body: Any = None
        if request.content:
            body = json.loads(request.content)
        self.calls.append(Call(request.method, request.url.path, body, request.headers))
        operation, model = self.route(request, body)
        if operation == "models":
            return self.models_response(request)
        if operation == "health":
            return self.health_response(request)
        if operation == "other" or model is None:
            return self.other_response(request)
        if model in ("missing", "overflow", "busy", "crash"):
            return self.error_response(model, model)
        if operation == "embed":
            inputs = _embed_inputs(body)
            return self.embed_response(model, len(inputs))
        text = ECHO_PREFIX + _last_user_text(body)
        if operation == "chat":
            return self.chat_response(model, text)
        if model == "midstream":
            return self.stream_response(model, STREAM_PIECES_BEFORE_FAILURE, error=MIDSTREAM_ERROR)
        if model == "truncated":
            return self.stream_response(model, STREAM_PIECES_BEFORE_FAILURE, finish=False)
        return self.stream_response(model, _pieces(text))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def provider(self, **kwargs: Any) -> Provider:
        return self.make_provider(self.transport(), **kwargs)


def _last_user_text(body: Any) -> str:
    messages = body.get("messages") or []
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if p.get("type") == "text")
            return str(content)
    return ""


def _embed_inputs(body: Any) -> list[Any]:
    value = body.get("input", body.get("prompt"))
    return value if isinstance(value, list) else [value]


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def sse(events: list[Any], *, done: bool = True) -> bytes:
    """An SSE body of JSON events, ending with ``[DONE]`` when ``done``."""
    out = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


def ndjson(lines: list[Any]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)
