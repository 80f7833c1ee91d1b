"""Live: modelport managing models on a real llama-server in router mode.

The routers (``tests/live/conftest.py``) serve ``alpha`` and ``beta``, two names for the
SmolLM2-135M-Instruct file, with ``--models-max 1 -c 2048``. Each test first puts the
router in the state it needs with plain HTTP, so the tests do not depend on each
other's order.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

import modelport
from modelport import (
    CapabilityError,
    LlamaCppProvider,
    ModelNotFoundError,
    ModelNotLoadedError,
    ServerError,
    ServiceStatus,
)

from .test_cli_live import _modelport

SETTLE_SECONDS = 120


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30):
            pass
    except urllib.error.HTTPError:
        pass  # "already running" / "not running": the state is checked below


def _states(base: str) -> dict[str, str]:
    return {m["id"]: m["status"]["value"] for m in _get(base + "/models")["data"]}


def _put(base: str, loaded: str | None) -> None:
    """Bring the router to a state where only ``loaded`` (or nothing) is loaded."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        states = _states(base)
        running = {m for m, s in states.items() if s != "unloaded"}
        if running == ({loaded} if loaded else set()) and (
            loaded is None or states[loaded] == "loaded"
        ):
            return
        for model, state in states.items():
            if model != loaded and state in ("loaded", "sleeping"):
                _post(base + "/models/unload", {"model": model})
        if loaded and states[loaded] == "unloaded" and "loading" not in states.values():
            _post(base + "/models/load", {"model": loaded})
        time.sleep(0.2)
    raise AssertionError(f"the router at {base} did not settle: {_states(base)}")


@pytest.fixture
def router(llamacpp_router_url: str) -> LlamaCppProvider:
    return LlamaCppProvider(llamacpp_router_url, load_timeout=SETTLE_SECONDS, poll_interval=0.1)


def _loaded(provider: LlamaCppProvider) -> dict[str, bool | None]:
    return {m.name: m.loaded for m in provider.models(refresh=True)}


# ---------------------------------------------------------------------------- service, listing


def test_live_router_health_says_router_models_and_max(router: LlamaCppProvider) -> None:
    service = router.health()
    assert service.status is ServiceStatus.AVAILABLE
    assert service.version is not None
    assert service.version.endswith("(router, 2 models, max 1)")
    assert service.model_count == 2


def test_live_router_lists_both_models_with_their_loaded_state(
    router: LlamaCppProvider, llamacpp_router_url: str
) -> None:
    _put(llamacpp_router_url, "alpha")
    models = {m.name: m for m in router.models(refresh=True)}
    assert set(models) == {"alpha", "beta"}
    assert models["alpha"].loaded is True
    assert models["alpha"].context_length == 8192  # SmolLM2's n_ctx_train
    assert models["alpha"].loaded_context_length == 2048  # -c 2048, passed to the child
    assert models["beta"].loaded is False
    assert models["beta"].context_length is None
    assert models["beta"].details["model_path"].endswith("beta.gguf")


def test_live_model_info_of_a_loaded_router_model(
    router: LlamaCppProvider, llamacpp_router_url: str
) -> None:
    _put(llamacpp_router_url, "alpha")
    info = router.model_info("alpha")
    assert info.loaded is True
    assert info.context_length == 8192
    assert info.loaded_context_length == 2048
    assert info.quantization == "Q4_1"
    assert info.capabilities.chat is True
    assert info.details["model_path"].endswith("alpha.gguf")
    assert _states(llamacpp_router_url) == {"alpha": "loaded", "beta": "unloaded"}


# ---------------------------------------------------------------------------- load, unload


def test_live_load_then_unload_each_show_in_a_refreshed_listing(
    router: LlamaCppProvider, llamacpp_router_url: str
) -> None:
    _put(llamacpp_router_url, None)
    router.load("beta")
    assert _loaded(router) == {"alpha": False, "beta": True}
    router.unload("beta")
    assert _loaded(router) == {"alpha": False, "beta": False}


def test_live_load_swaps_the_other_model_out(
    router: LlamaCppProvider, llamacpp_router_url: str
) -> None:
    _put(llamacpp_router_url, "alpha")
    router.load("beta")
    assert _loaded(router) == {"alpha": False, "beta": True}


def test_live_unload_of_a_model_that_is_not_loaded_is_a_no_op(
    router: LlamaCppProvider, llamacpp_router_url: str
) -> None:
    _put(llamacpp_router_url, "alpha")
    router.unload("beta")
    assert _states(llamacpp_router_url) == {"alpha": "loaded", "beta": "unloaded"}


