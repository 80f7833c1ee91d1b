"""LM Studio's model lists, as pure functions over its three API families.

* ``/api/v1/models`` (0.4.0+): type, capabilities, loaded instances with their context;
* ``/api/v0/models`` (0.3.6+): type, state, context lengths;
* ``/v1/models``: ids only (OpenAI-compatible), built like any OpenAI-compatible
  server's models.

Listing tries them newest first (see the provider); this module only reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from ..._coerce import field_of, opt_pos_int, opt_str
from ..._wire import openai_chat as wire
from ...types import Capabilities, ModelInfo
from ..openai_compatible import model_from_entry

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["LISTINGS", "aliases", "instances_of", "listing_of", "thinking"]

LISTINGS: tuple[tuple[str, str], ...] = (
    ("v1", "/api/v1/models"),
    ("v0", "/api/v0/models"),
    ("openai", "/v1/models"),
)
"""Each family's name and path, newest first."""


def listing_of(family: str, data: object, service: str) -> list[ModelInfo]:
    """The models of one family's answer; raises ``KeyError``/``TypeError`` on a wrong
    shape (the caller turns that into a :class:`~modelport.ProtocolError`).
    """
    if family == "v1":
        return [_from_v1(entry, service) for entry in _list(data, "models")]
    if family == "v0":
        return [_from_v0(entry, service) for entry in _list(data, "data")]
    return [
        model_from_entry(entry, service=service, kind="lmstudio", api="/v1/models")
        for entry in wire.parse_model_list_entries(data)
    ]


def _list(data: object, key: str) -> list[Mapping[str, Any]]:
    entries = data[key] if isinstance(data, Mapping) else None
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise TypeError(f"{key!r} is not a list of objects")
    return entries


def _from_v1(entry: Mapping[str, Any], service: str) -> ModelInfo:
    key = entry["key"]
    if not isinstance(key, str):
        raise TypeError("a model entry has no key")
    kind = entry.get("type")
    instances = [i for i in entry.get("loaded_instances") or () if isinstance(i, Mapping)]
    contexts = [
        c for i in instances if (c := opt_pos_int(field_of(i.get("config"), "context_length")))
    ]
    caps = entry.get("capabilities")
    caps = caps if isinstance(caps, Mapping) else {}
    if kind == "embedding":
        capabilities = Capabilities(chat=False, embedding=True)
    elif kind == "llm":
        vision = caps.get("vision")
        capabilities = Capabilities(
            chat=True,
            tools=True if caps.get("trained_for_tool_use") is True else None,
            vision=vision if isinstance(vision, bool) else None,
            embedding=False,
            thinking=thinking(caps.get("reasoning")),
        )
    else:
        capabilities = Capabilities()
    details: dict[str, Any] = {"api": "/api/v1/models", "loaded_instances": instances}
    for field in ("type", "publisher", "display_name", "description", "variants"):
        if entry.get(field) is not None:
            details[field] = entry[field]
    if entry.get("selected_variant") is not None:
        details["selected_variant"] = entry["selected_variant"]
    for field in ("trained_for_tool_use", "reasoning"):
        if field in caps:
            details[field] = caps[field]
    bits = field_of(entry.get("quantization"), "bits_per_weight")
    if bits is not None:
        details["bits_per_weight"] = bits
    return _model(
        key,
        service,
        entry,
        loaded_context_length=min(contexts) if contexts else None,
        loaded=bool(instances),
        capabilities=capabilities,
        family=opt_str(entry.get("architecture")),
        parameter_size=opt_str(entry.get("params_string")),
        quantization=opt_str(field_of(entry.get("quantization"), "name")),
        format=opt_str(entry.get("format")),
        size_bytes=opt_pos_int(entry.get("size_bytes")),
        details=details,
    )


def _from_v0(entry: Mapping[str, Any], service: str) -> ModelInfo:
    name = entry["id"]
    if not isinstance(name, str):
        raise TypeError("a model entry has no id")
    kind = entry.get("type")
    state = entry.get("state")
    if kind in ("embeddings", "embedding"):
        capabilities = Capabilities(chat=False, embedding=True)
    elif kind in ("llm", "vlm"):
        listed = entry.get("capabilities")
        tools = True if isinstance(listed, list) and "tool_use" in listed else None
        capabilities = Capabilities(chat=True, tools=tools, vision=kind == "vlm", embedding=False)
    else:
        capabilities = Capabilities()
    details: dict[str, Any] = {"api": "/api/v0/models"}
    for field in ("type", "publisher", "state", "capabilities"):
        if entry.get(field) is not None:
            details[field] = entry[field]
    return _model(
        name,
        service,
        entry,
        loaded_context_length=opt_pos_int(entry.get("loaded_context_length")),
        loaded=state == "loaded" if isinstance(state, str) else None,
        capabilities=capabilities,
        family=opt_str(entry.get("arch")),
        quantization=opt_str(entry.get("quantization")),
        format=opt_str(entry.get("compatibility_type")),
        details=details,
    )


class _Fields(TypedDict, total=False):
    """The :class:`ModelInfo` fields each native family reads its own way."""

    loaded_context_length: int | None
    loaded: bool | None
    capabilities: Capabilities
    family: str | None
    parameter_size: str | None
    quantization: str | None
    format: str | None
    size_bytes: int | None
    details: Mapping[str, Any]


def _model(
    name: str, service: str, entry: Mapping[str, object], **fields: Unpack[_Fields]
) -> ModelInfo:
    """What both native families share: the id, and the context the model supports."""
    return ModelInfo(
        id=f"{service}/{name}",
        name=name,
        service=service,
        kind="lmstudio",
        context_length=opt_pos_int(entry.get("max_context_length")),
        **fields,
    )


def thinking(reasoning: object) -> bool | None:
    """Whether the model reasons, from ``capabilities.reasoning`` (``None``: not said)."""
    if not isinstance(reasoning, Mapping):
        return None
    options = reasoning.get("allowed_options")
    if isinstance(options, list) and options:
        return any(option != "off" for option in options)
    return True


def aliases(info: ModelInfo) -> list[str]:
    """Other names LM Studio accepts for a model: its variants and selected variant."""
    names: list[str] = []
    variants = info.details.get("variants")
    if isinstance(variants, list):
        names += [v for v in variants if isinstance(v, str)]
    selected = info.details.get("selected_variant")
    if isinstance(selected, str):
        names.append(selected)
    return names


def instances_of(model: str, models: Sequence[ModelInfo]) -> list[str] | None:
    """The loaded instance ids to unload for ``model``; ``None`` if no such model."""
    wanted = model.lower()
    for info in models:
        ids = [
            i["id"]
            for i in info.details.get("loaded_instances", ())
            if isinstance(i, Mapping) and isinstance(i.get("id"), str)
        ]
        if wanted == info.name.lower() or wanted in (a.lower() for a in aliases(info)):
            return ids
        matching = [i for i in ids if i.lower() == wanted]
        if matching:
            return matching
    return None
