"""The Ollama surface: ``/api/chat``, ``/api/generate``, ``/api/embed``, the model
lists and the rest of Ollama's API, on every service.

==============  ===========================================================
module          what
==============  ===========================================================
``_requests``   request bodies as client arguments (pure)
``_replies``    whole replies and streamed NDJSON lines (pure)
``_models``     ``/api/tags``, ``/api/show``, ``/api/ps``, embeddings (pure)
``_surface``    the routes and handlers
==============  ===========================================================
"""

from __future__ import annotations

from .._calls import ChatCall, EmbedCall
from ._models import embed_body, legacy_embedding_body, ps_body, show_body, tags_body
from ._replies import StreamEncoder, chat_body, error_line, generate_body, load_body
from ._requests import (
    parse_chat_request,
    parse_embed_request,
    parse_generate_request,
    parse_pull_request,
)
from ._surface import VERSION, OllamaSurface

__all__ = [
    "VERSION",
    "ChatCall",
    "EmbedCall",
    "OllamaSurface",
    "StreamEncoder",
    "chat_body",
    "embed_body",
    "error_line",
    "generate_body",
    "legacy_embedding_body",
    "load_body",
    "parse_chat_request",
    "parse_embed_request",
    "parse_generate_request",
    "parse_pull_request",
    "ps_body",
    "show_body",
    "tags_body",
]
