"""smolagents, as its users point it at an OpenAI-compatible server:
``OpenAIServerModel(model_id=MODEL, api_base=GATEWAY/v1, api_key=KEY)``, and a
``ToolCallingAgent`` (which forces a tool call each step: ``tool_choice="required"``)
capped at one step (``max_steps=1``). Hub access is off (``HF_HUB_OFFLINE=1``)."""

from __future__ import annotations

import openai
from _harness import (
    API_KEY,
    CHAT_MODEL,
    CHAT_PROMPT,
    MAX_TOKENS,
    MISSING_MODEL,
    OPENAI_BASE_URL,
    SEED,
    TEMPERATURE,
    TIMEOUT,
    TOOL_MAX_TOKENS,
    TOOL_PROMPT,
    expect_error,
    native,
    operation,
    report,
)
from smolagents import ChatMessage, OpenAIServerModel, ToolCallingAgent, tool
from smolagents.memory import ActionStep
from smolagents.models import ChatMessageStreamDelta


def model(name: str = CHAT_MODEL, max_tokens: int = MAX_TOKENS) -> OpenAIServerModel:
    return OpenAIServerModel(
        model_id=name,
        api_base=OPENAI_BASE_URL,
        api_key=API_KEY,
        client_kwargs={"max_retries": 0, "timeout": TIMEOUT},
        temperature=TEMPERATURE,
        seed=SEED,
        max_tokens=max_tokens,
    )


messages = [ChatMessage(role="user", content=[{"type": "text", "text": CHAT_PROMPT}])]


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city.

    Args:
        city: The city.
    """
    return f"Sunny in {city}"


@operation("chat")
def _() -> dict:
    reply = model().generate(messages)
    return {"type": native(reply, ChatMessage), "text": reply.content}


@operation("stream")
def _() -> dict:
    deltas = list(model().generate_stream(messages))
    text = "".join(delta.content or "" for delta in deltas)
    return {"type": native(deltas[0], ChatMessageStreamDelta), "chunks": len(deltas), "text": text}


@operation("tools")
def _() -> dict:
    agent = ToolCallingAgent(
        tools=[get_weather], model=model(max_tokens=TOOL_MAX_TOKENS), max_steps=1, verbosity_level=0
    )
    agent.run(TOOL_PROMPT)
    steps = [step for step in agent.memory.steps if isinstance(step, ActionStep)]
    call = next(call for step in steps for call in step.tool_calls or [])
    native(steps[0], ActionStep)
    arguments = call.arguments if isinstance(call.arguments, dict) else {}
    return {
        "type": native(steps[0].model_output_message, ChatMessage),
        "tool": call.name,
        "arguments": arguments,
    }


@operation("unknown_model")
def _() -> dict:
    return expect_error(lambda: model(MISSING_MODEL).generate(messages), openai.NotFoundError)


report("smolagents", "smolagents", "openai")
