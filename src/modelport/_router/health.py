"""Each service's health: a state machine fed by the outcome of requests and probes.

A service is available until requests to it fail; it is degraded after a failure and
unavailable after ``failure_threshold`` failures in a row, then skipped until its
``cooldown`` has passed. A success makes it available again; a probe that answers
clears only failures to reach it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from ..errors import ModelportError, RequestTimeoutError, ServiceUnavailableError, StreamError
from ..types import Service, ServiceStatus
from .state import ServiceState

__all__ = ["Health", "error_summary"]

log = logging.getLogger("modelport")


class Health:
    """Records what happened to each service and says whether it may be tried."""

    def __init__(
        self,
        *,
        failure_threshold: int = 3,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.clock = clock
        self.lock = threading.Lock()

    def record_success(self, state: ServiceState) -> None:
        """A request to the service succeeded: it is healthy again."""
        if state.status is ServiceStatus.AVAILABLE and not state.failures:
            return  # nothing to change: no lock to take
        if state.status is not ServiceStatus.AVAILABLE:
            log.debug("service %s: %s -> available", state.name, state.status)
        with self.lock:
            state.status = ServiceStatus.AVAILABLE
            state.failures = 0
            state.unavailable_since = None
            state.last_error = None
            if state.service is not None and state.service.status is not ServiceStatus.AVAILABLE:
                state.service = replace(state.service, status=ServiceStatus.AVAILABLE, error=None)

    def record_failure(self, state: ServiceState, error: ModelportError) -> None:
        """Count a failure of the service itself (unreachable, timeout, 5xx, or a stream
        that broke off); a caller's mistake (a bad request) is not the service's fault.
        """
        if not (error.retriable or isinstance(error, StreamError)):
            return
        with self.lock:
            before = state.status
            state.failures += 1
            state.last_error = str(error)
            state.unreachable = isinstance(error, (ServiceUnavailableError, RequestTimeoutError))
            if state.failures >= self.failure_threshold:
                state.status = ServiceStatus.UNAVAILABLE
                state.unavailable_since = self.clock()
            else:
                state.status = ServiceStatus.DEGRADED
        if state.status is not before:
            log.debug(
                "service %s: %s -> %s after %d failures in a row (%s)",
                state.name,
                before,
                state.status,
                state.failures,
                error_summary(error),
            )

    def record_probe(self, state: ServiceState) -> None:
        """A health probe or a listing answered. That shows the server is reachable,
        not that its requests work: it clears failures to reach it, never the health
        that failed requests (5xx, broken streams) earned.
        """
        with self.lock:
            if state.failures and not state.unreachable:
                return
            state.status = ServiceStatus.AVAILABLE
            state.failures = 0
            state.unavailable_since = None
            state.last_error = None
            state.unreachable = False

    def record_unreachable(self, state: ServiceState, why: str | None) -> None:
        """A configured server that did not answer its first probe: unavailable at once,
        and tried again after the cool-down.
        """
        with self.lock:
            state.status = ServiceStatus.UNAVAILABLE
            state.last_error = why
            state.unreachable = True
            state.unavailable_since = self.clock()
            state.failures = self.failure_threshold

    def record_health(self, state: ServiceState, service: Service) -> None:
        """Keep the service's last health report (version, latency, model count)."""
        with self.lock:
            state.service = service

    def usable(self, state: ServiceState) -> bool:
        """Unavailable services are skipped until their cool-down has passed."""
        if state.status is not ServiceStatus.UNAVAILABLE:
            return True
        since = state.unavailable_since
        return since is None or self.clock() - since >= self.cooldown

    def unavailable_error(self, state: ServiceState) -> ServiceUnavailableError:
        """Why a service in its cool-down was skipped."""
        provider = state.provider
        wait = ""
        if state.unavailable_since is not None:
            left = self.cooldown - (self.clock() - state.unavailable_since)
            wait = f" It will be tried again in {max(0.0, left):.0f} s."
        return ServiceUnavailableError(
            f"{provider.server_name} {state.name!r} at {provider.base_url} is unavailable "
            f"(last failure: {state.last_error or 'unknown'}).{wait}",
            service=state.name,
            base_url=provider.base_url,
            hint=provider.start_hint,
        )


def error_summary(error: ModelportError) -> str:
    """An error, for a log line: its class and status, never the server's words (they
    may quote a prompt).
    """
    status = f" ({error.status_code})" if error.status_code is not None else ""
    return f"{type(error).__name__}{status}"
