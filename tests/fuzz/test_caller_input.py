"""Property tests of what callers pass to ``chat`` and ``embed`` (issue 11, "Caller-input
fuzzing"; defect 9).

Any model name, messages, options, tools and embedding input end in a result or a
ModelportError (an InvalidRequestError for input that is wrong), never a foreign
exception. Two kinds of target: a Client over the shipped ``FakeProvider`` (no
server, no JSON), and providers whose HTTP is an ``httpx.MockTransport`` that records
each request, so the request JSON is really encoded; every body that reaches the
transport must be strict JSON (no ``NaN``, no ``Infinity``, valid UTF-8).
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
from hypothesis import example, given
from hypothesis import strategies as st

import modelport
from modelport import InvalidRequestError, LMStudioProvider, OllamaProvider, Provider
from modelport import OpenAICompatibleProvider as OpenAIProvider
from modelport.testing import FakeProvider

from .checks import outcome
from .strategies import json_values

MODEL = "fuzz-model"

# Text that may hold lone surrogates, control characters, anything.
any_char = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.sampled_from("\x00\n"))
any_text = st.text(alphabet=any_char, max_size=20)


class Unserialisable:
    """An object no JSON encoder knows."""


odd_values = st.one_of(
    json_values,
    any_text,
    st.sets(st.integers(), max_size=3),
    st.frozensets(st.text(max_size=3), max_size=2),
    st.binary(max_size=8),
    st.tuples(st.integers()),
    st.builds(Unserialisable),
    st.floats(),
    st.integers(min_value=-(10**4000), max_value=10**4000),  # 10**5000: an explicit example
    st.just(float("nan")),
    st.just(float("inf")),
)
"""Values a caller might pass where JSON is expected."""

odd_json: st.SearchStrategy[Any] = st.recursive(
    odd_values,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(any_text, children, max_size=3),
    ),
    max_leaves=12,
)


def deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        value = {"type": "object", "properties": {"a": value}}
    return value


DEEP = "<a schema 5,000 levels deep>"
"""Stands for ``deep(5000)`` in examples; the test builds it, since Hypothesis writes
every example out (recursively) and a 5,000-level dict exhausts its printer's stack."""

images = st.one_of(
    odd_values,
    st.lists(st.one_of(any_text, st.binary(max_size=16), st.integers()), max_size=2),
    st.just(["/nonexistent/photo"]),
)

messages = st.one_of(
    any_text,
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant", "tool", "x"]) | any_text},
        optional={
            "content": st.one_of(any_text, odd_json),
            "images": images,
            "tool_calls": odd_json,
            "name": odd_values,
        },
    ),
    st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant"]), "content": any_text},
            optional={"images": images},
        ),
        max_size=3,
    ),
    odd_values,
)

tools = st.one_of(
    odd_json,
    st.lists(
        st.fixed_dictionaries(
            {
                "type": st.just("function"),
                "function": st.fixed_dictionaries(
                    {"name": st.one_of(any_text, odd_values)},
                    optional={"parameters": odd_json, "description": odd_values},
                ),
            }
        ),
        max_size=2,
    ),
)

options = st.fixed_dictionaries(
    {},
    optional={
        "system": st.one_of(any_text, odd_values),
        "temperature": st.one_of(st.floats(), odd_values),
        "top_p": st.one_of(st.floats(), odd_values),
        "max_tokens": st.one_of(st.integers(), odd_values),
        "seed": st.one_of(st.integers(), st.integers(min_value=10**300, max_value=10**4000)),
        "stop": st.one_of(any_text, st.lists(any_text, max_size=2), odd_values),
        "think": st.one_of(st.booleans(), any_text, odd_values),
        "keep_alive": st.one_of(st.floats(), any_text, odd_values),
        "context_length": st.one_of(st.integers(), odd_values),
        "options": st.one_of(st.dictionaries(any_text, odd_json, max_size=3), odd_values),
        "tools": tools,
        "tool_choice": st.one_of(any_text, odd_json),
        "response_format": st.one_of(st.just("json"), odd_json, st.just(DEEP)),
        "timeout": st.one_of(st.floats(), odd_values),
        "deadline": st.one_of(st.floats(), odd_values),
    },
)

embed_inputs = st.one_of(any_text, st.lists(any_text, max_size=3), odd_json)


