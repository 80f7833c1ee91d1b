"""modelport: one clean, fast, typed interface to the language models you run yourself.

>>> import modelport
>>> client = modelport.Client()                # finds Ollama, LM Studio, llama.cpp... on first use
>>> reply = client.chat("llama3.2", "Why is the sky blue?")   # doctest: +SKIP

Types and errors load at once; the client, providers and discovery (which need
httpx) and the configuration load on first use, so ``import modelport`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from ._version import __version__
from .errors import (
    AllServicesFailedError,
    AuthenticationError,
    BusyError,
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
    CompletionChoice,
    CompletionResponse,
    EmbedInput,
    EmbedResponse,
    Message,
    ModelInfo,
    PullProgress,
    RerankedDocument,
    RerankResult,
    Service,
    ServiceStatus,
    Timings,
    TokenCount,
    ToolCall,
    Usage,
)

if TYPE_CHECKING:
    from ._digest import model_digest
    from ._streams import AsyncChatStream, AsyncCompletionStream, ChatStream, CompletionStream
    from ._wire.common import ChatOptions, CompleteOptions
    from .client import AsyncClient, Client
    from .config import (
        AliasConfig,
        Config,
        ConfigProblem,
        GatewayConfig,
        ModelConfig,
        Secret,
        ServiceConfig,
        Source,
        check_config,
        config_search_paths,
        find_config,
        load_config,
        parse_config,
        read_config,
    )
    from .discovery import adiscover, discover
    from .providers import (
        LlamaCppProvider,
        LMStudioProvider,
        OllamaProvider,
        OpenAICompatibleProvider,
        Provider,
    )

__all__ = [
    "AliasConfig",
    "AllServicesFailedError",
    "AsyncChatStream",
    "AsyncClient",
    "AsyncCompletionStream",
    "AuthenticationError",
    "BusyError",
    "Capabilities",
    "CapabilityError",
    "ChatChunk",
    "ChatOptions",
    "ChatResponse",
    "ChatStream",
    "Client",
    "CompleteOptions",
    "CompletionChoice",
    "CompletionResponse",
    "CompletionStream",
    "Config",
    "ConfigProblem",
    "ConfigurationError",
    "ContextLengthExceededError",
    "EmbedInput",
    "EmbedResponse",
    "GatewayConfig",
    "InvalidRequestError",
    "LMStudioProvider",
    "LlamaCppProvider",
    "Message",
    "ModelConfig",
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
    "RerankResult",
    "RerankedDocument",
    "Secret",
    "ServerError",
    "Service",
    "ServiceConfig",
    "ServiceStatus",
    "ServiceUnavailableError",
    "Source",
    "StreamError",
    "Timings",
    "TokenCount",
    "ToolCall",
    "Usage",
    "__version__",
    "adiscover",
    "check_config",
    "config_search_paths",
    "discover",
    "find_config",
    "load_config",
    "model_digest",
    "parse_config",
    "read_config",
]

_LAZY: dict[str, str] = {
    "AsyncChatStream": "._streams",
    "AsyncCompletionStream": "._streams",
    "ChatStream": "._streams",
    "CompletionStream": "._streams",
    "ChatOptions": "._wire.common",
    "CompleteOptions": "._wire.common",
    "AsyncClient": ".client",
    "Client": ".client",
    "AliasConfig": ".config",
    "Config": ".config",
    "ConfigProblem": ".config",
    "GatewayConfig": ".config",
    "ModelConfig": ".config",
    "Secret": ".config",
    "ServiceConfig": ".config",
    "Source": ".config",
    "check_config": ".config",
    "find_config": ".config",
    "load_config": ".config",
    "parse_config": ".config",
    "config_search_paths": ".config",
    "read_config": ".config",
    "model_digest": "._digest",
    "adiscover": ".discovery",
    "discover": ".discovery",
    "LMStudioProvider": ".providers",
    "LlamaCppProvider": ".providers",
    "OllamaProvider": ".providers",
    "OpenAICompatibleProvider": ".providers",
    "Provider": ".providers",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelport' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
