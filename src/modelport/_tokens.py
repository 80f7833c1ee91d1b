"""The prompt-token estimate, for services that cannot count tokens.

Exact counts need the service: the model's own chat template and tokenizer, as
llama.cpp's ``/v1/chat/completions/input_tokens`` (or ``/apply-template`` then
``/tokenize``) and vLLM's ``/tokenize`` give them (:meth:`modelport.Client.count_tokens`).
Elsewhere (Ollama, LM Studio's REST API, other OpenAI-compatible servers) the count is
estimated from what the template will contain: the text of every message and tool call,
and the tools' JSON where the model's template renders tools, at 4 characters a token,
plus a few tokens a message for the template's role markers and a flat guess an image.
Measured against SmolLM2's tokenizer (docs/records/agent-clients.md section 5):
characters per token 3.6 to 4.5 on prose, prompts, tool JSON and code, so the text part
is within about 11%; on Claude Code 2.1.328's own request (4,249 tokens by llama.cpp)
the estimate is 1% over. Templates that add their own text (SmolLM2 adds a default
system prompt: "Say hi" is 32 tokens) make small prompts count low; images are a guess.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ._wire.common import arguments_json
from .types import Message

__all__ = ["CHARS_PER_TOKEN", "IMAGE_TOKENS", "MESSAGE_TOKENS", "estimate_input_tokens"]

CHARS_PER_TOKEN = 4
"""Characters per token for English prose and code (measured 3.6 to 4.5)."""
MESSAGE_TOKENS = 4
"""Tokens a chat template adds per message (role markers and separators)."""
IMAGE_TOKENS = 768
"""A flat guess per image: vision encoders use from 256 to a few thousand tokens."""


def _chars(value: object) -> int:
    try:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    except (TypeError, ValueError, RecursionError):
        return 0


def estimate_input_tokens(
    messages: Sequence[Message],
    tools: Sequence[Mapping[str, Any]] = (),
    *,
    tools_rendered: bool = True,
) -> int:
    """An estimate of the prompt's tokens where the service cannot count them.

    ``tools_rendered`` says whether the model's template shows the tools (llama.cpp's
    ``/props`` ``chat_template_caps.supports_tools``; SmolLM2's does not): tool
    definitions are often the largest part of an agent's request.

    >>> estimate_input_tokens([Message("user", "Say hi")])
    6
    """
    chars = 0
    images = 0
    for message in messages:
        chars += len(message.content)
        images += len(message.images)
        for call in message.tool_calls:
            chars += len(call.name) + len(arguments_json(call))
    if tools_rendered and tools:
        chars += _chars(list(tools))
    if not messages and not chars:
        return 0
    text = math.ceil(chars / CHARS_PER_TOKEN)
    return text + MESSAGE_TOKENS * len(messages) + IMAGE_TOKENS * images
