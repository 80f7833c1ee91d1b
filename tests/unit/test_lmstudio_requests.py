"""LM Studio provider: mistakes are refused with a clear typed error before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest

from modelport import CapabilityError, InvalidRequestError
from tests.unit.lmstudio_fake import FakeLMStudio, lmstudio_04


@pytest.mark.parametrize(
    "call",
    [
        lambda p: p.chat("", "hi"),
        lambda p: p.chat("  ", "hi"),
        lambda p: p.embed("", "hi"),
        lambda p: p.load(""),
        lambda p: p.unload(""),
        lambda p: list(p.pull("")),
    ],
    ids=["chat", "chat-blank", "embed", "load", "unload", "pull"],
)
def test_empty_model_name_is_refused_before_sending(call: Any) -> None:
    fake = lmstudio_04()
    with pytest.raises(InvalidRequestError):
        call(fake.provider())
    assert fake.calls == []


@pytest.mark.parametrize("bad", [[[1, 2, 3]], [], 42, ["ok", None]])
def test_embed_refuses_anything_but_strings_before_sending(bad: Any) -> None:
    # LM Studio rejects token arrays ("'input' field must be a string or an array of strings").
    fake = lmstudio_04()
    with pytest.raises(InvalidRequestError):
        fake.provider().embed("text-embedding-nomic-embed-text-v1.5", bad)
    assert fake.calls == []


@pytest.mark.parametrize("context_length", [0, -1, 1.5, "4096", True])
def test_load_refuses_a_bad_context_length_before_sending(context_length: Any) -> None:
    fake = lmstudio_04()
    with pytest.raises(InvalidRequestError):
        fake.provider().load("qwen/qwen3-8b", context_length=context_length)
    assert fake.calls == []


def test_load_with_ttl_says_lm_studio_cannot_and_what_to_do_instead() -> None:
    # /api/v1/models/load has a closed schema without a TTL: sending one would be a 400.
    fake = lmstudio_04()
    with pytest.raises(CapabilityError) as caught:
        fake.provider().load("qwen/qwen3-8b", ttl=600)
    assert fake.calls == []
    assert "keep_alive" in str(caught.value)
    assert "lms load" in str(caught.value)


@pytest.mark.parametrize("keep_alive", ["soon", "5 parsecs", ""])
def test_unreadable_keep_alive_duration_is_refused_before_sending(keep_alive: str) -> None:
    fake = lmstudio_04()
    with pytest.raises(InvalidRequestError):
        fake.provider().chat("qwen/qwen3-8b", "hi", keep_alive=keep_alive)
    assert fake.calls == []


@pytest.mark.parametrize(
    "options",
    [{"temperature": -1}, {"top_p": 2}, {"max_tokens": 0}, {"tool_choice": 3}, {"temprature": 0.1}],
)
def test_invalid_chat_options_are_refused_before_sending(options: dict[str, Any]) -> None:
    fake = lmstudio_04()
    with pytest.raises(InvalidRequestError):
        fake.provider().chat("qwen/qwen3-8b", "hi", **options)
    assert fake.calls == []


def test_messages_with_unknown_roles_or_nothing_to_answer_are_refused() -> None:
    fake = FakeLMStudio()
    provider = fake.provider()
    with pytest.raises(InvalidRequestError):
        provider.chat("qwen/qwen3-8b", [{"role": "robot", "content": "beep"}])
    with pytest.raises(InvalidRequestError):
        provider.chat("qwen/qwen3-8b", [])
    with pytest.raises(InvalidRequestError):
        provider.chat("qwen/qwen3-8b", [{"role": "system", "content": "be nice"}])
    assert fake.calls == []
