"""Bad caller input (issue 11, defect 9; and the number checks of defects 5 and 15).

Every chat and embed input in the issue's list must be refused with an
InvalidRequestError before anything is sent: a lone surrogate in the content, the
model or an embedding input; a set inside ``options`` or a tool schema; a schema
5,000 levels deep; ``seed=10**5000``; ``images=5``; a missing image path with no
extension; ``keep_alive=inf``; ``temperature=nan``; a per-call ``timeout`` or
``deadline`` that is not a finite positive number. Provider settings that cannot be
sent (a non-ASCII header name, a header whose value is ``None``) are a
ConfigurationError when the provider is built.

The calls go through providers whose HTTP is an ``httpx.MockTransport`` that records
every request, so the request JSON is really encoded (where UnicodeEncodeError,
TypeError, RecursionError and ValueError came from), and through a Client over the
shipped ``FakeProvider``, which must never let a foreign exception out either.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

import modelport
from modelport import (
    ConfigurationError,
    InvalidRequestError,
    LMStudioProvider,
    ModelportError,
    OllamaProvider,
    OpenAICompatibleProvider,
    Provider,
)
from modelport.testing import FakeProvider

from .kinds import OLLAMA, OPENAI

MODEL = "test-model"
BASE = "http://127.0.0.1:9"  # never reached: the transport is a mock


class Recorder:
    """An ``httpx.MockTransport`` handler that records requests and answers like the
    server each path belongs to."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        body = json.loads(request.content) if request.content else {}
        if path.endswith("/chat/completions"):
            return httpx.Response(200, content=OPENAI.reply("ok"))
        if path == "/api/chat":
            return httpx.Response(200, content=OLLAMA.reply("ok"))
        if path.endswith("/embeddings"):
            inputs = body.get("input") or [""]
            data = [{"index": i, "embedding": [0.5, 0.25]} for i in range(len(inputs))]
            return httpx.Response(200, json={"object": "list", "model": MODEL, "data": data})
        if path == "/api/embed":
            inputs = body.get("input") or [""]
            return httpx.Response(200, json={"model": MODEL, "embeddings": [[0.5]] * len(inputs)})
        return httpx.Response(404, json={"error": {"message": "File Not Found", "code": 404}})


@dataclass
class Target:
    """Something to chat with, driven sync or async; ``sent`` lists what reached HTTP."""

    name: str
    mode: str
    make: Callable[[], Any]
    recorder: Recorder | None = None
    strict: bool = True
    """Whether the target really encodes requests (a fake provider does not)."""
    objects: list[Any] = field(default_factory=list)

    @property
    def sent(self) -> list[httpx.Request]:
        return self.recorder.requests if self.recorder is not None else []

    def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        obj = self.make()
        self.objects.append(obj)
        if self.mode == "sync":
            return getattr(obj, method)(*args, **kwargs)
        name = "a" + method if isinstance(obj, Provider) else method

        async def run() -> Any:
            return await getattr(obj, name)(*args, **kwargs)

        return asyncio.run(run())

    def chat(self, model: str, messages: Any, **options: Any) -> Any:
        return self._run("chat", model, messages, **options)

    def embed(self, model: str, input: Any) -> Any:
        return self._run("embed", model, input)


def _mocked(cls: type[Provider], recorder: Recorder) -> Callable[[], Provider]:
    def make() -> Provider:
        kwargs: dict[str, Any] = {"transport": httpx.MockTransport(recorder), "timeout": 5.0}
        if cls is LMStudioProvider:
            kwargs["home"] = "/nonexistent-modelport-hostile-tests"
        return cls(BASE, **kwargs)

    return make


def _fake_client(mode: str) -> Callable[[], Any]:
    def make() -> Any:
        fake = FakeProvider(models=[MODEL], name="fake")
        cls = modelport.Client if mode == "sync" else modelport.AsyncClient
        return cls(services=[fake])

    return make


TARGETS = ["openai", "ollama", "lmstudio", "fake-client"]


@pytest.fixture(params=[(m, t) for t in TARGETS for m in ("sync", "async")], ids="-".join)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    mode, name = request.param
    if name == "fake-client":
        yield Target(name, mode, _fake_client(mode), strict=False)
        return
    recorder = Recorder()
    cls = {
        "openai": OpenAICompatibleProvider,
        "ollama": OllamaProvider,
        "lmstudio": LMStudioProvider,
    }[name]
    yield Target(name, mode, _mocked(cls, recorder), recorder)


def refused(target: Target, call: Callable[[], Any]) -> InvalidRequestError | None:
    """Run ``call``. A target that encodes JSON must refuse it with an
    InvalidRequestError before sending; the fake may also answer. Nothing may raise
    a foreign exception. Returns the error (or ``None`` when the fake answered)."""
    try:
        result = call()
    except InvalidRequestError as exc:
        assert target.sent == [], f"sent before refusing: {target.sent}"
        return exc
    except ModelportError as exc:
        pytest.fail(f"expected InvalidRequestError, got {type(exc).__name__}: {exc}")
    except BaseException as exc:
        pytest.fail(f"a foreign exception escaped: {type(exc).__name__}: {exc!r}"[:2000])
    if target.strict:
        pytest.fail(f"{target.name} accepted the input and sent it: {result!r}"[:2000])
    return None


def deep_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def tool(parameters: Any, name: str = "lookup") -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


