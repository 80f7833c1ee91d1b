"""The gateway's ASGI layer: routing, keys, body limits, streaming and disconnects.

Only I/O lives here. Each request is read (bounded by the body limit), handed to a
handler that calls the public :class:`~modelport.AsyncClient` and writes what the
pure translation modules return. While a handler runs, ``receive()`` is watched for
``http.disconnect`` in a second task: when the caller leaves (while the service is
still reading the prompt, mid-stream, or during a plain call) the handler is
cancelled at once, which closes the upstream request.

Streams open the upstream and wait for its first chunk before sending the response
headers, so a failure before any output still gets its own status (and failover,
which the client does before the first chunk, stays invisible); each chunk is then
written as soon as it arrives.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Mapping,
    Sequence,
)
from typing import Any

from .._version import __version__
from ..client import AsyncClient
from ..discovery import MAX_GATEWAY_HOPS, forwarding, gateway_chain
from ..errors import CapabilityError, ConfigurationError, ModelportError
from ..types import PullProgress
from . import _errors as errors
from . import _ollama as ol
from . import _openai as oa
from ._budget import BodyBudget
from ._config import DEFAULT_MAX_BODY, check_keys, is_loopback_host
from ._cors import Origins
from ._errors import Failure, failure_for
from ._exchange import (
    CLIENT_CLOSED,
    GATEWAY_HEADER,
    NDJSON,
    TEXT,
    Disconnected,
    Encoder,
    Exchange,
    Handler,
    Receive,
    Route,
    Scope,
    Send,
    Surface,
    until_disconnect,
)

__all__ = ["GATEWAY_HEADER", "Gateway"]

log = logging.getLogger("modelport.gateway")


def _created() -> int:
    return int(time.time())


def _completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


class Gateway:
    """The ASGI application of ``modelport serve``; build it with :func:`create_app`.

    ``id`` is this instance's random id: sent on its own upstream requests, stamped
    on every response (``x-modelport-gateway``), and answered with 508 when a request
    carries it back.
    """

    def __init__(
        self,
        client: AsyncClient | None = None,
        *,
        api_keys: Sequence[str] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        gateway_id: str | None = None,
        max_body_memory: int | None = None,
        cors_origins: Sequence[str] = (),
    ) -> None:
        self.id: str = (
            gateway_id
            or (client.gateway_id if client is not None else None)
            or secrets.token_hex(8)
        )
        self._keys = [key.encode() for key in check_keys(api_keys)]
        self.max_body = max_body
        self.max_body_memory = (
            max_body * BODIES_HELD if max_body_memory is None else max_body_memory
        )
        if self.max_body_memory < max_body:
            raise ConfigurationError(
                f"max_body_memory ({self.max_body_memory} bytes) is less than one body of "
                f"max_body ({max_body} bytes)."
            )
        self._budget = BodyBudget(self.max_body_memory)
        self.origins = Origins(cors_origins)
        self._owns_client = client is None
        self.client: AsyncClient = client if client is not None else AsyncClient(gateway_id=self.id)
        self.stamp = (GATEWAY_HEADER.encode(), self.id.encode())
        self.routes: dict[str, Route] = {}
        self._add_openai_routes()
        self._add_ollama_routes()

    # ------------------------------------------------------------------ routing

    def _route(
        self,
        path: str,
        surface: Surface,
        methods: Mapping[str, Handler],
        *,
        body: bool = False,
        public: bool = False,
    ) -> None:
        self.routes[path] = Route(surface, dict(methods), body, public)

    @property
    def keyed(self) -> bool:
        """Whether callers must send a key (with none, only this machine's Host names
        are answered).
        """
        return bool(self._keys)

    def _add_openai_routes(self) -> None:
        self._route("/health", "openai", {"GET": self._health}, public=True)
        self._route("/v1/models", "openai", {"GET": self._models})
        self._route("/v1/chat/completions", "openai", {"POST": self._chat}, body=True)
        self._route("/v1/embeddings", "openai", {"POST": self._embeddings}, body=True)

    def _add_ollama_routes(self) -> None:
        public = {"GET": self._ollama_root, "HEAD": self._ollama_root}
        self._route("/", "ollama", public, public=True)
        version = {"GET": self._ollama_version, "HEAD": self._ollama_version}
        self._route("/api/version", "ollama", version, public=True)
        tags = {"GET": self._ollama_tags, "HEAD": self._ollama_tags}
        self._route("/api/tags", "ollama", tags)
        self._route("/api/ps", "ollama", {"GET": self._ollama_ps})
        for path, handler in (
            ("/api/show", self._ollama_show),
            ("/api/chat", self._ollama_chat),
            ("/api/generate", self._ollama_generate),
            ("/api/embed", self._ollama_embed),
            ("/api/embeddings", self._ollama_embeddings),
            ("/api/pull", self._ollama_pull),
        ):
            self._route(path, "ollama", {"POST": handler}, body=True)
        for path in ("/api/create", "/api/copy", "/api/push"):
            self._route(path, "ollama", {"POST": self._not_supported})
        self._route("/api/delete", "ollama", {"DELETE": self._not_supported})
        self._blobs = Route("ollama", {"HEAD": self._not_supported, "POST": self._not_supported})

    def _find(self, path: str) -> tuple[Route | None, str | None]:
        route = self.routes.get(path)
        if route is not None:
            return route, None
        if path.startswith("/v1/models/") and len(path) > len("/v1/models/"):
            return Route("openai", {"GET": self._model}), path[len("/v1/models/") :]
        if path.startswith("/api/blobs/"):
            return self._blobs, None
        return None, None

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._owns_client:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        root = scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        ex = Exchange(self, scope, receive, send, path)
        try:
            await self._serve(ex)
        except Disconnected:
            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here: answer 500 if we still can, and say so
            log.exception("gateway error on %s %s", ex.method, _shown(path))
            if not ex.headers_sent:
                await ex.fail(failure_for(exc))
            elif ex.streaming:
                await ex.finish()
        finally:
            if ex.held:
                self._budget.give(ex.held)
            self._access_log(ex)

    async def _serve(self, ex: Exchange) -> None:
        auth: bytes | None = None
        api_key: bytes | None = None
        length: bytes | None = None
        host: bytes | None = None
        origin: bytes | None = None
        preflight: bytes | None = None
        chain: list[bytes] = []
        for name, value in ex.scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"x-api-key":
                api_key = value
            elif name == b"content-length":
                length = value
            elif name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"access-control-request-headers":
                preflight = value
            elif name == b"access-control-request-method":
                preflight = preflight or b""
            elif name == self.stamp[0]:
                chain.append(value)
        if not self._keys and host is not None and not is_loopback_host(host.decode("latin-1")):
            await ex.fail(errors.forbidden_host(host.decode("latin-1")))
            return
        hops: tuple[str, ...] = ()
        if chain:
            try:
                hops = gateway_chain(b",".join(chain).decode("latin-1"))
            except ValueError as exc:
                await ex.fail(errors.bad_chain(str(exc)))
                return
            if self.id in hops:
                await ex.fail(errors.loop())
                return
            if len(hops) > MAX_GATEWAY_HOPS:
                await ex.fail(errors.too_many_hops(MAX_GATEWAY_HOPS))
                return
        allowed = False
        if origin is not None and self.origins.allows(origin.decode("latin-1")):
            allowed = True
            ex.cors = Origins.grant(origin)
        route, param = self._find(ex.path)
        if route is None:
            if ex.surface == "ollama":  # as Ollama answers: a text 404 is "no such route"
                await ex.raw(404, b"404 page not found", TEXT)
            else:
                await ex.fail(errors.route_not_found(ex.method, ex.path))
            return
        ex.surface = route.surface
        if ex.method == "OPTIONS":
            await self._options(ex, route, origin, allowed, preflight)
            return
        handler = route.methods.get(ex.method)
        if handler is None:
            allow = [(b"allow", _allow(route))]
            if ex.surface == "ollama":
                await ex.raw(405, b"405 method not allowed", TEXT, allow)
            else:
                failure = errors.method_not_allowed(ex.method, ex.path, sorted(route.methods))
                await ex.fail(failure, allow)
            return
        ex.authorized = not self._keys or self._authorized(auth, api_key)
        if not route.public and not ex.authorized:
            await ex.fail(errors.unauthorized())
            return
        body: object = param
        if route.body:
            body = await self._read_json(ex, length)
            if body is _REFUSED:
                return
        if hops:
            with forwarding((*hops, self.id)):  # the handler's task starts with it set
                await self._watched(ex, handler, body)
        else:
            await self._watched(ex, handler, body)

    async def _options(
        self, ex: Exchange, route: Route, origin: bytes | None, allowed: bool, asked: bytes | None
    ) -> None:
        """A CORS preflight (no key needed), or a plain OPTIONS: what the route allows."""
        if origin is None or asked is None:
            await ex.raw(204, b"", TEXT, [(b"allow", _allow(route))])
        elif not allowed:
            ex.cors = []
            await ex.raw(403, b"This origin may not call this gateway (CORS).", TEXT)
        else:
            ex.cors = Origins.preflight(origin, asked or None)
            await ex.raw(204, b"", TEXT)

    def _authorized(self, auth: bytes | None, api_key: bytes | None) -> bool:
        offered = []
        if auth is not None and auth[:7].lower() == b"bearer ":
            offered.append(auth[7:].strip())
        if api_key is not None:
            offered.append(api_key.strip())
        ok = False
        for candidate in offered:
            for key in self._keys:  # every key compared, in constant time each
                ok |= hmac.compare_digest(candidate, key)
        return ok

    async def _read_json(self, ex: Exchange, length: bytes | None) -> object:
        declared = int(length) if length is not None and length.isdigit() else None
        if declared is not None:
            if declared > self.max_body:
                await ex.fail(errors.too_large(self.max_body))
                return _REFUSED
            if not self._budget.take(declared):  # held until the request is answered
                await ex.fail(errors.busy(BUSY_RETRY_AFTER))
                return _REFUSED
            ex.held = declared
        data = bytearray()
        while True:
            message = await ex.receive()
            if message["type"] == "http.disconnect":
                raise Disconnected
            chunk: bytes = message.get("body", b"")
            data += chunk
            if len(data) > self.max_body:
                await ex.fail(errors.too_large(self.max_body))
                return _REFUSED
            if declared is None and chunk:
                if not self._budget.take(len(chunk)):
                    await ex.fail(errors.busy(BUSY_RETRY_AFTER))
                    return _REFUSED
                ex.held += len(chunk)
            if not message.get("more_body", False):
                break
        try:
            body = json.loads(data)
        except RecursionError:
            await ex.fail(errors.too_deep())
            return _REFUSED
        except ValueError as exc:  # also bytes that are not UTF-8
            await ex.fail(errors.bad_body(type(exc).__name__))
            return _REFUSED
        if not isinstance(body, dict):
            await ex.fail(errors.bad_body(f"got a JSON {type(body).__name__}"))
            return _REFUSED
        return body

    async def _watched(self, ex: Exchange, handler: Handler, body: object) -> None:
        """Run the handler while watching for the caller to leave; if it does, cancel
        the handler at once (its ``finally`` blocks close the upstream request).
        """
        work = asyncio.ensure_future(self._handle(ex, handler, body))
        watch = asyncio.ensure_future(until_disconnect(ex.receive))
        try:
            done, _ = await asyncio.wait((work, watch), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            work.cancel()
            watch.cancel()
            raise
        if work in done:
            watch.cancel()
            work.result()
            return
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        if not ex.closed:
            ex.status = CLIENT_CLOSED

    async def _handle(self, ex: Exchange, handler: Handler, body: object) -> None:
        try:
            await handler(ex, body)
        except (ModelportError, RecursionError) as exc:  # RecursionError: a body too deep
            ex.note(getattr(exc, "service", None))
            if not ex.headers_sent:
                await ex.fail(failure_for(exc))
                return
            raise  # a handler's stream writes its own error event; this is a bug
        if ex.streaming:
            await ex.finish()

    # ------------------------------------------------------------------ access log

    def _access_log(self, ex: Exchange) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        usage = ex.usage
        tokens = (
            f"{usage.prompt_tokens or 0}+{usage.completion_tokens or 0}"
            if usage is not None
            else "-"
        )
        log.info(
            "%s %s %d model=%s service=%s %.1fms tokens=%s",
            _shown(ex.method),
            _shown(ex.path),
            ex.status or CLIENT_CLOSED,
            _shown(ex.model or "-"),
            _shown(ex.service or "-"),
            (time.perf_counter() - ex.started) * 1000.0,
            tokens,
        )

    # ------------------------------------------------------------------ OpenAI surface

    async def _health(self, ex: Exchange, _: object) -> None:
        if not ex.authorized:  # liveness for probes without a key: nothing about services
            await ex.json(200, {"status": "ok"})
            return
        services = await self.client.services()
        await ex.json(
            200,
            {
                "status": "ok",
                "gateway": self.id,
                "services": [
                    {
                        "name": s.name,
                        "kind": s.kind,
                        "base_url": s.base_url,
                        "status": s.status.value,
                        "in_flight": s.in_flight,
                        "model_count": s.model_count,
                        "error": s.error,
                    }
                    for s in services
                ],
            },
        )

    async def _models(self, ex: Exchange, _: object) -> None:
        await ex.json(200, oa.models_body(await self.client.models()))

    async def _model(self, ex: Exchange, param: object) -> None:
        model = str(param)  # the path's model id
        ex.model = model
        info = await self.client.model_info(model)
        ex.note(info.service)
        await ex.json(200, oa.model_body(info, model))

    async def _chat(self, ex: Exchange, body: object) -> None:
        call = oa.parse_chat_request(body)
        ex.model = call.model
        if call.stream:
            await self._chat_stream(ex, call)
            return
        reply = await self.client.chat(call.model, call.messages, **call.options)
        ex.note(reply.service, reply.usage)
        await ex.json(
            200,
            oa.completion_body(reply, model=call.model, id=_completion_id(), created=_created()),
        )

    async def _chat_stream(self, ex: Exchange, call: oa.ChatCall) -> None:
        encoder = oa.ChunkEncoder(
            model=call.model,
            id=_completion_id(),
            created=_created(),
            include_usage=call.include_usage,
        )
        stream = self.client.chat_stream(call.model, call.messages, **call.options)
        await self._relay(ex, stream, encoder, b"text/event-stream", oa.error_event)

    async def _relay(
        self,
        ex: Exchange,
        stream: Any,
        encoder: Encoder,
        content_type: bytes,
        error: Callable[[Failure], bytes],
    ) -> None:
        """Relay a chat stream: its first chunk before any header (so a failure before
        output gets its own status), then each chunk as it arrives; a failure after
        that is the surface's last error event.
        """
        try:
            try:  # routing, failover and the first chunk, before any header is sent
                first = await stream.__anext__()
            except StopAsyncIteration:
                first = None
            await ex.open_stream(content_type)
            if first is not None:
                await ex.write(encoder.chunk(first))
            try:
                async for chunk in stream:
                    await ex.write(encoder.chunk(chunk))
            except ModelportError as exc:
                ex.note(exc.service)
                await ex.write(error(failure_for(exc)))
                return
            if stream.done:
                ex.note(stream.response.service, stream.response.usage)
            await ex.write(encoder.end())
        finally:
            await stream.aclose()

    async def _embeddings(self, ex: Exchange, body: object) -> None:
        call = oa.parse_embed_request(body)
        ex.model = call.model
        result = await self.client.embed(call.model, call.inputs)
        ex.note(result.service, result.usage)
        await ex.json(200, oa.embeddings_body(result, model=call.model, base64_out=call.base64))

    # ------------------------------------------------------------------ Ollama surface

    async def _ollama_root(self, ex: Exchange, _: object) -> None:
        await ex.raw(200, b"Ollama is running", TEXT)

    async def _ollama_version(self, ex: Exchange, _: object) -> None:
        await ex.json(200, {"version": ol.VERSION, "modelport": __version__})

    async def _ollama_tags(self, ex: Exchange, _: object) -> None:
        await ex.json(200, ol.tags_body(await self.client.models()))

    async def _ollama_ps(self, ex: Exchange, _: object) -> None:
        await ex.json(200, ol.ps_body(await self.client.models()))

    async def _ollama_show(self, ex: Exchange, body: object) -> None:
        model, _ = ol.parse_pull_request(body)
        ex.model = model
        info = await self.client.model_info(model)
        ex.note(info.service)
        await ex.json(200, ol.show_body(info))

    async def _ollama_chat(self, ex: Exchange, body: object) -> None:
        await self._ollama_reply(ex, ol.parse_chat_request(body))

    async def _ollama_generate(self, ex: Exchange, body: object) -> None:
        await self._ollama_reply(ex, ol.parse_generate_request(body))

    async def _ollama_reply(self, ex: Exchange, call: ol.ChatCall) -> None:
        ex.model = call.model
        if not call.messages:  # Ollama's way to load (or unload) a model
            if call.unload:
                try:
                    await self.client.unload(call.model)
                except CapabilityError:
                    pass  # servers that cannot unload keep the model: nothing to do
            await ex.json(200, ol.load_body(call.model, generate=call.generate, unload=call.unload))
            return
        if call.stream:
            encoder = ol.StreamEncoder(model=call.model, generate=call.generate)
            stream = self.client.chat_stream(call.model, call.messages, **call.options)
            await self._relay(ex, stream, encoder, NDJSON, ol.error_line)
            return
        started = time.perf_counter()
        reply = await self.client.chat(call.model, call.messages, **call.options)
        ex.note(reply.service, reply.usage)
        elapsed = time.perf_counter() - started
        build = ol.generate_body if call.generate else ol.chat_body
        await ex.json(200, build(reply, model=call.model, elapsed=elapsed))

    async def _ollama_embed(self, ex: Exchange, body: object) -> None:
        call = ol.parse_embed_request(body)
        ex.model = call.model
        if not call.inputs:
            await ex.json(200, {"model": call.model, "embeddings": []})
            return
        started = time.perf_counter()
        result = await self.client.embed(call.model, call.inputs)
        ex.note(result.service, result.usage)
        elapsed = time.perf_counter() - started
        body = ol.embed_body(result, model=call.model, dimensions=call.dimensions, elapsed=elapsed)
        await ex.json(200, body)

    async def _ollama_embeddings(self, ex: Exchange, body: object) -> None:
        call = ol.parse_embed_request(body, legacy=True)
        ex.model = call.model
        if not call.inputs:
            await ex.json(200, {"embedding": []})
            return
        result = await self.client.embed(call.model, call.inputs)
        ex.note(result.service, result.usage)
        await ex.json(200, ol.legacy_embedding_body(result))

    async def _ollama_pull(self, ex: Exchange, body: object) -> None:
        model, stream = ol.parse_pull_request(body)
        ex.model = model
        progress: AsyncIterator[PullProgress] = self.client.pull(model)
        try:
            try:
                first = await progress.__anext__()  # errors before any output get a status
            except StopAsyncIteration:  # nothing to report: done, as Ollama ends a pull
                first = PullProgress(status="success")
            if not stream:
                last = first
                async for step in progress:
                    last = step
                await ex.json(200, _progress(last))
                return
            await ex.open_stream(NDJSON)
            await ex.write(_progress_line(first))
            try:
                async for step in progress:
                    await ex.write(_progress_line(step))
            except ModelportError as exc:
                await ex.write(ol.error_line(failure_for(exc)))
        finally:
            await progress.aclose()  # type: ignore[attr-defined]

    async def _not_supported(self, ex: Exchange, _: object) -> None:
        await ex.fail(
            errors.not_implemented(
                f"{ex.method} {ex.path} is not supported by the modelport gateway: it serves "
                "models from several servers and does not manage them. Create, copy, push "
                "and delete models on the Ollama server itself."
            )
        )


def _allow(route: Route) -> bytes:
    return ", ".join(sorted({*route.methods, "OPTIONS"})).encode()


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_UNSAFE = re.compile(r"[\x00-\x20\x7f-\xa0\\\u2028\u2029]")


def _shown(text: str) -> str:
    """``text`` for one log line: control characters, spaces and backslashes escaped
    (``\\x0a``), so a caller's path or model name cannot forge a line or a field.
    """
    return _UNSAFE.sub(_escape, text)


def _progress(step: PullProgress) -> dict[str, Any]:
    out: dict[str, Any] = {"status": step.status}
    for key in ("digest", "total", "completed"):
        value = getattr(step, key)
        if value is not None:
            out[key] = value
    return out


def _progress_line(step: PullProgress) -> bytes:
    return errors.dumps(_progress(step)) + b"\n"


BODIES_HELD = 4
"""The default memory cap for request bodies held at once: this many bodies of the limit."""
BUSY_RETRY_AFTER = 2
"""Seconds a caller refused for the body memory cap is asked to wait."""

_REFUSED: Any = object()
"""What reading a body returns when the request was already answered (413, 400)."""
