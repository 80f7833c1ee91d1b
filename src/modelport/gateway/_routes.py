"""The gateway's route table: every registered surface's paths, each owned by one."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import ConfigurationError
from ._surface import Route, Surface

__all__ = ["Routes"]


class Routes:
    """Paths to their surface and route. The first surface answers paths no surface
    claims (OpenAI's, the default shape).
    """

    __slots__ = ("_paths", "surfaces")

    def __init__(self, surfaces: Iterable[Surface]) -> None:
        self.surfaces = tuple(surfaces)
        self._paths: dict[str, tuple[Surface, Route]] = {}
        for surface in self.surfaces:
            for route in surface.routes():
                owner = self._paths.get(route.path)
                if owner is not None:
                    raise ConfigurationError(
                        f"{route.path} belongs to the {owner[0].name} surface; the "
                        f"{surface.name} surface cannot have it too."
                    )
                self._paths[route.path] = (surface, route)

    def find(self, path: str) -> tuple[Surface, Route | None, str | None]:
        """The surface, route and path parameter for ``path`` (no route: the surface
        whose shape the 404 takes).
        """
        found = self._paths.get(path)
        if found is not None:
            return found[0], found[1], None
        for surface in self.surfaces:
            match = surface.route_with_parameter(path)
            if match is not None:
                return surface, match[0], match[1]
        return self.shape(path), None, None

    def shape(self, path: str) -> Surface:
        """The surface whose shapes a request for ``path`` gets before it is routed."""
        for surface in self.surfaces[1:]:
            if surface.claims(path):
                return surface
        return self.surfaces[0]
