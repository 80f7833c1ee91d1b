"""The anthropic SDK, as its users call it: ``Anthropic(base_url=GATEWAY, api_key=KEY)``
(the gateway's root, without ``/v1``). The Messages API has no embeddings; its tools are
forced with ``tool_choice={"type": "any"}``. This SDK version has no ``temperature``
parameter: the chat server samples greedily by itself (``--temp 0``)."""

from __future__ import annotations

import anthropic
from _harness import (
    API_KEY,
    BASE_URL,
    CHAT_MODEL,
    CHAT_PROMPT,
    MAX_TOKENS,
    MISSING_MODEL,
    TIMEOUT,
    TOOL_MAX_TOKENS,
    TOOL_PROMPT,
    WEATHER_TOOL,
    expect_error,
    native,
    operation,
    report,
)
from anthropic.types import Message, ModelInfo, RawMessageStartEvent, ToolUseBlock

client = anthropic.Anthropic(base_url=BASE_URL, api_key=API_KEY, max_retries=0, timeout=TIMEOUT)
messages = [{"role": "user", "content": CHAT_PROMPT}]
TOOL = {
    "name": WEATHER_TOOL["function"]["name"],
    "description": WEATHER_TOOL["function"]["description"],
    "input_schema": WEATHER_TOOL["function"]["parameters"],
}


@operation("models")
def _() -> dict:
    models = list(client.models.list())
    return {"type": native(models[0], ModelInfo), "ids": [m.id for m in models]}


@operation("chat")
def _() -> dict:
    reply = client.messages.create(model=CHAT_MODEL, messages=messages, max_tokens=MAX_TOKENS)
    text = "".join(block.text for block in reply.content if block.type == "text")
    return {"type": native(reply, Message), "text": text}


@operation("stream")
def _() -> dict:
    with client.messages.stream(
        model=CHAT_MODEL, messages=messages, max_tokens=MAX_TOKENS
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    native(final, Message)
    text = "".join(block.text for block in final.content if block.type == "text")
    deltas = [e for e in events if e.type == "content_block_delta"]
    native(events[0], RawMessageStartEvent)
    return {"type": native(final, Message), "chunks": len(deltas), "text": text}


@operation("tools")
def _() -> dict:
    reply = client.messages.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": TOOL_PROMPT}],
        tools=[TOOL],
        tool_choice={"type": "any"},
        max_tokens=TOOL_MAX_TOKENS,
    )
    call = next(block for block in reply.content if isinstance(block, ToolUseBlock))
    native(reply, Message)
    return {"type": native(call, ToolUseBlock), "tool": call.name, "arguments": call.input}


@operation("unknown_model")
def _() -> dict:
    return expect_error(
        lambda: client.messages.create(model=MISSING_MODEL, messages=messages, max_tokens=4),
        anthropic.NotFoundError,
    )


report("anthropic", "anthropic")
