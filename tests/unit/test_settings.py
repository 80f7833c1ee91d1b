"""modelport._settings: a client's settings as one frozen object, checked when made."""

from __future__ import annotations

import dataclasses

import pytest

import modelport
from modelport import ConfigurationError
from modelport._settings import ClientSettings, read_timeout


def test_settings_are_frozen_and_the_keys_cannot_be_changed_through_them() -> None:
    keys = {"a": "k1"}
    settings = ClientSettings(api_keys=keys)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.timeout = 1.0  # type: ignore[misc]
    keys["a"] = "changed"  # the caller's dict later: not the client's keys
    assert settings.api_keys["a"] == "k1"
    with pytest.raises(TypeError):
        settings.api_keys["a"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timeout", 0, "timeout must be a positive number of seconds"),
        ("connect_timeout", float("nan"), "connect_timeout must be a positive number"),
        ("deadline", -1, "deadline must be a positive number"),
        ("discovery_timeout", "2", "discovery_timeout must be a positive number"),
        ("max_retries", True, "max_retries must be a non-negative integer"),
        ("max_retries", -1, "max_retries must be a non-negative integer"),
        ("failure_threshold", 0, "failure_threshold must be a positive integer"),
        ("cooldown", -1.0, "cooldown must be"),
        ("max_body_bytes", 0, "max_body_bytes must be"),
        ("api_keys", ["k"], "api_keys must be a dict"),
        ("gateway_id", " ", "gateway_id must be a non-empty string"),
    ],
)
def test_each_setting_is_checked_when_made_naming_the_argument(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ClientSettings(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=message):
        modelport.Client(services=[], **{field: value})  # type: ignore[arg-type]


def test_zero_is_a_valid_cooldown_and_models_ttl() -> None:
    settings = ClientSettings(cooldown=0, models_ttl=0)
    assert (settings.cooldown, settings.models_ttl) == (0.0, 0.0)


def test_the_retry_policy_given_wins_over_max_retries() -> None:
    from modelport._http.retry import RetryPolicy

    policy = RetryPolicy(max_retries=7)
    assert ClientSettings(max_retries=1, retry_policy=policy).retry is policy
    assert ClientSettings(max_retries=1).retry.max_retries == 1


def test_read_timeout_is_the_given_one_then_the_variable_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MODELPORT_TIMEOUT", raising=False)
    assert read_timeout(None) == 60.0
    assert read_timeout(None, 600.0) == 600.0
    monkeypatch.setenv("MODELPORT_TIMEOUT", "12.5")
    assert read_timeout(None, 600.0) == 12.5
    assert read_timeout(3.0, 600.0) == 3.0
    monkeypatch.setenv("MODELPORT_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError, match="MODELPORT_TIMEOUT='soon'"):
        read_timeout(None)


def test_a_client_keeps_its_settings_and_reads_them_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_TIMEOUT", "9")
    client = modelport.Client(services=[], deadline=30, gateway_id="gw1")
    assert client.settings.timeout == client.timeout == 9.0
    assert (client.deadline, client.gateway_id) == (30.0, "gw1")


def test_a_gateway_default_timeout_applies_only_when_neither_argument_nor_variable_gives_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MODELPORT_TIMEOUT", raising=False)
    assert modelport.AsyncClient(services=[], _default_timeout=600.0).timeout == 600.0
    assert modelport.AsyncClient(services=[], timeout=5, _default_timeout=600.0).timeout == 5.0
    monkeypatch.setenv("MODELPORT_TIMEOUT", "30")
    assert modelport.AsyncClient(services=[], _default_timeout=600.0).timeout == 30.0
