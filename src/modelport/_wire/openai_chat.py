"""The ``openai_chat`` wire dialect: modelport types <-> OpenAI Chat Completions JSON.

Pure translation, shared by the OpenAI-compatible, llama.cpp and LM Studio providers.
Differences between those servers are switches on :class:`OpenAIDialect`, not forks
of this code.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._classify import Rules, classify, facts_from_data, message_from_json
from .._coerce import opt_float, opt_int
from .._http.decoders import DEFAULT_MAX_LINE_BYTES, MalformedLineError, SSEDecoder
from .._http.jsonio import BadJSON
from .._http.mapping import ErrorContext
from ..errors import ModelportError
from ..types import (
    ChatChunk,
    ChatResponse,
    CompletionChoice,
    CompletionResponse,
    EmbedResponse,
    Message,
    RerankedDocument,
    RerankResult,
    Timings,
    ToolCall,
    Usage,
)
from .common import (
    ChatRequest,
    CompletionRequest,
    EmbedInputs,
    RerankRequest,
    arguments_json,
    options_by_table,
    parse_arguments,
    split_think_tags,
    tool_call_from_wire,
)
from .inputs import data_url, image_url
from .stream import ChatStreamDecoder, ThinkTagSplitter, guard_shape, loads

__all__ = [
    "OpenAIChatStream",
    "OpenAIDialect",
    "build_chat_body",
    "build_completion_body",
    "build_embed_body",
    "build_rerank_body",
    "parse_chat_completion",
    "parse_text_completion",
    "parse_embeddings",
    "parse_llamacpp_timings",
    "parse_model_list",
    "parse_model_list_entries",
    "parse_rerank",
    "parse_usage",
    "rerank_said",
    "stop_sequence",
]


@dataclass(frozen=True, slots=True)
class OpenAIDialect:
    """How one server family bends the OpenAI format."""

    json_mode_as_schema: bool = False
    """Send "JSON mode" as a permissive json_schema (LM Studio rejects ``json_object``)."""
    split_think: bool = False
    """Split ``<think>...</think>`` out of content into thinking."""
    think_as_template_kwarg: bool = False
    """Send ``think`` as ``chat_template_kwargs.enable_thinking`` (llama.cpp)."""
    keep_alive_as_ttl: bool = False
    """Send numeric ``keep_alive`` as ``ttl`` seconds (LM Studio JIT loading)."""
    image_urls: bool = True
    """Pass ``http(s)`` image URLs on for the server to fetch (vLLM and hosted APIs do;
    llama.cpp and LM Studio need the image data)."""
    think_budget_field: str | None = None
    """The body field for ``think_budget`` (llama.cpp ``thinking_budget_tokens``, vLLM
    ``thinking_token_budget``); ``None``: the server has none, the budget is not sent."""
    reasoning_back: bool = False
    """Send an assistant message's thinking back as ``reasoning_content`` (llama.cpp and
    vLLM read it; a strict server may refuse an unknown field)."""
    named_tool_choice_as_required: bool = False
    """Send a ``tool_choice`` naming one function as ``"required"`` with only that tool
    (llama.cpp takes only "auto", "none" and "required", and ignores an object)."""


DEFAULT_DIALECT = OpenAIDialect()

VLLM_DIALECT = OpenAIDialect(think_budget_field="thinking_token_budget", reasoning_back=True)
"""vLLM's switches (``vllm/entrypoints/openai/chat_completion/protocol.py``)."""

OPTIONS: Mapping[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
    "stop": "stop",
    "seed": "seed",
}
"""The shared chat options, by their names in Chat Completions JSON."""


# --------------------------------------------------------------------------- requests


