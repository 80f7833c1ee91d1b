"""What the Responses tests share: deterministic ids, an SSE reader, the event grammar
every stream must follow, and what Codex 0.169.0 reads from a stream."""

from __future__ import annotations

import itertools
import json
from typing import Any

from modelport.gateway import _responses as rs

FINAL = ("response.completed", "response.incomplete", "response.failed")
_DELTAS = {
    "response.output_text.delta": "response.output_text.done",
    "response.reasoning_text.delta": "response.reasoning_text.done",
}
_CALL_EVENTS = {
    "function_call": (
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "arguments",
    ),
    "custom_tool_call": (
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
        "input",
    ),
}


def counter() -> rs.IdFactory:
    """Ids in order of creation, so two builds of the same reply can be compared."""
    numbers = itertools.count(1)
    return lambda prefix: f"{prefix}_{next(numbers)}"


def blocks(raw: bytes) -> list[str]:
    text = raw.decode()
    assert text.endswith("\n\n") or not text, text[-200:]
    return [block for block in text.split("\n\n") if block]


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    """The data of each event (comments skipped); each ``event:`` line names its type."""
    out = []
    for block in blocks(raw):
        if block.startswith(":"):
            continue
        name, data = block.split("\n")
        assert name.startswith("event: ") and data.startswith("data: "), block
        event = json.loads(data[len("data: ") :])
        assert event["type"] == name[len("event: ") :]
        out.append(event)
    return out


def check_grammar(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Assert the event grammar of one stream; return the final event's response.

    Sequence numbers count up from 0; ``response.created`` then ``response.in_progress``
    open it, exactly one final event closes it; every item is added at the next
    ``output_index`` and done before the end; parts and deltas name the open item by
    ``item_id``, ``output_index`` and ``content_index``; each ``.done`` repeats what its
    deltas said; the final response's output is the items as they were done.
    """
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[-1]["type"] in FINAL
    assert sum(e["type"] in FINAL for e in events) == 1
    response_id = events[0]["response"]["id"]
    assert (
        events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    )
    items: list[dict[str, Any]] = []  # per output_index: the item added, its texts, done
    for event in events[2:-1]:
        kind = event["type"]
        index = event["output_index"]
        if kind == "response.output_item.added":
            assert index == len(items) and all(i["done"] is not None for i in items)
            assert event["item"]["status"] == "in_progress"
            items.append({"added": event["item"], "texts": [], "call": "", "done": None})
            continue
        state = items[index]
        item = state["added"]
        assert state["done"] is None, f"{kind} after output_item.done"
        if kind == "response.output_item.done":
            done = event["item"]
            assert done["id"] == item["id"] and done["type"] == item["type"]
            if item["type"] in _CALL_EVENTS:
                assert done[_CALL_EVENTS[item["type"]][2]] == state["call"]
            else:
                assert [p["text"] for p in done["content"]] == state["texts"]
            state["done"] = done
            continue
        assert event["item_id"] == item["id"], event
        if item["type"] in _CALL_EVENTS:
            delta, done_kind, field = _CALL_EVENTS[item["type"]]
            if kind == delta:
                state["call"] += event["delta"]
            else:
                assert kind == done_kind and event[field] == state["call"], event
            continue
        part = event["content_index"]
        if kind == "response.content_part.added":
            assert part == len(state["texts"]) and event["part"]["text"] == ""
            expected = "output_text" if item["type"] == "message" else "reasoning_text"
            assert event["part"]["type"] == expected
            state["texts"].append("")
        elif kind in _DELTAS:
            assert (item["type"] == "message") == (kind == "response.output_text.delta")
            state["texts"][part] += event["delta"]
        elif kind in _DELTAS.values():
            assert event["text"] == state["texts"][part]
        else:
            assert kind == "response.content_part.done", f"unexpected event {kind}"
            assert event["part"]["text"] == state["texts"][part]
    final = events[-1]["response"]
    assert final["id"] == response_id
    assert all(state["done"] is not None for state in items), "an item was never done"
    assert final["output"] == [state["done"] for state in items]
    status = final["status"]
    assert events[-1]["type"] == f"response.{status}"
    return final


def codex_reads(raw: bytes) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """What Codex 0.169.0 takes from a stream (``codex-rs/codex-api/src/sse/responses.rs``
    and ``protocol/src/models.rs``, re-stated): the items of ``response.output_item.done``
    that parse as its ``ResponseItem``, and the usage of ``response.completed``. A stream
    without ``response.completed`` fails ("stream closed before response.completed").
    """
    items: list[dict[str, Any]] = []
    usage: Any = None
    completed = False
    for event in sse_events(raw):
        if event["type"] == "response.output_item.done" and _codex_item(event["item"]):
            items.append(event["item"])
        elif event["type"] == "response.completed":
            response = event["response"]
            assert isinstance(response["id"], str)
            usage = response.get("usage")
            if usage is not None:
                for key in ("input_tokens", "output_tokens", "total_tokens"):
                    assert isinstance(usage[key], int)
                assert isinstance(usage["input_tokens_details"]["cached_tokens"], int)
                assert isinstance(usage["output_tokens_details"]["reasoning_tokens"], int)
            completed = True
    if not completed:
        raise AssertionError("stream closed before response.completed")
    return items, usage


def _codex_item(item: dict[str, Any]) -> bool:
    kind = item.get("type")
    if kind == "message":
        return isinstance(item["role"], str) and all(
            part["type"] in ("input_text", "output_text") and isinstance(part["text"], str)
            for part in item["content"]
        )
    if kind == "reasoning":
        return all(s["type"] == "summary_text" for s in item["summary"]) and all(
            c["type"] in ("reasoning_text", "text") for c in item.get("content") or []
        )
    if kind == "function_call":
        return all(isinstance(item[key], str) for key in ("name", "arguments", "call_id"))
    if kind == "custom_tool_call":
        return all(isinstance(item[key], str) for key in ("name", "input", "call_id"))
    return False


def codex_text(items: list[dict[str, Any]]) -> str:
    """The answer Codex prints: the text of the assistant messages."""
    return "".join(
        part["text"] for item in items if item["type"] == "message" for part in item["content"]
    )