def test_live_unknown_model_raises_model_not_found_with_suggestions(
    router: LlamaCppProvider,
) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        router.load("alpah")
    assert "alpha" in caught.value.suggestions
    with pytest.raises(ModelNotFoundError) as chat_caught:
        router.chat("gamma", "hi", max_tokens=4)
    assert chat_caught.value.model == "gamma"


def test_live_load_with_a_context_length_names_the_setting_to_use(
    router: LlamaCppProvider, llamacpp_router_url: str
) -> None:
    _put(llamacpp_router_url, None)
    with pytest.raises(CapabilityError) as caught:
        router.load("beta", context_length=4096)
    assert "ctx-size = 4096" in f"{caught.value} {caught.value.hint}"
    assert _states(llamacpp_router_url) == {"alpha": "unloaded", "beta": "unloaded"}


@pytest.mark.anyio
async def test_live_async_load_and_unload(llamacpp_router_url: str) -> None:
    _put(llamacpp_router_url, None)
    async with LlamaCppProvider(llamacpp_router_url, poll_interval=0.1) as provider:
        await provider.aload("alpha")
        assert _states(llamacpp_router_url)["alpha"] == "loaded"
        await provider.aunload("alpha")
        assert _states(llamacpp_router_url)["alpha"] == "unloaded"


# ---------------------------------------------------------------------------- chat


def test_live_chat_to_the_unloaded_model_swaps_it_in_and_the_other_out(
    router: LlamaCppProvider, llamacpp_router_url: str
) -> None:
    _put(llamacpp_router_url, "alpha")
    reply = router.chat("beta", "Say hi.", max_tokens=8, temperature=0)
    assert reply.text
    assert reply.model == "beta"
    assert _loaded(router) == {"alpha": False, "beta": True}


def test_live_client_loads_and_chats_through_the_public_api(llamacpp_router_url: str) -> None:
    _put(llamacpp_router_url, None)
    with modelport.Client(services=[llamacpp_router_url]) as client:
        (service,) = client.services()
        assert service.kind == "llamacpp"
        assert "router" in (service.version or "")
        client.load("alpha")
        assert [m.name for m in client.models(refresh=True) if m.loaded] == ["alpha"]
        assert client.chat("alpha", "Say hi.", max_tokens=8).text
        client.unload("alpha")
        assert [m.name for m in client.models(refresh=True) if m.loaded] == []


# ---------------------------------------------------------------------------- --no-models-autoload


def test_live_chat_without_autoload_raises_model_not_loaded_with_a_load_hint(
    llamacpp_router_manual_url: str,
) -> None:
    _put(llamacpp_router_manual_url, None)
    provider = LlamaCppProvider(llamacpp_router_manual_url)
    with pytest.raises(ModelNotLoadedError) as caught:
        provider.chat("alpha", "hi", max_tokens=4)
    assert "modelport load alpha" in (caught.value.hint or "")
    provider.load("alpha")
    assert provider.chat("alpha", "Say hi.", max_tokens=8).text


def test_live_load_of_a_file_that_is_not_a_model_raises_with_the_exit_status(
    llamacpp_router_manual_url: str,
) -> None:
    provider = LlamaCppProvider(llamacpp_router_manual_url, poll_interval=0.1)
    with pytest.raises(ServerError) as caught:
        provider.load("broken")
    assert "'broken'" in str(caught.value)
    assert "exited with status" in str(caught.value)
    assert caught.value.retriable is False
    broken = next(m for m in provider.models(refresh=True) if m.name == "broken")
    assert broken.loaded is False
    assert broken.details["exit_code"] != 0


# ---------------------------------------------------------------------------- the command line


def test_live_cli_load_ps_unload_on_a_router(llamacpp_router_url: str) -> None:
    _put(llamacpp_router_url, None)
    service = ["--service", llamacpp_router_url]
    loaded = _modelport(*service, "load", "beta")
    assert loaded.returncode == 0, loaded.stderr
    ps = _modelport(*service, "ps", "--json")
    assert ps.returncode == 0, ps.stderr
    assert [m["name"] for m in json.loads(ps.stdout)] == ["beta"]
    unloaded = _modelport(*service, "unload", "beta")
    assert unloaded.returncode == 0, unloaded.stderr
    ps = _modelport(*service, "ps", "--json")
    assert json.loads(ps.stdout) == []


def test_live_cli_show_of_an_unloaded_router_model_never_prints_none(
    llamacpp_router_url: str,
) -> None:
    _put(llamacpp_router_url, None)
    shown = _modelport("--service", llamacpp_router_url, "show", "alpha")
    assert shown.returncode == 0, shown.stderr
    values = [line.split(None, 1)[1].strip() for line in shown.stdout.splitlines() if " " in line]
    assert "none" not in values
    assert any(value.endswith("alpha.gguf") for value in values)
