"""What servers say about their own capacity, read from bodies they already send.

Pure functions from a parsed JSON body to :class:`ServerHints`; anything that is not a
positive whole number is "not said". What each server exposes (and what it does not)
is in ``docs/configuration.md``:

- llama.cpp ``GET /props``: ``total_slots`` (``--parallel``) on a plain server; on a
  router, ``role: "router"`` and ``max_instances`` (``--models-max``), and each loaded
  model's own ``/props?model=NAME&autoload=false`` has its ``total_slots``.
- LM Studio 0.4+ ``GET /api/v1/models``: ``loaded_instances[].config.parallel`` (Max
  Concurrent Predictions) for each loaded instance.
- Ollama: ``OLLAMA_NUM_PARALLEL`` and ``OLLAMA_MAX_LOADED_MODELS`` are not in any
  answer; vLLM: ``max_num_seqs`` is not either (``/v1/models`` has ``max_model_len``).
"""

from __future__ import annotations

from collections.abc import Mapping

from .._coerce import field_of, opt_pos_int, opt_str
from .types import ServerHints

__all__ = ["llamacpp_hints", "lmstudio_hints"]


def llamacpp_hints(props: object, models: Mapping[str, object] | None = None) -> ServerHints:
    """Hints from llama-server's ``/props`` (and, on a router, each loaded model's).

    >>> llamacpp_hints({"total_slots": 4})
    ServerHints(max_in_flight=4, max_loaded=None, model_slots={})
    >>> llamacpp_hints({"role": "router", "max_instances": 1}, models={"a": {"total_slots": 2}})
    ServerHints(max_in_flight=None, max_loaded=1, model_slots={'a': 2})
    """
    slots = {
        name: count
        for name, body in (models or {}).items()
        if (count := opt_pos_int(field_of(body, "total_slots"))) is not None
    }
    if field_of(props, "role") == "router":
        return ServerHints(
            max_loaded=opt_pos_int(field_of(props, "max_instances")), model_slots=slots
        )
    return ServerHints(max_in_flight=opt_pos_int(field_of(props, "total_slots")), model_slots=slots)


def lmstudio_hints(body: object) -> ServerHints:
    """Hints from LM Studio's ``GET /api/v1/models``: each loaded model's parallel
    predictions, added up over its loaded instances.

    >>> instance = {"config": {"parallel": 4}}
    >>> lmstudio_hints({"models": [{"key": "m", "loaded_instances": [instance]}]})
    ServerHints(max_in_flight=None, max_loaded=None, model_slots={'m': 4})
    """
    slots: dict[str, int] = {}
    entries = field_of(body, "models")
    for entry in entries if isinstance(entries, list) else []:
        key = opt_str(field_of(entry, "key"))
        instances = field_of(entry, "loaded_instances")
        if key is None or not isinstance(instances, list):
            continue
        for instance in instances:
            parallel = opt_pos_int(field_of(field_of(instance, "config"), "parallel"))
            if parallel is not None:
                slots[key] = slots.get(key, 0) + parallel
    return ServerHints(model_slots=slots)
