"""Responses that arrive but cannot be used: truncated or malformed JSON, a wrong
Content-Length, a proxy's HTML error page, HTML where JSON belongs, invalid UTF-8,
a corrupt gzip body, a body of the wrong shape. And one that is merely slow, which
must succeed.
"""

from __future__ import annotations

import json

import httpx
import pytest

from modelport import ProtocolError, ServerError, ServiceUnavailableError

from .conftest import Lab, check_error
from .kinds import Kind
from .servers import (
    HTML_502,
    Conn,
    Received,
    answer,
    body_cut_short,
    html_error_page,
    sequence,
    trickle,
)

pytestmark = pytest.mark.socket


def test_truncated_json_with_a_matching_content_length_is_a_protocol_error(
    lab: Lab, kind: Kind
) -> None:
    body = kind.reply("Hello there")[:40]
    server = lab.serve({kind.chat_path: body_cut_short(body, declared=len(body))})
    provider = lab.provider(kind, server.url)
    with pytest.raises(ProtocolError) as caught:
        lab.chat(provider, kind.model)
    error = check_error(caught.value, ProtocolError, provider, cause=ValueError, status=200)
    assert not error.retriable
    assert "not JSON" in error.message
    lab.assert_no_leak(provider)


def test_a_body_shorter_than_its_content_length_is_a_broken_connection(
    lab: Lab, kind: Kind
) -> None:
    body = kind.reply("Hello there")
    server = lab.serve({kind.chat_path: body_cut_short(body[:30], declared=len(body))})
    provider = lab.provider(kind, server.url)
    with pytest.raises(ServiceUnavailableError) as caught:
        lab.chat(provider, kind.model)
    error = check_error(
        caught.value, ServiceUnavailableError, provider, cause=httpx.RemoteProtocolError
    )
    assert error.retriable
    lab.assert_no_leak(provider)


def test_a_content_length_shorter_than_the_body_gives_typed_errors_and_a_client_recovers(
    lab: Lab, kind: Kind
) -> None:
    """The reply is cut at the declared length (not JSON: a ProtocolError). The bytes
    past it may be left in httpcore's buffer and read as the start of the next
    response on that connection; that request then fails as a broken connection
    (retriable), so a Client retries it and gets the next, clean reply."""
    body = kind.reply("Hello there")

    def overlong(conn: Conn, request: Received) -> None:
        length = str(len(body) - 12).encode()
        conn.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + length
            + b"\r\n\r\n"
            + body
        )

    server = lab.serve({kind.chat_path: sequence(overlong, answer(200, body))})
    provider = lab.provider(kind, server.url)
    with pytest.raises(ProtocolError) as caught:
        lab.chat(provider, kind.model)
    check_error(caught.value, ProtocolError, provider, cause=ValueError, status=200)
    client = lab.client([provider], max_retries=2)
    assert lab.chat(client, kind.model).text == "Hello there"
    assert len(client.sleeps) <= 1
    lab.assert_no_leak(provider)


def test_a_proxys_html_502_page_is_a_retriable_server_error_quoting_the_page(
    lab: Lab, kind: Kind
) -> None:
    server = lab.serve({kind.chat_path: html_error_page(502)})
    provider = lab.provider(kind, server.url)
    with pytest.raises(ServerError) as caught:
        lab.chat(provider, kind.model)
    error = check_error(caught.value, ServerError, provider, status=502)
    assert error.retriable
    assert "502 Bad Gateway" in error.message
    assert "<" not in error.message  # the tags are stripped
    outcome = lab.stream(provider, kind.model)
    assert outcome.chunks == []
    check_error(outcome.error, ServerError, provider, status=502)
    lab.assert_no_leak(provider)


def test_an_html_page_with_200_where_json_belongs_is_a_protocol_error(lab: Lab, kind: Kind) -> None:
    page = (
        b"<!doctype html><html><head><title>Router login</title></head><body>Log in</body></html>"
    )
    server = lab.serve({kind.chat_path: answer(200, page, content_type="text/html")})
    provider = lab.provider(kind, server.url)
    with pytest.raises(ProtocolError) as caught:
        lab.chat(provider, kind.model)
    error = check_error(caught.value, ProtocolError, provider, cause=ValueError, status=200)
    assert "<!doctype html>" in error.message  # shows what came instead
    lab.assert_no_leak(provider)