def build_chat_body(
    req: ChatRequest, *, stream: bool, dialect: OpenAIDialect = DEFAULT_DIALECT
) -> dict[str, Any]:
    """The JSON body for ``POST /v1/chat/completions``."""
    body: dict[str, Any] = {
        "model": req.model,
        "messages": [_message(m, dialect) for m in req.messages],
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if req.tools:
        body["tools"] = [dict(t) for t in req.tools]
    if req.tool_choice is not None:
        body["tool_choice"] = _tool_choice(req.tool_choice)
        if dialect.named_tool_choice_as_required:
            _narrow_to_named_tool(body)
    if req.schema is not None:
        body["response_format"] = _json_schema_format(req.schema)
    elif req.json_mode:
        body["response_format"] = (
            _json_schema_format({"type": "object"})
            if dialect.json_mode_as_schema
            else {"type": "json_object"}
        )
    body.update(options_by_table(req, OPTIONS))
    if req.think is not None:
        if isinstance(req.think, str):
            body["reasoning_effort"] = req.think
        elif dialect.think_as_template_kwarg:
            body["chat_template_kwargs"] = {"enable_thinking": req.think}
    if req.think_budget is not None and dialect.think_budget_field:
        body[dialect.think_budget_field] = req.think_budget
    if (
        dialect.keep_alive_as_ttl
        and isinstance(req.keep_alive, (int, float))
        and req.keep_alive > 0
    ):
        body["ttl"] = int(req.keep_alive)
    if req.options:
        body.update(req.options)
    return body


def _message(message: Message, dialect: OpenAIDialect) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    if message.images:
        parts: list[dict[str, Any]] = []
        if message.content:
            parts.append({"type": "text", "text": message.content})
        for image in message.images:
            url = image_url(image) if dialect.image_urls else data_url(image)
            parts.append({"type": "image_url", "image_url": {"url": url}})
        out["content"] = parts
    else:
        out["content"] = message.content
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id or f"call_{i}",
                "type": "function",
                "function": {"name": call.name, "arguments": arguments_json(call)},
            }
            for i, call in enumerate(message.tool_calls)
        ]
        if not message.content:
            out["content"] = None
    if message.role == "tool":
        if message.tool_call_id is not None:
            out["tool_call_id"] = message.tool_call_id
        if message.name:
            out["name"] = message.name
    elif message.name:
        out["name"] = message.name
    if dialect.reasoning_back and message.role == "assistant" and message.thinking:
        out["reasoning_content"] = message.thinking
    return out


def _tool_choice(choice: str | Mapping[str, Any]) -> str | Mapping[str, Any]:
    if isinstance(choice, str) and choice not in ("auto", "none", "required"):
        return {"type": "function", "function": {"name": choice}}
    return choice


def _narrow_to_named_tool(body: dict[str, Any]) -> None:
    """A choice naming one offered function becomes ``"required"`` with only that tool:
    the same request, in the form a server that takes only string choices enforces.
    """
    choice = body["tool_choice"]
    if not isinstance(choice, Mapping) or not isinstance(choice.get("function"), Mapping):
        return
    name = choice["function"].get("name")
    named = [
        tool
        for tool in body.get("tools", [])
        if isinstance(tool.get("function"), Mapping) and tool["function"].get("name") == name
    ]
    if named:
        body["tools"] = named[:1]
        body["tool_choice"] = "required"


def _json_schema_format(schema: Mapping[str, Any]) -> dict[str, Any]:
    name = schema.get("title") if isinstance(schema.get("title"), str) else "response"
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(name))[:64] or "response"
    return {
        "type": "json_schema",
        "json_schema": {"name": safe, "strict": True, "schema": dict(schema)},
    }


def build_completion_body(req: CompletionRequest, *, stream: bool) -> dict[str, Any]:
    """The JSON body for ``POST /v1/completions`` (one prompt as a string, several as a
    list, as the legacy API takes them).
    """
    prompt: str | list[str] = req.prompts[0] if len(req.prompts) == 1 else list(req.prompts)
    body: dict[str, Any] = {"model": req.model, "prompt": prompt}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    body.update(options_by_table(req, OPTIONS))
    if req.options:
        body.update(req.options)
    return body


def build_rerank_body(req: RerankRequest) -> dict[str, Any]:
    """The JSON body for ``POST /v1/rerank`` (the Jina/Cohere shape llama.cpp and vLLM take)."""
    body: dict[str, Any] = {
        "model": req.model,
        "query": req.query,
        "documents": list(req.documents),
    }
    if req.top_n is not None:
        body["top_n"] = req.top_n
    return body


