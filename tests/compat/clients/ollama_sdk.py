"""The ollama Python SDK, as its users call it: ``ollama.Client(host=GATEWAY)``, with the
gateway's key in ``headers``."""

from __future__ import annotations

import ollama
from _harness import (
    AUTH_HEADERS,
    BASE_URL,
    CHAT_MODEL,
    CHAT_PROMPT,
    EMBED_INPUTS,
    EMBED_MODEL,
    MAX_TOKENS,
    MISSING_MODEL,
    SEED,
    STRUCTURED_PROMPT,
    TEMPERATURE,
    TIMEOUT,
    TOOL_MAX_TOKENS,
    TOOL_PROMPT,
    WEATHER_TOOL,
    expect_error,
    native,
    operation,
    report,
)
from ollama import ChatResponse, EmbedResponse, ListResponse
from pydantic import BaseModel


class City(BaseModel):
    city: str
    country: str


client = ollama.Client(host=BASE_URL, headers=AUTH_HEADERS, timeout=TIMEOUT)
options = {"temperature": TEMPERATURE, "seed": SEED, "num_predict": MAX_TOKENS}
messages = [{"role": "user", "content": CHAT_PROMPT}]


@operation("models")
def _() -> dict:
    listed = client.list()
    return {"type": native(listed, ListResponse), "ids": [m.model for m in listed.models]}


@operation("chat")
def _() -> dict:
    reply = client.chat(CHAT_MODEL, messages, options=options)
    return {"type": native(reply, ChatResponse), "text": reply.message.content}


@operation("stream")
def _() -> dict:
    chunks = list(client.chat(CHAT_MODEL, messages, options=options, stream=True))
    text = "".join(chunk.message.content or "" for chunk in chunks)
    return {"type": native(chunks[0], ChatResponse), "chunks": len(chunks), "text": text}


@operation("tools")
def _() -> dict:
    reply = client.chat(
        CHAT_MODEL,
        [{"role": "user", "content": TOOL_PROMPT}],
        tools=[WEATHER_TOOL],
        options={**options, "num_predict": TOOL_MAX_TOKENS},
    )
    call = reply.message.tool_calls[0]
    return {
        "type": native(reply, ChatResponse),
        "tool": call.function.name,
        "arguments": dict(call.function.arguments),
    }


@operation("structured")
def _() -> dict:
    reply = client.chat(
        CHAT_MODEL,
        [{"role": "user", "content": STRUCTURED_PROMPT}],
        format=City.model_json_schema(),
        options={**options, "num_predict": TOOL_MAX_TOKENS},
    )
    native(reply, ChatResponse)
    parsed = City.model_validate_json(reply.message.content)
    return {"type": native(parsed, City), "fields": parsed.model_dump()}


@operation("embeddings")
def _() -> dict:
    response = client.embed(EMBED_MODEL, EMBED_INPUTS)
    return {
        "type": native(response, EmbedResponse),
        "count": len(response.embeddings),
        "dimensions": len(response.embeddings[0]),
    }


@operation("unknown_model")
def _() -> dict:
    return expect_error(
        lambda: client.chat(MISSING_MODEL, messages, options=options), ollama.ResponseError
    )


report("ollama", "ollama")
