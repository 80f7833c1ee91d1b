"""Hostile bodies (issue 11, defects 1, 2, 6 (caps) and 14 (redirects)).

Defect 1: JSON nested 100,000 deep, tool-call arguments of the wrong type, embeddings
that cannot be numbers; each must become a ModelportError (ProtocolError, or the
status's error for an error body), never RecursionError, TypeError, struct.error or
OverflowError; health, ``services()`` and ``discover()`` report such a server
UNAVAILABLE instead of raising. Defect 2: SSE ``data:`` lines with no blank line must hit the event
cap instead of growing memory. Defect 6: non-streaming bodies (plain or gzip) and
error bodies are capped. Defect 14: a 3xx is a ProtocolError that says it was a
redirect and names the Location.

Memory is asserted by bounds: the server counts what it managed to send before the
client gave up (:class:`~tests.faults.servers.Tally`), or ``tracemalloc``'s peak.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tracemalloc
from typing import Any

import pytest

import modelport
from modelport import (
    AuthenticationError,
    ChatResponse,
    ModelportError,
    ProtocolError,
    ServerError,
    Service,
    ServiceStatus,
    StreamError,
)

from .conftest import Lab, bounded
from .hostile import DEEP, DEEP_TEXT, modelport_error_or_result, typed
from .kinds import LLAMACPP, OLLAMA, OPENAI, Kind
from .servers import FaultServer, Tally, answer, flood, gzip_answer, stream

pytestmark = pytest.mark.socket

MiB = 1 << 20
PIECES = ["Hello", ", wor", "ld!"]
TEXT = "".join(PIECES)


def pieces(kind: Kind) -> list[bytes]:
    return [kind.piece(p) for p in PIECES]


# ------------------------------------------------------------------ defect 1: deep JSON


def test_deeply_nested_json_in_a_chat_reply_is_a_protocol_error(lab: Lab, kind: Kind) -> None:
    server = lab.serve({kind.chat_path: answer(200, DEEP)})
    provider = lab.provider(kind, server.url)
    with pytest.raises(ModelportError) as caught:
        lab.chat(provider, kind.model)
    typed(caught.value, ProtocolError, provider)
    lab.assert_no_leak(provider)


def test_deeply_nested_json_in_an_error_body_keeps_the_status_mapping(lab: Lab, kind: Kind) -> None:
    server = lab.serve({kind.chat_path: answer(500, DEEP)})
    provider = lab.provider(kind, server.url)
    with pytest.raises(ModelportError) as caught:
        lab.chat(provider, kind.model)
    error = typed(caught.value, ServerError, provider)
    assert error.status_code == 500
    outcome = lab.stream(provider, kind.model)
    typed(outcome.error, ServerError, provider)
    lab.assert_no_leak(provider)


def test_deeply_nested_json_as_the_first_stream_event_is_a_protocol_error(
    lab: Lab, kind: Kind
) -> None:
    server = lab.serve({kind.chat_path: stream([kind.frame(DEEP)], content_type=kind.stream_type)})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.chunks == []
    typed(outcome.error, ProtocolError, provider)
    lab.assert_no_leak(provider)


def test_deeply_nested_json_mid_stream_is_a_stream_error_keeping_the_text(
    lab: Lab, kind: Kind
) -> None:
    body = [*pieces(kind), kind.frame(DEEP)]
    server = lab.serve({kind.chat_path: stream(body, content_type=kind.stream_type)})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.texts == PIECES
    error = typed(outcome.error, StreamError, provider)
    assert error.partial == TEXT
    lab.assert_no_leak(provider)


def test_a_deeply_nested_model_list_is_a_protocol_error(lab: Lab, kind: Kind) -> None:
    server = lab.serve(answer(200, DEEP))  # every path: /api/tags, /v1/models, /api/v0/...
    provider = lab.provider(kind, server.url)
    with pytest.raises(ModelportError) as caught:
        lab.call(provider.models, provider.amodels)
    typed(caught.value, ProtocolError, provider)
    lab.assert_no_leak(provider)


def test_deeply_nested_model_details_are_a_protocol_error(lab: Lab, kind: Kind) -> None:
    server = lab.serve(answer(200, DEEP))
    provider = lab.provider(kind, server.url)
    with pytest.raises(ModelportError) as caught:
        lab.call(lambda: provider.model_info(kind.model), lambda: provider.amodel_info(kind.model))
    typed(caught.value, ProtocolError, provider)
    lab.assert_no_leak(provider)


def test_health_of_a_server_sending_deep_json_is_unavailable_not_a_crash(
    lab: Lab, kind: Kind
) -> None:
    server = lab.serve(answer(200, DEEP))
    provider = lab.provider(kind, server.url)
    service = modelport_error_or_result(lambda: lab.call(provider.health, provider.ahealth))
    assert isinstance(service, Service), repr(service)
    assert service.status is ServiceStatus.UNAVAILABLE, service
    assert service.error
    client = lab.client([provider])
    [reported] = modelport_error_or_result(lambda: lab.services(client, refresh=True))
    assert reported.status is ServiceStatus.UNAVAILABLE, reported
    lab.assert_no_leak(provider)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("where", ["/v1/models", "/api/tags"])
def test_discover_reports_a_server_sending_deep_json_and_never_raises(
    mode: str, where: str
) -> None:
    """One bad server on a default port crashed discovery (and so ``Client()``)."""
    routes: dict[str, Any] = {where: answer(200, DEEP)}
    if where == "/api/tags":  # looks like Ollama until its model list
        routes["/"] = answer(200, b"Ollama is running", content_type="text/plain")
        routes["/api/version"] = answer(200, b'{"version": "0.9.0"}')
    with FaultServer(routes) as server:

        def run() -> list[Service]:
            if mode == "sync":
                return modelport.discover(hosts=[server.url], timeout=2.0)
            return asyncio.run(modelport.adiscover(hosts=[server.url], timeout=2.0))

        found = modelport_error_or_result(lambda: bounded(run))
        assert not isinstance(found, ModelportError), f"discover() raised {found!r}"
        [service] = [s for s in found if s.base_url == server.url]
        if where == "/v1/models":  # nothing else says what it is
            assert service.status is ServiceStatus.UNAVAILABLE, service
            assert service.error, service


def test_a_client_given_a_server_sending_deep_json_gives_typed_errors(lab: Lab) -> None:
    server = lab.serve(answer(200, DEEP))
    client = lab.client([server.url], max_retries=0)
    [service] = modelport_error_or_result(lambda: lab.services(client))
    assert service.status is ServiceStatus.UNAVAILABLE, service
    with pytest.raises(ModelportError):
        lab.chat(client, "m1")
    outcome = lab.stream(client, "m1")
    assert isinstance(outcome.error, ModelportError), repr(outcome.error)
    result = modelport_error_or_result(lambda: lab.call(client.models, client.models))
    assert isinstance(result, (ModelportError, list))


def _reply_with_tool_call(kind: Kind, arguments: Any) -> bytes:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    if kind is OLLAMA:
        body: dict[str, Any] = {
            "model": kind.model,
            "message": {"role": "assistant", "content": "", "tool_calls": [call]},
            "done": True,
            "done_reason": "stop",
        }
    else:
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": kind.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                    "finish_reason": "tool_calls",
                }
            ],
        }
    return json.dumps(body).encode()


def test_deeply_nested_tool_call_arguments_are_kept_raw_or_refused(lab: Lab, kind: Kind) -> None:
    """Arguments that are a JSON string nested 100,000 deep: either the call keeps the
    text in ``raw_arguments`` (as for any arguments that are not a JSON object) or the
    reply is a ProtocolError; never a RecursionError."""
    server = lab.serve({kind.chat_path: answer(200, _reply_with_tool_call(kind, DEEP_TEXT))})
    provider = lab.provider(kind, server.url)
    result = modelport_error_or_result(lambda: lab.chat(provider, kind.model))
    if isinstance(result, ModelportError):
        typed(result, ProtocolError, provider)
    else:
        [call] = result.tool_calls
        assert call.name == "f"
        assert call.raw_arguments == DEEP_TEXT
    lab.assert_no_leak(provider)


def _tool_fragment(kind: Kind, arguments: Any) -> bytes:
    delta = {
        "tool_calls": [
            {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": arguments}}
        ]
    }
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": kind.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }
    return kind.frame(json.dumps(chunk).encode())


def _streamed_tool_call(lab: Lab, kind: Kind, arguments: Any) -> Any:
    body = [_tool_fragment(kind, arguments), kind.finish()]
    server = lab.serve({kind.chat_path: stream(body, content_type=kind.stream_type)})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    if outcome.error is not None and not isinstance(outcome.error, ModelportError):
        pytest.fail(f"a foreign exception escaped: {outcome.error!r}"[:2000])
    return provider, outcome


def test_a_streamed_tool_call_whose_arguments_are_an_object_is_not_a_type_error(
    lab: Lab, sse_kind: Kind
) -> None:
    """Some servers stream ``function.arguments`` as an object, not a string: modelport
    takes the object as the arguments, or refuses the stream with a typed error."""
    provider, outcome = _streamed_tool_call(lab, sse_kind, {"city": "Paris"})
    if outcome.error is None:
        assert outcome.response is not None
        [call] = outcome.response.tool_calls
        assert call.name == "f"
        assert dict(call.arguments) == {"city": "Paris"}
    else:
        typed(outcome.error, ProtocolError, provider)
    lab.assert_no_leak(provider)


def test_streamed_tool_call_arguments_nested_deep_are_kept_raw_or_refused(
    lab: Lab, sse_kind: Kind
) -> None:
    provider, outcome = _streamed_tool_call(lab, sse_kind, DEEP_TEXT)
    if outcome.error is None:
        assert outcome.response is not None
        [call] = outcome.response.tool_calls
        assert call.raw_arguments == DEEP_TEXT
    else:
        typed(outcome.error, ProtocolError, provider)
    lab.assert_no_leak(provider)


# ------------------------------------------------------------------ defect 1: embeddings


EMBED_KINDS = [OPENAI, LLAMACPP]
"""Kinds whose ``embed`` is one POST /v1/embeddings (no listing first)."""


@pytest.mark.parametrize("kind", EMBED_KINDS, ids=str)
def test_a_base64_embedding_of_five_bytes_is_a_protocol_error(lab: Lab, kind: Kind) -> None:
    body = {
        "object": "list",
        "model": kind.model,
        "data": [{"object": "embedding", "index": 0, "embedding": FIVE_BYTES}],
    }
    server = lab.serve({"/v1/embeddings": answer(200, json.dumps(body).encode())})
    provider = lab.provider(kind, server.url)
    with pytest.raises(ModelportError) as caught:
        lab.call(
            lambda: provider.embed(kind.model, "hi"), lambda: provider.aembed(kind.model, "hi")
        )
    typed(caught.value, ProtocolError, provider)
    lab.assert_no_leak(provider)


HUGE_INT = "9" * 400
FIVE_BYTES = base64.b64encode(b"12345").decode()


@pytest.mark.parametrize("kind", [*EMBED_KINDS, OLLAMA], ids=str)
def test_an_embedding_holding_a_400_digit_integer_is_a_protocol_error(lab: Lab, kind: Kind) -> None:
    if kind is OLLAMA:
        path = "/api/embed"
        body = f'{{"model": "{kind.model}", "embeddings": [[0.5, {HUGE_INT}]]}}'
    else:
        path = "/v1/embeddings"
        body = (
            f'{{"object": "list", "model": "{kind.model}", '
            f'"data": [{{"index": 0, "embedding": [0.5, {HUGE_INT}]}}]}}'
        )
    server = lab.serve({path: answer(200, body.encode())})
    provider = lab.provider(kind, server.url)
    with pytest.raises(ModelportError) as caught:
        lab.call(
            lambda: provider.embed(kind.model, "hi"), lambda: provider.aembed(kind.model, "hi")
        )
    typed(caught.value, ProtocolError, provider)
    lab.assert_no_leak(provider)


# ------------------------------------------------------------------ defect 2: SSE events


SSE_LINE = b"data: " + b"x" * 1017 + b"\n"
"""1 KiB of one SSE event; the flood never sends the blank line that would end it."""


def test_sse_data_lines_without_a_blank_line_are_capped_at_the_default(
    lab: Lab, sse_kind: Kind
) -> None:
    """96 MiB of ``data:`` lines that never end their event. The event cap (16 MiB by
    default) stops the client; before the fix it kept every line (1 GiB took RSS to
    3.2 GB). The server counts what it sent before the client hung up."""
    kind = sse_kind
    tally = Tally()
    filler = SSE_LINE
    server = lab.serve(
        {kind.chat_path: flood(filler, budget=96 * MiB, tally=tally, content_type=kind.stream_type)}
    )
    # Reading 16 MiB of lines that carry no content must be stopped by the cap, not by
    # the content-idle timeout (which would also end it, on a busy machine first).
    provider = lab.provider(kind, server.url, timeout=10)
    outcome = lab.stream(provider, kind.model)
    assert outcome.chunks == []
    typed(outcome.error, ProtocolError, provider)
    assert not tally.finished, "the client read all 96 MiB of one event"
    assert tally.sent < 48 * MiB, f"the client read {tally.sent} bytes of one event"
    lab.assert_no_leak(provider)


def test_sse_data_lines_without_a_blank_line_after_output_are_a_stream_error(
    lab: Lab, sse_kind: Kind
) -> None:
    kind = sse_kind
    tally = Tally()
    server = lab.serve(
        {
            kind.chat_path: flood(
                SSE_LINE,
                head=b"".join(pieces(kind)),
                budget=96 * MiB,
                tally=tally,
                content_type=kind.stream_type,
            )
        }
    )
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.texts == PIECES
    error = typed(outcome.error, StreamError, provider)
    assert error.partial == TEXT
    assert tally.sent < 48 * MiB, f"the client read {tally.sent} bytes of one event"
    lab.assert_no_leak(provider)


def test_sse_event_without_blank_line_is_capped_by_max_event_bytes(
    lab: Lab, sse_kind: Kind
) -> None:
    kind = sse_kind
    tally = Tally()
    server = lab.serve(
        {
            kind.chat_path: flood(
                SSE_LINE,
                budget=32 * MiB,
                tally=tally,
                content_type=kind.stream_type,
            )
        }
    )
    provider = lab.provider(kind, server.url, max_event_bytes=1 * MiB)
    outcome = lab.stream(provider, kind.model)
    assert outcome.chunks == []
    typed(outcome.error, ProtocolError, provider)
    assert tally.sent < 16 * MiB, f"the client read {tally.sent} bytes past a 1 MiB cap"
    lab.assert_no_leak(provider)


def test_an_ndjson_line_longer_than_max_event_bytes_is_refused(lab: Lab, ndjson_kind: Kind) -> None:
    kind = ndjson_kind
    tally = Tally()
    server = lab.serve(
        {
            kind.chat_path: flood(
                b" " * 1024,
                head=b'{"model": "' + kind.model.encode() + b'", "pad": "',
                tail=b'"}\n' + kind.finish(),
                budget=32 * MiB,
                tally=tally,
                content_type=kind.stream_type,
            )
        }
    )
    provider = lab.provider(kind, server.url, max_event_bytes=1 * MiB)
    outcome = lab.stream(provider, kind.model)
    assert outcome.chunks == []
    typed(outcome.error, ProtocolError, provider)
    assert tally.sent < 16 * MiB, f"the client read {tally.sent} bytes past a 1 MiB cap"
    lab.assert_no_leak(provider)


# ------------------------------------------------------------------ defect 6: body caps


def _padded_reply(kind: Kind, size: int) -> tuple[bytes, bytes, int, bytes]:
    """A valid reply preceded by ``size`` spaces (legal JSON whitespace)."""
    return b"", b" ", size, kind.reply("inflated")


def test_a_gzip_bomb_is_refused_at_max_body_bytes_without_inflating_it(
    lab: Lab, kind: Kind
) -> None:
    """384 MiB of JSON whitespace, gzipped to well under 1 MiB: with a 1 MiB cap the
    client must refuse it (ProtocolError) without holding the inflated body."""
    inflated = 384 * MiB
    server = lab.serve({kind.chat_path: gzip_answer(*_padded_reply(kind, inflated))})
    # A read timeout (and so deadline) far beyond inflating it, on a busy machine too:
    # the cap must be what stops it.
    provider = lab.provider(kind, server.url, max_body_bytes=1 * MiB, timeout=30)
    tracemalloc.start()
    try:
        result = modelport_error_or_result(lambda: lab.chat(provider, kind.model))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(result, ModelportError), "a 384 MiB body passed a 1 MiB cap"
    typed(result, ProtocolError, provider)
    assert peak < inflated // 2, f"peak {peak // MiB} MiB while refusing a gzip bomb"
    lab.assert_no_leak(provider)


def test_a_gzip_bomb_past_the_default_body_cap_is_refused(lab: Lab, kind: Kind) -> None:
    """The default cap (128 MiB) applies to the inflated size; before the fix a 1 MB
    body inflating to 1 GiB took RSS to 2.1 GB. Here: 384 MiB inflated."""
    inflated = 384 * MiB
    server = lab.serve({kind.chat_path: gzip_answer(*_padded_reply(kind, inflated))})
    provider = lab.provider(kind, server.url, timeout=30)  # the cap stops it, not the clock
    tracemalloc.start()
    try:
        result = modelport_error_or_result(lambda: lab.chat(provider, kind.model))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(result, ModelportError), "a 384 MiB body passed the 128 MiB default cap"
    typed(result, ProtocolError, provider)
    assert peak < inflated, f"peak {peak // MiB} MiB: the whole inflated body was held"
    lab.assert_no_leak(provider)


def test_a_plain_body_longer_than_max_body_bytes_is_refused_while_reading(
    lab: Lab, kind: Kind
) -> None:
    tally = Tally()
    server = lab.serve(
        {
            kind.chat_path: flood(
                b" " * 4096, tail=kind.reply("big"), budget=64 * MiB, tally=tally, chunked=False
            )
        }
    )
    provider = lab.provider(kind, server.url, max_body_bytes=1 * MiB)
    with pytest.raises(ModelportError) as caught:
        lab.chat(provider, kind.model)
    typed(caught.value, ProtocolError, provider)
    assert tally.sent < 24 * MiB, f"the client read {tally.sent} bytes past a 1 MiB cap"
    lab.assert_no_leak(provider)


def test_a_plain_body_longer_than_the_default_cap_is_refused(lab: Lab, kind: Kind) -> None:
    tally = Tally()
    server = lab.serve(
        {
            kind.chat_path: flood(
                b" " * 65536, tail=kind.reply("big"), budget=192 * MiB, tally=tally, chunked=False
            )
        }
    )
    provider = lab.provider(kind, server.url, deadline=10.0)  # the cap is tested, not speed
    result = modelport_error_or_result(lambda: lab.chat(provider, kind.model))
    assert not isinstance(result, ChatResponse), "a 192 MiB body passed the 128 MiB default cap"
    typed(result, ProtocolError, provider)
    assert not tally.finished
    lab.assert_no_leak(provider)


@pytest.mark.parametrize(("status", "cls"), [(500, ServerError), (401, AuthenticationError)])
def test_a_huge_error_body_is_read_only_up_to_the_cap(
    lab: Lab, kind: Kind, status: int, cls: type[ModelportError]
) -> None:
    """A 64 MiB error page on a plain request: read up to 64 KiB (the default), and the
    error is still the one its status maps to. Before the fix it was read whole (a
    200 MB 500 body was read whole; streams already capped theirs)."""
    tally = Tally()
    server = lab.serve(
        {
            kind.chat_path: flood(
                b"x" * 4096,
                status=status,
                content_type="text/plain",
                budget=64 * MiB,
                tally=tally,
                chunked=False,
            )
        }
    )
    provider = lab.provider(kind, server.url)
    with pytest.raises(ModelportError) as caught:
        lab.chat(provider, kind.model)
    error = typed(caught.value, cls, provider)
    assert error.status_code == status
    assert tally.sent < 16 * MiB, f"the client read {tally.sent} bytes of an error page"
    lab.assert_no_leak(provider)


def test_max_error_bytes_caps_error_bodies_of_plain_requests(lab: Lab, kind: Kind) -> None:
    tally = Tally()
    server = lab.serve(
        {
            kind.chat_path: flood(
                b"y" * 1024,
                status=500,
                content_type="text/plain",
                budget=32 * MiB,
                tally=tally,
                chunked=False,
            )
        }
    )
    provider = lab.provider(kind, server.url, max_error_bytes=1024)
    with pytest.raises(ModelportError) as caught:
        lab.chat(provider, kind.model)
    error = typed(caught.value, ServerError, provider)
    assert error.status_code == 500
    assert tally.sent < 16 * MiB
    lab.assert_no_leak(provider)


def test_a_huge_error_body_on_a_stream_is_read_only_up_to_the_cap(lab: Lab, kind: Kind) -> None:
    """Streams already capped error bodies at 64 KiB: a regression test."""
    tally = Tally()
    server = lab.serve(
        {
            kind.chat_path: flood(
                b"z" * 4096,
                status=500,
                content_type="text/plain",
                budget=64 * MiB,
                tally=tally,
                chunked=False,
            )
        }
    )
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    error = typed(outcome.error, ServerError, provider)
    assert error.status_code == 500
    assert tally.sent < 16 * MiB
    lab.assert_no_leak(provider)


# ------------------------------------------------------------------ defect 14: redirects


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_protocol_error_naming_the_location(
    lab: Lab, kind: Kind, status: int
) -> None:
    elsewhere = lab.serve({kind.chat_path: answer(200, kind.reply("followed"))})
    location = f"{elsewhere.url}/moved{kind.chat_path}"
    server = lab.serve({kind.chat_path: answer(status, b"", headers={"location": location})})
    provider = lab.provider(kind, server.url)
    with pytest.raises(ModelportError) as caught:
        lab.chat(provider, kind.model)
    for error in (caught.value, lab.stream(provider, kind.model).error):
        typed(error, ProtocolError, provider)
        text = str(error)
        assert "redirect" in text.lower(), text
        assert str(status) in text, text
        assert location in text, text
    assert elsewhere.paths() == [], "a redirect was followed"
    lab.assert_no_leak(provider)
