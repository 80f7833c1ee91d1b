"""Record what a real llama-server answers on the endpoints the agent surfaces care about.

A research tool, not a test. Each exchange is written verbatim to ``OUT/<name>.<ext>``
(the answer's body, bytes as received) and summarised in ``OUT/index.json`` (request,
status, content type, seconds). Usage::

    python3 record_llama_endpoints.py chat URL OUT          # a chat server (--jinja)
    python3 record_llama_endpoints.py embeddings URL OUT    # started with --embeddings
    python3 record_llama_endpoints.py reranking URL OUT     # started with --reranking
    python3 record_llama_endpoints.py count URL OUT         # count vs real usage

``URL`` is the server's base URL (``http://127.0.0.1:PORT``).
"""

from __future__ import annotations

import http.client
import json
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

HI = [{"role": "user", "content": "Say hi"}]
TOOL_OAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
DOCS = ["hi", "it is a bear", "The giant panda is a bear species endemic to China."]


def send(base: str, method: str, path: str, body: Any = None) -> tuple[int, str, bytes, float]:
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=1800)
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"} if data is not None else {}
    started = time.monotonic()
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, resp.getheader("content-type", ""), raw, time.monotonic() - started


class Session:
    def __init__(self, base: str, out: Path) -> None:
        self.base = base
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        index = out / "index.json"
        self.index: dict[str, Any] = json.loads(index.read_text()) if index.exists() else {}

    def record(self, name: str, method: str, path: str, body: Any = None) -> bytes:
        status, ctype, raw, seconds = send(self.base, method, path, body)
        ext = "sse" if "event-stream" in ctype else ("json" if "json" in ctype else "txt")
        (self.out / f"{name}.{ext}").write_bytes(raw)
        self.index[name] = {
            "file": f"{name}.{ext}",
            "request": {"method": method, "path": path, "body": body},
            "status": status,
            "content_type": ctype,
            "seconds": round(seconds, 2),
        }
        (self.out / "index.json").write_text(json.dumps(self.index, indent=1) + "\n")
        print(f"{name}: {status} {ctype} {len(raw)} bytes {seconds:.1f} s", flush=True)
        return raw


def chat(s: Session) -> None:
    s.record("props", "GET", "/props")
    s.record("v1_models", "GET", "/v1/models")
    msg = {"model": "smollm2", "max_tokens": 16, "messages": HI}
    s.record("messages", "POST", "/v1/messages", msg)
    s.record("messages_stream", "POST", "/v1/messages", {**msg, "stream": True})
    s.record("messages_beta_query", "POST", "/v1/messages?beta=true", msg)
    blocks = {
        **msg,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Say hi"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Hi!"}]},
            {"role": "user", "content": [{"type": "text", "text": "Again"}]},
        ],
        "metadata": {"user_id": "u"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "context_management": {"edits": []},
        "output_config": {"effort": "high"},
    }
    s.record("messages_blocks_unknown_fields", "POST", "/v1/messages", blocks)
    tools = {
        **msg,
        "tools": [
            {
                "name": "get_weather",
                "description": "Get the weather for a city.",
                "input_schema": TOOL_OAI["function"]["parameters"],
            },
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 1},
        ],
        "tool_choice": {"type": "auto"},
    }
    s.record("messages_tools_with_server_tool", "POST", "/v1/messages", tools)
    s.record(
        "messages_system_role_in_messages",
        "POST",
        "/v1/messages",
        {
            **msg,
            "messages": [
                *HI,
                {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            ],
        },
    )
    s.record("messages_unknown_model", "POST", "/v1/messages", {**msg, "model": "no-such-model"})
    s.record(
        "messages_missing_messages", "POST", "/v1/messages", {"model": "smollm2", "max_tokens": 8}
    )
    s.record(
        "messages_count_tokens",
        "POST",
        "/v1/messages/count_tokens",
        {"model": "smollm2", "messages": HI},
    )
    s.record(
        "messages_count_tokens_tools",
        "POST",
        "/v1/messages/count_tokens",
        {
            "model": "smollm2",
            "messages": HI,
            "tools": tools["tools"][:1],
        },
    )
    resp = {"model": "smollm2", "input": "Say hi", "max_output_tokens": 16}
    s.record("responses", "POST", "/v1/responses", resp)
    s.record("responses_stream", "POST", "/v1/responses", {**resp, "stream": True})
    s.record(
        "responses_instructions_items",
        "POST",
        "/v1/responses",
        {
            "model": "smollm2",
            "instructions": "Be brief.",
            "input": [
                {
                    "type": "message",
                    "role": "developer",
                    "content": [{"type": "input_text", "text": "Answer in English."}],
                },
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Say hi"}],
                },
            ],
            "max_output_tokens": 16,
            "store": False,
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "k",
            "reasoning": {"summary": "auto"},
        },
    )
    s.record(
        "responses_namespace_and_web_search_tools",
        "POST",
        "/v1/responses",
        {
            **resp,
            "tools": [
                {
                    "type": "function",
                    "name": "f",
                    "description": "d",
                    "strict": False,
                    "parameters": {"type": "object", "properties": {}},
                },
                {"type": "web_search", "external_web_access": False},
            ],
        },
    )
    s.record(
        "responses_custom_tool",
        "POST",
        "/v1/responses",
        {
            **resp,
            "tools": [
                {
                    "type": "custom",
                    "name": "apply_patch",
                    "description": "Apply a patch.",
                    "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"},
                }
            ],
        },
    )
    s.record(
        "responses_previous_response_id",
        "POST",
        "/v1/responses",
        {
            **resp,
            "previous_response_id": "resp_unknown",
        },
    )
    s.record(
        "responses_input_tokens",
        "POST",
        "/v1/responses/input_tokens",
        {"model": "smollm2", "input": "Say hi"},
    )
    s.record(
        "chat_completions_input_tokens",
        "POST",
        "/v1/chat/completions/input_tokens",
        {"model": "smollm2", "messages": HI},
    )
    comp = {"model": "smollm2", "prompt": "Once upon a time", "max_tokens": 8}
    s.record("completions", "POST", "/v1/completions", comp)
    s.record("completions_stream", "POST", "/v1/completions", {**comp, "stream": True})
    s.record(
        "completions_prompt_list", "POST", "/v1/completions", {**comp, "prompt": ["One", "Two"]}
    )
    s.record("apply_template", "POST", "/apply-template", {"messages": HI})
    s.record(
        "apply_template_tools", "POST", "/apply-template", {"messages": HI, "tools": [TOOL_OAI]}
    )
    s.record("tokenize", "POST", "/tokenize", {"content": "Say hi"})
    s.record(
        "tokenize_with_pieces",
        "POST",
        "/tokenize",
        {"content": "Say hi <|im_end|>", "with_pieces": True},
    )
    s.record(
        "rerank_without_flag",
        "POST",
        "/v1/rerank",
        {"model": "smollm2", "query": "What is a panda?", "documents": DOCS},
    )


