"""Sync and async twins offer the same methods with the same parameters."""

from __future__ import annotations

import inspect

import modelport
from modelport.providers.base import Provider


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member)
    }


def _params(sig: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


def test_client_and_async_client_have_the_same_methods_and_parameters() -> None:
    sync = _public(modelport.Client)
    aio = _public(modelport.AsyncClient)
    sync.pop("close")
    aio.pop("aclose")
    assert set(sync) == set(aio)
    for name in sync:
        assert _params(sync[name]) == _params(aio[name]), name


def test_async_client_methods_are_awaitable_or_async_iterators() -> None:
    for name in ("services", "models", "model_info", "chat", "embed", "load", "unload", "delete"):
        assert inspect.iscoroutinefunction(getattr(modelport.AsyncClient, name)), name
    assert inspect.isasyncgenfunction(modelport.AsyncClient.pull)


def test_every_provider_method_has_an_a_prefixed_async_twin() -> None:
    methods = _public(Provider)
    sync_names = {
        n for n in methods if not n.startswith("a") or n not in {"a" + m for m in methods}
    }
    for name in (
        "health",
        "models",
        "model_info",
        "chat",
        "chat_stream",
        "embed",
        "load",
        "unload",
        "delete",
        "pull",
    ):
        assert name in sync_names
        twin = "a" + name
        assert twin in methods, twin
        assert _params(methods[name]) == _params(methods[twin]), name


def test_chat_stream_twins_offer_the_same_surface() -> None:
    sync = set(_public(modelport.ChatStream)) - {"close"}
    aio = set(_public(modelport.AsyncChatStream)) - {"aclose"}
    assert sync == aio
