"""Headers the gateway adds to every upstream request it makes for a caller, built
once for every surface: the gateway-id chain (``x-modelport-gateway``, see
:mod:`modelport._http.forwarding`), and the caller's ``traceparent`` and
``x-request-id`` passed through (or made here when the caller sent none, or one that
is not well formed), so a request can be followed from the caller through the gateway
to the service's own log. A caller that sends no ``x-request-id`` gets its trace id
as one.

>>> ids = RequestIds.of(None, b"abc-1")
>>> ids.request_id
'abc-1'
>>> len(ids.traceparent), ids.traceparent[:3]
(55, '00-')
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

__all__ = ["REQUEST_ID", "TRACEPARENT", "RequestIds"]

TRACEPARENT = "traceparent"
REQUEST_ID = "x-request-id"
_TRACEPARENT = re.compile(rb"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")


@dataclass(frozen=True, slots=True)
class RequestIds:
    """The ``traceparent`` (W3C Trace Context) and ``x-request-id`` of one request."""

    traceparent: str
    request_id: str

    @classmethod
    def of(cls, traceparent: bytes | None, request_id: bytes | None) -> RequestIds:
        """The caller's ids (its header values) where well formed; fresh ones otherwise."""
        trace = request = None
        if traceparent is not None:
            traceparent = traceparent.strip().lower()
            trace = traceparent.decode() if _TRACEPARENT.fullmatch(traceparent) else None
        if request_id is not None:
            request_id = request_id.strip()
            request = request_id.decode() if _REQUEST_ID.fullmatch(request_id) else None
        if trace is None:
            fresh = os.urandom(24).hex()  # a trace id and a parent id, one system call
            trace = f"00-{fresh[:32]}-{fresh[32:]}-01"
        return cls(trace, request or trace[3:35])  # no id of its own: the trace's

    def upstream(self) -> tuple[tuple[str, str], ...]:
        """The headers each upstream request carries."""
        return ((TRACEPARENT, self.traceparent), (REQUEST_ID, self.request_id))
