"""The gateway's settings: sizes, loopback addresses, keys."""

from __future__ import annotations

import pytest

from modelport import ConfigurationError
from modelport.gateway import create_app, parse_size
from modelport.gateway._config import is_loopback, keys_from_env


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("100MB", 100 * 1024**2),
        ("512KB", 512 * 1024),
        ("512kb", 512 * 1024),
        ("1GB", 1024**3),
        ("2 MiB", 2 * 1024**2),
        ("1048576", 1048576),
        ("10B", 10),
        ("1.5MB", int(1.5 * 1024**2)),
    ],
)
def test_sizes_accept_suffixes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "-1MB", "12XB", "0", "lots"])
def test_bad_sizes_are_configuration_errors(text: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_size(text)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("gpu-box", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_keys_come_comma_separated_from_the_environment() -> None:
    assert keys_from_env({"MODELPORT_API_KEYS": " k1, k2 ,,"}) == ["k1", "k2"]
    assert keys_from_env({}) == []


@pytest.mark.parametrize("keys", [[""], ["   "], ["good-key", ""], ["\t\n"]])
def test_an_empty_api_key_given_to_create_app_is_a_configuration_error(keys: list[str]) -> None:
    # Dropping it silently would turn "keys: [$KEY]" with KEY unset into no auth at all.
    with pytest.raises(ConfigurationError, match="empty"):
        create_app(api_keys=keys)


def test_no_keys_at_all_means_no_key_is_asked_for() -> None:
    assert create_app(api_keys=None).keyed is False
    assert create_app(api_keys=[]).keyed is False
    assert create_app(api_keys=["k"]).keyed is True