def test_a_stream_answered_with_an_html_page_is_a_protocol_error(lab: Lab, kind: Kind) -> None:
    page = (
        b"<!doctype html>\n<html>\n<head><title>Router login</title></head>\n"
        b"<body>Log in</body>\n</html>\n"
    )
    server = lab.serve({kind.chat_path: answer(200, page, content_type="text/html")})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.chunks == []
    check_error(outcome.error, ProtocolError, provider)
    lab.assert_no_leak(provider)


def test_invalid_utf8_in_a_json_body_is_a_protocol_error(lab: Lab, kind: Kind) -> None:
    body = kind.reply("Hello WORLD").replace(b"WORLD", b"\xff\xfe\xc3(")
    server = lab.serve({kind.chat_path: answer(200, body)})
    provider = lab.provider(kind, server.url)
    with pytest.raises(ProtocolError) as caught:
        lab.chat(provider, kind.model)
    check_error(caught.value, ProtocolError, provider, cause=UnicodeDecodeError, status=200)
    lab.assert_no_leak(provider)


def test_a_corrupt_gzip_body_is_a_protocol_error(lab: Lab, kind: Kind) -> None:
    server = lab.serve(
        {kind.chat_path: answer(200, b"\x1f\x8b\x08garbage", headers={"content-encoding": "gzip"})}
    )
    provider = lab.provider(kind, server.url)
    with pytest.raises(ProtocolError) as caught:
        lab.chat(provider, kind.model)
    check_error(caught.value, ProtocolError, provider, cause=httpx.DecodingError)
    lab.assert_no_leak(provider)


@pytest.mark.parametrize(
    "body",
    [
        b"null",
        b"[]",
        b"{}",
        b'"text"',
        b'{"choices": "none", "message": 7}',
        b'{"choices": [null]}',
    ],
    ids=["null", "list", "empty-object", "string", "wrong-types", "null-choice"],
)
def test_json_of_the_wrong_shape_is_a_protocol_error_not_a_key_error(
    lab: Lab, kind: Kind, body: bytes
) -> None:
    server = lab.serve({kind.chat_path: answer(200, body)})
    provider = lab.provider(kind, server.url)
    with pytest.raises(ProtocolError) as caught:
        lab.chat(provider, kind.model)
    check_error(caught.value, ProtocolError, provider)
    lab.assert_no_leak(provider)


def test_a_slow_body_that_keeps_arriving_within_the_read_timeout_succeeds(
    lab: Lab, kind: Kind
) -> None:
    """The read timeout (0.5 s) bounds each wait for bytes, not the whole reply: this
    body takes about twice the timeout in total and must still be read. The deadline is
    set well beyond it, so only the read timeout is tested (its own default, twice the
    read timeout, is the total this body takes)."""
    body = kind.reply("slow but steady")
    step = max(1, len(body) // 8)
    parts = [body[i : i + step] for i in range(0, len(body), step)]
    server = lab.serve({kind.chat_path: trickle(parts, delay=0.12)})
    provider = lab.provider(kind, server.url, deadline=30)
    reply = lab.chat(provider, kind.model)
    assert reply.text == "slow but steady"
    lab.assert_no_leak(provider)


def test_an_error_status_with_a_json_body_keeps_the_servers_message(lab: Lab, kind: Kind) -> None:
    body = json.dumps({"error": "the runner ran out of memory"}).encode()
    server = lab.serve({kind.chat_path: answer(500, body)})
    provider = lab.provider(kind, server.url)
    with pytest.raises(ServerError) as caught:
        lab.chat(provider, kind.model)
    error = check_error(caught.value, ServerError, provider, status=500)
    assert "the runner ran out of memory" in error.message
    assert HTML_502 not in error.message.encode()
    lab.assert_no_leak(provider)
