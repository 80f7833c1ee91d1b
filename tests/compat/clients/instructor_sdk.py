"""instructor, as its users call it: ``instructor.from_openai(OpenAI(base_url=GATEWAY/v1,
api_key=KEY))`` in its default mode (``Mode.TOOLS``: the schema as a tool, named in
``tool_choice``)."""

from __future__ import annotations

import instructor
import openai
from _harness import (
    API_KEY,
    CHAT_MODEL,
    MISSING_MODEL,
    OPENAI_BASE_URL,
    SEED,
    STRUCTURED_PROMPT,
    TEMPERATURE,
    TIMEOUT,
    TOOL_MAX_TOKENS,
    expect_error,
    native,
    operation,
    report,
)
from instructor.core import InstructorRetryException
from pydantic import BaseModel


class City(BaseModel):
    city: str
    country: str


client = instructor.from_openai(
    openai.OpenAI(base_url=OPENAI_BASE_URL, api_key=API_KEY, max_retries=0, timeout=TIMEOUT)
)
request = {
    "messages": [{"role": "user", "content": STRUCTURED_PROMPT}],
    "max_tokens": 4 * TOOL_MAX_TOKENS,  # a cut call is IncompleteOutputException
    "temperature": TEMPERATURE,
    "seed": SEED,
}


@operation("structured")
def _() -> dict:
    parsed = client.chat.completions.create(model=CHAT_MODEL, response_model=City, **request)
    return {"type": native(parsed, City), "fields": parsed.model_dump(), "mode": str(client.mode)}


@operation("unknown_model")
def _() -> dict:
    return expect_error(
        lambda: client.chat.completions.create(
            model=MISSING_MODEL, response_model=City, max_retries=0, **request
        ),
        openai.NotFoundError,
        InstructorRetryException,
    )


report("instructor", "instructor", "openai")
