"""A strict reader of Anthropic's stream grammar, for the tests: it fails on any event
out of place and rebuilds the message the events describe.

The grammar (Anthropic's "Streaming Messages" page): ``message_start`` once, first;
per content block ``content_block_start`` at the next index, deltas of the block's own
type (``text_delta`` for text, ``input_json_delta`` for tool_use, ``thinking_delta``
then one ``signature_delta`` for thinking), ``content_block_stop``; then one
``message_delta`` and ``message_stop``. ``ping`` may come anywhere after the start;
``error`` ends a stream that failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_DELTAS = {
    "text_delta": "text",
    "thinking_delta": "thinking",
    "signature_delta": "thinking",
    "input_json_delta": "tool_use",
}


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The ``(event, data)`` pairs of an SSE byte string, each checked for shape."""
    text = raw.decode("utf-8")
    assert text == "" or text.endswith("\n\n"), text[-80:]
    out = []
    for block in text.split("\n\n")[:-1]:
        lines = block.split("\n")
        assert len(lines) == 2, block
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        name, data = lines[0][len("event: ") :], json.loads(lines[1][len("data: ") :])
        assert data["type"] == name, block
        out.append((name, data))
    return out


@dataclass
class Replayed:
    """What a stream said: the message it built, and how it ended."""

    message: dict[str, Any] | None = None
    pings: int = 0
    stopped: bool = False
    error: dict[str, Any] | None = None
    names: list[str] = field(default_factory=list)


def replay(raw: bytes) -> Replayed:
    """Rebuild the message, asserting every rule of the grammar on the way."""
    out = Replayed()
    open_index: int | None = None
    next_index = 0
    signed = False
    json_text = ""
    delta_seen = False
    for name, data in events(raw):
        out.names.append(name)
        assert not out.stopped and out.error is None, f"{name} after the end"
        if name == "message_start":
            assert out.message is None, "two message_start events"
            message = data["message"]
            assert message["content"] == [] and message["stop_reason"] is None
            assert message["type"] == "message" and message["role"] == "assistant"
            assert message["id"].startswith("msg_")
            assert set(message["usage"]) >= {"input_tokens", "output_tokens"}
            out.message = json.loads(json.dumps(message))
            continue
        assert out.message is not None, f"{name} before message_start"
        if name == "ping":
            out.pings += 1
        elif name == "error":
            assert set(data["error"]) == {"type", "message"}
            out.error = data["error"]
        elif name == "content_block_start":
            assert open_index is None, "a block started while another is open"
            assert not delta_seen, "a block after message_delta"
            assert data["index"] == next_index, "block indexes must be consecutive"
            block = data["content_block"]
            kind = block["type"]
            if kind == "text":
                assert block == {"type": "text", "text": ""}
            elif kind == "thinking":
                assert block == {"type": "thinking", "thinking": "", "signature": ""}
            else:
                assert kind == "tool_use" and set(block) == {"type", "id", "name", "input"}
                assert block["input"] == {} and block["id"] and block["name"]
            out.message["content"].append(dict(block))
            open_index, next_index, signed, json_text = next_index, next_index + 1, False, ""
        elif name == "content_block_delta":
            assert data["index"] == open_index, "a delta for a block that is not open"
            block = out.message["content"][data["index"]]
            delta = data["delta"]
            assert _DELTAS[delta["type"]] == block["type"], f"{delta['type']} in a {block['type']}"
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                assert not signed, "thinking after its signature"
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                assert not signed, "two signatures"
                assert delta["signature"], "an empty signature"
                block["signature"] = delta["signature"]
                signed = True
            else:
                json_text += delta["partial_json"]
        elif name == "content_block_stop":
            assert data["index"] == open_index, "stopping a block that is not open"
            block = out.message["content"][data["index"]]
            if block["type"] == "thinking":
                assert signed, "a thinking block closed without its signature"
            if block["type"] == "tool_use":
                block["input"] = json.loads(json_text) if json_text else {}
                assert isinstance(block["input"], dict)
            open_index = None
        elif name == "message_delta":
            assert open_index is None, "message_delta with a block open"
            assert not delta_seen, "two message_delta events"
            delta_seen = True
            assert data["delta"]["stop_reason"] is not None
            out.message["stop_reason"] = data["delta"]["stop_reason"]
            out.message["stop_sequence"] = data["delta"]["stop_sequence"]
            out.message["usage"].update(data["usage"])
        elif name == "message_stop":
            assert delta_seen, "message_stop without message_delta"
            out.stopped = True
        else:
            raise AssertionError(f"unknown event {name}")
    return out


def merged(content: list[dict[str, Any]]) -> tuple[str, str, list[tuple[str, Any]]]:
    """The content as thinking, text and calls, whatever the blocks' boundaries."""
    thinking = "".join(b["thinking"] for b in content if b["type"] == "thinking")
    text = "".join(b["text"] for b in content if b["type"] == "text")
    calls = [(b["name"], b["input"]) for b in content if b["type"] == "tool_use"]
    return thinking, text, calls


def without_fresh_ids(content: list[dict[str, Any]], kept: set[str]) -> list[dict[str, Any]]:
    """The blocks with the ids this surface made up (not in ``kept``) replaced by a mark."""
    return [
        {**b, "id": b["id"] if b["id"] in kept else "<fresh>"} if b["type"] == "tool_use" else b
        for b in content
    ]
