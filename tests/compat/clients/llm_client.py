"""Simon Willison's ``llm`` with the ``llm-ollama`` plugin, as its users set it up:
``OLLAMA_HOST=GATEWAY`` and ``OLLAMA_API_KEY=KEY`` in the environment (set here from the
test's variables before ``llm`` loads its plugins), and the model ids ``llm models``
lists: ``ollama/`` and the gateway's ``service/name`` ids from ``/api/tags``
(``ollama/chat/...`` for chat,
``ollama/emb/...`` for embeddings). Ollama's API has no ``tool_choice``: the tool call is the
model's own choice (greedy, with a fixed prompt)."""

from __future__ import annotations

import os

from _harness import (
    API_KEY,
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
    TOOL_MAX_TOKENS,
    TOOL_PROMPT,
    expect_error,
    native,
    operation,
    report,
)

os.environ["OLLAMA_HOST"] = BASE_URL
os.environ["OLLAMA_API_KEY"] = API_KEY

import llm
from pydantic import BaseModel

CHAT_ID = f"ollama/chat/{CHAT_MODEL}"
EMBED_ID = f"ollama/emb/{EMBED_MODEL}"
options = {"temperature": TEMPERATURE, "seed": SEED, "num_predict": MAX_TOKENS}


class City(BaseModel):
    city: str
    country: str


def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny in {city}"


@operation("models")
def _() -> dict:
    models = llm.get_models()
    chat = llm.get_model(CHAT_ID)
    embedding = [m.model_id for m in llm.get_embedding_models()]
    return {
        "type": native(chat, llm.KeyModel),  # llm-ollama's models take an optional key
        "ids": [m.model_id for m in models],
        "embedding_ids": embedding,
        "supports_tools": chat.supports_tools,
    }


@operation("chat")
def _() -> dict:
    response = llm.get_model(CHAT_ID).prompt(CHAT_PROMPT, **options)
    return {"type": native(response, llm.Response), "text": response.text()}


@operation("stream")
def _() -> dict:
    response = llm.get_model(CHAT_ID).prompt(CHAT_PROMPT, stream=True, **options)
    chunks = list(response)
    return {"type": native(response, llm.Response), "chunks": len(chunks), "text": "".join(chunks)}


@operation("tools")
def _() -> dict:
    response = llm.get_model(CHAT_ID).prompt(
        TOOL_PROMPT, tools=[get_weather], **{**options, "num_predict": TOOL_MAX_TOKENS}
    )
    call = response.tool_calls()[0]
    return {"type": native(call, llm.ToolCall), "tool": call.name, "arguments": call.arguments}


@operation("structured")
def _() -> dict:
    response = llm.get_model(CHAT_ID).prompt(
        STRUCTURED_PROMPT, schema=City, **{**options, "num_predict": TOOL_MAX_TOKENS}
    )
    native(response, llm.Response)
    parsed = City.model_validate_json(response.text())
    return {"type": native(parsed, City), "fields": parsed.model_dump()}


@operation("embeddings")
def _() -> dict:
    model = llm.get_embedding_model(EMBED_ID)
    native(model, llm.EmbeddingModel)
    vectors = [list(vector) for vector in model.embed_multi(EMBED_INPUTS)]
    return {"type": "list[list[float]]", "count": len(vectors), "dimensions": len(vectors[0])}


@operation("unknown_model")
def _() -> dict:
    return expect_error(lambda: llm.get_model(MISSING_MODEL), llm.UnknownModelError)


report("llm", "llm", "llm-ollama", "ollama")
