"""What a surface is to the gateway's plumbing: a set of routes, the shape of its
errors, and how it answers a path or method it does not have.

A surface (the OpenAI API, Ollama's, Anthropic's Messages, OpenAI's Responses) is a
:class:`Surface` subclass in a module or package of its own, beside its pure
translation; the plumbing (``_app``) knows none of them by name. Adding one is a new
module and one line in ``_registry``. A path belongs to exactly one surface.

Handlers take the :class:`~modelport.gateway._exchange.Exchange` and the parsed JSON
body (routes with ``body``), or the path's parameter (a prefix route), or ``None``;
they use the shared pipeline (``_pipeline``) for the calls to the client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from . import _errors as errors
from ._errors import Failure
from ._exchange import ErrorShape, Exchange

if TYPE_CHECKING:
    from ..client import AsyncClient

__all__ = ["App", "ErrorShape", "Handler", "Route", "Surface"]

Handler = Callable[[Exchange, Any], Awaitable[None]]
"""A route's handler for one method: the exchange, and the body (or path parameter)."""


class App(Protocol):
    """What a surface may use of the gateway: the client it serves and its id."""

    @property
    def client(self) -> AsyncClient: ...

    @property
    def id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Route:
    """One path of a surface, and a handler per method."""

    path: str
    methods: Mapping[str, Handler] = field(default_factory=dict)
    body: bool = False
    """Whether the handlers take a JSON body."""
    public: bool = False
    """Whether it answers without an API key (only fixed, harmless answers)."""
    quiet: bool = False
    """Whether the access log leaves it out (side traffic such as telemetry)."""

    def allow(self) -> bytes:
        """The ``Allow`` header's value."""
        return ", ".join(sorted({*self.methods, "OPTIONS"})).encode()


class Surface:
    """One API the gateway speaks. Subclasses set :attr:`name`, list their
    :meth:`routes`, and change what differs from OpenAI's shapes.
    """

    name: ClassVar[str] = ""

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def client(self) -> AsyncClient:
        return self.app.client

    def routes(self) -> Iterable[Route]:
        """The surface's paths."""
        return ()

    def route_with_parameter(self, path: str) -> tuple[Route, str] | None:
        """A route whose path holds a parameter (``/v1/models/{id}``), and its value."""
        return None

    def claims(self, path: str) -> bool:
        """Whether a path no route has is answered in this surface's shape."""
        return False

    def failure_for(self, error: BaseException) -> Failure:
        """What the caller is told for ``error`` (the gateway's table by default)."""
        return errors.failure_for(error)

    def error(self, failure: Failure) -> ErrorShape:
        """A failure in this surface's shape (OpenAI's by default)."""
        return failure.status, errors.headers_for(failure), errors.openai_body(failure)

    async def no_route(self, ex: Exchange) -> None:
        """The answer to a path no surface has."""
        await ex.fail(errors.route_not_found(ex.method, ex.path))

    async def bad_method(self, ex: Exchange, route: Route) -> None:
        """The answer to a method the route does not take (405 with ``Allow``)."""
        failure = errors.method_not_allowed(ex.method, ex.path, sorted(route.methods))
        await ex.fail(failure, [(b"allow", route.allow())])
