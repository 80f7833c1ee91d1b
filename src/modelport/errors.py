"""The one exception tree of modelport.

Every failure the public API can raise is a :class:`ModelportError`. Errors from
the libraries underneath (httpx, json) are translated at one boundary and kept as
``__cause__``, so nothing foreign escapes::

    ModelportError
    ├── ConfigurationError            bad URL, unknown provider kind, invalid option value
    ├── InvalidRequestError           caller mistakes caught before sending; other 400s
    │   ├── CapabilityError           the model or server cannot do what was asked
    │   └── ContextLengthExceededError  the prompt does not fit the model's context
    ├── ModelNotFoundError            no service has this model (.model, .suggestions)
    ├── ModelNotLoadedError           the model exists but is not loaded, and will not be
    ├── ServiceUnavailableError       refused, reset, DNS failure, 503/busy      [retriable]
    ├── RequestTimeoutError           connect or read timeout                    [retriable]
    ├── AuthenticationError           401/403
    ├── RateLimitError                429 (.retry_after)                         [retriable]
    │   └── BusyError                 modelport's own queue turned it away (.reason)
    ├── ServerError                   other 5xx                                  [retriable]
    ├── ProtocolError                 a response modelport cannot parse
    ├── StreamError                   a stream failed part-way (.partial keeps the text)
    └── AllServicesFailedError        every candidate failed (.errors lists each cause)

Every error carries ``service`` (the service name), ``base_url``, ``status_code``
(``None`` when there was no HTTP response), ``retriable`` and ``hint`` (what to do
about it). ``str(error)`` is one line that names the server and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "AllServicesFailedError",
    "AuthenticationError",
    "BusyError",
    "CapabilityError",
    "ConfigurationError",
    "ContextLengthExceededError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "ModelNotLoadedError",
    "ModelportError",
    "ProtocolError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "ServiceUnavailableError",
    "StreamError",
]


class ErrorOrigin(TypedDict, total=False):
    """Where an error came from: the service, its URL and the HTTP status."""

    service: str | None
    base_url: str | None
    status_code: int | None


class ErrorFields(ErrorOrigin, total=False):
    """The keyword fields every error takes (see :class:`ModelportError`)."""

    hint: str | None
    retriable: bool | None


class ModelportError(Exception):
    """Raised for every failure in modelport; the root of the tree.

    Args:
        message: what went wrong, naming the server where there is one.
        service: the name of the service that failed (``"ollama"``, ``"gpu-box"``).
        base_url: the base URL of that service.
        status_code: the HTTP status, or ``None`` when no response arrived.
        hint: what the user can do about it; appended to ``str(error)``.
        retriable: override the class default.
    """

    retriable: bool = False

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        base_url: str | None = None,
        status_code: int | None = None,
        hint: str | None = None,
        retriable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.base_url = base_url
        self.status_code = status_code
        self.hint = hint
        if retriable is not None:
            self.retriable = retriable

    def __str__(self) -> str:
        if self.hint and self.hint not in self.message:
            return f"{self.message} {self.hint}"
        return self.message

    def __repr__(self) -> str:
        parts = [repr(self.message)]
        for key in ("service", "base_url", "status_code"):
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only constructors do not pickle by default; errors cross process
        # boundaries in worker pools, so keep them picklable.
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[ModelportError], message: str, state: dict[str, object]) -> ModelportError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class ConfigurationError(ModelportError):
    """Raised when modelport is configured wrongly: a bad URL, an unknown provider kind,
    or an invalid option value (including one read from the environment).
    """


class InvalidRequestError(ModelportError):
    """Raised when a request is wrong: caught before anything is sent (empty model name,
    no messages, unknown role), or refused by the server with a 400 not covered by a
    more specific class.
    """


class CapabilityError(InvalidRequestError):
    """Raised when the model or the server cannot do what was asked: tools, vision,
    embeddings, thinking, structured output, load/unload or pull, or an endpoint the
    server does not have.
    """


class ContextLengthExceededError(InvalidRequestError):
    """Raised when the prompt does not fit in the model's (loaded) context window.

    ``context_length`` holds the window size when the server says it.
    """

    def __init__(
        self, message: str, *, context_length: int | None = None, **fields: Unpack[ErrorFields]
    ) -> None:
        super().__init__(message, **fields)
        self.context_length = context_length


class ModelNotFoundError(ModelportError):
    """Raised when no service serves the requested model.

    ``model`` is the name asked for; ``suggestions`` lists close names that do exist.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        suggestions: Sequence[str] = (),
        **fields: Unpack[ErrorFields],
    ) -> None:
        suggestions = list(suggestions)
        if suggestions and "did you mean" not in message.lower():
            shown = ", ".join(suggestions[:5])
            message = f"{message.rstrip('.')}. Did you mean: {shown}?"
        super().__init__(message, **fields)
        self.model = model
        self.suggestions = suggestions


