"""LiteLLM's SDK, as its users call it: ``litellm.completion(model="PREFIX/MODEL",
api_base=..., api_key=KEY)``. ``COMPAT_LITELLM_PREFIX`` chooses the provider: ``openai``
(the gateway's ``/v1``) or ``ollama_chat`` (the gateway's Ollama surface; embeddings then
go through ``ollama/``). Its price-list download is off (``LITELLM_LOCAL_MODEL_COST_MAP``)."""

from __future__ import annotations

import json
import os

import litellm
from _harness import (
    API_KEY,
    BASE_URL,
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
    TOOL_MAX_TOKENS,
    TOOL_PROMPT,
    WEATHER_TOOL,
    expect_error,
    native,
    operation,
    report,
)
from litellm.types.utils import EmbeddingResponse, ModelResponse, ModelResponseStream
from pydantic import BaseModel

litellm.telemetry = False
PREFIX = os.environ["COMPAT_LITELLM_PREFIX"]
OLLAMA = PREFIX == "ollama_chat"
API_BASE = BASE_URL if OLLAMA else OPENAI_BASE_URL
EMBED_PREFIX = "ollama" if OLLAMA else "openai"
common = {"api_base": API_BASE, "api_key": API_KEY, "timeout": TIMEOUT, "num_retries": 0}
sampling = {"temperature": TEMPERATURE, "seed": SEED}
messages = [{"role": "user", "content": CHAT_PROMPT}]


class City(BaseModel):
    city: str
    country: str


@operation("chat")
def _() -> dict:
    reply = litellm.completion(
        f"{PREFIX}/{CHAT_MODEL}", messages, max_tokens=MAX_TOKENS, **sampling, **common
    )
    return {"type": native(reply, ModelResponse), "text": reply.choices[0].message.content}


@operation("stream")
def _() -> dict:
    chunks = list(
        litellm.completion(
            f"{PREFIX}/{CHAT_MODEL}",
            messages,
            max_tokens=MAX_TOKENS,
            stream=True,
            **sampling,
            **common,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return {"type": native(chunks[0], ModelResponseStream), "chunks": len(chunks), "text": text}


@operation("tools")
def _() -> dict:
    reply = litellm.completion(
        f"{PREFIX}/{CHAT_MODEL}",
        [{"role": "user", "content": TOOL_PROMPT}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
        max_tokens=TOOL_MAX_TOKENS,
        **sampling,
        **common,
    )
    call = reply.choices[0].message.tool_calls[0]
    arguments = call.function.arguments
    return {
        "type": native(reply, ModelResponse),
        "tool": call.function.name,
        "arguments": json.loads(arguments) if isinstance(arguments, str) else arguments,
    }


@operation("structured")
def _() -> dict:
    reply = litellm.completion(
        f"{PREFIX}/{CHAT_MODEL}",
        [{"role": "user", "content": STRUCTURED_PROMPT}],
        response_format=City,
        max_tokens=TOOL_MAX_TOKENS,
        **sampling,
        **common,
    )
    native(reply, ModelResponse)
    parsed = City.model_validate_json(reply.choices[0].message.content)
    return {"type": native(parsed, City), "fields": parsed.model_dump()}


@operation("embeddings")
def _() -> dict:
    response = litellm.embedding(
        f"{EMBED_PREFIX}/{EMBED_MODEL}",
        input=EMBED_INPUTS,
        api_base=API_BASE,
        api_key=API_KEY,
        timeout=TIMEOUT,
    )
    return {
        "type": native(response, EmbeddingResponse),
        "count": len(response.data),
        "dimensions": len(response.data[0]["embedding"]),
    }


@operation("unknown_model")
def _() -> dict:
    return expect_error(
        lambda: litellm.completion(f"{PREFIX}/{MISSING_MODEL}", messages, max_tokens=4, **common),
        litellm.NotFoundError,
        litellm.APIConnectionError,
        litellm.BadRequestError,
    )


report(f"litellm ({PREFIX}/)", "litellm", "openai")
