"""The OpenAI Agents SDK (openai-agents), as its users point it at another server:
``set_default_openai_client(AsyncOpenAI(base_url=GATEWAY/v1, api_key=KEY))`` with the SDK's
default API (the Responses API) and tracing off (``set_tracing_disabled(True)``; it sends
traces to OpenAI by default). Runs are capped: ``max_turns``, and the tools agent stops at
its first tool call (``tool_use_behavior="stop_on_first_tool"``). A reply cut by
``max_tokens`` is an error to this SDK (``response.incomplete``), so replies get room to
end by themselves."""

from __future__ import annotations

import asyncio
import json

import openai
from _harness import (
    API_KEY,
    CHAT_MODEL,
    CHAT_PROMPT,
    MAX_TOKENS,
    MISSING_MODEL,
    OPENAI_BASE_URL,
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
from agents import (
    Agent,
    ModelSettings,
    Runner,
    RunResult,
    ToolCallItem,
    function_tool,
    set_default_openai_client,
    set_tracing_disabled,
)
from agents.stream_events import RawResponsesStreamEvent
from openai.types.responses import ResponseTextDeltaEvent
from pydantic import BaseModel

set_tracing_disabled(True)
set_default_openai_client(
    openai.AsyncOpenAI(base_url=OPENAI_BASE_URL, api_key=API_KEY, max_retries=0, timeout=TIMEOUT),
    use_for_tracing=False,
)


class City(BaseModel):
    city: str
    country: str


def settings(max_tokens: int = MAX_TOKENS, **more: object) -> ModelSettings:
    # No seed: the Responses API has none (the chat server samples with --seed 1).
    return ModelSettings(temperature=TEMPERATURE, max_tokens=max_tokens, **more)


@function_tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny in {city}"


@operation("chat")
def _() -> dict:
    agent = Agent(name="compat", model=CHAT_MODEL, model_settings=settings(TOOL_MAX_TOKENS))
    result = Runner.run_sync(agent, CHAT_PROMPT, max_turns=1)
    native(result, RunResult)
    return {"type": native(result.final_output, str), "text": result.final_output}


@operation("stream")
def _() -> dict:
    async def run() -> list[ResponseTextDeltaEvent]:
        agent = Agent(name="compat", model=CHAT_MODEL, model_settings=settings(TOOL_MAX_TOKENS))
        result = Runner.run_streamed(agent, CHAT_PROMPT, max_turns=1)
        return [
            event.data
            async for event in result.stream_events()
            if isinstance(event, RawResponsesStreamEvent)
            and isinstance(event.data, ResponseTextDeltaEvent)
        ]

    # The loop Runner.run_sync uses (the default one): the shared AsyncOpenAI client's
    # connections belong to it, and asyncio.run's new loop could not use them.
    deltas = asyncio.get_event_loop_policy().get_event_loop().run_until_complete(run())
    text = "".join(delta.delta for delta in deltas)
    return {"type": native(deltas[0], ResponseTextDeltaEvent), "chunks": len(deltas), "text": text}


@operation("tools")
def _() -> dict:
    agent = Agent(
        name="compat",
        model=CHAT_MODEL,
        tools=[get_weather],
        tool_use_behavior="stop_on_first_tool",
        model_settings=settings(TOOL_MAX_TOKENS, tool_choice="required"),
    )
    result = Runner.run_sync(agent, TOOL_PROMPT, max_turns=2)
    item = next(item for item in result.new_items if isinstance(item, ToolCallItem))
    return {
        "type": native(item, ToolCallItem),
        "tool": item.raw_item.name,
        "arguments": json.loads(item.raw_item.arguments),
    }


@operation("structured")
def _() -> dict:
    agent = Agent(
        name="compat", model=CHAT_MODEL, output_type=City, model_settings=settings(TOOL_MAX_TOKENS)
    )
    result = Runner.run_sync(agent, STRUCTURED_PROMPT, max_turns=1)
    return {"type": native(result.final_output, City), "fields": result.final_output.model_dump()}


@operation("unknown_model")
def _() -> dict:
    agent = Agent(name="compat", model=MISSING_MODEL, model_settings=settings(4))
    return expect_error(lambda: Runner.run_sync(agent, "hi", max_turns=1), openai.NotFoundError)


report("openai-agents", "openai-agents", "openai")