class Recorder:
    """An ``httpx.MockTransport`` handler that answers every known path like its server."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.content)
        path = request.url.path
        sent = json.loads(request.content) if request.content else {}
        count = len(sent.get("input") or [""]) if isinstance(sent, dict) else 1
        if path.endswith("/chat/completions"):
            body = {
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
                "model": MODEL,
            }
            return httpx.Response(200, json=body)
        if path == "/api/chat":
            body = {"model": MODEL, "message": {"role": "assistant", "content": "ok"}, "done": True}
            return httpx.Response(200, json=body)
        if path.endswith("/embeddings"):
            data = [{"index": i, "embedding": [0.5]} for i in range(count)]
            return httpx.Response(200, json={"model": MODEL, "data": data})
        if path == "/api/embed":
            return httpx.Response(200, json={"model": MODEL, "embeddings": [[0.5]] * count})
        return httpx.Response(404, json={"error": "not found"})


def strict_json(body: bytes) -> None:
    """A body a server can read: UTF-8, JSON, and no NaN or Infinity."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} sent in a request body")

    text = body.decode("utf-8")
    json.loads(text, parse_constant=refuse)


PROVIDER_CLASSES: list[type[Provider]] = [OpenAIProvider, OllamaProvider, LMStudioProvider]


def mocked(cls: type[Provider], recorder: Recorder) -> Provider:
    kwargs: dict[str, Any] = {"transport": httpx.MockTransport(recorder), "timeout": 5.0}
    if cls is LMStudioProvider:
        kwargs["home"] = "/nonexistent-modelport-fuzz"
    return cls("http://127.0.0.1:9", **kwargs)


@given(model=st.one_of(st.just(MODEL), any_text), messages=messages, options=options)
@example(model=MODEL, messages="a\ud800b", options={})
@example(model="m\ud800", messages="hi", options={})
@example(model=MODEL, messages="hi", options={"options": {"x": {1, 2}}})
@example(model=MODEL, messages="hi", options={"response_format": DEEP})
@example(model=MODEL, messages="hi", options={"seed": 10**5000})
@example(model=MODEL, messages=[{"role": "user", "content": "hi", "images": 5}], options={})
@example(model=MODEL, messages="hi", options={"keep_alive": float("inf")})
@example(model=MODEL, messages="hi", options={"temperature": float("nan")})
def test_chat_input_ends_in_a_reply_or_a_modelport_error(
    model: Any, messages: Any, options: dict[str, Any]
) -> None:
    if options.get("response_format") == DEEP:  # built here: Hypothesis prints its examples
        options = {**options, "response_format": deep(5000)}
    client = modelport.Client(services=[FakeProvider(models=[MODEL])])
    outcome(lambda: client.chat(model, messages, **options))
    for cls in PROVIDER_CLASSES:
        recorder = Recorder()
        provider = mocked(cls, recorder)
        result = outcome(lambda p=provider: p.chat(model, messages, **options))
        for body in recorder.bodies:
            strict_json(body)
        if isinstance(result, InvalidRequestError):
            assert recorder.bodies == [], "refused after sending"
        provider.close()


@given(model=st.one_of(st.just(MODEL), any_text), data=embed_inputs)
@example(model=MODEL, data="\ud800")
@example(model=MODEL, data=["ok", "\udc00"])
@example(model="m\ud800", data="hi")
def test_embed_input_ends_in_vectors_or_a_modelport_error(model: Any, data: Any) -> None:
    client = modelport.Client(services=[FakeProvider(models=[MODEL])])
    outcome(lambda: client.embed(model, data))
    for cls in PROVIDER_CLASSES:
        recorder = Recorder()
        provider = mocked(cls, recorder)
        result = outcome(lambda p=provider: p.embed(model, data))
        for body in recorder.bodies:
            strict_json(body)
        if not isinstance(result, modelport.ModelportError):
            assert all(math.isfinite(x) for vector in result.vectors for x in vector)
        provider.close()


@given(
    headers=st.dictionaries(any_text, st.one_of(any_text, odd_values), max_size=2),
    api_key=st.one_of(st.none(), any_text),
)
@example(headers={"X-Clé": "v"}, api_key=None)
@example(headers={"a": None}, api_key=None)
@example(headers={}, api_key="sk-SECRET\n")
def test_provider_settings_build_a_provider_or_a_configuration_error(
    headers: dict[Any, Any], api_key: str | None
) -> None:
    for cls in PROVIDER_CLASSES:
        recorder = Recorder()

        def build(cls: type[Provider] = cls, recorder: Recorder = recorder) -> Provider:
            return cls(
                "http://127.0.0.1:9",
                headers=headers,
                api_key=api_key,
                transport=httpx.MockTransport(recorder),
            )

        provider = outcome(build)
        if isinstance(provider, modelport.ModelportError):
            assert isinstance(provider, modelport.ConfigurationError), repr(provider)
            continue
        # A provider that was built must be able to send: its settings are sendable.
        result = outcome(lambda p=provider: p.chat(MODEL, "hi"))
        assert not isinstance(result, modelport.ModelportError) or not result.retriable, (
            f"settings accepted at construction failed at request time: {result!r}"
        )
        provider.close()
