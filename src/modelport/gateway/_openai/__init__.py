"""The OpenAI surface: ``/v1/chat/completions``, ``/v1/completions``,
``/v1/embeddings``, ``/v1/rerank`` (and ``/rerank``), ``/v1/models`` and ``/health``.
Its pure translation is :mod:`._translate` (streams: :mod:`._stream`); its routes and
handlers :mod:`._surface`.
"""

from __future__ import annotations

from . import _stream, _translate
from ._stream import *  # noqa: F403  (the streams' names, as ``_openai.X``)
from ._surface import OpenAISurface
from ._translate import *  # noqa: F403  (the translation's names, as ``_openai.X``)

__all__ = ["OpenAISurface", *_stream.__all__, *_translate.__all__]
