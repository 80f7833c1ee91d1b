"""Providers: one per server kind. Each can be used on its own or passed to a Client."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from ..errors import ConfigurationError
from ..types import ProviderKind
from .base import Provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .base import ProviderOptions
    from .llamacpp import LlamaCppProvider
    from .lmstudio import LMStudioProvider
    from .ollama import OllamaProvider
    from .openai_compatible import OpenAICompatibleProvider

__all__ = [
    "LMStudioProvider",
    "LlamaCppProvider",
    "OllamaProvider",
    "OpenAICompatibleProvider",
    "Provider",
    "make_provider",
    "provider_class",
]

_CLASSES: dict[str, tuple[str, str]] = {
    "ollama": ("ollama", "OllamaProvider"),
    "lmstudio": ("lmstudio", "LMStudioProvider"),
    "llamacpp": ("llamacpp", "LlamaCppProvider"),
    "openai": ("openai_compatible", "OpenAICompatibleProvider"),
}
_BY_CLASS_NAME = {cls: (module, cls) for module, cls in _CLASSES.values()}


def provider_class(kind: str) -> type[Provider]:
    """The provider class for a kind name (``"ollama"``, ``"lmstudio"``, ...)."""
    try:
        module, name = _CLASSES[kind]
    except KeyError:
        raise ConfigurationError(
            f"Unknown provider kind {kind!r}; use one of {', '.join(_CLASSES)}."
        ) from None
    cls: type[Provider] = getattr(import_module(f".{module}", __name__), name)
    return cls


def make_provider(
    kind: ProviderKind, base_url: str | None = None, **kwargs: Unpack[ProviderOptions]
) -> Provider:
    """Build a provider of the given kind. ``kwargs`` are the options every provider
    takes; a kind's own options (``OllamaProvider(show_cache_ttl=...)``) go to its class.
    """
    return provider_class(kind)(base_url, **kwargs)


def __getattr__(name: str) -> object:
    if name in _BY_CLASS_NAME:
        module, cls = _BY_CLASS_NAME[name]
        return getattr(import_module(f".{module}", __name__), cls)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
