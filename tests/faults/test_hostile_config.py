"""Configuration validated when it is given (issue 11, defects 4, 5, 14 (a password in
a malformed URL) and 15 (loose validation)).

Each bad value is a ConfigurationError raised by the constructor (or by reading the
environment), naming the field, never echoing a secret: URLs with spaces, invalid
addresses, NUL bytes, port 0, ``'not a url'``; timeouts that are not finite and
positive (``nan``, ``inf``, ``1e300``, ``0``, ``-1``) for ``timeout=``,
``connect_timeout=``, ``deadline=`` and ``MODELPORT_TIMEOUT``; ``cooldown`` and
``models_ttl`` that are not non-negative finite numbers; bad ``OLLAMA_HOST`` and
``MODELPORT_SERVICES`` values. ``discover()`` never lets a foreign exception out.

Nothing here opens a connection except ``discover()``, which probes loopback only.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import modelport
from modelport import (
    ConfigurationError,
    LlamaCppProvider,
    LMStudioProvider,
    ModelportError,
    OllamaProvider,
    OpenAICompatibleProvider,
    Provider,
    ServiceStatus,
    ServiceUnavailableError,
)
from modelport.testing import FakeProvider

PASSWORD = "s3cretPW"

BAD_URLS = {
    "invalid-ipv4": "http://999.999.999.999:1",
    "invalid-ipv4-no-port": "http://999.1.1.1",
    "nul-byte": "http://\x00host",
    "space-in-host": "http://exa mple.com",
    "not-a-url": "not a url",
    "port-0": "http://127.0.0.1:0",
    "port-too-big": "http://127.0.0.1:70000",
    "bad-port-after-a-password": f"http://user:{PASSWORD}@127.0.0.1:abc",
    "bracket-never-closed": "http://[::1",
}

PROVIDERS: list[type[Provider]] = [
    OpenAICompatibleProvider,
    OllamaProvider,
    LMStudioProvider,
    LlamaCppProvider,
]

BAD_SECONDS = {
    "nan": float("nan"),
    "inf": float("inf"),
    "-inf": float("-inf"),
    "1e300": 1e300,
    "0": 0,
    "-1": -1,
}


def no_secret(error: BaseException) -> None:
    for text in (str(error), repr(error)):
        assert PASSWORD not in text, f"the password is shown: {text}"


def names(error: BaseException, *words: str) -> None:
    text = str(error).lower()
    assert any(word.lower() in text for word in words), f"{error} names none of {words}"


def client_classes() -> list[Any]:
    return [modelport.Client, modelport.AsyncClient]


# ------------------------------------------------------------------ URLs


@pytest.mark.parametrize("cls", PROVIDERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("url", list(BAD_URLS.values()), ids=list(BAD_URLS))
def test_a_provider_refuses_a_bad_url_when_built(cls: type[Provider], url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        cls(url)
    names(caught.value, "url", "address", "host", "port")
    no_secret(caught.value)


@pytest.mark.parametrize("cls", client_classes(), ids=["Client", "AsyncClient"])
@pytest.mark.parametrize("url", list(BAD_URLS.values()), ids=list(BAD_URLS))
def test_a_client_refuses_a_bad_service_url_when_built(cls: Any, url: str) -> None:
    for spec in (url, f"box={url}"):
        with pytest.raises(ConfigurationError) as caught:
            cls(services=[spec])
        names(caught.value, "url", "address", "host", "port")
        no_secret(caught.value)


ENV_URLS = {k: v for k, v in BAD_URLS.items() if "\x00" not in v}
"""The bad URLs an environment variable can hold (not one with a NUL byte)."""


@pytest.mark.parametrize("url", list(ENV_URLS.values()), ids=list(ENV_URLS))
def test_modelport_services_with_a_bad_url_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("MODELPORT_SERVICES", url)
    with pytest.raises(ConfigurationError) as caught:
        modelport.Client()
    names(caught.value, "MODELPORT_SERVICES")
    no_secret(caught.value)


def test_a_service_name_with_two_equals_signs_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``a=b=c`` was read as the service ``a`` at host ``b=c``."""
    monkeypatch.setenv("MODELPORT_SERVICES", "a=b=c")
    with pytest.raises(ConfigurationError) as caught:
        modelport.Client()
    names(caught.value, "MODELPORT_SERVICES")
    with pytest.raises(ConfigurationError):
        modelport.Client(services=["a=b=c"])


