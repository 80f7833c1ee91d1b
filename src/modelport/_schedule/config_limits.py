"""The configuration file's limits, as the scheduler reads them."""

from __future__ import annotations

from ..config import Config
from .types import LimitsSource, ModelLimits, ServiceLimits, Target

__all__ = ["ConfigLimits", "limits_from_config"]


class ConfigLimits:
    """A :class:`LimitsSource` over a :class:`~modelport.config.Config` (memoised: the
    configuration is frozen, and the scheduler asks for every target on every event).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._models: dict[Target, ModelLimits] = {}

    def service(self, name: str) -> ServiceLimits:
        """The ``[services.NAME]`` limits, or none."""
        found = self.config.service(name)
        if found is None:
            return ServiceLimits()
        return ServiceLimits(
            max_in_flight=found.max_in_flight,
            max_queue=found.max_queue,
            max_wait=found.max_wait,
            max_loaded=found.max_loaded,
            swap_after=found.swap_after,
        )

    def model(self, target: Target) -> ModelLimits:
        """The ``[models]`` settings matching the target (see ``Config.model_settings``)."""
        if target not in self._models:
            found = self.config.model_settings(target.service, target.model)
            self._models[target] = ModelLimits(
                max_in_flight=found.max_in_flight,
                max_queue=found.max_queue,
                max_wait=found.max_wait,
                ttl=found.ttl,
            )
        return self._models[target]


def limits_from_config(config: Config) -> LimitsSource:
    """The scheduler's limits from a configuration."""
    return ConfigLimits(config)
