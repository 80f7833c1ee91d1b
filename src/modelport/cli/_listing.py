"""``discover``, ``models``, ``show`` and ``ps``: what is running and what it serves."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from ..types import Capabilities, ModelInfo, Service, ServiceStatus
from . import _context
from ._output import Column, Paint, dash, echo_json, human_bytes, print_notes, print_table
from ._top import key_option

__all__ = ["COMMANDS"]

CAPABILITY_CHOICES = ("chat", "tools", "vision", "embedding", "thinking")
_SHORT = {
    "chat": "chat",
    "tools": "tools",
    "vision": "vision",
    "embedding": "embed",
    "thinking": "think",
}

START_HINT = (
    "No model server found. Start one: `ollama serve` (Ollama), `lms server start` "
    "(LM Studio), or `llama-server -m MODEL.gguf --jinja` (llama.cpp); "
    "or name a server with --host URL."
)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _state(ctx: click.Context) -> _context.State:
    state = ctx.find_object(_context.State)
    assert state is not None
    return state


def _note(message: str) -> None:
    """A remark for the person (on stderr, so stdout stays clean for pipes)."""
    paint = Paint.stderr()
    click.echo(paint(message, dim=True), err=True, color=paint.enabled)


# --------------------------------------------------------------------------- discover

_STATUS_STYLE = {
    ServiceStatus.AVAILABLE: "green",
    ServiceStatus.DEGRADED: "yellow",
    ServiceStatus.UNAVAILABLE: "red",
}


@click.command()
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="URL",
    help="Also probe this address (URL or name=URL). Repeatable. Other machines are "
    "never probed unless named.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=0.5,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for each server.",
)
@json_option
@click.pass_context
def discover(ctx: click.Context, hosts: tuple[str, ...], timeout: float, as_json: bool) -> None:
    """Find the model servers running here, and what each one is.

    Probes Ollama (:11434), LM Studio (:1234), llama.cpp (:8080), vLLM (:8000),
    Jan (:1337), OLLAMA_HOST, MODELPORT_SERVICES and every --service and --host,
    all at once. The kind of each server is told from what it answers, not its port.
    Exits 1 when no server is available.
    """
    state = _state(ctx)
    found = _context.discover_services([*state.services, *hosts], timeout)
    if as_json:
        echo_json(found)
    elif _context.stdout_is_terminal():
        # Reasons are long: on a terminal they go under the table, not in a column.
        rows = [_discover_row(s, short_url=True)[:-1] for s in found]
        print_table(_DISCOVER_COLUMNS[:-1], rows)
        reasons = [(s.name, s.error) for s in found if s.error]
        if reasons:
            print_notes(reasons)
    else:
        print_table(_DISCOVER_COLUMNS, [_discover_row(s) for s in found])
    if not any(s.status is not ServiceStatus.UNAVAILABLE for s in found):
        _note(START_HINT)
        ctx.exit(1)


_DISCOVER_COLUMNS = [
    Column("NAME", style="bold", no_wrap=True),
    Column("KIND", no_wrap=True),
    Column("URL", no_wrap=True),
    Column("STATUS", no_wrap=True),
    Column("VERSION"),
    Column("MODELS", justify="right"),
    Column("LATENCY", justify="right", no_wrap=True),
    Column("NOTE"),
]


def _discover_row(service: Service, *, short_url: bool = False) -> list[str | tuple[str, str]]:
    url = service.base_url
    if short_url and url.startswith("http://"):
        url = url[len("http://") :]
    latency = f"{service.latency_ms:.0f} ms" if service.latency_ms is not None else "-"
    down = service.status is ServiceStatus.UNAVAILABLE
    return [
        service.name,
        service.kind,
        url,
        (service.status.value, _STATUS_STYLE[service.status]),
        dash(service.version),
        dash(service.model_count),
        latency,
        (service.error or "", "dim" if down else ""),
    ]


# --------------------------------------------------------------------------- models


@click.command()
@click.option(
    "--service",
    "service",
    metavar="NAME",
    help="Only this service (its name, e.g. 'ollama' or 'gpu-box', or its kind).",
)
@click.option(
    "--capability",
    "capabilities",
    type=click.Choice(CAPABILITY_CHOICES),
    multiple=True,
    help="Only models known to have it. Repeatable.",
)
@click.option("--loaded", is_flag=True, help="Only models loaded in memory.")
@json_option
@click.pass_context
def models(
    ctx: click.Context,
    service: str | None,
    capabilities: tuple[str, ...],
    loaded: bool,
    as_json: bool,
) -> None:
    """Every model on every server: context, capabilities, size.

    CONTEXT is the context window the server has loaded the model with (what a
    prompt must fit in); MAX is the most the model supports. A dash means the
    server does not say.
    """
    found = _state(ctx).client.models()
    if service is not None:
        found = [m for m in found if service in (m.service, m.kind)]
    for capability in capabilities:
        found = [m for m in found if getattr(m.capabilities, capability) is True]
    if loaded:
        found = [m for m in found if m.loaded is True]
    if as_json:
        echo_json(found)
    elif found:
        print_table(_MODEL_COLUMNS, [_model_row(m) for m in found])
    else:
        _note("No models found." if not (service or capabilities or loaded) else "No models match.")


_MODEL_COLUMNS = [
    Column("MODEL", style="bold"),
    Column("LOADED", no_wrap=True),
    Column("CONTEXT", justify="right", no_wrap=True),
    Column("MAX", justify="right", no_wrap=True),
    Column("CAPABILITIES"),
    Column("SIZE", justify="right", no_wrap=True),
    Column("QUANT", no_wrap=True),
]


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _flags(caps: Capabilities) -> str:
    names = [_SHORT[name] for name in CAPABILITY_CHOICES if getattr(caps, name) is True]
    return " ".join(names) or "-"


def _model_row(model: ModelInfo) -> list[str | tuple[str, str]]:
    alias = f" (alias of {', '.join(model.alias_of)})" if model.alias_of else ""
    return [
        model.id + alias,
        (_yes_no(model.loaded), "green" if model.loaded else "dim"),
        dash(model.loaded_context_length),
        dash(model.context_length),
        (_flags(model.capabilities), "cyan"),
        human_bytes(model.size_bytes),
        dash(model.quantization),
    ]


# --------------------------------------------------------------------------- show


@click.command()
@click.argument("model")
@json_option
@click.pass_context
def show(ctx: click.Context, model: str, as_json: bool) -> None:
    """Everything known about one MODEL ("name" or "service/name").

    Capabilities are queried live from the server.
    """
    info = _state(ctx).client.model_info(model)
    if as_json:
        echo_json(info)
        return
    print_table([Column("FIELD", style="bold"), Column("VALUE")], _facts(info), header=False)


def _capability_summary(caps: Capabilities) -> str:
    has = [n for n in CAPABILITY_CHOICES if getattr(caps, n) is True]
    lacks = [n for n in CAPABILITY_CHOICES if getattr(caps, n) is False]
    unknown = [n for n in CAPABILITY_CHOICES if getattr(caps, n) is None]
    text = ", ".join(has) or "none known"
    extra = []
    if lacks:
        extra.append("not: " + ", ".join(lacks))
    if unknown:
        extra.append("unknown: " + ", ".join(unknown))
    return f"{text} ({'; '.join(extra)})" if extra else text


def _facts(info: ModelInfo) -> list[list[str | tuple[str, str]]]:
    size = "-" if info.size_bytes is None else f"{info.size_bytes} ({human_bytes(info.size_bytes)})"
    rows: list[list[str | tuple[str, str]]] = [
        ["id", info.id],
        ["name", info.name],
        ["service", info.service],
        ["kind", info.kind],
        ["loaded", _yes_no(info.loaded)],
        ["context_length", dash(info.context_length)],
        ["loaded_context_length", dash(info.loaded_context_length)],
        ["capabilities", _capability_summary(info.capabilities)],
        ["family", dash(info.family)],
        ["parameter_size", dash(info.parameter_size)],
        ["quantization", dash(info.quantization)],
        ["format", dash(info.format)],
        ["size_bytes", size],
    ]
    for key, value in info.details.items():
        text = (
            value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        )
        rows.append([f"details.{key}", (text, "dim")])
    return rows


# --------------------------------------------------------------------------- ps

_MEMORY_KEYS = ("size_vram", "vram_bytes", "memory_bytes")
_UNTIL_KEYS = ("expires_at", "ttl_expires_at")


@click.command()
@json_option
@click.option(
    "--gateway",
    "url",
    default=None,
    metavar="URL",
    help="A running modelport gateway instead: each service's requests in flight, "
    "limit, queue and loaded models (as modelport top).",
)
@key_option
@click.pass_context
def ps(ctx: click.Context, as_json: bool, url: str | None, key: str | None) -> None:
    """The models loaded in memory, with context and memory use.

    MEMORY and UNTIL (when the server unloads it) are shown where the server says.
    With --gateway URL: what a running gateway's services hold and wait for.
    """
    if url is not None:
        from ._top import ps_gateway

        ps_gateway(url, key, as_json)
        return
    found = _state(ctx).client.models(refresh=True)
    loaded = [m for m in found if m.loaded is True and not m.alias_of]  # aliases are names
    if as_json:
        echo_json(loaded)
    elif loaded:
        print_table(_PS_COLUMNS, [_ps_row(m) for m in loaded])
    else:
        _note("No models are loaded.")


_PS_COLUMNS = [
    Column("MODEL", style="bold"),
    Column("CONTEXT", justify="right", no_wrap=True),
    Column("MEMORY", justify="right", no_wrap=True),
    Column("UNTIL", no_wrap=True),
]


def _detail(model: ModelInfo, keys: Sequence[str]) -> object:
    for key in keys:
        value = model.details.get(key)
        if value not in (None, ""):
            return value
    return None


def _ps_row(model: ModelInfo) -> list[str | tuple[str, str]]:
    memory = _detail(model, _MEMORY_KEYS)
    return [
        model.id,
        dash(model.loaded_context_length),
        human_bytes(memory) if isinstance(memory, int) and not isinstance(memory, bool) else "-",
        dash(_detail(model, _UNTIL_KEYS)),
    ]


COMMANDS = [discover, models, show, ps]
