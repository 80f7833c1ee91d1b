"""Model names: normalisation, matching and "did you mean" suggestions (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["close_names", "names_match", "normalize_ollama_name"]


def normalize_ollama_name(name: str) -> str:
    """Ollama's implicit ``:latest`` tag made explicit, and lower-cased as Ollama matches.

    >>> normalize_ollama_name("llama3.2"), normalize_ollama_name("Llama3.2:3B")
    ('llama3.2:latest', 'llama3.2:3b')
    >>> normalize_ollama_name("hf.co/org/model:Q4_K_M"), normalize_ollama_name("localhost:5000/m")
    ('hf.co/org/model:q4_k_m', 'localhost:5000/m:latest')
    """
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        name = f"{name}:latest"
    return name.lower()


def names_match(wanted: str, offered: str, *, ollama: bool = False) -> bool:
    """Whether a requested name means the offered model.

    >>> names_match("llama3.2", "llama3.2:latest", ollama=True)
    True
    >>> names_match("llama3.2", "llama3.2:3b", ollama=True)
    False
    >>> names_match("Qwen/Qwen3-8B", "qwen/qwen3-8b")
    True
    """
    if wanted == offered:
        return True
    if ollama:
        return normalize_ollama_name(wanted) == normalize_ollama_name(offered)
    return wanted.lower() == offered.lower()


def close_names(wanted: str, known: Iterable[str], limit: int = 5) -> list[str]:
    """Names from ``known`` that the user may have meant, best first.

    Prefix and family matches come first (``llama3`` -> ``llama3.2:latest``), then
    spelling matches.

    >>> close_names("llama3", ["llama3.2:latest", "qwen3:8b", "llama3.1:8b"])
    ['llama3.2:latest', 'llama3.1:8b']
    >>> close_names("qwen3-8b", ["qwen/qwen3-8b", "gemma-3-1b"])
    ['qwen/qwen3-8b']
    >>> close_names("mistrall", ["mistral:latest", "phi3"])
    ['mistral:latest']
    """
    import difflib

    candidates = list(dict.fromkeys(known))
    lowered = wanted.lower()
    base = lowered.split(":", 1)[0]
    contains: list[str] = []
    for name in candidates:
        plain = name.lower()
        short = plain.rsplit("/", 1)[-1]
        if plain.startswith(base) or short.startswith(base) or (len(base) >= 4 and base in plain):
            contains.append(name)
    by_short = {name.lower().rsplit("/", 1)[-1].split(":", 1)[0]: name for name in candidates}
    spelled = difflib.get_close_matches(base, list(by_short), n=limit, cutoff=0.75)
    result = contains + [by_short[s] for s in spelled]
    return list(dict.fromkeys(result))[:limit]


def split_service_prefix(model: str, services: Sequence[str]) -> tuple[str | None, str]:
    """Split ``"service/model"`` when the prefix names a known service or kind.

    >>> split_service_prefix("ollama/llama3.2:3b", ["ollama", "lmstudio"])
    ('ollama', 'llama3.2:3b')
    >>> split_service_prefix("qwen/qwen3-8b", ["ollama", "lmstudio"])
    (None, 'qwen/qwen3-8b')
    >>> split_service_prefix("lmstudio/qwen/qwen3-8b", ["lmstudio"])
    ('lmstudio', 'qwen/qwen3-8b')
    """
    prefix, slash, rest = model.partition("/")
    if slash and rest and prefix in services:
        return prefix, rest
    return None, model
