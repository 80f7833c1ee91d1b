"""Failover: trying a request's targets in turn, and counting the requests in flight.

:meth:`Failover.run` is a *flow*: a generator, driven by the sync or the async client,
that delegates each attempt to a flow the caller gives and waits between retries with
the ``sleep`` step of :mod:`modelport._http.ops`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from .._flow import Flow
from .._http.ops import sleep
from .._http.retry import RetryPolicy
from ..errors import AllServicesFailedError, CapabilityError, ModelNotFoundError, ModelportError
from .health import Health, error_summary
from .state import ServiceState, Target

__all__ = ["Failover", "FailoverObserver", "InFlight"]

T = TypeVar("T")

log = logging.getLogger("modelport")


class FailoverObserver(Protocol):
    """What is told of failed attempts and failovers."""

    def attempt_failed(self, service: str, model: str, error: ModelportError) -> None: ...

    def failed_over(self, service: str, model: str) -> None:
        """A request moved on from ``service`` (the one that failed) to the next target."""


class InFlight:
    """Counts each service's requests in flight (and each model's on it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def hold(self, state: ServiceState, model: str | None = None) -> None:
        """One more request in flight to the service (and to ``model`` on it)."""
        with self.lock:
            state.in_flight += 1
            if model is not None:
                state.model_in_flight[model] = state.model_in_flight.get(model, 0) + 1

    def release(self, state: ServiceState, model: str | None = None) -> None:
        """A request to the service (and to ``model`` on it) finished."""
        with self.lock:
            state.in_flight = max(0, state.in_flight - 1)
            if model is not None:
                left = state.model_in_flight.get(model, 0) - 1
                if left > 0:
                    state.model_in_flight[model] = left
                else:
                    state.model_in_flight.pop(model, None)


class Failover:
    """Tries targets in turn: retries with backoff per service, then the next service.

    It reads and feeds ``health``, counts each attempt in ``in_flight``, and tells
    ``observers`` (a list the caller may append to later) of each failure.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        health: Health,
        in_flight: InFlight,
        observers: list[FailoverObserver] | None = None,
    ) -> None:
        self.policy = policy
        self.health = health
        self.in_flight = in_flight
        self.observers: list[FailoverObserver] = [] if observers is None else observers

    def run(
        self,
        targets: Sequence[Target],
        attempt: Callable[[Target], Flow[T]],
        *,
        keep: bool = False,
    ) -> Flow[tuple[Target, T]]:
        """Try ``attempt`` on each target in turn: retries with backoff per service,
        then the next service. Returns the target that answered, and its result.

        Each attempt counts as a request in flight until it ends (with ``keep``, the
        successful one stays counted until :meth:`InFlight.release`: a stream, until it
        is closed). Non-retriable errors are raised at once and never failed over,
        except a :class:`CapabilityError` (this replica cannot do it) or a
        :class:`ModelNotFoundError` (a stale list), which move on to the next target
        without touching the replica's health. When every target refused for its
        capability, the first refusal is raised. When
        every target failed: the error itself for a single target, else
        :class:`AllServicesFailedError` with each cause.
        """
        health, in_flight = self.health, self.in_flight
        errors: list[ModelportError] = []
        tried = 0
        last_tried: str | None = None  # the service a failover moves on from
        order, forced = self.in_turn(targets)
        for position, target in enumerate(order):
            state = target.state
            if not forced and not health.usable(state):
                log.debug("skipping %s: unavailable, in its cool-down", state.name)
                errors.append(health.unavailable_error(state))
                continue
            if errors:
                log.debug("failing over to %s", state.name)
                if last_tried is not None:
                    for observer in self.observers:
                        observer.failed_over(last_tried, target.model)
            tried += 1
            retry = 0
            last_tried = state.name
            while True:
                in_flight.hold(state, target.model)
                try:
                    result = yield from attempt(target)
                except ModelportError as error:
                    in_flight.release(state, target.model)
                    health.record_failure(state, error)
                    for observer in self.observers:
                        observer.attempt_failed(state.name, target.model, error)
                    if isinstance(error, ModelNotFoundError) and len(targets) > 1:
                        log.debug("failing over from %s: it no longer has the model", state.name)
                        errors.append(error)  # a stale list: the next service may have it
                        break
                    if isinstance(error, CapabilityError) and len(targets) > 1:
                        # This replica cannot do it (not a health failure); another may.
                        log.debug("failing over from %s: %s", state.name, error_summary(error))
                        errors.append(error)
                        break
                    if not error.retriable:
                        raise
                    delay = self.policy.delay(retry, error)
                    if delay is None:
                        log.debug("failing over from %s after %s", state.name, error_summary(error))
                        errors.append(error)
                        break
                    retry += 1
                    log.debug(
                        "retrying %s in %.2f s (retry %d) after %s",
                        state.name,
                        delay,
                        retry,
                        error_summary(error),
                    )
                    yield from sleep(delay)
                    if not health.usable(state) and position + 1 < len(order):
                        # Other requests found it down meanwhile: try the next replica.
                        errors.append(error)
                        break
                    continue
                except BaseException:
                    in_flight.release(state, target.model)
                    raise
                if not keep:
                    in_flight.release(state, target.model)
                health.record_success(state)
                return target, result
        if len(errors) == 1 or all(isinstance(e, CapabilityError) for e in errors):
            raise errors[0]  # every replica refused: the best one's refusal says why
        skipped = len(errors) - tried
        also = f", {skipped} skipped in {'its' if skipped == 1 else 'their'} cool-down" * bool(
            skipped
        )
        raise AllServicesFailedError(
            f"Every service that has this model failed ({tried} tried{also})", errors=errors
        )

    def in_turn(self, targets: Sequence[Target]) -> tuple[list[Target], bool]:
        """The order to try ``targets`` in, and whether services in their cool-down are
        tried too. They are skipped while another can be tried; when every one is
        cooling down, all are tried (as a single service is), the one unavailable
        longest first.
        """
        if any(self.health.usable(t.state) for t in targets):
            return list(targets), False
        return sorted(targets, key=lambda t: t.state.unavailable_since or 0.0), True
