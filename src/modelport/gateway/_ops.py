"""The gateway's own routes, which belong to no model API: its metrics
(``/metrics``, ``/metrics/upstream``) and its status page (``/ui``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from . import _errors as errors
from ._exchange import Exchange
from ._surface import Route, Surface

if TYPE_CHECKING:
    from ._app import Gateway

__all__ = ["OpsSurface"]


class OpsSurface(Surface):
    """``/metrics`` and ``/metrics/upstream`` (with the key, as every route), and ``/ui``."""

    name = "gateway"

    def routes(self) -> Iterable[Route]:
        yield Route("/metrics", {"GET": self.metrics}, quiet=True)
        yield Route("/metrics/upstream", {"GET": self.upstream}, quiet=True)

    @property
    def _gateway(self) -> Gateway:
        return cast("Gateway", self.app)

    async def metrics(self, ex: Exchange, _: object) -> None:
        metrics = self._gateway.metrics
        if metrics is None:
            await ex.fail(errors.route_not_found(ex.method, ex.path))
            return
        from ._metrics import CONTENT_TYPE

        await ex.raw(200, metrics.render().encode(), CONTENT_TYPE)

    async def upstream(self, ex: Exchange, _: object) -> None:
        metrics = self._gateway.metrics
        if metrics is None:
            await ex.fail(errors.route_not_found(ex.method, ex.path))
            return
        from ._metrics import CONTENT_TYPE

        await ex.raw(200, await metrics.upstream(), CONTENT_TYPE)