def _discover(mode: str, hosts: list[str] | None = None) -> list[modelport.Service]:
    if mode == "sync":
        return modelport.discover(hosts=hosts, timeout=1.0)
    return asyncio.run(modelport.adiscover(hosts=hosts, timeout=1.0))


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("url", list(BAD_URLS.values()), ids=list(BAD_URLS))
def test_discover_with_a_bad_host_is_typed_and_never_echoes_a_password(mode: str, url: str) -> None:
    """A bad ``hosts`` entry: a ConfigurationError, or an UNAVAILABLE entry saying why;
    never a foreign exception (httpx.InvalidURL escaped before the fix)."""
    try:
        found = _discover(mode, [url])
    except ConfigurationError as exc:
        no_secret(exc)
        return
    except BaseException as exc:
        pytest.fail(f"a foreign exception escaped: {type(exc).__name__}: {exc!r}"[:2000])
    for service in found:
        assert PASSWORD not in service.base_url
        assert PASSWORD not in (service.error or "")
    defaults = {s.base_url for s in _discover(mode)}
    extra = [s for s in found if s.base_url not in defaults]
    assert extra, "the bad host was silently dropped"
    for service in extra:
        assert service.status is ServiceStatus.UNAVAILABLE, service
        assert service.error, service


# ------------------------------------------------------------------ OLLAMA_HOST


BAD_OLLAMA_HOSTS = {
    "garbage": "garbage value!!",
    "ftp-scheme": "ftp://x",
    "colons": ":::::",
    "space-in-host": "exa mple.com:11434",
}


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("value", list(BAD_OLLAMA_HOSTS.values()), ids=list(BAD_OLLAMA_HOSTS))
def test_a_bad_ollama_host_is_reported_not_probed(
    monkeypatch: pytest.MonkeyPatch, mode: str, value: str
) -> None:
    """``discover()`` never raises; the value is not used as a candidate (``ftp://x``
    was); either discovery reports it UNAVAILABLE naming OLLAMA_HOST, or ``Client()``
    refuses it with a ConfigurationError naming OLLAMA_HOST."""
    defaults = {s.base_url for s in _discover(mode)}
    monkeypatch.setenv("OLLAMA_HOST", value)
    try:
        found = _discover(mode)
    except BaseException as exc:
        pytest.fail(f"discover() raised {type(exc).__name__}: {exc!r}"[:2000])
    extra = [s for s in found if s.base_url not in defaults]
    for service in extra:
        assert service.status is ServiceStatus.UNAVAILABLE, service
        assert "OLLAMA_HOST" in (service.error or ""), service
    assert all(s.base_url.startswith(("http://", "https://")) for s in found), found
    reported = any("OLLAMA_HOST" in (s.error or "") for s in found)

    cls = modelport.Client if mode == "sync" else modelport.AsyncClient
    try:
        client = cls(discovery_timeout=1.0)
    except ConfigurationError as exc:
        names(exc, "OLLAMA_HOST")
        return
    except BaseException as exc:
        pytest.fail(f"Client() raised {type(exc).__name__}: {exc!r}"[:2000])
    assert reported, "neither discover() nor Client() says what is wrong with OLLAMA_HOST"

    async def use_async() -> list[modelport.Service]:
        try:
            return await client.services()
        finally:
            await client.aclose()

    try:
        services = client.services() if mode == "sync" else asyncio.run(use_async())
    except ModelportError as exc:
        names(exc, "OLLAMA_HOST")
        return
    except BaseException as exc:
        pytest.fail(f"services() raised {type(exc).__name__}: {exc!r}"[:2000])
    assert all(s.base_url.startswith(("http://", "https://")) for s in services), services


# ------------------------------------------------------------------ timeouts


