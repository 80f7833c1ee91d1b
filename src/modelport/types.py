"""Public data types: frozen dataclasses that mean the same thing for every server.

Inputs accept the typed object or a plain dict (``{"role": "user", "content": "hi"}``);
outputs are always these types. Fields a server does not report are ``None``, never
a made-up zero.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Capabilities",
    "ChatChunk",
    "ChatResponse",
    "CompletionChoice",
    "CompletionResponse",
    "EmbedInput",
    "EmbedResponse",
    "FinishReason",
    "ImageInput",
    "Message",
    "ModelInfo",
    "ProviderKind",
    "PullProgress",
    "RerankResult",
    "RerankedDocument",
    "Role",
    "Service",
    "ServiceStatus",
    "Timings",
    "TokenCount",
    "ToolCall",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]
"""The role of a chat message."""

ProviderKind = Literal["ollama", "lmstudio", "llamacpp", "openai"]
"""The kinds of server modelport knows."""

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "cancelled", "error"] | str
"""Why a reply ended: ``stop`` (the model finished or hit a stop string), ``length``
(``max_tokens`` or the context ran out), ``tool_calls``, ``content_filter``,
``cancelled`` or ``error``; another string where a server has its own reason."""

EmbedInput = str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]]
"""What :meth:`~modelport.Client.embed` takes: a string, a list of strings, or token ids
(one list of ints, or a list of them), as OpenAI's ``/v1/embeddings`` takes them."""

ImageInput = str | bytes | os.PathLike[str]
"""An image: raw bytes, a file path, a ``data:`` URL, or a base64 string."""


class ServiceStatus(str, enum.Enum):
    """The health of a service as modelport last saw it."""

    AVAILABLE = "available"
    DEGRADED = "degraded"
    UNAVAILABLE = "unavailable"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asks the caller to make.

    ``arguments`` is always a parsed dict, whatever the server sent. When a server sent
    arguments that are not valid JSON, ``arguments`` is empty and ``raw_arguments``
    keeps the text so nothing is lost.
    """

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    raw_arguments: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message. ``images`` accepts bytes, paths, data URLs or base64 strings."""

    role: Role
    content: str = ""
    images: Sequence[ImageInput] = ()
    tool_calls: Sequence[ToolCall] = ()
    tool_call_id: str | None = None
    name: str | None = None
    thinking: str | None = None

    def __post_init__(self) -> None:
        # Keep the frozen promise for sequences a caller passes as lists.
        if type(self.images) is not tuple:
            images = self.images
            # A lone image (a path or data string, bytes) is one image, not a sequence;
            # so is anything else that is not a sequence (the dialect then says what
            # an image may be).
            one = isinstance(images, (str, bytes, bytearray, os.PathLike)) or not isinstance(
                images, Iterable
            )
            object.__setattr__(self, "images", (images,) if one else tuple(images))
        if type(self.tool_calls) is not tuple:
            object.__setattr__(self, "tool_calls", tuple(self.tool_calls))


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for one request, as the server reported them."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Timings:
    """Speed of one request, from the server's own measurements where it reports them."""

    time_to_first_token_ms: float | None = None
    tokens_per_second: float | None = None
    prompt_ms: float | None = None
    generation_ms: float | None = None
    load_ms: float | None = None
    prompt_tokens_per_second: float | None = None
    total_ms: float | None = None


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """One complete assistant reply.

    ``message`` is the assistant :class:`Message` to append to the history for the
    next turn (it carries the tool calls and thinking the server needs back).

    ``warnings`` says what the caller should know about how the request was served:
    for instance that it used tools, images or thinking that its server reports the
    model does not support, so the server may have ignored that part. modelport
    never refuses such a request itself; a server that refuses raises
    :class:`~modelport.CapabilityError`.
    """

    text: str
    model: str
    service: str | None = None
    thinking: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    timings: Timings | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    stop_sequence: str | None = None
    """The stop string that ended the reply, where the server says which (vLLM's
    ``stop_reason``); ``None`` otherwise, and when it stopped for another reason."""
    warnings: tuple[str, ...] = ()

    @property
    def message(self) -> Message:
        """The assistant message to append to the conversation history."""
        return Message(
            role="assistant",
            content=self.text,
            tool_calls=tuple(self.tool_calls),
            thinking=self.thinking,
        )


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """One piece of a streamed reply. ``text`` and ``thinking`` are deltas.

    Exactly one chunk, the last, has ``done=True``; it carries ``finish_reason``,
    ``usage`` and ``timings`` when the server reports them.
    """

    text: str = ""
    thinking: str = ""
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    done: bool = False
    timings: Timings | None = None
    stop_sequence: str | None = None
    """On the last chunk: the stop string that ended the reply, where the server says."""


@dataclass(frozen=True, slots=True)
class CompletionChoice:
    """The continuation of one prompt of a legacy text completion."""

    text: str
    index: int = 0
    """The position of its prompt in the request."""
    finish_reason: FinishReason | None = None
    stop_sequence: str | None = None
    """The stop string that ended it, where the server says which (vLLM)."""