def embeddings(s: Session) -> None:
    s.record("embeddings_props", "GET", "/props")
    s.record("embeddings_v1_models", "GET", "/v1/models")
    s.record(
        "embeddings_v1_embeddings", "POST", "/v1/embeddings", {"model": "smollm2", "input": "hi"}
    )
    s.record(
        "embeddings_chat_refused",
        "POST",
        "/v1/chat/completions",
        {"model": "smollm2", "messages": HI, "max_tokens": 4},
    )
    s.record(
        "embeddings_rerank",
        "POST",
        "/v1/rerank",
        {"model": "smollm2", "query": "What is a panda?", "documents": DOCS},
    )


def reranking(s: Session) -> None:
    s.record("reranking_props", "GET", "/props")
    s.record("reranking_v1_models", "GET", "/v1/models")
    body = {"model": "smollm2", "query": "What is a panda?", "top_n": 2, "documents": DOCS}
    s.record("reranking_v1_rerank", "POST", "/v1/rerank", body)
    s.record("reranking_rerank", "POST", "/rerank", body)
    s.record(
        "reranking_chat",
        "POST",
        "/v1/chat/completions",
        {"model": "smollm2", "messages": HI, "max_tokens": 4},
    )


TOOL_SET_MESSAGES = [
    ("one user turn", {"messages": HI}),
    (
        "system + 3 turns",
        {
            "messages": [
                {"role": "system", "content": "You are a helpful assistant. Be brief."},
                {"role": "user", "content": "What is the capital of France?"},
                {"role": "assistant", "content": "Paris."},
                {
                    "role": "user",
                    "content": "And of Italy? Answer in one word, "
                    "then explain briefly why it is the capital.",
                },
            ]
        },
    ),
    ("with a tool", {"messages": HI, "tools": [TOOL_OAI]}),
    (
        "unicode and long",
        {"messages": [{"role": "user", "content": "Übersetze: 'Le café est très bon' 🙂 " * 20}]},
    ),
]


def count(s: Session) -> None:
    """Compare three token counts with the usage.prompt_tokens of a real chat."""
    rows = []
    for label, extra in TOOL_SET_MESSAGES:
        body = {"model": "smollm2", **extra}
        prompt = json.loads(send(s.base, "POST", "/apply-template", body)[2])["prompt"]
        tok = json.loads(
            send(
                s.base,
                "POST",
                "/tokenize",
                {"content": prompt, "add_special": False, "parse_special": True},
            )[2]
        )
        tok_plain = json.loads(send(s.base, "POST", "/tokenize", {"content": prompt})[2])
        tok_special = json.loads(
            send(s.base, "POST", "/tokenize", {"content": prompt, "add_special": True})[2]
        )
        inp = json.loads(send(s.base, "POST", "/v1/chat/completions/input_tokens", body)[2])
        chat_resp = json.loads(
            send(
                s.base,
                "POST",
                "/v1/chat/completions",
                {**body, "max_tokens": 1, "cache_prompt": False},
            )[2]
        )
        rows.append(
            {
                "messages": label,
                "apply_template_then_tokenize": len(tok["tokens"]),
                "tokenize_defaults": len(tok_plain["tokens"]),
                "tokenize_add_special": len(tok_special["tokens"]),
                "chat_completions_input_tokens": inp.get("input_tokens"),
                "chat_usage_prompt_tokens": chat_resp["usage"]["prompt_tokens"],
                "prompt_chars": len(prompt),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    (s.out / "count_vs_usage.json").write_text(json.dumps(rows, indent=1) + "\n")


def main() -> None:
    mode, base, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    {"chat": chat, "embeddings": embeddings, "reranking": reranking, "count": count}[mode](
        Session(base, out)
    )


if __name__ == "__main__":
    main()
