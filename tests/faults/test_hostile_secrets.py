"""Keys and passwords (issue 11, defects 3, 14 (credentials in URLs) and 15 (redaction,
keys for named services)).

An API key read with ``open(f).read()`` ends in a newline: surrounding whitespace is
stripped, any other control or non-ASCII character is refused with a
ConfigurationError that does not show the key (before the fix the key appeared in
``str(error)``, ``Service.error`` and the CLI, in a retriable error that counted
against the server's health). ``user:password@`` in a URL is sent as HTTP Basic auth
and never shown. A server that echoes the ``Authorization`` header back (in a 401
body, an HTML 500 page, a stream error) never gets the client's key into an error,
``Service.error`` or a log: it is masked as ``***``. A named service can be given
its key from the environment (``MODELPORT_API_KEY_<NAME>``) or the CLI
(``--api-key name=KEY``), and that key goes to that service only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner

import modelport
from modelport import (
    AuthenticationError,
    ConfigurationError,
    LlamaCppProvider,
    LMStudioProvider,
    ModelportError,
    OllamaProvider,
    OpenAICompatibleProvider,
    Provider,
    ServiceStatus,
    StreamError,
)
from modelport.cli import app

from .conftest import Lab
from .hostile import HEALTH_KINDS, SECRET, SECRET_MARK, health_routes, typed
from .kinds import OPENAI, Kind
from .servers import FaultServer, answer, echo_authorization, sequence

pytestmark = pytest.mark.socket

PASSWORD = "s3cretPW"
PIECES = ["Hello", ", wor", "ld!"]


def hidden(*texts: object) -> None:
    """Neither the key nor the password shows in any of ``texts``."""
    for text in texts:
        shown = str(text)
        assert SECRET_MARK not in shown, f"the API key is shown: {shown}"
        assert PASSWORD not in shown, f"the password is shown: {shown}"


def authorization(server: FaultServer, path: str) -> list[str | None]:
    return [r.headers.get("authorization") for r in server.requests if r.path == path]


# ------------------------------------------------------------------ defect 3: key hygiene


@pytest.mark.parametrize("padding", ["\n", "\r\n", "  \t", " \n "])
def test_an_api_key_with_surrounding_whitespace_is_stripped(
    lab: Lab, kind: Kind, padding: str
) -> None:
    server = lab.serve({kind.chat_path: answer(200, kind.reply("ok"))})
    provider = lab.provider(kind, server.url, api_key=f"{padding}{SECRET}{padding}")
    assert lab.chat(provider, kind.model).text == "ok"
    assert authorization(server, kind.chat_path) == [f"Bearer {SECRET}"]
    hidden(repr(provider))


def test_an_ollama_api_key_from_the_environment_is_stripped(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .kinds import OLLAMA

    monkeypatch.setenv("OLLAMA_API_KEY", f"{SECRET}\n")
    server = lab.serve({OLLAMA.chat_path: answer(200, OLLAMA.reply("ok"))})
    provider = lab.provider(OLLAMA, server.url)
    assert lab.chat(provider, OLLAMA.model).text == "ok"
    assert authorization(server, OLLAMA.chat_path) == [f"Bearer {SECRET}"]


PROVIDERS: list[type[Provider]] = [
    OpenAICompatibleProvider,
    OllamaProvider,
    LMStudioProvider,
    LlamaCppProvider,
]

BAD_KEYS = {
    "newline-inside": "sk-SEC\nRET-zq7x",
    "nul-inside": "sk-SEC\x00RET-zq7x",
    "tab-inside": "sk-SEC\tRET-zq7x",
    "delete-inside": "sk-SEC\x7fRET-zq7x",
    "non-ascii": "sk-SÉCRET-zq7x",
    "emoji": "sk-SECRET-zq7x-\U0001f511",
}


@pytest.mark.parametrize("cls", PROVIDERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("key", list(BAD_KEYS.values()), ids=list(BAD_KEYS))
def test_an_api_key_with_control_or_non_ascii_characters_is_refused_without_showing_it(
    cls: type[Provider], key: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        cls("http://127.0.0.1:9", api_key=key)
    error = caught.value
    hidden(str(error), repr(error), error.hint)
    assert "api_key" in str(error) or "API key" in str(error), str(error)


# ------------------------------------------------------------------ defect 14: user:password@


def test_credentials_in_a_url_are_sent_as_basic_auth_and_never_shown(lab: Lab, kind: Kind) -> None:
    server = lab.serve(
        {kind.chat_path: sequence(answer(200, kind.reply("ok")), answer(500, b'{"error": "x"}'))}
    )
    url = server.url.replace("http://", f"http://user:{PASSWORD}@")
    provider = lab.provider(kind, url)
    assert provider.base_url == server.url
    hidden(repr(provider), provider.base_url)
    assert lab.chat(provider, kind.model).text == "ok"
    expected = "Basic " + base64.b64encode(f"user:{PASSWORD}".encode()).decode()
    assert authorization(server, kind.chat_path) == [expected]
    with pytest.raises(ModelportError) as caught:
        lab.chat(provider, kind.model)
    hidden(str(caught.value), repr(caught.value))


def test_credentials_in_a_service_url_reach_the_server_but_not_the_report(lab: Lab) -> None:
    kind = OPENAI
    server = lab.serve({**health_routes(kind), kind.chat_path: answer(200, kind.reply("ok"))})
    url = server.url.replace("http://", f"http://user:{PASSWORD}@")
    client = lab.client([f"box={url}"])
    services = lab.services(client)
    assert [s.base_url for s in services] == [server.url]
    hidden(repr(client), *(repr(s) for s in services))
    assert lab.chat(client, kind.model).text == "ok"
    assert (authorization(server, kind.chat_path)[-1] or "").startswith("Basic ")


def _basic_forms(user: str, password: str) -> list[str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [token, token.rstrip("=")]


def test_a_401_that_echoes_the_basic_auth_token_is_masked(lab: Lab, kind: Kind) -> None:
    # Issue 18, D4: the password was masked, but not the base64 token that carries it.
    server = lab.serve({kind.chat_path: echo_authorization(_json_401, status=401)})
    provider = lab.provider(kind, server.url.replace("http://", f"http://alice:{PASSWORD}@"))
    with pytest.raises(ModelportError) as caught:
        lab.chat(provider, kind.model)
    error = caught.value
    assert server.requests[-1].headers["authorization"].startswith("Basic ")  # it was echoed
    outcome = lab.stream(provider, kind.model)
    for text in (str(error), repr(error), error.message, str(outcome.error)):
        hidden(text)
        for form in _basic_forms("alice", PASSWORD):
            assert form not in text, f"the Basic token is shown: {text}"
    assert "***" in str(error), str(error)


def test_a_health_probe_that_echoes_the_basic_auth_token_is_masked(lab: Lab) -> None:
    kind = OPENAI
    server = lab.serve(echo_authorization(_json_401, status=401))
    provider = lab.provider(kind, server.url.replace("http://", f"http://alice:{PASSWORD}@"))
    service = lab.call(provider.health, provider.ahealth)
    assert service.error
    for form in _basic_forms("alice", PASSWORD):
        assert form not in service.error, service.error


# ------------------------------------------------------------------ defect 15: echoed keys


def _json_401(header: str) -> bytes:
    return json.dumps({"error": {"message": f"Invalid key. You sent: {header}"}}).encode()


def _html_500(header: str) -> bytes:
    return (
        "<html><head><title>500</title></head><body><h1>Internal Server Error</h1>"
        f"<pre>request headers: Authorization: {header}</pre></body></html>"
    ).encode()


def test_a_401_that_echoes_the_key_is_masked(lab: Lab, kind: Kind) -> None:
    server = lab.serve({kind.chat_path: echo_authorization(_json_401, status=401)})
    provider = lab.provider(kind, server.url, api_key=SECRET)
    with pytest.raises(ModelportError) as caught:
        lab.chat(provider, kind.model)
    error = typed(caught.value, AuthenticationError, provider)
    assert server.requests[-1].headers["authorization"] == f"Bearer {SECRET}"  # it was echoed
    hidden(str(error), repr(error), error.message, error.hint)
    assert "***" in str(error), str(error)
    outcome = lab.stream(provider, kind.model)
    hidden(str(outcome.error), repr(outcome.error))


def test_an_html_500_page_that_echoes_the_key_is_masked(lab: Lab, kind: Kind) -> None:
    server = lab.serve(
        {kind.chat_path: echo_authorization(_html_500, status=500, content_type="text/html")}
    )
    provider = lab.provider(kind, server.url, api_key=SECRET)
    with pytest.raises(ModelportError) as caught:
        lab.chat(provider, kind.model)
    hidden(str(caught.value), repr(caught.value))
    assert "***" in str(caught.value), str(caught.value)


def _stream_error(kind: Kind, before: bytes) -> Callable[[str], bytes]:
    def render(header: str) -> bytes:
        return before + kind.error(f"upstream refused {header}")

    return render


@pytest.mark.parametrize("after_text", [False, True], ids=["before-output", "after-output"])
def test_a_stream_error_that_echoes_the_key_is_masked(
    lab: Lab, kind: Kind, after_text: bool
) -> None:
    before = b"".join(kind.piece(p) for p in PIECES) if after_text else b""
    server = lab.serve(
        {
            kind.chat_path: echo_authorization(
                _stream_error(kind, before), status=200, stream_type=kind.stream_type
            )
        }
    )
    provider = lab.provider(kind, server.url, api_key=SECRET)
    outcome = lab.stream(provider, kind.model)
    error = outcome.error
    assert isinstance(error, ModelportError), repr(error)
    if after_text:
        assert isinstance(error, StreamError)
        assert error.partial == "".join(PIECES)
    hidden(str(error), repr(error))
    assert "***" in str(error), str(error)


@pytest.mark.parametrize("kind", HEALTH_KINDS, ids=str)
def test_service_error_never_holds_an_echoed_key(lab: Lab, kind: Kind) -> None:
    server = lab.serve(
        {
            **health_routes(kind),
            kind.chat_path: echo_authorization(_html_500, status=500, content_type="text/html"),
        }
    )
    provider = lab.provider(kind, server.url, api_key=SECRET)
    client = lab.client([provider], max_retries=0)
    lab.services(client)
    with pytest.raises(ModelportError):
        lab.chat(client, kind.model)
    [service] = lab.services(client)
    assert service.error, service
    hidden(service.error, repr(service))


@pytest.mark.parametrize("kind", HEALTH_KINDS, ids=str)
def test_a_health_probe_answered_with_the_echoed_key_is_masked(lab: Lab, kind: Kind) -> None:
    server = lab.serve(echo_authorization(_json_401, status=401))
    provider = lab.provider(kind, server.url, api_key=SECRET)
    service = lab.call(provider.health, provider.ahealth)
    assert service.status is ServiceStatus.UNAVAILABLE
    assert service.error
    hidden(service.error, repr(service))


# ------------------------------------------------------------------ keys for named services


def _openai_routes(kind: Kind = OPENAI) -> dict[str, Any]:
    return {**health_routes(kind), kind.chat_path: answer(200, kind.reply("ok"))}


@pytest.fixture
def env_client(lab: Lab) -> Callable[..., Any]:
    """A Client (or AsyncClient) built from the environment alone, closed by the lab."""

    def build(**kwargs: Any) -> Any:
        cls = modelport.Client if lab.mode == "sync" else modelport.AsyncClient
        client = cls(timeout=2.0, **kwargs)
        lab.clients.append(client)
        return client

    return build


@pytest.mark.parametrize(
    ("name", "variable"),
    [("hosted", "MODELPORT_API_KEY_HOSTED"), ("gpu-box.1", "MODELPORT_API_KEY_GPU_BOX_1")],
)
def test_a_named_service_gets_its_key_from_the_environment_and_no_other_does(
    lab: Lab,
    env_client: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    variable: str,
) -> None:
    kind = OPENAI
    hosted = lab.serve(_openai_routes())
    other = lab.serve(_openai_routes())
    monkeypatch.setenv("MODELPORT_SERVICES", f"{name}={hosted.url},other={other.url}")
    monkeypatch.setenv(variable, "sk-1")
    client = env_client()
    assert lab.chat(client, f"{name}/{kind.model}").text == "ok"
    assert lab.chat(client, f"other/{kind.model}").text == "ok"
    assert authorization(hosted, kind.chat_path) == ["Bearer sk-1"]
    assert [r.headers.get("authorization") for r in other.requests] == [None] * len(
        other.requests
    ), "the key was sent to a service it was not given for"
    for service in lab.services(client):
        hidden(repr(service))


def _received_keys(server: FaultServer) -> list[str]:
    return [r.headers["authorization"] for r in server.requests if "authorization" in r.headers]


def test_the_cli_gives_a_named_service_its_key_and_no_other_one() -> None:
    kind = OPENAI
    with FaultServer(_openai_routes()) as hosted, FaultServer(_openai_routes()) as other:
        runner = CliRunner()
        args = ["--service", f"hosted={hosted.url}", "--service", f"other={other.url}"]
        result = runner.invoke(
            app, [*args, "--api-key", "hosted=sk-cli", "chat", f"hosted/{kind.model}", "hi"]
        )
        assert result.exit_code == 0, result.output
        assert authorization(hosted, kind.chat_path) == ["Bearer sk-cli"]
        assert _received_keys(other) == []
        result = runner.invoke(
            app, [*args, "--api-key", "hosted=sk-cli", "chat", f"other/{kind.model}", "hi"]
        )
        assert result.exit_code == 0, result.output
        assert _received_keys(other) == [], "the key was sent to a service it was not given for"
