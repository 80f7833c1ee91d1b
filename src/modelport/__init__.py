"""modelport: one clean, fast, typed interface to the language models you run yourself.

>>> import modelport
>>> client = modelport.Client()                # finds Ollama, LM Studio, llama.cpp... on first use
>>> reply = client.chat("llama3.2", "Why is the sky blue?")   # doctest: +SKIP

Types and errors load at once; the client, providers and discovery (which need
httpx) load on first use, so ``import modelport`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    AllServicesFailedError,
    AuthenticationError,
    CapabilityError,
    ConfigurationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelNotLoadedError,
    ModelportError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    StreamError,
)
from .types import (
    Capabilities,
    ChatChunk,
    ChatResponse,
    EmbedResponse,
    Message,
    ModelInfo,
    PullProgress,
    Service,
    ServiceStatus,
    Timings,
    ToolCall,
    Usage,
)

if TYPE_CHECKING:
    from ._streams import AsyncChatStream, ChatStream
    from ._wire.common import ChatOptions
    from .client import AsyncClient, Client
    from .discovery import adiscover, discover
    from .providers import (
        LlamaCppProvider,
        LMStudioProvider,
        OllamaProvider,
        OpenAICompatibleProvider,
        Provider,
    )

__all__ = [
    "AllServicesFailedError",
    "AsyncChatStream",
    "AsyncClient",
    "AuthenticationError",
    "Capabilities",
    "CapabilityError",
    "ChatChunk",
    "ChatOptions",
    "ChatResponse",
    "ChatStream",
    "Client",
    "ConfigurationError",
    "ContextLengthExceededError",
    "EmbedResponse",
    "InvalidRequestError",
    "LMStudioProvider",
    "LlamaCppProvider",
    "Message",
    "ModelInfo",
    "ModelNotFoundError",
    "ModelNotLoadedError",
    "ModelportError",
    "OllamaProvider",
    "OpenAICompatibleProvider",
    "ProtocolError",
    "Provider",
    "PullProgress",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "Service",
    "ServiceStatus",
    "ServiceUnavailableError",
    "StreamError",
    "Timings",
    "ToolCall",
    "Usage",
    "__version__",
    "adiscover",
    "discover",
]

_LAZY: dict[str, str] = {
    "AsyncChatStream": "._streams",
    "ChatStream": "._streams",
    "ChatOptions": "._wire.common",
    "AsyncClient": ".client",
    "Client": ".client",
    "adiscover": ".discovery",
    "discover": ".discovery",
    "LMStudioProvider": ".providers",
    "LlamaCppProvider": ".providers",
    "OllamaProvider": ".providers",
    "OpenAICompatibleProvider": ".providers",
    "Provider": ".providers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelport' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