def parse_rerank(data: object, ctx: ErrorContext, req: RerankRequest) -> RerankResult:
    """A :class:`RerankResult` from a ``/v1/rerank`` body: each result's ``index`` names
    its document in the request; modelport sorts by score itself and keeps ``top_n``.
    """

    def parse() -> RerankResult:
        if not isinstance(data, Mapping) or not isinstance(data["results"], list):
            raise TypeError("'results' is not a list")
        results = []
        for item in data["results"]:
            if not isinstance(item, Mapping):
                raise TypeError("a rerank result is not an object")
            index = item["index"]
            score = item["relevance_score"] if "relevance_score" in item else item["score"]
            if isinstance(index, bool) or not isinstance(index, int):
                raise TypeError("a rerank result's index is not an integer")
            if isinstance(score, bool) or not isinstance(score, (int, float)):
                raise TypeError("a rerank result's score is not a number")
            results.append(RerankedDocument(index, float(score), req.documents[index]))
        results.sort(key=lambda r: r.score, reverse=True)
        return RerankResult(
            results=tuple(results[: req.top_n] if req.top_n else results),
            model=str(data.get("model") or req.model),
            service=ctx.service,
            usage=parse_usage(data.get("usage")),
            raw=data,
        )

    return guard_shape(ctx, "a rerank reply", parse)


def rerank_said(status: int) -> bool | None:
    """What the answer to ``POST /v1/rerank {}`` says about reranking: a 400 (or 422)
    refuses the empty body, so the route reranks; llama.cpp without ``--reranking``
    answers 501, and a server without the route (vLLM with a model that cannot score, an
    older llama.cpp) 404.

    >>> rerank_said(400), rerank_said(501), rerank_said(404), rerank_said(503)
    (True, False, False, None)
    """
    if status in (400, 422):
        return True
    if status in (404, 405, 501):
        return False
    return None


def build_embed_body(model: str, inputs: EmbedInputs) -> dict[str, Any]:
    """The JSON body for ``POST /v1/embeddings``: strings, or token ids as given."""
    return {"model": model, "input": inputs}


# --------------------------------------------------------------------------- responses


def parse_usage(data: object) -> Usage | None:
    """Usage from an OpenAI ``usage`` object; ``None`` when absent or all zeros.

    >>> parse_usage({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})
    Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5)
    >>> parse_usage({"prompt_tokens": 0, "total_tokens": 0}) is None
    True
    """
    if not isinstance(data, Mapping):
        return None
    prompt = opt_int(data.get("prompt_tokens"))
    completion = opt_int(data.get("completion_tokens"))
    total = opt_int(data.get("total_tokens"))
    if not (prompt or completion or total):
        return None
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    return Usage(prompt, completion, total)


def parse_llamacpp_timings(data: object) -> Timings | None:
    """Timings from llama.cpp's ``timings`` block (milliseconds and tokens/s)."""
    if not isinstance(data, Mapping):
        return None
    return Timings(
        tokens_per_second=opt_float(data.get("predicted_per_second")),
        prompt_ms=opt_float(data.get("prompt_ms")),
        generation_ms=opt_float(data.get("predicted_ms")),
        prompt_tokens_per_second=opt_float(data.get("prompt_per_second")),
    )


def parse_chat_completion(
    data: object,
    ctx: ErrorContext,
    *,
    dialect: OpenAIDialect = DEFAULT_DIALECT,
    model: str = "",
) -> ChatResponse:
    """A :class:`ChatResponse` from a ``chat.completion`` body."""

    def parse() -> ChatResponse:
        if not isinstance(data, Mapping):
            raise TypeError("the body is not a JSON object")
        choice = data["choices"][0]
        message = choice.get("message") or {}
        text = _content_text(message.get("content"))
        thinking = message.get("reasoning") or message.get("reasoning_content") or None
        if dialect.split_think and not thinking and text:
            text, thinking = split_think_tags(text)
        calls = tuple(tool_call_from_wire(c) for c in message.get("tool_calls") or ())
        return ChatResponse(
            text=text,
            model=str(data.get("model") or model),
            service=ctx.service,
            thinking=thinking if isinstance(thinking, str) else None,
            tool_calls=calls,
            finish_reason=choice.get("finish_reason"),
            usage=parse_usage(data.get("usage")),
            timings=parse_llamacpp_timings(data.get("timings")),
            raw=data,
            stop_sequence=stop_sequence(choice),
        )

    return guard_shape(ctx, "a chat reply", parse)


