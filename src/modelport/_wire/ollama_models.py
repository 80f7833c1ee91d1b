"""What Ollama says about its models: ``/api/tags``, ``/api/ps`` and ``/api/show``
(pure parsing; part of the ``ollama_native`` dialect).

Every field is treated as optional: Ollama leaves out any field whose value is zero
(Go ``omitempty``), and older servers lack the newer fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._coerce import opt_pos_int
from .._http.mapping import ErrorContext
from ..types import Capabilities
from .stream import guard_shape

__all__ = [
    "ShowFacts",
    "capabilities_from_names",
    "facts_from_tags_entry",
    "parse_ps",
    "parse_show",
    "parse_tags",
]


def _entries(data: object) -> list[Mapping[str, Any]]:
    models = data["models"] if isinstance(data, Mapping) else None
    if not isinstance(models, list):
        raise TypeError("'models' is not a list")
    entries: list[Mapping[str, Any]] = []
    for entry in models:
        if not isinstance(entry, Mapping):
            raise TypeError("a model entry is not an object")
        name = entry.get("name") or entry.get("model")  # "model" only since v0.1.42
        if not isinstance(name, str) or not name:
            raise TypeError("a model entry has no name")
        entries.append({**entry, "name": name})
    return entries


def parse_tags(data: object, ctx: ErrorContext) -> list[Mapping[str, Any]]:
    """The entries of ``/api/tags``, each with a ``name``."""
    entries: list[Mapping[str, Any]] = guard_shape(ctx, "the model list", lambda: _entries(data))
    return entries


def parse_ps(data: object, ctx: ErrorContext) -> list[Mapping[str, Any]]:
    """The entries of ``/api/ps`` (the loaded models), each with a ``name``."""
    entries: list[Mapping[str, Any]] = guard_shape(
        ctx, "the loaded model list", lambda: _entries(data)
    )
    return entries


@dataclass(frozen=True, slots=True)
class ShowFacts:
    """What ``/api/show`` (or a v0.30+ ``/api/tags`` entry) says about one model.

    ``capabilities`` is ``None`` when the server predates the ``capabilities`` field
    (v0.6.4); ``inferred`` then holds what the server's own detection rules imply
    from ``model_info``, the projector and the template.
    """

    capabilities: Capabilities | None
    capability_names: tuple[str, ...] = ()
    inferred: Capabilities = field(default_factory=Capabilities)
    context_length: int | None = None
    architecture: str | None = None
    embedding_length: int | None = None
    parameter_count: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Long texts (license, template, parameters, ...) for a single-model lookup."""


def capabilities_from_names(names: Sequence[str]) -> Capabilities:
    """Ollama's capability names as :class:`Capabilities` (every field known).

    >>> capabilities_from_names(["completion", "vision"])
    Capabilities(chat=True, tools=False, vision=True, embedding=False, thinking=False, rerank=None)
    """
    present = set(names)
    return Capabilities(
        chat="completion" in present,
        tools="tools" in present,
        vision="vision" in present,
        embedding="embedding" in present,
        thinking="thinking" in present,
    )


_EXTRA_SHOW_FIELDS = ("license", "template", "parameters", "modelfile", "system", "modified_at")


def parse_show(data: object, ctx: ErrorContext) -> ShowFacts:
    """The facts of an ``/api/show`` body."""

    def parse() -> ShowFacts:
        if not isinstance(data, Mapping):
            raise TypeError("the body is not a JSON object")
        info = data.get("model_info") or {}
        if not isinstance(info, Mapping):
            raise TypeError("model_info is not an object")
        details = data.get("details") or {}
        if not isinstance(details, Mapping):
            raise TypeError("details is not an object")
        arch = info.get("general.architecture")
        arch = arch if isinstance(arch, str) and arch else None
        names = data.get("capabilities")
        capabilities = None
        if isinstance(names, list):
            capabilities = capabilities_from_names([n for n in names if isinstance(n, str)])
        template = data.get("template")
        return ShowFacts(
            capabilities=capabilities,
            capability_names=tuple(names) if isinstance(names, list) else (),
            inferred=_inferred(info, arch, data.get("projector_info"), template),
            context_length=opt_pos_int(info.get(f"{arch}.context_length")) if arch else None,
            architecture=arch,
            embedding_length=opt_pos_int(info.get(f"{arch}.embedding_length")) if arch else None,
            parameter_count=opt_pos_int(info.get("general.parameter_count")),
            details=details,
            extra={k: data[k] for k in _EXTRA_SHOW_FIELDS if data.get(k)},
        )

    return guard_shape(ctx, "model details", parse)


def _inferred(
    info: Mapping[str, Any], arch: str | None, projector: object, template: object
) -> Capabilities:
    """Capabilities by Ollama's own detection rules, for servers older than ``capabilities``."""
    embedding = chat = None
    if arch:  # a GGUF with pooling_type embeds; one without generates
        embedding = f"{arch}.pooling_type" in info
        chat = not embedding
    vision = True if projector or (arch and f"{arch}.vision.block_count" in info) else None
    tools = True if isinstance(template, str) and ".Tools" in template else None
    return Capabilities(chat=chat, tools=tools, vision=vision, embedding=embedding)


def facts_from_tags_entry(entry: Mapping[str, Any]) -> ShowFacts | None:
    """Facts from a v0.30+ ``/api/tags`` entry, which carries capabilities and context.

    ``None`` when the entry lacks them: then ask ``/api/show``.
    """
    names = entry.get("capabilities")
    details = entry.get("details")
    if not isinstance(names, list) or not isinstance(details, Mapping):
        return None
    context = opt_pos_int(details.get("context_length"))
    if context is None:
        return None
    return ShowFacts(
        capabilities=capabilities_from_names([n for n in names if isinstance(n, str)]),
        capability_names=tuple(n for n in names if isinstance(n, str)),
        context_length=context,
        embedding_length=opt_pos_int(details.get("embedding_length")),
        details=details,
    )
