"""The gateway's own routes, which belong to no model API: its metrics
(``/metrics``, ``/metrics/upstream``) and its status page (``/ui``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources
from typing import TYPE_CHECKING, Protocol

from ..errors import ConfigurationError
from . import _errors as errors
from ._exchange import Exchange
from ._surface import App, Route, Surface

if TYPE_CHECKING:
    from ..client import AsyncClient
    from ._metrics import Metrics

__all__ = ["OpsSurface", "metrics_for"]


class _Observed(App, Protocol):
    """The gateway as these routes see it: its client, id and metrics (``None``: off)."""

    @property
    def metrics(self) -> Metrics | None: ...


class OpsSurface(Surface):
    """``/metrics`` and ``/metrics/upstream`` (with the key, as every route), and ``/ui``."""

    name = "gateway"

    def routes(self) -> Iterable[Route]:
        yield Route("/metrics", {"GET": self.metrics}, quiet=True)
        yield Route("/metrics/upstream", {"GET": self.upstream}, quiet=True)
        yield Route("/ui", {"GET": self.ui}, public=True, quiet=True)

    def __init__(self, app: _Observed) -> None:
        super().__init__(app)
        self._gateway = app

    async def metrics(self, ex: Exchange, _: object) -> None:
        metrics = self._gateway.metrics
        if metrics is None:
            await ex.fail(errors.route_not_found(ex.method, ex.path))
            return
        from ._metrics import CONTENT_TYPE

        await metrics.read_lists()
        await ex.raw(200, metrics.render().encode(), CONTENT_TYPE)

    async def ui(self, ex: Exchange, _: object) -> None:
        """The status page: static, no key needed (the data it reads asks for one)."""
        await ex.raw(200, _page(), HTML, UI_HEADERS)

    async def upstream(self, ex: Exchange, _: object) -> None:
        metrics = self._gateway.metrics
        if metrics is None:
            await ex.fail(errors.route_not_found(ex.method, ex.path))
            return
        from ._metrics import CONTENT_TYPE
        from ._upstream_metrics import upstream_metrics

        await ex.raw(200, await upstream_metrics(self.client), CONTENT_TYPE)


HTML = b"text/html; charset=utf-8"
UI_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        b"connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]
"""The page runs only its own inline script and style, talks only to its gateway, and
is never framed by another page."""


@functools.cache
def _page() -> bytes:
    return resources.files(__package__).joinpath("_ui.html").read_bytes()


def metrics_for(client: AsyncClient, wanted: bool | None) -> Metrics | None:
    """The app's metrics: on when prometheus-client is installed (the ``serve`` extra),
    unless ``wanted`` is ``False``; ``True`` without it is a configuration error.
    """
    if wanted is False:
        return None
    try:
        from ._metrics import Metrics
    except ImportError as exc:
        if wanted:
            raise ConfigurationError(
                "The gateway's metrics need prometheus-client.",
                hint="pip install 'modelport[serve]'",
            ) from exc
        return None
    metrics = Metrics(client)

    def queue_depths() -> list[tuple[str, str, int]]:  # the scheduler's queue, per model
        return [
            (service.name, model.model, model.queued)
            for service in client._service_loads().values()
            for model in service.models
        ]

    metrics.queue_depths = queue_depths
    return metrics