def stop_sequence(choice: Mapping[str, Any]) -> str | None:
    """The stop string a choice says ended it: vLLM's ``stop_reason`` when it is a
    string (an int is a stop token's id, ``None`` the end of the sequence).

    >>> stop_sequence({"stop_reason": "###"}), stop_sequence({"stop_reason": 7})
    ('###', None)
    """
    said = choice.get("stop_reason")
    return said if isinstance(said, str) and said else None


def parse_text_completion(data: object, ctx: ErrorContext, *, model: str) -> CompletionResponse:
    """A :class:`CompletionResponse` from a ``text_completion`` body (choices in prompt
    order, by their ``index``).
    """

    def parse() -> CompletionResponse:
        if not isinstance(data, Mapping) or not isinstance(data["choices"], list):
            raise TypeError("'choices' is not a list")
        choices = []
        for position, choice in enumerate(data["choices"]):
            if not isinstance(choice, Mapping):
                raise TypeError("a choice is not an object")
            text = choice.get("text") or ""
            if not isinstance(text, str):
                raise TypeError("a choice's text is not a string")
            index = opt_int(choice.get("index"))
            choices.append(
                CompletionChoice(
                    text=text,
                    index=position if index is None else index,
                    finish_reason=choice.get("finish_reason"),
                    stop_sequence=stop_sequence(choice),
                )
            )
        return CompletionResponse(
            choices=tuple(sorted(choices, key=lambda c: c.index)),
            model=str(data.get("model") or model),
            service=ctx.service,
            usage=parse_usage(data.get("usage")),
            timings=parse_llamacpp_timings(data.get("timings")),
            raw=data,
        )

    return guard_shape(ctx, "a text completion", parse)


def _content_text(content: object) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    raise TypeError(f"message content is {type(content).__name__}")


def parse_embeddings(data: object, ctx: ErrorContext, *, model: str) -> EmbedResponse:
    """An :class:`EmbedResponse` from a ``/v1/embeddings`` body (floats or base64)."""

    def parse() -> EmbedResponse:
        if not isinstance(data, Mapping) or not isinstance(data["data"], list):
            raise TypeError("'data' is not a list of embeddings")
        items = sorted(data["data"], key=_index)
        vectors = [_vector(item["embedding"]) for item in items]
        return EmbedResponse(
            vectors=vectors,
            model=str(data.get("model") or model),
            service=ctx.service,
            usage=parse_usage(data.get("usage")),
        )

    return guard_shape(ctx, "embeddings", parse)


def _index(item: object) -> int:
    if not isinstance(item, Mapping):
        raise TypeError("an embedding entry is not an object")
    index = opt_int(item.get("index"))
    return 0 if index is None else index


def _vector(value: object) -> list[float]:
    if isinstance(value, str):  # encoding_format "base64": little-endian float32s
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"an embedding is not valid base64 ({exc})") from exc
        if len(raw) % 4:
            raise ValueError(f"a base64 embedding of {len(raw)} bytes is not float32 values")
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    if isinstance(value, list) and value and isinstance(value[0], list):
        value = value[0]  # llama.cpp with pooling none nests one level deeper
    if not isinstance(value, list):
        raise TypeError("an embedding is not a list of numbers")
    return [float(x) for x in value]


def parse_model_list(data: object, ctx: ErrorContext) -> list[Mapping[str, Any]]:
    """The entries of a ``/v1/models`` body (each has at least an ``id``)."""
    return guard_shape(ctx, "the model list", lambda: parse_model_list_entries(data))


def parse_model_list_entries(data: object) -> list[Mapping[str, Any]]:
    """:func:`parse_model_list` that raises ``TypeError`` on a wrong shape."""
    entries = data["data"] if isinstance(data, Mapping) else None
    if not isinstance(entries, list):
        raise TypeError("'data' is not a list")
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
            raise TypeError("a model entry has no id")
    return entries


# --------------------------------------------------------------------------- streaming


class _ToolCallBuilder:
    """One tool call assembled from its streamed fragments."""

    __slots__ = ("arguments", "id", "name", "whole")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name = ""
        self.arguments: list[str] = []
        self.whole: object = None  # arguments some servers send as one object

    def add(self, fragment: Mapping[str, Any]) -> None:
        if fragment.get("id"):
            self.id = str(fragment["id"])
        function = fragment.get("function") or {}
        if not isinstance(function, Mapping):
            raise TypeError("a tool call's function is not an object")
        name = function.get("name")
        if isinstance(name, str) and name:
            self.name = name
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            self.arguments.append(arguments)
        elif arguments is not None:
            self.whole = arguments

    def build(self) -> ToolCall:
        value = self.whole if self.whole is not None else "".join(self.arguments)
        arguments, raw = parse_arguments(value)
        return ToolCall(name=self.name, arguments=arguments, id=self.id, raw_arguments=raw)


