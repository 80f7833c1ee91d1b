"""The scheduler's vocabulary: targets, limits, hints, the records it keeps, its decisions.

All frozen dataclasses; times are plain seconds on whatever monotonic clock the caller
uses (the scheduler never reads a clock).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = [
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_MAX_WAIT",
    "CancelLoad",
    "Decision",
    "Expired",
    "Fail",
    "Lease",
    "LimitsSource",
    "Load",
    "ModelLimits",
    "ModelState",
    "ModelStatus",
    "Reject",
    "ServerHints",
    "ServiceLimits",
    "ServiceLoad",
    "Start",
    "StaticLimits",
    "Target",
    "Ticket",
    "Unload",
    "Wait",
    "with_hints",
]

DEFAULT_MAX_QUEUE = 64
"""How many requests may wait for a service (or a model) that has a limit, unless set."""
DEFAULT_MAX_WAIT = 120.0
"""How long a request may wait, for a slot or a load, unless set (seconds)."""

ModelStatus = Literal["loaded", "loading", "unloaded"]


@dataclass(frozen=True, slots=True)
class Target:
    """One model on one service: where a request can run."""

    service: str
    model: str

    def __str__(self) -> str:
        return f"{self.service}/{self.model}"


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    """What one service allows. ``None`` means: not set (see each field).

    Attributes:
        max_in_flight: requests running at once on the service (``None``: no limit).
        max_queue: requests waiting for it (``None``: :data:`DEFAULT_MAX_QUEUE` where
            the service has a limit, else no bound).
        max_wait: seconds a request may wait (``None``: :data:`DEFAULT_MAX_WAIT`).
        max_loaded: models the service holds at once (``None``: as many as it likes; no
            swap-aware ordering).
        swap_after: seconds a request for a model that needs a swap waits before the
            service stops starting new requests for the model it would evict
            (``None``: half of ``max_wait``).
    """

    max_in_flight: int | None = None
    max_queue: int | None = None
    max_wait: float | None = None
    max_loaded: int | None = None
    swap_after: float | None = None

    @property
    def limited(self) -> bool:
        """Whether anything here can make a request wait for a slot or a swap."""
        return self.max_in_flight is not None or self.max_loaded is not None


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """What one model on one service allows (``None``: not set).

    Attributes:
        max_in_flight: requests running at once on this model.
        max_queue: requests waiting for it (``None``: :data:`DEFAULT_MAX_QUEUE` where the
            model has a limit, else only the service's bound).
        max_wait: seconds a request for it may wait (the shorter of this and the
            service's applies).
        ttl: seconds idle before the scheduler unloads it (``None``: never).
    """

    max_in_flight: int | None = None
    max_queue: int | None = None
    max_wait: float | None = None
    ttl: float | None = None


class LimitsSource(Protocol):
    """Where the scheduler reads the configured limits (a :class:`StaticLimits`, or the
    configuration file's settings).
    """

    def service(self, name: str) -> ServiceLimits:
        """The limits configured for a service."""
        ...

    def model(self, target: Target) -> ModelLimits:
        """The limits configured for one model on one service."""
        ...


@dataclass(frozen=True)
class StaticLimits:
    """Limits given as two tables; whatever is not in them has no limit."""

    services: Mapping[str, ServiceLimits] = field(default_factory=dict)
    models: Mapping[Target, ModelLimits] = field(default_factory=dict)

    def service(self, name: str) -> ServiceLimits:
        """The limits of ``name``, or none."""
        return self.services.get(name, ServiceLimits())

    def model(self, target: Target) -> ModelLimits:
        """The limits of ``target``, or none."""
        return self.models.get(target, ModelLimits())


@dataclass(frozen=True)
class ServerHints:
    """What a server says about itself that makes a good default limit.

    Attributes:
        max_in_flight: the service's slots (llama.cpp ``/props`` ``total_slots``).
        max_loaded: models it holds at once (llama.cpp router ``max_instances``).
        model_slots: slots per loaded model (a router model's own ``total_slots``, LM
            Studio's ``loaded_instances[].config.parallel``).
    """

    max_in_flight: int | None = None
    max_loaded: int | None = None
    model_slots: Mapping[str, int] = field(default_factory=dict)


def with_hints(configured: ServiceLimits, hints: ServerHints) -> ServiceLimits:
    """The configured limits, with what the server says filling what is not set."""
    return ServiceLimits(
        max_in_flight=(
            hints.max_in_flight if configured.max_in_flight is None else configured.max_in_flight
        ),
        max_queue=configured.max_queue,
        max_wait=configured.max_wait,
        max_loaded=hints.max_loaded if configured.max_loaded is None else configured.max_loaded,
        swap_after=configured.swap_after,
    )


@dataclass(frozen=True, slots=True)
class Ticket:
    """A request waiting: where it may run (best first), since when, until when."""

    request_id: str
    owner: str
    seq: int
    targets: tuple[Target, ...]
    arrived: float
    deadline: float


@dataclass(frozen=True, slots=True)
class Lease:
    """A request in flight. It holds its slot until released or until ``expires``
    passes without a renewal (so a gateway that died frees its slots).
    """

    request_id: str
    owner: str
    target: Target
    started: float
    expires: float


@dataclass(frozen=True, slots=True)
class ModelState:
    """What the scheduler believes about one model on one service.

    Attributes:
        status: loaded, loading or unloaded.
        since: the last time it was used (started, finished, loaded): for TTL and for
            choosing the least recently used model to evict.
        requested: loading because this scheduler asked (so it may cancel the load).
    """

    status: ModelStatus
    since: float
    requested: bool = False


@dataclass(frozen=True, slots=True)
class ServiceLoad:
    """One service as the scheduler sees it (for ``/health`` and ``modelport ps``)."""

    service: str
    in_flight: int
    max_in_flight: int | None
    queued: int
    max_queue: int | None
    max_loaded: int | None
    loaded: tuple[str, ...]
    loading: tuple[str, ...]


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True, slots=True)
class Start:
    """Send the request to ``target`` now; it holds a slot until finished or cancelled.
    ``waited`` is how long it queued (seconds).
    """

    request_id: str
    target: Target
    waited: float


@dataclass(frozen=True, slots=True)
class Wait:
    """The request waits: ``position`` (1 is next) in the queue, until ``deadline`` at
    the latest (then it is started or rejected).
    """

    request_id: str
    position: int
    deadline: float


@dataclass(frozen=True, slots=True)
class Reject:
    """Answer the request with "busy" (a 429 with ``Retry-After``): its queue was full,
    or it waited ``max_wait``. ``retry_after`` is a suggestion in seconds.
    """

    request_id: str
    reason: Literal["queue_full", "max_wait"]
    retry_after: float
    waited: float


@dataclass(frozen=True, slots=True)
class Fail:
    """The model the request waited for failed to load, and it has nowhere else to go:
    answer it with that load's error.
    """

    request_id: str
    target: Target


@dataclass(frozen=True, slots=True)
class Load:
    """Load ``target``'s model; ``evict`` names models on the same service it replaces
    (idle ones; a server that does not evict by itself should unload them first).
    Report the outcome with ``observe(target, "loaded")`` or ``load_failed(target)``.
    """

    target: Target
    evict: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CancelLoad:
    """Nobody waits for the load this scheduler asked for any more: stop it."""

    target: Target


@dataclass(frozen=True, slots=True)
class Unload:
    """Unload ``target``'s model (it was idle for its ``ttl``)."""

    target: Target
    reason: Literal["ttl"]


@dataclass(frozen=True, slots=True)
class Expired:
    """A request's lease expired without renewal (its gateway stopped): its slot is free."""

    request_id: str
    target: Target


Decision = Start | Wait | Reject | Fail | Load | CancelLoad | Unload | Expired
"""Everything the scheduler can ask of the one driving it."""
