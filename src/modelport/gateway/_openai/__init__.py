"""The OpenAI surface: ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``
and ``/health``. Its pure translation is :mod:`._translate`; its routes and handlers
:mod:`._surface`.
"""

from __future__ import annotations

from . import _translate
from ._surface import OpenAISurface
from ._translate import *  # noqa: F403  (the translation's names, as ``_openai.X``)

__all__ = ["OpenAISurface", *_translate.__all__]
