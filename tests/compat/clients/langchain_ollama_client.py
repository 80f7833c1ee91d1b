"""LangChain's Ollama integration, as its users set it up: ``ChatOllama`` and
``OllamaEmbeddings`` with ``base_url=GATEWAY`` and the gateway's key in
``client_kwargs={"headers": ...}``. Ollama's API has no ``tool_choice``: the tool call is
the model's own choice (greedy, with a fixed prompt)."""

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
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_ollama import ChatOllama, OllamaEmbeddings
from pydantic import BaseModel


class City(BaseModel):
    """A city and its country."""

    city: str
    country: str


def chat_model(model: str = CHAT_MODEL, num_predict: int = MAX_TOKENS) -> ChatOllama:
    return ChatOllama(
        model=model,
        base_url=BASE_URL,
        client_kwargs={"headers": AUTH_HEADERS, "timeout": TIMEOUT},
        temperature=TEMPERATURE,
        seed=SEED,
        num_predict=num_predict,
    )


@operation("chat")
def _() -> dict:
    reply = chat_model().invoke(CHAT_PROMPT)
    return {"type": native(reply, AIMessage), "text": reply.content}


@operation("stream")
def _() -> dict:
    chunks = list(chat_model().stream(CHAT_PROMPT))
    text = "".join(str(chunk.content) for chunk in chunks)
    return {"type": native(chunks[0], AIMessageChunk), "chunks": len(chunks), "text": text}


@operation("tools")
def _() -> dict:
    reply = chat_model(num_predict=TOOL_MAX_TOKENS).bind_tools([WEATHER_TOOL]).invoke(TOOL_PROMPT)
    call = reply.tool_calls[0]
    return {"type": native(reply, AIMessage), "tool": call["name"], "arguments": call["args"]}


@operation("structured")
def _() -> dict:
    parsed = (
        chat_model(num_predict=TOOL_MAX_TOKENS)
        .with_structured_output(City)
        .invoke(STRUCTURED_PROMPT)
    )
    return {"type": native(parsed, City), "fields": parsed.model_dump()}


@operation("embeddings")
def _() -> dict:
    embeddings = OllamaEmbeddings(
        model=EMBED_MODEL, base_url=BASE_URL, client_kwargs={"headers": AUTH_HEADERS}
    )
    vectors = embeddings.embed_documents(EMBED_INPUTS)
    native(vectors, list)
    return {"type": "list[list[float]]", "count": len(vectors), "dimensions": len(vectors[0])}


@operation("unknown_model")
def _() -> dict:
    return expect_error(lambda: chat_model(MISSING_MODEL).invoke("hi"), ollama.ResponseError)


report("langchain-ollama", "langchain-ollama", "langchain-core", "ollama")
