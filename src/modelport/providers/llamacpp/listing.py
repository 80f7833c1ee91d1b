"""What llama-server says about itself and its models, as pure functions.

A **plain** server (``llama-server -m MODEL``) lists the one model it serves in
``/v1/models`` with a ``meta`` block, and its ``/props`` describe that model. A
**router** (``--models-dir DIR`` or ``--models-preset FILE``, no ``-m``) lists every
model it can serve, each with a ``status`` (``unloaded``, ``loading``, ``loaded``,
``sleeping``; a failed load is ``unloaded`` with an ``exit_code``), ``meta`` only while
the model runs, and the ``--model`` path in ``status.args``; its ``/props`` describe
the router (``role: "router"``, placeholders such as ``model_path: "none"``), and each
running model's own props are at ``/props?model=NAME``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from ..._capabilities import guess_capabilities, merge_capabilities
from ..._coerce import field_of, opt_int, opt_pos_int, opt_str
from ...types import Capabilities, ModelInfo, ProviderKind

__all__ = [
    "RUNNING",
    "Router",
    "Status",
    "find_entry",
    "model_info",
    "names_of",
    "readable_names",
    "router_of",
    "service_version",
    "status_of",
]

RUNNING = ("loaded", "loading", "sleeping")
"""The states in which a router model has a process (``unload`` stops it)."""

_PROPS_DETAILS = ("model_path", "total_slots", "chat_template_caps", "modalities", "build_info")


@dataclass(frozen=True, slots=True)
class Router:
    """What a router's own ``/props`` say."""

    max_models: int | None
    """``--models-max`` (``None``: no limit)."""
    autoload: bool | None
    """Whether it loads a model on demand (``--no-models-autoload`` turns that off)."""


def router_of(props: object) -> Router | None:
    """The router a ``/props`` body describes, or ``None`` for a plain server.

    >>> router_of({"role": "router", "max_instances": 1, "models_autoload": True})
    Router(max_models=1, autoload=True)
    >>> router_of({"role": "router", "max_instances": 0}).max_models is None
    True
    >>> router_of({"model_path": "m.gguf"}) is None
    True
    """
    if field_of(props, "role") != "router":
        return None
    autoload = field_of(props, "models_autoload")
    return Router(
        max_models=opt_pos_int(field_of(props, "max_instances")),
        autoload=autoload if isinstance(autoload, bool) else None,
    )


def service_version(props: object, models: object) -> str | None:
    """``Service.version``: the build, and for a router what kind of server it is.

    >>> service_version({"build_info": "b7000-abc"}, None)
    'b7000-abc'
    >>> router = {"role": "router", "max_instances": 1, "build_info": "b8000-def"}
    >>> service_version(router, {"data": [{"id": "a"}, {"id": "b"}]})
    'b8000-def (router, 2 models, max 1)'
    >>> service_version({**router, "models_autoload": False, "build_info": None}, None)
    'router, max 1, no autoload'
    """
    build = opt_str(field_of(props, "build_info"))
    router = router_of(props)
    if router is None:
        return build
    notes = ["router"]
    entries = field_of(models, "data")
    if isinstance(entries, list):
        notes.append(f"{len(entries)} model{'' if len(entries) == 1 else 's'}")
    if router.max_models is not None:
        notes.append(f"max {router.max_models}")
    if router.autoload is False:
        notes.append("no autoload")
    note = ", ".join(notes)
    return f"{build} ({note})" if build else note


@dataclass(frozen=True, slots=True)
class Status:
    """A router model's ``status``."""

    value: str | None
    exit_code: int | None = None

    @property
    def running(self) -> bool:
        return self.value in RUNNING

    @property
    def failed(self) -> bool:
        """Its last load ended with the process exiting with an error."""
        return self.value == "unloaded" and self.exit_code not in (None, 0)


def status_of(entry: Mapping[str, Any]) -> Status:
    """The ``status`` of a ``/v1/models`` entry (``value`` ``None``: it gave none).

    >>> status_of({"status": {"value": "unloaded", "exit_code": 1, "failed": True}}).failed
    True
    >>> status_of({"id": "m"})
    Status(value=None, exit_code=None)
    """
    status = entry.get("status")
    return Status(opt_str(field_of(status, "value")), opt_int(field_of(status, "exit_code")))


def names_of(entry: Mapping[str, Any]) -> list[str]:
    """The id of an entry and its aliases (a router answers to either)."""
    aliases = entry.get("aliases")
    names = [entry["id"]]
    if isinstance(aliases, list):
        names += [a for a in aliases if isinstance(a, str) and a != entry["id"]]
    return names


