"""The Anthropic Messages surface's translation, pure: request JSON to client
arguments, the client's replies and chunks to Anthropic's message and events, failures
to Anthropic's errors, the model list both SDKs read, ``count_tokens`` and Claude
Code's side paths. Nothing here does I/O; the surface's handlers (with the gateway's
plumbing) read bodies, call the client and write what these return.

=================  =========================================================
module             what
=================  =========================================================
``_requests``      :func:`parse_messages_request`, :func:`parse_count_request`
``_blocks``        content blocks to :class:`~modelport.Message` objects
``_replies``       :func:`message_body`, :func:`stop_reason`, :func:`usage_body`
``_stream``        :class:`StreamEncoder`, the stream's state machine
``_failures``      :func:`error_reply`, :func:`error_event`
``_models``        :func:`model_body`, :func:`models_body` (the superset)
``_tokens``        :func:`count_tokens_body`, :func:`estimate_input_tokens`
``_paths``         :data:`QUIET_PATHS`, :data:`QUERY_TOLERATED`, :data:`WARNING_HEADER`
=================  =========================================================
"""

from __future__ import annotations

from ._failures import ErrorReply, error_event, error_reply
from ._models import model_body, models_body
from ._paths import QUERY_TOLERATED, QUIET_PATHS, WARNING_HEADER, QuietPath
from ._replies import message_body, message_id, stop_reason, thinking_signature, usage_body
from ._requests import MessagesCall, parse_count_request, parse_messages_request
from ._stream import StreamEncoder
from ._tokens import IMAGE_TOKENS, count_tokens_body, estimate_input_tokens

__all__ = [
    "IMAGE_TOKENS",
    "QUERY_TOLERATED",
    "QUIET_PATHS",
    "WARNING_HEADER",
    "ErrorReply",
    "MessagesCall",
    "QuietPath",
    "StreamEncoder",
    "count_tokens_body",
    "error_event",
    "error_reply",
    "estimate_input_tokens",
    "message_body",
    "message_id",
    "model_body",
    "models_body",
    "parse_count_request",
    "parse_messages_request",
    "stop_reason",
    "thinking_signature",
    "usage_body",
]
