"""LangChain's OpenAI integration, as its users set it up: ``ChatOpenAI`` and
``OpenAIEmbeddings`` with ``base_url=GATEWAY/v1`` and ``api_key=KEY``.

``OpenAIEmbeddings``' default path (``check_embedding_ctx_length=True``) first tokenizes
the text with tiktoken, whose files are downloaded from outside the package registries
(not reachable here), then sends token ids. So ``embeddings`` runs with
``check_embedding_ctx_length=False`` (text is sent), and ``embeddings_tokens`` sends token
ids through the same openai client LangChain's default path calls."""

from __future__ import annotations

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
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from openai.types import CreateEmbeddingResponse
from pydantic import BaseModel


class City(BaseModel):
    """A city and its country."""

    city: str
    country: str


def chat_model(model: str = CHAT_MODEL, max_tokens: int = MAX_TOKENS) -> ChatOpenAI:
    return ChatOpenAI(
        model=model,
        base_url=OPENAI_BASE_URL,
        api_key=API_KEY,
        temperature=TEMPERATURE,
        seed=SEED,
        max_tokens=max_tokens,
        max_retries=0,
        timeout=TIMEOUT,
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
    llm = chat_model(max_tokens=TOOL_MAX_TOKENS).bind_tools([WEATHER_TOOL], tool_choice="required")
    reply = llm.invoke(TOOL_PROMPT)
    call = reply.tool_calls[0]
    return {"type": native(reply, AIMessage), "tool": call["name"], "arguments": call["args"]}


@operation("structured")
def _() -> dict:
    parsed = (
        chat_model(max_tokens=TOOL_MAX_TOKENS)
        .with_structured_output(City)
        .invoke(STRUCTURED_PROMPT)
    )
    return {"type": native(parsed, City), "fields": parsed.model_dump()}


def embeddings() -> OpenAIEmbeddings:
    return OpenAIEmbeddings(
        model=EMBED_MODEL,
        base_url=OPENAI_BASE_URL,
        api_key=API_KEY,
        check_embedding_ctx_length=False,
        max_retries=0,
    )


@operation("embeddings")
def _() -> dict:
    vectors = embeddings().embed_documents(EMBED_INPUTS)
    native(vectors, list)
    return {"type": "list[list[float]]", "count": len(vectors), "dimensions": len(vectors[0])}


@operation("embeddings_tokens")
def _() -> dict:
    # What OpenAIEmbeddings' default path sends after tokenizing: token ids.
    response = embeddings().client.create(input=TOKEN_INPUTS, model=EMBED_MODEL)
    return {
        "type": native(response, CreateEmbeddingResponse),
        "count": len(response.data),
        "dimensions": len(response.data[0].embedding),
    }


@operation("unknown_model")
def _() -> dict:
    return expect_error(lambda: chat_model(MISSING_MODEL).invoke("hi"), openai.NotFoundError)


report("langchain-openai", "langchain-openai", "langchain-core", "openai")