@pytest.mark.parametrize("cls", PROVIDERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("field", ["timeout", "connect_timeout"])
@pytest.mark.parametrize("value", list(BAD_SECONDS.values()), ids=list(BAD_SECONDS))
def test_a_provider_refuses_a_timeout_that_is_not_finite_and_positive(
    cls: type[Provider], field: str, value: float
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        cls("http://127.0.0.1:9", **{field: value})
    names(caught.value, field)


@pytest.mark.parametrize("cls", client_classes(), ids=["Client", "AsyncClient"])
@pytest.mark.parametrize("field", ["timeout", "connect_timeout", "deadline"])
@pytest.mark.parametrize("value", list(BAD_SECONDS.values()), ids=list(BAD_SECONDS))
def test_a_client_refuses_a_timeout_that_is_not_finite_and_positive(
    cls: Any, field: str, value: float
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        cls(services=["http://127.0.0.1:9"], **{field: value})
    names(caught.value, field)


@pytest.mark.parametrize("cls", client_classes(), ids=["Client", "AsyncClient"])
def test_a_client_accepts_sensible_timeouts_and_no_deadline(cls: Any) -> None:
    client = cls(services=["http://127.0.0.1:9"], timeout=2.5, connect_timeout=1, deadline=None)
    assert client.timeout == 2.5
    cls(services=["http://127.0.0.1:9"], deadline=30.0)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e300", "0", "-1", "soon"])
def test_modelport_timeout_must_be_finite_and_positive(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MODELPORT_TIMEOUT", value)
    with pytest.raises(ConfigurationError) as caught:
        modelport.Client(services=["http://127.0.0.1:9"])
    names(caught.value, "MODELPORT_TIMEOUT")


# ------------------------------------------------------------------ router settings


@pytest.mark.parametrize("cls", client_classes(), ids=["Client", "AsyncClient"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cooldown", -5),
        ("cooldown", float("nan")),
        ("cooldown", float("inf")),
        ("cooldown", "30"),
        ("models_ttl", "x"),
        ("models_ttl", -1),
        ("models_ttl", float("nan")),
        ("models_ttl", float("inf")),
        ("models_ttl", None),
    ],
)
def test_cooldown_and_models_ttl_must_be_non_negative_finite_numbers(
    cls: Any, field: str, value: Any
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        cls(services=["http://127.0.0.1:9"], **{field: value})
    names(caught.value, field)


class _CountingFake(FakeProvider):
    """A fake that counts how often its model list is asked for."""

    listings = 0

    def _op_models(self, refresh: bool = False) -> Any:
        self.listings += 1
        return (yield from super()._op_models(refresh))


@pytest.mark.parametrize("cls", client_classes(), ids=["Client", "AsyncClient"])
def test_zero_cooldown_and_models_ttl_mean_no_cool_down_and_no_cached_list(cls: Any) -> None:
    """``cooldown=0``: a service made unavailable is tried again by the next request.
    ``models_ttl=0``: every routing decision asks for fresh model lists."""
    a, b = _CountingFake(models=["m"], name="a"), _CountingFake(models=["m"], name="b")

    async def chat(client: Any) -> str:
        reply = client.chat("m", "hi")
        return str((await reply if asyncio.iscoroutine(reply) else reply).service)

    client = cls(services=[a, b], cooldown=0, models_ttl=0.0, max_retries=0, failure_threshold=1)
    a.fail_next(ServiceUnavailableError("down"))
    assert asyncio.run(chat(client)) == "b"  # a failed: unavailable
    b.fail_next(ServiceUnavailableError("down"))
    # b fails too: a, with no cool-down, is tried at once (with one it would be skipped).
    assert asyncio.run(chat(client)) == "a"
    assert (a.listings, b.listings) == (2, 2)  # listed for each request: nothing cached


# ------------------------------------------------------------------ caps


@pytest.mark.parametrize("cls", [*PROVIDERS, modelport.Client, modelport.AsyncClient])
@pytest.mark.parametrize("field", ["max_event_bytes", "max_body_bytes", "max_error_bytes"])
def test_the_caps_are_options_that_must_be_positive_integers(cls: Any, field: str) -> None:
    kwargs: dict[str, Any] = {}
    if cls in (modelport.Client, modelport.AsyncClient):
        kwargs["services"] = ["http://127.0.0.1:9"]
        build = cls
    else:

        def build(**kw: Any) -> Any:
            return cls("http://127.0.0.1:9", **kw)

    build(**kwargs, **{field: 4096})
    for bad in (0, -1, "big"):
        with pytest.raises(ConfigurationError) as caught:
            build(**kwargs, **{field: bad})
        names(caught.value, field)
