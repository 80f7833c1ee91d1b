"""The JSON request log (``serve --access-log json``): one object per request."""

from __future__ import annotations

import time

from ._exchange import CLIENT_CLOSED, Exchange

__all__ = ["access_record"]


def access_record(ex: Exchange) -> dict[str, object]:
    """One request as the JSON access log shows it: never a prompt, a body or a key."""
    now = time.perf_counter()
    usage = ex.usage

    def ms(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds * 1000.0, 3)

    wall = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall))
    return {
        "time": f"{stamp}.{int(wall % 1 * 1000):03d}Z",
        "request_id": None if ex.request_id is None else ex.request_id.decode("latin-1"),
        "method": ex.method,
        "path": ex.path,
        "surface": getattr(ex.surface, "name", None),
        "model": ex.model,
        "service": ex.service,
        "status": ex.status or CLIENT_CLOSED,
        "error_type": ex.failure_type() or None,
        "input_tokens": None if usage is None else usage.prompt_tokens,
        "output_tokens": None if usage is None else usage.completion_tokens,
        "queue_wait_ms": ms(ex.queue_wait),
        "ttft_ms": ms(ex.first_token - ex.started) if ex.first_token else None,
        "duration_ms": ms(now - ex.started),
    }
