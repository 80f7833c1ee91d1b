"""The public API: complete, sorted, typed as the contract says, and cheap to import."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import pytest

import modelport
from modelport import errors

CONTRACT_NAMES = {
    "Client",
    "AsyncClient",
    "discover",
    "adiscover",
    "model_digest",
    "Service",
    "ServiceStatus",
    "ModelInfo",
    "Capabilities",
    "Message",
    "ToolCall",
    "ChatResponse",
    "ChatChunk",
    "Usage",
    "Timings",
    "EmbedInput",
    "EmbedResponse",
    "PullProgress",
    "ChatStream",
    "OllamaProvider",
    "LMStudioProvider",
    "LlamaCppProvider",
    "OpenAICompatibleProvider",
    "ModelportError",
    "ConfigurationError",
    "InvalidRequestError",
    "CapabilityError",
    "ContextLengthExceededError",
    "ModelNotFoundError",
    "ModelNotLoadedError",
    "ServiceUnavailableError",
    "RequestTimeoutError",
    "AuthenticationError",
    "RateLimitError",
    "ServerError",
    "ProtocolError",
    "StreamError",
    "AllServicesFailedError",
}


CORE_FEATURE_NAMES = {
    "CompleteOptions",
    "CompletionChoice",
    "CompletionResponse",
    "CompletionStream",
    "AsyncCompletionStream",
    "RerankResult",
    "RerankedDocument",
    "TokenCount",
}
"""Names the core gained for the Anthropic and Responses surfaces (issues 20, 21)."""


def test_all_holds_the_core_feature_names() -> None:
    assert set(modelport.__all__) >= CORE_FEATURE_NAMES


def test_all_is_sorted_and_holds_every_contract_name() -> None:
    assert modelport.__all__ == sorted(modelport.__all__, key=str)
    assert set(modelport.__all__) >= CONTRACT_NAMES


def test_every_name_in_all_resolves() -> None:
    """Every public name imports (lazy ones too): a broken import is a failure here."""
    for name in modelport.__all__:
        assert getattr(modelport, name) is not None, name


def test_every_exception_subclasses_the_root_and_says_when_it_is_raised() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    assert len(classes) == 16
    for cls in classes:
        assert issubclass(cls, errors.ModelportError)
        assert cls.__doc__ and cls.__doc__.startswith("Raised "), cls
        assert getattr(modelport, cls.__name__) is cls
    tree = errors.__doc__ or ""
    for cls in classes:
        assert cls.__name__ in tree


def test_retriable_flags_follow_the_contract() -> None:
    retriable = {name for name in errors.__all__ if getattr(errors, name).retriable}
    assert retriable == {
        "ServiceUnavailableError",
        "RequestTimeoutError",
        "RateLimitError",
        "BusyError",
        "ServerError",
    }


def test_errors_keep_their_fields_and_pickle() -> None:
    import pickle

    error = errors.RateLimitError(
        "slow", retry_after=3.0, service="s", base_url="http://x", status_code=429
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.retry_after, copy.service, copy.base_url, copy.status_code) == (
        3.0,
        "s",
        "http://x",
        429,
    )
    assert str(copy) == str(error)


def test_public_types_are_frozen_dataclasses() -> None:
    for name in (
        "Service",
        "ModelInfo",
        "Capabilities",
        "Message",
        "ToolCall",
        "ChatResponse",
        "ChatChunk",
        "Usage",
        "Timings",
        "EmbedResponse",
        "PullProgress",
        "CompletionChoice",
        "CompletionResponse",
        "RerankResult",
        "RerankedDocument",
        "TokenCount",
    ):
        cls = getattr(modelport, name)
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen, name  # type: ignore[attr-defined]


def test_message_lists_become_tuples() -> None:
    message = modelport.Message(role="user", content="x", images=[b"1"])
    assert message.images == (b"1",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.content = "y"  # type: ignore[misc]


def _imported_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; {code}; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_import_modelport_loads_nothing_heavier_than_httpx() -> None:
    loaded = _imported_after("import modelport")
    for heavy in ("click", "rich", "pydantic", "openai", "httpx", "asyncio", "concurrent.futures"):
        assert heavy not in loaded, heavy


def test_using_the_client_loads_httpx_but_not_the_cli() -> None:
    # (httpx itself imports click and rich for its own CLI when they are installed.)
    loaded = _imported_after("import modelport; modelport.Client")
    assert "httpx" in loaded
    assert not {n for n in loaded if n == "modelport.cli" or n.startswith("modelport.cli.")}


def test_public_functions_have_docstrings() -> None:
    for cls in (modelport.Client, modelport.AsyncClient, modelport.LlamaCppProvider):
        for name, member in inspect.getmembers(cls):
            if not name.startswith("_") and callable(member):
                assert member.__doc__, f"{cls.__name__}.{name}"