# name -> (model, messages, options)
CHAT_CASES: dict[str, tuple[str, Any, dict[str, Any]]] = {
    "surrogate-in-content": (MODEL, "a\ud800b", {}),
    "surrogate-in-a-message-dict": (MODEL, [{"role": "user", "content": "\udfff"}], {}),
    "surrogate-in-the-model": ("m\ud800", "hi", {}),
    "surrogate-in-the-system-prompt": (MODEL, "hi", {"system": "\ud83d"}),
    "surrogate-in-a-tool-name": (MODEL, "hi", {"tools": [tool({"type": "object"}, "f\ud800")]}),
    "set-inside-options": (MODEL, "hi", {"options": {"stop_words": {"a", "b"}}}),
    "bytes-inside-options": (MODEL, "hi", {"options": {"raw": b"\x00\x01"}}),
    "set-in-a-tool-schema": (
        MODEL,
        "hi",
        {"tools": [tool({"type": "object", "properties": {"a": {"enum": {1, 2}}}})]},
    ),
    "schema-5000-deep": (MODEL, "hi", {"response_format": deep_schema(5000)}),
    "tool-schema-5000-deep": (MODEL, "hi", {"tools": [tool(deep_schema(5000))]}),
    "seed-of-5000-digits": (MODEL, "hi", {"seed": 10**5000}),
    "missing-image-path": (
        MODEL,
        [{"role": "user", "content": "hi", "images": ["/nonexistent/photo"]}],
        {},
    ),
    "missing-image-path-that-looks-like-base64": (
        MODEL,
        [{"role": "user", "content": "hi", "images": ["/nonexistent/modelport/photo"]}],
        {},
    ),
}

# Checked before any provider sees the request: the fake must refuse them too.
VALIDATED_CASES: dict[str, tuple[str, Any, dict[str, Any]]] = {
    "images-is-a-number": (MODEL, [{"role": "user", "content": "hi", "images": 5}], {}),
    "temperature-nan": (MODEL, "hi", {"temperature": float("nan")}),
    "temperature-inf": (MODEL, "hi", {"temperature": float("inf")}),
    "top-p-nan": (MODEL, "hi", {"top_p": float("nan")}),
    "keep-alive-inf": (MODEL, "hi", {"keep_alive": float("inf")}),
    "keep-alive-nan": (MODEL, "hi", {"keep_alive": float("nan")}),
    **{
        f"timeout-{label}": (MODEL, "hi", {"timeout": value})
        for label, value in [
            ("nan", float("nan")),
            ("inf", float("inf")),
            ("1e300", 1e300),
            ("0", 0),
            ("-1", -1),
        ]
    },
    **{
        f"deadline-{label}": (MODEL, "hi", {"deadline": value})
        for label, value in [
            ("nan", float("nan")),
            ("inf", float("inf")),
            ("1e300", 1e300),
            ("0", 0),
            ("-1", -1),
        ]
    },
}


@pytest.mark.parametrize("case", list(CHAT_CASES))
def test_bad_chat_input_is_an_invalid_request_error(target: Target, case: str) -> None:
    model, messages, options = CHAT_CASES[case]
    refused(target, lambda: target.chat(model, messages, **options))


@pytest.mark.parametrize("case", list(VALIDATED_CASES))
def test_bad_chat_values_are_refused_by_every_target(target: Target, case: str) -> None:
    model, messages, options = VALIDATED_CASES[case]
    target.strict = True
    error = refused(target, lambda: target.chat(model, messages, **options))
    assert error is not None
    name = next(iter(options), "images")
    assert name in str(error), f"the error does not name {name!r}: {error}"
    assert "unknown" not in str(error).lower(), f"refused as an unknown option: {error}"


EMBED_CASES: dict[str, tuple[str, Any]] = {
    "surrogate-input": (MODEL, "\ud800"),
    "surrogate-in-a-list": (MODEL, ["fine", "\udc00"]),
    "surrogate-in-the-model": ("m\ud800", "hi"),
}


@pytest.mark.parametrize("case", list(EMBED_CASES))
def test_bad_embed_input_is_an_invalid_request_error(target: Target, case: str) -> None:
    model, data = EMBED_CASES[case]
    refused(target, lambda: target.embed(model, data))


def test_a_good_request_still_works_through_every_target(target: Target) -> None:
    """The control: the same targets answer a normal chat and embedding."""
    assert target.chat(MODEL, "hi", temperature=0.5, seed=7, timeout=30, deadline=60.0).text
    assert target.embed(MODEL, ["a", "b"]).vectors


# ------------------------------------------------------------------ provider settings


PROVIDERS = [OpenAICompatibleProvider, OllamaProvider, LMStudioProvider, "LlamaCppProvider"]


def _provider_class(cls: Any) -> type[Provider]:
    return getattr(modelport, cls) if isinstance(cls, str) else cls  # type: ignore[no-any-return]


@pytest.mark.parametrize("cls", PROVIDERS, ids=lambda c: getattr(c, "__name__", c))
@pytest.mark.parametrize(
    "headers",
    [{"X-Clé": "v"}, {"x-ключ": "v"}, {"a": None}, {"a": 5}],
    ids=["non-ascii-name", "cyrillic-name", "none-value", "int-value"],
)
def test_headers_that_cannot_be_sent_are_a_configuration_error(
    cls: Any, headers: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _provider_class(cls)(BASE, headers=headers)
    assert "header" in str(caught.value).lower()


def test_valid_extra_headers_are_sent() -> None:
    recorder = Recorder()
    provider = OpenAICompatibleProvider(
        BASE, transport=httpx.MockTransport(recorder), headers={"X-Trace": "abc"}
    )
    provider.chat(MODEL, "hi")
    assert recorder.requests[-1].headers["x-trace"] == "abc"
