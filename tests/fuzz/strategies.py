"""Hypothesis strategies for hostile server data: any JSON, JSON shaped almost like
what each server sends, byte streams that look almost like SSE or NDJSON, and ways to
cut a byte string into chunks."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

from hypothesis import strategies as st

# ------------------------------------------------------------------ JSON values

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),  # past float range
    st.floats(),  # including nan and inf, which json.loads accepts
    st.text(max_size=30),
)

json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=10), children, max_size=4),
    ),
    max_leaves=25,
)
"""Any value ``json.loads`` can return."""


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The right kind of value most of the time, any JSON value otherwise."""
    return st.one_of(strategy, strategy, json_values)


def shaped(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An object that may have each of ``fields`` (each maybe of the wrong type), and
    now and then is not an object at all."""
    return maybe(st.fixed_dictionaries({}, optional={k: maybe(v) for k, v in fields.items()}))


numbers = st.one_of(st.integers(), st.floats(), st.integers(min_value=10**300, max_value=10**400))
texts = st.text(max_size=20)

tool_call_shape = shaped(
    id=texts,
    type=st.just("function"),
    index=st.integers(min_value=-2, max_value=3),
    function=shaped(
        name=texts,
        arguments=st.one_of(
            texts,
            json_values.map(json.dumps),
            st.dictionaries(texts, json_values, max_size=3),
        ),
    ),
)

usage_shape = shaped(
    prompt_tokens=numbers,
    completion_tokens=numbers,
    total_tokens=numbers,
)

openai_chat_shape = shaped(
    id=texts,
    model=texts,
    choices=st.lists(
        shaped(
            index=numbers,
            message=shaped(
                role=texts,
                content=st.one_of(texts, st.lists(shaped(type=texts, text=texts), max_size=3)),
                reasoning_content=texts,
                tool_calls=st.lists(tool_call_shape, max_size=3),
            ),
            finish_reason=texts,
        ),
        max_size=2,
    ),
    usage=usage_shape,
    timings=shaped(predicted_per_second=numbers, prompt_ms=numbers),
)

base64_floats = st.binary(max_size=24).map(lambda raw: base64.b64encode(raw).decode())

openai_embeddings_shape = shaped(
    model=texts,
    data=st.lists(
        shaped(
            index=numbers,
            embedding=st.one_of(
                st.lists(numbers, max_size=4),
                st.lists(st.lists(numbers, max_size=3), max_size=2),
                base64_floats,
            ),
        ),
        max_size=3,
    ),
    usage=usage_shape,
)

openai_models_shape = shaped(
    object=texts, data=st.lists(shaped(id=texts, object=texts, owned_by=texts), max_size=3)
)

ollama_message_shape = shaped(
    role=texts,
    content=texts,
    thinking=texts,
    tool_calls=st.lists(tool_call_shape, max_size=2),
)

ollama_chat_shape = shaped(
    model=texts,
    message=ollama_message_shape,
    done=st.booleans(),
    done_reason=texts,
    total_duration=numbers,
    prompt_eval_count=numbers,
    eval_count=numbers,
    eval_duration=numbers,
)

ollama_embed_shape = shaped(
    model=texts,
    embeddings=st.lists(st.lists(numbers, max_size=4), max_size=3),
    prompt_eval_count=numbers,
)

ollama_tags_shape = shaped(
    models=st.lists(
        shaped(
            name=texts,
            model=texts,
            digest=texts,
            size=numbers,
            capabilities=st.lists(texts, max_size=3),
            details=shaped(family=texts, context_length=numbers, parameter_size=texts),
        ),
        max_size=3,
    )
)

ollama_show_shape = shaped(
    model_info=st.dictionaries(
        st.sampled_from(
            [
                "general.architecture",
                "llama.context_length",
                "llama.embedding_length",
                "llama.pooling_type",
                "llama.vision.block_count",
                "general.parameter_count",
            ]
        ),
        json_values,
        max_size=4,
    ),
    details=shaped(family=texts, parameter_size=texts),
    capabilities=st.lists(texts, max_size=4),
    template=texts,
    projector_info=json_values,
    license=texts,
    parameters=texts,
    modified_at=texts,
)

pull_shape = shaped(
    status=st.sampled_from(["pulling manifest", "downloading", "verifying", "success"]),
    digest=texts,
    total=numbers,
    completed=numbers,
    error=texts,
)

# ------------------------------------------------------------------ byte streams


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


SSE_PIECES = [
    b"data: ",
    b"data:",
    b"\n",
    b"\n\n",
    b"\r\n",
    b"\r",
    b": ping\n\n",
    b"event: error\n",
    b"event: ping\n",
    b"id: 7\n",
    b"retry: 10\n",
    b"data: [DONE]\n\n",
    b"<html>",
    b"\xff\xfe",
    b"{",
    b"[",
]

sse_event = st.one_of(
    openai_chat_shape.map(lambda v: b"data: " + _dumps(v) + b"\n\n"),
    shaped(error=shaped(message=texts, type=texts)).map(lambda v: b"data: " + _dumps(v) + b"\n\n"),
    shaped(
        choices=st.lists(
            shaped(
                delta=shaped(
                    content=texts, reasoning_content=texts, tool_calls=st.lists(tool_call_shape)
                ),
                finish_reason=texts,
            ),
            max_size=2,
        )
    ).map(lambda v: b"data: " + _dumps(v) + b"\n\n"),
)

sse_streams = st.lists(
    st.one_of(st.sampled_from(SSE_PIECES), sse_event, st.binary(max_size=12)), max_size=12
).map(b"".join)
"""Bytes that are SSE most of the way: events, comments, fields, junk."""

ndjson_streams = st.lists(
    st.one_of(
        ollama_chat_shape.map(lambda v: _dumps(v) + b"\n"),
        shaped(error=texts).map(lambda v: _dumps(v) + b"\n"),
        json_values.map(lambda v: _dumps(v) + b"\n"),
        st.sampled_from([b"\n", b"\r\n", b"{", b"\xff\n", b"   \n"]),
        st.binary(max_size=12),
    ),
    max_size=10,
).map(b"".join)
"""Bytes that are NDJSON most of the way."""

pull_streams = st.lists(
    st.one_of(
        pull_shape.map(lambda v: _dumps(v) + b"\n"),
        st.sampled_from([b"\n", b"{", b"\xff\n"]),
        st.binary(max_size=8),
    ),
    max_size=8,
).map(b"".join)


@st.composite
def split(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut at arbitrary points into chunks (each one byte at least)."""
    if len(data) < 2:
        return [data]
    cuts = draw(
        st.lists(st.integers(min_value=1, max_value=len(data) - 1), max_size=8, unique=True)
    )
    points = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]