@dataclass(frozen=True, slots=True)
class CompletionResponse:
    """A legacy text completion: the model's continuation of each prompt, as given
    (no chat template). ``text``, ``finish_reason`` and ``stop_sequence`` are the first
    choice's; a list of prompts has one choice each, in order.
    """

    choices: Sequence[CompletionChoice]
    model: str
    service: str | None = None
    usage: Usage | None = None
    timings: Timings | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.choices) is not tuple:
            object.__setattr__(self, "choices", tuple(self.choices))

    @property
    def text(self) -> str:
        """The first prompt's continuation."""
        return self.choices[0].text if self.choices else ""

    @property
    def finish_reason(self) -> FinishReason | None:
        """Why the first continuation ended."""
        return self.choices[0].finish_reason if self.choices else None

    @property
    def stop_sequence(self) -> str | None:
        """The stop string that ended the first continuation, where the server says."""
        return self.choices[0].stop_sequence if self.choices else None


@dataclass(frozen=True, slots=True)
class EmbedResponse:
    """Embedding vectors, one per input, in input order."""

    vectors: list[list[float]]
    model: str
    service: str | None = None
    usage: Usage | None = None

    @property
    def dimensions(self) -> int | None:
        """The length of each vector, or ``None`` when there are none."""
        return len(self.vectors[0]) if self.vectors else None


@dataclass(frozen=True, slots=True)
class TokenCount:
    """The prompt tokens of a chat, before it is sent.

    ``exact`` is ``True`` when the server counted them with the model's own template and
    tokenizer (llama.cpp, vLLM), ``False`` for modelport's estimate (every other server;
    see :mod:`modelport._tokens` for how it is made and how far off it measured).
    """

    count: int
    exact: bool
    model: str
    service: str | None = None


@dataclass(frozen=True, slots=True)
class RerankedDocument:
    """One document of a :class:`RerankResult`: its position in the request, its
    relevance to the query (higher is more relevant; the scale is the model's), and its text.
    """

    index: int
    score: float
    document: str


@dataclass(frozen=True, slots=True)
class RerankResult:
    """Documents ranked by relevance to a query, most relevant first (at most ``top_n``)."""

    results: Sequence[RerankedDocument]
    model: str
    service: str | None = None
    usage: Usage | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.results) is not tuple:
            object.__setattr__(self, "results", tuple(self.results))

    @property
    def indexes(self) -> list[int]:
        """The documents' positions in the request, most relevant first."""
        return [r.index for r in self.results]

    @property
    def scores(self) -> list[float]:
        """The relevance scores, highest first."""
        return [r.score for r in self.results]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a model can do. ``None`` means the server does not say."""

    chat: bool | None = None
    tools: bool | None = None
    vision: bool | None = None
    embedding: bool | None = None
    thinking: bool | None = None
    rerank: bool | None = None
    """Scores documents against a query (:meth:`~modelport.Client.rerank`): llama.cpp
    started with ``--reranking``, vLLM serving a model that scores."""

    def names(self) -> list[str]:
        """The names of the capabilities known to be present, e.g. ``["chat", "tools"]``."""
        return [name for name in _CAPABILITY_NAMES if getattr(self, name) is True]


_CAPABILITY_NAMES = ("chat", "tools", "vision", "embedding", "thinking", "rerank")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model a service offers, with what the server says about it.

    ``context_length`` is the most the model supports (its trained maximum);
    ``loaded_context_length`` is the window the server allocated, the one to budget
    prompts against. ``details`` keeps further server-specific facts.
    """

    id: str
    name: str
    service: str
    kind: ProviderKind
    context_length: int | None = None
    loaded_context_length: int | None = None
    loaded: bool | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
    family: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    format: str | None = None
    size_bytes: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)
    alias_of: tuple[str, ...] = ()
    """For an alias from the configuration (``id`` and ``name`` are the alias): the ids
    of the models it stands for, in the order the configuration gives them; empty for a
    model a service serves."""


@dataclass(frozen=True, slots=True)
class Service:
    """A model server modelport knows about, with its health."""

    name: str
    kind: ProviderKind
    base_url: str
    status: ServiceStatus = ServiceStatus.AVAILABLE
    version: str | None = None
    latency_ms: float | None = None
    model_count: int | None = None
    error: str | None = None
    in_flight: int = 0
    """Requests this client has in flight to the service now (streams until closed)."""


@dataclass(frozen=True, slots=True)
class PullProgress:
    """One step of a model download. ``completed``/``total`` are bytes for ``digest``."""

    status: str
    completed: int | None = None
    total: int | None = None
    digest: str | None = None

    @property
    def fraction(self) -> float | None:
        """Progress of this layer from 0.0 to 1.0, when the server gave sizes."""
        if not self.total:
            return None
        return min(1.0, (self.completed or 0) / self.total)
