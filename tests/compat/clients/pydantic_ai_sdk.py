"""pydantic-ai, as its users set it up for an OpenAI-compatible server:
``OpenAIChatModel(MODEL, provider=OpenAIProvider(base_url=GATEWAY/v1, api_key=KEY))``.
Structured output is its default ``ToolOutput`` (the schema as a tool the model must call).
The tools run stops at the first model response that calls a tool (``Agent.iter``), so
the agent cannot loop."""

from __future__ import annotations

import asyncio

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
    TOOL_MAX_TOKENS,
    TOOL_PROMPT,
    expect_error,
    native,
    operation,
    report,
)
from pydantic import BaseModel
from pydantic_ai import Agent, Embedder
from pydantic_ai.embeddings.openai import OpenAIEmbeddingModel
from pydantic_ai.embeddings.result import EmbeddingResult
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider


class City(BaseModel):
    """A city and its country."""

    city: str
    country: str


def provider() -> OpenAIProvider:
    return OpenAIProvider(base_url=OPENAI_BASE_URL, api_key=API_KEY)


def model(name: str = CHAT_MODEL) -> OpenAIChatModel:
    return OpenAIChatModel(name, provider=provider())


def settings(max_tokens: int = MAX_TOKENS) -> dict:
    return {"temperature": TEMPERATURE, "seed": SEED, "max_tokens": max_tokens, "timeout": TIMEOUT}


@operation("chat")
def _() -> dict:
    result = Agent(model(), model_settings=settings()).run_sync(CHAT_PROMPT)
    response = result.all_messages()[-1]
    native(response, ModelResponse)
    return {"type": native(result.output, str), "text": result.output}


@operation("stream")
def _() -> dict:
    async def run() -> list[str]:
        agent = Agent(model(), model_settings=settings())
        async with agent.run_stream(CHAT_PROMPT) as result:
            return [delta async for delta in result.stream_text(delta=True)]

    deltas = asyncio.run(run())
    return {"type": native(deltas[0], str), "chunks": len(deltas), "text": "".join(deltas)}


@operation("tools")
def _() -> dict:
    # No tool_choice="required": pydantic-ai 2.68 refuses it on an agent (UserError: the
    # agent could then never produce its final response).
    agent = Agent(model(), model_settings=settings(TOOL_MAX_TOKENS))

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        return f"Sunny in {city}"

    async def first_tool_call() -> ModelResponse:
        async with agent.iter(TOOL_PROMPT) as run:
            async for node in run:
                if Agent.is_call_tools_node(node):
                    return node.model_response
        raise AssertionError("the run ended without calling a tool")

    response = asyncio.run(first_tool_call())
    call = next(part for part in response.parts if isinstance(part, ToolCallPart))
    native(response, ModelResponse)
    return {
        "type": native(call, ToolCallPart),
        "tool": call.tool_name,
        "arguments": call.args_as_dict(),
    }


@operation("structured")
def _() -> dict:
    agent = Agent(model(), output_type=City, model_settings=settings(TOOL_MAX_TOKENS))
    result = agent.run_sync(STRUCTURED_PROMPT)
    return {"type": native(result.output, City), "fields": result.output.model_dump()}


@operation("embeddings")
def _() -> dict:
    embedder = Embedder(OpenAIEmbeddingModel(EMBED_MODEL, provider=provider()))
    result = embedder.embed_documents_sync(EMBED_INPUTS)
    return {
        "type": native(result, EmbeddingResult),
        "count": len(result.embeddings),
        "dimensions": len(result.embeddings[0]),
    }


@operation("unknown_model")
def _() -> dict:
    return expect_error(
        lambda: Agent(model(MISSING_MODEL), model_settings=settings(4)).run_sync("hi"),
        ModelHTTPError,
    )


report("pydantic-ai", "pydantic-ai-slim", "openai")
