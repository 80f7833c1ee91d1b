"""``count_tokens``: its answer. The estimate for services that cannot count lives in
the core (:mod:`modelport._tokens`), beside the exact counts of
:meth:`modelport.AsyncClient.count_tokens`; it is re-exported here for this surface.
"""

from __future__ import annotations

from ..._tokens import CHARS_PER_TOKEN, IMAGE_TOKENS, MESSAGE_TOKENS, estimate_input_tokens

__all__ = [
    "CHARS_PER_TOKEN",
    "IMAGE_TOKENS",
    "MESSAGE_TOKENS",
    "count_tokens_body",
    "estimate_input_tokens",
]


def count_tokens_body(input_tokens: int) -> dict[str, int]:
    """The answer to ``POST /v1/messages/count_tokens``."""
    return {"input_tokens": input_tokens}
