"""Headers the gateway adds to every upstream request it makes for a caller, built
once for every surface: the gateway-id chain (``x-modelport-gateway``, see
:mod:`modelport._http.forwarding`), and the caller's ``traceparent`` and
``x-request-id`` passed through (or made here when the caller sent none, or one that
is not well formed), so a request can be followed from the caller through the gateway
to the service's own log.

>>> ids = RequestIds.of([(b"x-request-id", b"abc-1")])
>>> ids.request_id
'abc-1'
>>> len(ids.traceparent), ids.traceparent[:3]
(55, '00-')
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
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
    def of(cls, headers: Iterable[tuple[bytes, bytes]]) -> RequestIds:
        """The caller's ids where well formed; fresh ones otherwise."""
        trace = request = None
        for name, value in headers:
            if name == b"traceparent":
                value = value.strip().lower()
                trace = value.decode() if _TRACEPARENT.fullmatch(value) else None
            elif name == b"x-request-id":
                value = value.strip()
                request = value.decode() if _REQUEST_ID.fullmatch(value) else None
        if trace is None:
            trace = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
        return cls(trace, request or secrets.token_hex(16))

    def upstream(self) -> tuple[tuple[str, str], ...]:
        """The headers each upstream request carries."""
        return ((TRACEPARENT, self.traceparent), (REQUEST_ID, self.request_id))
