"""llama.cpp's ``llama-server``: the OpenAI-compatible API plus what the server says
about itself (``/health``, ``/props``, the ``meta`` block of ``/v1/models``) and its
``timings`` on every reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from .._coerce import opt_pos_int, opt_str
from .._http.ops import Op, Request, Response, gather, response_of
from .._wire import openai_chat as wire
from ..errors import ProtocolError
from ..types import Capabilities, ModelInfo, ProviderKind, Service, ServiceStatus
from .openai_compatible import OpenAICompatibleProvider

__all__ = ["LlamaCppProvider"]


class LlamaCppProvider(OpenAICompatibleProvider):
    """A provider for llama.cpp's ``llama-server`` (default ``http://127.0.0.1:8080``).

    A model's ``context_length`` is what it was trained for (``n_ctx_train``);
    ``loaded_context_length`` is the context the server was started with (``-c``).
    """

    kind: ClassVar[ProviderKind] = "llamacpp"
    server_name: ClassVar[str] = "llama.cpp server"
    default_base_url: ClassVar[str] = "http://127.0.0.1:8080"
    start_hint: ClassVar[str] = (
        "Is `llama-server` running? Start it with `llama-server -m MODEL.gguf --jinja`."
    )
    dialect: ClassVar[wire.OpenAIDialect] = wire.OpenAIDialect(
        split_think=True, think_as_template_kwarg=True, image_urls=False
    )

    def _op_health(self) -> Op[Service]:
        outcomes = yield from gather(
            [Request("GET", "/health"), Request("GET", "/props"), Request("GET", "/v1/models")]
        )
        health = response_of(outcomes[0])
        props, models = outcomes[1:]
        status = health.json_or_none()
        if not (isinstance(status, Mapping) and status.get("status") == "ok"):
            raise ProtocolError(
                f"{self.ctx.where()} answered /health with {health.text[:80]!r}, not "
                'llama-server\'s {"status": "ok"}.',
                hint="Is this URL really a llama.cpp server?",
                **self.ctx.kwargs(health.status),
            )
        version = None
        if isinstance(props, Response):
            data = props.json_or_none()
            if isinstance(data, Mapping) and isinstance(data.get("build_info"), str):
                version = data["build_info"]
        count = None
        if isinstance(models, Response):
            data = models.json_or_none()
            if isinstance(data, Mapping) and isinstance(data.get("data"), list):
                count = len(data["data"])
        return self._service(status=ServiceStatus.AVAILABLE, version=version, model_count=count)

    def _op_models(self, refresh: bool = False) -> Op[list[ModelInfo]]:
        outcomes = yield from gather([Request("GET", "/v1/models"), Request("GET", "/props")])
        models, props = response_of(outcomes[0]), outcomes[1]
        entries = wire.parse_model_list(self._body(models), self.ctx)
        props_data = props.json_or_none() if isinstance(props, Response) else None
        if not isinstance(props_data, Mapping):
            props_data = {}
        return [self._model(entry, props_data) for entry in entries]

    def _model(self, entry: Mapping[str, Any], props: Mapping[str, Any]) -> ModelInfo:
        meta = entry.get("meta") if isinstance(entry.get("meta"), Mapping) else {}
        assert isinstance(meta, Mapping)
        settings = props.get("default_generation_settings")
        served_ctx = meta.get("n_ctx")
        if served_ctx is None and isinstance(settings, Mapping):
            served_ctx = settings.get("n_ctx")
        n_params = meta.get("n_params")
        name = entry["id"]
        details: dict[str, Any] = {"meta": dict(meta)}
        for key in ("model_path", "total_slots", "chat_template_caps", "modalities", "build_info"):
            if key in props:
                details[key] = props[key]
        if entry.get("aliases"):
            details["aliases"] = entry["aliases"]
        status = entry.get("status")
        loaded: bool | None = True
        if isinstance(status, Mapping) and isinstance(status.get("value"), str):
            loaded = status["value"] == "loaded"  # router mode lists models it can load
        return ModelInfo(
            id=self._model_id(name),
            name=name,
            service=self.name,
            kind=self.kind,
            context_length=opt_pos_int(meta.get("n_ctx_train")),
            loaded_context_length=opt_pos_int(served_ctx),
            loaded=loaded,
            capabilities=self._capabilities(entry, props),
            parameter_size=_human_count(n_params) if isinstance(n_params, int) else None,
            quantization=opt_str(meta.get("ftype")) or opt_str(props.get("model_ftype")),
            format="gguf",
            size_bytes=opt_pos_int(meta.get("size")),
            details=details,
        )

    def _capabilities(self, entry: Mapping[str, Any], props: Mapping[str, Any]) -> Capabilities:
        caps = props.get("chat_template_caps")
        modalities = props.get("modalities")
        template = props.get("chat_template")
        tools = None
        if isinstance(caps, Mapping) and isinstance(caps.get("supports_tools"), bool):
            tools = caps["supports_tools"]
        vision = None
        if isinstance(modalities, Mapping) and isinstance(modalities.get("vision"), bool):
            vision = modalities["vision"]
        thinking = None
        marks_thinking = isinstance(template, str) and (
            "<think>" in template or "enable_thinking" in template
        )
        if marks_thinking or (
            isinstance(caps, Mapping) and caps.get("supports_reasoning_effort") is True
        ):
            thinking = True
        return Capabilities(
            chat=True, tools=tools, vision=vision, embedding=None, thinking=thinking
        )


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
