"""LM Studio provider: creation and configuration (URL, home folder, auth, registry)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

import modelport
from modelport import AuthenticationError, ConfigurationError, ServiceUnavailableError
from modelport.providers import make_provider
from tests.unit.lmstudio_fake import (
    LMStudioProvider,
    chat_completion,
    find_lmstudio_home,
    lmstudio_04,
    reply,
    server_port_from_config,
)


def _write_server_config(home: Path, config: object) -> None:
    internal = home / ".internal"
    internal.mkdir(parents=True)
    text = config if isinstance(config, str) else json.dumps(config)
    (internal / "http-server-config.json").write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------- base URL


def test_default_base_url_is_loopback_port_1234(tmp_path: Path) -> None:
    provider = LMStudioProvider(home=tmp_path)
    assert provider.base_url == "http://127.0.0.1:1234"
    assert provider.kind == "lmstudio"
    assert provider.name == "lmstudio"
    assert provider.server_name == "LM Studio"


def test_default_port_is_read_from_lm_studios_own_server_config(tmp_path: Path) -> None:
    _write_server_config(tmp_path, {"port": 4321, "networkInterface": "0.0.0.0"})
    assert server_port_from_config(tmp_path) == 4321
    assert LMStudioProvider(home=tmp_path).base_url == "http://127.0.0.1:4321"


@pytest.mark.parametrize(
    "config", ['{"port": "abc"}', '{"port": 70000}', "not json {", "[1, 2]", '{"port": true}']
)
def test_unusable_server_config_falls_back_to_port_1234(tmp_path: Path, config: str) -> None:
    _write_server_config(tmp_path, config)
    assert server_port_from_config(tmp_path) is None
    assert LMStudioProvider(home=tmp_path).base_url == "http://127.0.0.1:1234"


def test_explicit_base_url_wins_over_the_server_config(tmp_path: Path) -> None:
    _write_server_config(tmp_path, {"port": 4321})
    provider = LMStudioProvider("http://localhost:5555/v1/", home=tmp_path)
    assert provider.base_url == "http://localhost:5555"  # the /v1 suffix is not part of the base


def test_lmstudio_home_is_found_through_the_home_pointer_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "data" / "lmstudio"
    elsewhere.mkdir(parents=True)
    (tmp_path / ".cache" / "lm-studio").mkdir(parents=True)
    (tmp_path / ".lmstudio-home-pointer").write_text(f"{elsewhere}\n", encoding="utf-8")
    assert find_lmstudio_home(tmp_path) == elsewhere


def test_lmstudio_home_is_the_cache_folder_when_present_else_dot_lmstudio(tmp_path: Path) -> None:
    assert find_lmstudio_home(tmp_path) == tmp_path / ".lmstudio"
    (tmp_path / ".cache" / "lm-studio").mkdir(parents=True)
    assert find_lmstudio_home(tmp_path) == tmp_path / ".cache" / "lm-studio"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:1234", "   ", "http://127.0.0.1:1234/?x=1"])
def test_invalid_base_url_raises_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError):
        LMStudioProvider(url)


@pytest.mark.parametrize(
    "option",
    [
        {"jit_timeout": 0},
        {"jit_timeout": -5},
        {"jit_timeout": "long"},
        {"poll_interval": -1},
        {"timeout": 0},
    ],
)
def test_invalid_timeouts_raise_configuration_error(option: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        LMStudioProvider("http://127.0.0.1:1234", **option)  # type: ignore[arg-type]


def test_registry_builds_an_lmstudio_provider() -> None:
    provider = make_provider("lmstudio", "http://127.0.0.1:1234")
    assert isinstance(provider, LMStudioProvider)
    assert modelport.LMStudioProvider is LMStudioProvider


# ---------------------------------------------------------------------------- auth


def test_token_from_lm_api_token_is_sent_as_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LM_API_TOKEN", "sk-lm-abcdefgh:0123456789abcdefghij")
    fake = lmstudio_04().on("POST", "/v1/chat/completions", reply(json_body=chat_completion()))
    fake.provider().chat("qwen/qwen3-8b", "hi")
    assert fake.calls[-1].headers["authorization"] == "Bearer sk-lm-abcdefgh:0123456789abcdefghij"


def test_token_falls_back_to_lmstudio_api_token_and_explicit_key_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LMSTUDIO_API_TOKEN", "sk-lm-fromsdkvar:aaaaaaaaaaaaaaaaaaaa")
    fake = lmstudio_04().on("POST", "/v1/chat/completions", reply(json_body=chat_completion()))
    fake.provider().chat("qwen/qwen3-8b", "hi")
    assert fake.calls[-1].headers["authorization"] == "Bearer sk-lm-fromsdkvar:aaaaaaaaaaaaaaaaaaaa"
    fake.provider(api_key="sk-lm-explicit:bbbbbbbbbbbbbbbbbbbb").chat("qwen/qwen3-8b", "hi")
    assert fake.calls[-1].headers["authorization"] == "Bearer sk-lm-explicit:bbbbbbbbbbbbbbbbbbbb"


def test_no_authorization_header_is_sent_without_a_token() -> None:
    fake = lmstudio_04().on("POST", "/v1/chat/completions", reply(json_body=chat_completion()))
    fake.provider().chat("qwen/qwen3-8b", "hi")
    assert "authorization" not in fake.calls[-1].headers


def test_401_is_an_authentication_error_saying_where_the_token_comes_from() -> None:
    fake = lmstudio_04().on(
        "POST", "/v1/chat/completions", reply(401, json_body={"error": "Invalid API token"})
    )
    with pytest.raises(AuthenticationError) as caught:
        fake.provider().chat("qwen/qwen3-8b", "hi")
    message = str(caught.value)
    assert "LM_API_TOKEN" in message
    assert "Manage Tokens" in message


def test_token_never_appears_in_repr_str_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-lm-secret12:SECRETSECRETSECRET00"
    monkeypatch.setenv("LM_API_TOKEN", secret)
    fake = lmstudio_04().on("POST", "/v1/chat/completions", reply(403, json_body={"error": "no"}))
    provider = fake.provider()
    assert secret not in repr(provider)
    assert secret not in str(provider)
    with pytest.raises(AuthenticationError) as caught:
        provider.chat("qwen/qwen3-8b", "hi")
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value)
    assert "LM_API_TOKEN" in str(caught.value)


def test_unreachable_server_error_says_how_to_start_lm_studio() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    provider = LMStudioProvider("http://127.0.0.1:1234", transport=httpx.MockTransport(refuse))
    with pytest.raises(ServiceUnavailableError) as caught:
        provider.chat("qwen/qwen3-8b", "hi")
    message = str(caught.value)
    assert "LM Studio at http://127.0.0.1:1234" in message
    assert "lms server start" in message
    assert "Developer" in message