def find_entry(entries: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    """The entry called ``name``, by its id first, then by an alias."""
    for entry in entries:
        if entry["id"] == name:
            return entry
    for entry in entries:
        if name in names_of(entry):
            return entry
    return None


def readable_names(ids: Sequence[str]) -> list[str]:
    """The names to list a plain server's models by: a model served by its path (no
    ``--alias``) by its file's stem, unless another listed model has that stem or id.

    >>> readable_names(["/home/me/models/SmolLM2-135M-Instruct.Q4_1.gguf", "qwen"])
    ['SmolLM2-135M-Instruct.Q4_1', 'qwen']
    >>> readable_names(["/a/m.gguf", "/b/m.gguf", "models/n.gguf"])
    ['/a/m.gguf', '/b/m.gguf', 'n']
    """
    stems = [_stem(i) for i in ids]
    taken = set(ids)
    return [
        stem if stem != i and stems.count(stem) == 1 and stem not in taken else i
        for i, stem in zip(ids, stems, strict=True)
    ]


def _stem(model_id: str) -> str:
    """A path's file name without ``.gguf``; an id that is no path, unchanged."""
    base = model_id.replace("\\", "/").rsplit("/", 1)[-1]
    if base == model_id and not base.lower().endswith(".gguf"):
        return model_id
    stem = base[:-5] if base.lower().endswith(".gguf") else base
    return stem or model_id


def _model_path(entry: Mapping[str, Any]) -> str | None:
    """The file a router runs a model from: ``--model PATH`` in its ``status.args``.

    >>> _model_path({"status": {"args": ["llama-server", "--port", "0", "--model", "/m/a.gguf"]}})
    '/m/a.gguf'
    >>> _model_path({"status": {"args": "--model"}}) is None
    True
    """
    args = field_of(entry.get("status"), "args")
    if not isinstance(args, list):
        return None
    for flag, value in pairwise(args):
        if flag in ("--model", "-m"):
            return opt_str(value)
    return None


def model_info(
    entry: Mapping[str, Any],
    props: Mapping[str, Any],
    *,
    service: str,
    kind: ProviderKind,
    router: bool = False,
    embedding: bool | None = None,
    name: str | None = None,
) -> ModelInfo:
    """A :class:`ModelInfo` from one ``/v1/models`` entry and the ``/props`` that describe
    that model (a plain server's ``/props``, a router model's ``/props?model=``, or
    ``{}`` when none do: a router model that is not loaded). ``name``: the name to list
    it by (:func:`readable_names`), when not its id; the id is then among its aliases.
    """
    meta = entry.get("meta") if isinstance(entry.get("meta"), Mapping) else {}
    assert isinstance(meta, Mapping)
    served_ctx = meta.get("n_ctx")
    if served_ctx is None:
        served_ctx = field_of(props.get("default_generation_settings"), "n_ctx")
    n_params = opt_int(meta.get("n_params"))
    status = status_of(entry)
    details: dict[str, Any] = {}
    if status.value is not None:
        details["status"] = status.value
    if status.failed:
        details["exit_code"] = status.exit_code
    if meta:
        details["meta"] = dict(meta)
    for key in _PROPS_DETAILS:
        if key in props:
            details[key] = props[key]
    if "model_path" not in details and _model_path(entry):
        details["model_path"] = _model_path(entry)
    for key in ("aliases", "tags"):
        if entry.get(key):
            details[key] = entry[key]
    template = props.get("chat_template")
    if isinstance(template, str):
        details["chat_template_sha256"] = hashlib.sha256(template.encode()).hexdigest()
    if name is not None and name != entry["id"]:
        aliases = details.get("aliases")
        known = [a for a in aliases if isinstance(a, str)] if isinstance(aliases, list) else []
        details["aliases"] = [*known, entry["id"]] if entry["id"] not in known else known
    else:
        name = entry["id"]
    if router and opt_str(entry.get("source")):
        details["source"] = entry["source"]
    loaded: bool | None = True
    if status.value is not None:
        loaded = status.value == "loaded"
    elif router:
        loaded = None  # a router always says; this one did not
    return ModelInfo(
        id=f"{service}/{name}",
        name=name,
        service=service,
        kind=kind,
        context_length=opt_pos_int(meta.get("n_ctx_train")),
        loaded_context_length=opt_pos_int(served_ctx),
        loaded=loaded,
        capabilities=_capabilities(entry, props, router=router, embedding=embedding),
        parameter_size=_human_count(n_params) if n_params is not None else None,
        quantization=opt_str(meta.get("ftype")) or opt_str(props.get("model_ftype")),
        format="gguf",
        size_bytes=opt_pos_int(meta.get("size")),
        details=details,
    )


def _capabilities(
    entry: Mapping[str, Any],
    props: Mapping[str, Any],
    *,
    router: bool,
    embedding: bool | None = None,
) -> Capabilities:
    """From the model's props where there are some; for a router model without them,
    what its ``architecture`` and its name say. ``embedding``: what the server said when
    asked (its ``/props`` do not say).

    >>> entry = {"id": "nomic-embed-text", "architecture": {"input_modalities": ["text"]}}
    >>> _capabilities(entry, {}, router=True)
    Capabilities(chat=False, tools=None, vision=False, embedding=True, thinking=None, rerank=None)
    >>> _capabilities({**entry, "id": "alpha"}, {}, router=True)
    Capabilities(chat=True, tools=None, vision=False, embedding=None, thinking=None, rerank=None)
    """
    caps = props.get("chat_template_caps")
    template = props.get("chat_template")
    tools = field_of(caps, "supports_tools")
    vision = field_of(props.get("modalities"), "vision")
    if not isinstance(vision, bool):
        inputs = field_of(entry.get("architecture"), "input_modalities")
        vision = "image" in inputs if isinstance(inputs, list) else None
    thinking = None
    marks_thinking = isinstance(template, str) and (
        "<think>" in template or "enable_thinking" in template
    )
    if marks_thinking or field_of(caps, "supports_reasoning_effort") is True:
        thinking = True
    said = Capabilities(
        chat=True,
        tools=tools if isinstance(tools, bool) else None,
        vision=vision,
        embedding=embedding,
        thinking=thinking,
    )
    if props or not router:
        return said
    # Not loaded: the name decides what it makes near-certain (an embedding model).
    return merge_capabilities(guess_capabilities(entry["id"]), said)


def _human_count(n: int) -> str:
    """``134515008`` -> ``"135M"``; ``8030261248`` -> ``"8.0B"``.

    >>> _human_count(134515008), _human_count(8030261248), _human_count(999)
    ('135M', '8.0B', '999')
    """
    if n >= 1_000_000_000:
        return f"{n / 1e9:.1f}B"
    if n >= 1_000_000:
        return f"{n / 1e6:.0f}M"
    if n >= 1_000:
        return f"{n / 1e3:.0f}K"
    return str(n)
