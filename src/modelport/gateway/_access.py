"""The access log: one line per request (``serve --access-log text``, the default) or
one JSON object per request (``--access-log json``); never a prompt, a body or a key.
"""

from __future__ import annotations

import json
import logging
import re
import time

from ._exchange import CLIENT_CLOSED, Exchange

__all__ = ["ACCESS_LOGS", "access_record", "shown", "write_access_log"]

log = logging.getLogger("modelport.gateway")
"""Where the text lines go: the gateway's own log."""
json_log = logging.getLogger("modelport.gateway.access")
"""Where the JSON request log goes (one JSON object a record), beside the gateway's log."""

ACCESS_LOGS = ("text", "json")
"""The forms of the access log: one plain line per request, or one JSON object."""
_LINE = "%s %s %d model=%s service=%s %.1fms tokens=%s"


def write_access_log(ex: Exchange, form: str) -> None:
    """Log one finished request in ``form`` (one of :data:`ACCESS_LOGS`), if the
    gateway's log takes ``INFO``.
    """
    if not log.isEnabledFor(logging.INFO):
        return
    if form == "json":
        json_log.info("%s", json.dumps(access_record(ex), separators=(",", ":")))
        return
    usage = ex.usage
    tokens = (
        f"{usage.prompt_tokens or 0}+{usage.completion_tokens or 0}" if usage is not None else "-"
    )
    args = (
        shown(ex.method),
        shown(ex.path),
        ex.status or CLIENT_CLOSED,
        shown(ex.model or "-"),
        shown(ex.service or "-"),
        (time.perf_counter() - ex.started) * 1000.0,
        tokens,
    )
    # What log.info(_LINE, *args) makes, without its walk up the stack to find the
    # caller (a fifth of the line's cost): the caller is always this function.
    record = log.makeRecord(log.name, logging.INFO, *_CALLER, _LINE, args, None, func=_FUNC)
    log.handle(record)


_CALLER = (write_access_log.__code__.co_filename, write_access_log.__code__.co_firstlineno)
_FUNC = write_access_log.__name__


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


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_UNSAFE = re.compile(r"[\x00-\x20\x7f-\xa0\\\u2028\u2029]")


def shown(text: str) -> str:
    """``text`` for one log line: control characters, spaces and backslashes escaped
    (``\\x0a``), so a caller's path or model name cannot forge a line or a field.
    """
    return text if _UNSAFE.search(text) is None else _UNSAFE.sub(_escape, text)