class OpenAIChatStream(ChatStreamDecoder):
    """Decodes an SSE chat stream into :class:`ChatChunk` objects.

    Tool-call fragments are assembled by ``index`` and delivered whole in the last
    chunk. A ``data: {"error": ...}`` event before any output is classified like an
    error answer (``rules`` are the server kind's own rows); after output it is a
    :class:`StreamError` that keeps the text so far, as is a stream that ends with
    neither ``[DONE]`` nor a finish reason. A streaming request answered with one plain
    JSON body (an error, or a whole reply from a server that ignored ``stream``) is
    handled as that body; one answered with an HTML page (a proxy's) is a
    :class:`ProtocolError`. Nothing after ``[DONE]`` is read.
    """

    __slots__ = (
        "_body",
        "_builders",
        "_calls",
        "_decoder",
        "_looked",
        "_rules",
        "_split",
        "_whole_events",
        "dialect",
        "done",
    )

    def __init__(
        self,
        ctx: ErrorContext,
        model: str,
        dialect: OpenAIDialect = DEFAULT_DIALECT,
        *,
        rules: Rules | None = None,
        max_event_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        super().__init__(ctx, model)
        self.dialect = dialect
        self._rules = rules
        self._decoder = SSEDecoder(max_event_bytes)
        self._builders: dict[int, _ToolCallBuilder] = {}  # the current call at each index
        self._calls: list[_ToolCallBuilder] = []  # every call, in order of appearance
        self._split = ThinkTagSplitter() if dialect.split_think else None
        self.done = False
        self._looked = False
        self._body: bytearray | None = None
        # Whether the SSE decoder holds nothing: no partial line, no unfinished event,
        # no error it deferred. True at the start and after a piece that was one line
        # and a blank line; the hot path in _feed needs it.
        self._whole_events = True

    def _feed(self, data: bytes, out: list[ChatChunk]) -> None:
        if self._body is not None:
            if len(self._body) <= _MAX_WHOLE_BODY:
                self._body += data
            return
        if not self._looked and data.strip():
            self._looked = True
            head = data.lstrip()
            if head[:1] == b"<":  # a proxy's or router's HTML page: SSE would ignore it all
                raise MalformedLineError(head, "an HTML page, not events")
            if head[:1] in (b"{", b"["):  # one JSON body instead of events
                self._body = bytearray(head)
                return
        if (
            self._whole_events
            and data.startswith(b"data: {")
            and data.find(b"\n") == len(data) - 2
            and data.endswith(b"\n\n")
            and not self.done
        ):
            # The hot path: servers send one whole `data: {...}` event per network chunk,
            # and the SSE decoder holds nothing, so the event is this JSON. Anything
            # unusual takes the general path below.
            try:
                event = loads(data[6:-2])
            except BadJSON:
                pass
            else:
                if type(event) is dict and "error" not in event:
                    chunk = self._chunk(event)
                    if chunk is not None:
                        out.append(self.acc.add(chunk))
                    return
        # One line and a blank one: an error in it is raised now, not deferred.
        self._whole_events = data.endswith(b"\n\n") and data.count(b"\n") == 2
        self._events(self._decoder.feed(data), out)

    def _finish(self, out: list[ChatChunk]) -> None:
        if self._body is not None:
            self._whole_body(bytes(self._body), out)
            return
        self._events(self._decoder.finish(), out)
        if not self.done:
            if self.acc.finish_reason is None:
                raise self.acc.ended_early()
            out.append(self._final())

    def _whole_body(self, raw: bytes, out: list[ChatChunk]) -> None:
        """A plain JSON body answering a streaming request: an error, or a whole reply."""
        try:
            data = loads(raw)
        except BadJSON as exc:
            raise MalformedLineError(raw, "neither events nor JSON") from exc
        if isinstance(data, dict) and data.get("error") is not None:
            raise self._in_band_error(data)
        reply = parse_chat_completion(
            data, self.acc.ctx, dialect=self.dialect, model=self.acc.model
        )
        acc = self.acc
        acc.model, acc.usage, acc.timings = reply.model, reply.usage, reply.timings
        acc.finish_reason, acc.stop_sequence = reply.finish_reason, reply.stop_sequence
        if reply.text or reply.thinking:
            out.append(acc.add(ChatChunk(text=reply.text, thinking=reply.thinking or "")))
        out.append(acc.add(acc.final_chunk(tool_calls=tuple(reply.tool_calls))))
        self.done = True

    def _events(self, events: list[Any], out: list[ChatChunk]) -> None:
        acc = self.acc
        for event in events:
            if self.done:
                break
            payload = event.data
            if payload == "[DONE]":
                out.append(self._final())
                continue
            try:
                data = loads(payload)
            except BadJSON as exc:
                raise MalformedLineError(payload.encode(), "invalid JSON") from exc
            if not isinstance(data, dict):
                raise MalformedLineError(payload.encode(), "not a JSON object")
            if "error" in data or event.event == "error":
                raise self._in_band_error(data)
            chunk = self._chunk(data)
            if chunk is not None:
                out.append(acc.add(chunk))

    def _chunk(self, data: dict[str, Any]) -> ChatChunk | None:
        # A shape error anywhere here is the decoder's to report (DecoderBase).
        acc = self.acc
        acc.raw = data  # the last event: its id (every chunk carries it), as Ollama's last
        usage = data.get("usage")
        if usage:
            acc.usage = parse_usage(usage) or acc.usage
        if "timings" in data:
            acc.timings = parse_llamacpp_timings(data["timings"])
        if isinstance(data.get("model"), str) and data["model"]:
            acc.model = data["model"]
        choices = data.get("choices")
        if not choices:
            return None
        choice = choices[0]
        delta = choice.get("delta") or {}
        # A legacy text completion's choice carries ``text`` and no delta.
        text = delta.get("content") or choice.get("text") or ""
        thinking = delta.get("reasoning_content") or delta.get("reasoning") or ""
        fragments = delta.get("tool_calls")
        if fragments:
            self._add_tool_fragments(fragments)
        reason = choice.get("finish_reason")
        if not isinstance(text, str) or not isinstance(thinking, str):
            raise TypeError("delta content is not text")
        if isinstance(reason, str) and reason:
            acc.finish_reason = reason
            acc.stop_sequence = stop_sequence(choice)
        if self._split is not None and text:
            text, split = self._split.feed(text)
            thinking = thinking + split
        if not text and not thinking:
            return None
        return ChatChunk(text=text, thinking=thinking)

    def _add_tool_fragments(self, fragments: object) -> None:
        if not isinstance(fragments, list):
            raise TypeError("tool_calls is not a list")
        for position, fragment in enumerate(fragments):
            if not isinstance(fragment, Mapping):
                raise TypeError("a tool call fragment is not an object")
            index = fragment.get("index", position)
            key = index if isinstance(index, int) else position
            call_id = fragment.get("id")
            builder = self._builders.get(key)
            # A new id at an index already taken is a new call: some servers send index
            # 0 for every call (ollama #15457), or no index at all (ollama #7881).
            if builder is None or (call_id and builder.id and builder.id != str(call_id)):
                builder = self._builders[key] = _ToolCallBuilder()
                self._calls.append(builder)
            builder.add(fragment)

    def _final(self) -> ChatChunk:
        self.done = True
        text = thinking = ""
        if self._split is not None:
            text, thinking = self._split.finish()
        calls = tuple(b.build() for b in self._calls)
        acc = self.acc
        if calls and acc.finish_reason in (None, "stop"):
            acc.finish_reason = "tool_calls"
        return acc.add(acc.final_chunk(text, thinking, calls))

    def _in_band_error(self, data: dict[str, Any]) -> ModelportError:
        acc = self.acc
        ctx = acc.ctx
        if acc.started:
            message, _ = message_from_json(data)
            said = ctx.redact(message or json.dumps(data)[:300])
            return acc.stream_error(f"{ctx.where()} reported an error mid-stream: {said}")
        facts = facts_from_data(data, ctx, status=200, arrived="stream", model=acc.model)
        return classify(facts, ctx, self._rules)


_MAX_WHOLE_BODY = 1024 * 1024
