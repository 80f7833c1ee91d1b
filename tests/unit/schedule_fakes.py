"""A scripted backend with slots and models to load, for the scheduling tests (no sockets).

:class:`SlotProvider` answers from memory like :class:`~modelport.testing.FakeProvider`,
and also counts the requests it runs at once (``peak``), the order they started in, and
the loads and unloads asked of it; a load takes ``load_time`` and can be held open.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from modelport._http.ops import Op, sleep
from modelport._wire.common import ChatRequest
from modelport.testing import FakeProvider
from modelport.types import ChatResponse, ModelInfo

__all__ = ["SlotProvider"]


class SlotProvider(FakeProvider):
    """A fake server whose chats take ``hold`` seconds each and whose models load."""

    def __init__(
        self,
        models: Sequence[str] = ("m",),
        *,
        name: str = "slots",
        hold: float = 0.05,
        loaded: Sequence[str] | None = None,
        load_time: float = 0.0,
    ) -> None:
        super().__init__(models=models, name=name)
        self.hold = hold
        self.load_time = load_time
        self.loaded_now = set(models if loaded is None else loaded)
        self.running = 0
        self.peak = 0
        self.started: list[str] = []
        self.load_calls: list[str] = []
        self.unload_calls: list[str] = []
        self._count = threading.Lock()

    def _op_models(self, refresh: bool = False) -> Op[list[ModelInfo]]:
        yield from sleep(0)
        return [replace(m, loaded=m.name in self.loaded_now) for m in self._models]

    def _op_chat(self, req: ChatRequest) -> Op[ChatResponse]:
        with self._count:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.started.append(f"{req.model}:{req.messages[-1].content}")
        try:
            yield from sleep(self.hold)
        finally:
            with self._count:
                self.running -= 1
        return self._answer(req)

    def _op_load(self, model: str, context_length: int | None, ttl: float | None) -> Op[None]:
        self.load_calls.append(model)
        yield from sleep(self.load_time)
        self.loaded_now.add(model)

    def _op_unload(self, model: str) -> Op[None]:
        self.unload_calls.append(model)
        self.loaded_now.discard(model)
        yield from sleep(0)