class ModelNotLoadedError(ModelportError):
    """Raised when the model exists but is not loaded, and the server will not load it
    on demand (for example LM Studio with just-in-time loading turned off).
    """


class ServiceUnavailableError(ModelportError):
    """Raised when the server cannot be reached (connection refused or reset, DNS
    failure) or says it is busy or still starting (503). ``retry_after`` holds the
    seconds a 503 asked to wait, when it said.
    """

    retriable = True
    retry_after: float | None = None


class RequestTimeoutError(ModelportError):
    """Raised when connecting or reading took longer than the timeout."""

    retriable = True


class AuthenticationError(ModelportError):
    """Raised when the server refuses the credentials (401) or the request (403)."""


class RateLimitError(ModelportError):
    """Raised when the server answers 429. ``retry_after`` holds the seconds it asked
    to wait, when it said.
    """

    retriable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, **fields: Unpack[ErrorFields]
    ) -> None:
        super().__init__(message, **fields)
        self.retry_after = retry_after


class BusyError(RateLimitError):
    """Raised when modelport's own scheduler turns a request away: every slot the limits
    allow is busy and the queue is full (``reason == "queue_full"``, ``max_queue``), or
    the request waited ``max_wait`` for a slot or a load (``reason == "max_wait"``).
    ``retry_after`` suggests when to try again; ``waited`` is how long it queued. The
    gateway answers it with 429 and ``Retry-After``, like a server's own 429.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "queue_full",
        waited: float = 0.0,
        retry_after: float | None = None,
        **fields: Unpack[ErrorFields],
    ) -> None:
        super().__init__(message, retry_after=retry_after, **fields)
        self.reason = reason
        self.waited = waited


class ServerError(ModelportError):
    """Raised when the server fails with a 5xx status other than 503."""

    retriable = True


class ProtocolError(ModelportError):
    """Raised when a response cannot be understood: invalid JSON, a body of the wrong
    shape, an HTML page where JSON was expected, or a line longer than the limit.
    """


class StreamError(ModelportError):
    """Raised when a stream fails after it started: the server reported an error
    in-band, the connection dropped, or the stream ended before it finished.

    ``partial`` holds the text received before the failure and ``partial_thinking``
    the reasoning text, so nothing already generated is lost.
    """

    def __init__(
        self,
        message: str,
        *,
        partial: str = "",
        partial_thinking: str = "",
        **fields: Unpack[ErrorFields],
    ) -> None:
        super().__init__(message, **fields)
        self.partial = partial
        self.partial_thinking = partial_thinking


class AllServicesFailedError(ModelportError):
    """Raised when every candidate service failed. ``errors`` lists each cause in the
    order the services were tried.
    """

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[ModelportError] = (),
        **fields: Unpack[ErrorFields],
    ) -> None:
        errors = list(errors)
        if errors and ":" not in message:
            causes = "; ".join(f"{e.service or '?'}: {e}" for e in errors)
            message = f"{message}: {causes}"
        super().__init__(message, **fields)
        self.errors = errors
        if fields.get("retriable") is None:
            self.retriable = any(e.retriable for e in errors)
