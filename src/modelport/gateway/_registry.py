"""The surfaces the gateway speaks, in the order their shapes are tried for a path
no route has (the first, OpenAI's, is the default). Adding a surface: its module or
package, and one line here.
"""

from __future__ import annotations

from ._anthropic._surface import AnthropicSurface
from ._ollama import OllamaSurface
from ._openai import OpenAISurface
from ._responses._surface import ResponsesSurface
from ._surface import Surface

__all__ = ["SURFACES"]

SURFACES: tuple[type[Surface], ...] = (
    OpenAISurface,
    OllamaSurface,
    AnthropicSurface,
    ResponsesSurface,
)
