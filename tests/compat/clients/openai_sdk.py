"""The openai SDK, as its users call it: ``OpenAI(base_url=.../v1, api_key=KEY)``."""

from __future__ import annotations

import json

import openai
from _harness import (
    API_KEY,
    CHAT_MODEL,
    CHAT_PROMPT,
    EMBED_INPUTS,
    EMBED_MODEL,
    MAX_TOKENS,
    MISSING_MODEL,
    OPENAI_BASE_URL,
    SEED,
    STRUCTURED_PROMPT,
    TEMPERATURE,
    TIMEOUT,
    TOKEN_INPUTS,
    TOOL_MAX_TOKENS,
    TOOL_PROMPT,
    WEATHER_TOOL,
    expect_error,
    native,
    operation,
    report,
)
from openai.types import CreateEmbeddingResponse, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
from pydantic import BaseModel


class City(BaseModel):
    city: str
    country: str


client = openai.OpenAI(base_url=OPENAI_BASE_URL, api_key=API_KEY, max_retries=0, timeout=TIMEOUT)
sampling = {"temperature": TEMPERATURE, "seed": SEED}


@operation("models")
def _() -> dict:
    models = list(client.models.list())
    return {"type": native(models[0], Model), "ids": [m.id for m in models]}


@operation("chat")
def _() -> dict:
    reply = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": CHAT_PROMPT}],
        max_tokens=MAX_TOKENS,
        **sampling,
    )
    return {"type": native(reply, ChatCompletion), "text": reply.choices[0].message.content}


@operation("stream")
def _() -> dict:
    chunks = list(
        client.chat.completions.create(
            model=CHAT_MODEL,
            messages=[{"role": "user", "content": CHAT_PROMPT}],
            max_tokens=MAX_TOKENS,
            stream=True,
            **sampling,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return {"type": native(chunks[0], ChatCompletionChunk), "chunks": len(chunks), "text": text}


@operation("tools")
def _() -> dict:
    reply = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": TOOL_PROMPT}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
        max_tokens=TOOL_MAX_TOKENS,
        **sampling,
    )
    call = reply.choices[0].message.tool_calls[0]
    return {
        "type": native(reply, ChatCompletion),
        "tool": call.function.name,
        "arguments": json.loads(call.function.arguments),
    }


@operation("structured")
def _() -> dict:
    reply = client.chat.completions.parse(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": STRUCTURED_PROMPT}],
        response_format=City,
        max_tokens=TOOL_MAX_TOKENS,
        **sampling,
    )
    parsed = reply.choices[0].message.parsed
    native(reply, ParsedChatCompletion)
    return {"type": native(parsed, City), "fields": parsed.model_dump()}


@operation("embeddings")
def _() -> dict:
    response = client.embeddings.create(model=EMBED_MODEL, input=EMBED_INPUTS)
    return {
        "type": native(response, CreateEmbeddingResponse),
        "count": len(response.data),
        "dimensions": len(response.data[0].embedding),
    }


@operation("embeddings_tokens")
def _() -> dict:
    response = client.embeddings.create(model=EMBED_MODEL, input=TOKEN_INPUTS)
    return {
        "type": native(response, CreateEmbeddingResponse),
        "count": len(response.data),
        "dimensions": len(response.data[0].embedding),
    }


@operation("unknown_model")
def _() -> dict:
    return expect_error(
        lambda: client.chat.completions.create(
            model=MISSING_MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4
        ),
        openai.NotFoundError,
    )


report("openai", "openai")
