"""llama-server in router mode: listing, load, unload and errors, replayed from
bodies recorded from a real router (tests/fixtures/llamacpp/router/SOURCES.md)."""

from __future__ import annotations

import itertools

import httpx
import pytest

import modelport
from modelport import (
    CapabilityError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelNotLoadedError,
    RequestTimeoutError,
    ServerError,
    ServiceStatus,
    ServiceUnavailableError,
    StreamError,
)

from .llamacpp_router_fake import BASE_URL, FakeRouter, no_autoload, plain, recorded, router

ALPHA_PATH = "/tmp/router-cap/models/alpha.gguf"
BETA_PATH = "/tmp/router-cap/models/beta.gguf"


def _by_name(models: list[modelport.ModelInfo]) -> dict[str, modelport.ModelInfo]:
    return {m.name: m for m in models}


# ---------------------------------------------------------------------------- detection


def test_health_of_a_router_says_router_model_count_and_max_in_the_version() -> None:
    service = router().provider().health()
    assert service.status is ServiceStatus.AVAILABLE
    assert service.version == "b0-unknown (router, 2 models, max 1)"
    assert service.model_count == 2


def test_health_of_a_router_without_autoload_says_it_loads_only_on_request() -> None:
    service = no_autoload().provider().health()
    assert service.version == "b0-unknown (router, 2 models, max 1, no autoload)"


# ---------------------------------------------------------------------------- listing


def test_router_lists_every_model_with_loaded_read_from_its_status() -> None:
    models = _by_name(router("v1_models_alpha_loaded.json").provider().models())
    assert set(models) == {"alpha", "beta"}
    assert models["alpha"].loaded is True
    assert models["beta"].loaded is False
    assert models["alpha"].id == "llamacpp/alpha"


def test_loaded_router_model_reads_context_size_and_quantization_from_meta() -> None:
    alpha = _by_name(router("v1_models_alpha_loaded.json").provider().models())["alpha"]
    assert alpha.context_length == 8192
    assert alpha.loaded_context_length == 8192
    assert alpha.parameter_size == "135M"
    assert alpha.quantization == "Q4_1"
    assert alpha.size_bytes == 96576768
    assert alpha.format == "gguf"


def test_loaded_router_model_capabilities_come_from_its_own_props() -> None:
    alpha = _by_name(router("v1_models_alpha_loaded.json").provider().models())["alpha"]
    assert alpha.capabilities.chat is True
    assert alpha.capabilities.tools is False  # its chat_template_caps
    assert alpha.capabilities.vision is False  # its modalities
    assert alpha.details["model_path"] == ALPHA_PATH
    assert alpha.details["total_slots"] == 4


def test_router_listing_asks_props_of_loaded_models_only_and_never_autoloads() -> None:
    fake = router("v1_models_alpha_loaded.json")
    fake.provider().models()
    props = sorted(p for p in fake.paths() if p.startswith("GET /props"))
    # /props?model=beta would make the router load beta (and evict alpha).
    assert props == ["GET /props", "GET /props?model=alpha&autoload=false"]


def test_unloaded_router_model_reports_none_where_the_server_does_not_say() -> None:
    beta = _by_name(router("v1_models_alpha_loaded.json").provider().models())["beta"]
    assert beta.context_length is None
    assert beta.loaded_context_length is None  # not the router's placeholder n_ctx 0
    assert beta.size_bytes is None
    assert beta.quantization is None
    assert beta.parameter_size is None
    assert beta.capabilities.vision is False  # architecture.input_modalities: text only


def test_router_placeholders_are_never_reported_as_model_facts() -> None:
    beta = _by_name(router().provider().models())["beta"]
    assert beta.details["model_path"] == BETA_PATH  # from its --model argument, not "none"
    assert "none" not in [str(v) for v in beta.details.values()]
    assert beta.details["status"] == "unloaded"


def test_a_model_still_loading_is_not_loaded_and_says_loading() -> None:
    beta = _by_name(router("models_beta_loading.json").provider().models())["beta"]
    assert beta.loaded is False
    assert beta.details["status"] == "loading"


def test_a_model_that_failed_to_load_is_listed_with_its_exit_code() -> None:
    broken = _by_name(router("models_broken_failed.json").provider().models())["broken"]
    assert broken.loaded is False
    assert broken.details["status"] == "unloaded"
    assert broken.details["exit_code"] == 1


def test_a_sleeping_model_is_not_in_memory_but_keeps_its_facts() -> None:
    alpha = _by_name(router("models_alpha_sleeping.json").provider().models())["alpha"]
    assert alpha.loaded is False
    assert alpha.details["status"] == "sleeping"
    assert alpha.context_length == 8192


def test_model_info_of_an_unloaded_router_model_sends_no_props_request() -> None:
    fake = router("v1_models_alpha_loaded.json")
    info = fake.provider().model_info("beta")
    assert info.loaded is False
    assert not any("model=beta" in p for p in fake.paths())


def test_model_info_of_a_loaded_router_model_reads_only_its_props() -> None:
    fake = router("v1_models_alpha_loaded.json")
    info = fake.provider().model_info("alpha")
    assert info.capabilities.tools is False
    assert info.details["model_path"] == ALPHA_PATH
    assert "GET /props?model=alpha&autoload=false" in fake.paths()


def test_router_listing_survives_a_props_lookup_that_fails() -> None:
    fake = router("v1_models_alpha_loaded.json").on(
        "GET", "/props?model=alpha&autoload=false", recorded("chat_failed_model.json", 500)
    )
    alpha = _by_name(fake.provider().models())["alpha"]
    assert alpha.loaded is True
    assert alpha.context_length == 8192  # meta still says it
    assert alpha.capabilities.tools is None


# ---------------------------------------------------------------------------- load


def test_load_posts_the_model_name_then_waits_until_the_router_says_loaded() -> None:
    fake = router("models_all_unloaded.json", "models_beta_loading.json", "models_beta_loaded.json")
    fake.on("POST", "/models/load", recorded("load_ok.json"))
    fake.provider().load("beta")
    assert fake.sent_to("POST", "/models/load") == [{"model": "beta"}]
    assert fake.paths().count("GET /v1/models") == 3  # before, loading, loaded


def test_load_gives_the_post_as_long_as_a_load_may_take() -> None:
    fake = router("models_all_unloaded.json", "models_beta_loaded.json")
    fake.on("POST", "/models/load", recorded("load_ok.json"))
    fake.provider(timeout=30, load_timeout=200).load("beta")
    assert fake.read_timeout("POST", "/models/load") == 200.0


def test_load_of_a_model_already_loaded_sends_no_load_request() -> None:
    fake = router("v1_models_alpha_loaded.json")
    fake.provider().load("alpha")
    assert fake.sent_to("POST", "/models/load") == []


def test_load_of_a_model_still_loading_waits_for_it_without_posting() -> None:
    fake = router("models_beta_loading.json", "models_beta_loaded.json")
    fake.provider().load("beta")
    assert fake.sent_to("POST", "/models/load") == []
    assert fake.paths().count("GET /v1/models") == 2


def test_load_answered_already_running_waits_for_the_model() -> None:
    # Another client started the load between the listing and the POST.
    fake = router("models_all_unloaded.json", "models_beta_loading.json", "models_beta_loaded.json")
    fake.on("POST", "/models/load", recorded("load_already_running.json", 400))
    fake.provider().load("beta")
    assert fake.paths().count("GET /v1/models") == 3


def test_load_of_an_unknown_model_raises_model_not_found_with_suggestions_before_posting() -> None:
    fake = router()
    with pytest.raises(ModelNotFoundError) as caught:
        fake.provider().load("alpah")
    assert caught.value.model == "alpah"
    assert caught.value.suggestions == ["alpha"]
    assert "llama.cpp server at http://127.0.0.1:8080" in str(caught.value)
    assert fake.sent_to("POST", "/models/load") == []


def test_load_answered_404_by_the_router_raises_model_not_found() -> None:
    # The model left the folder between the listing and the POST.
    fake = router().on("POST", "/models/load", recorded("load_unknown.json", 404))
    with pytest.raises(ModelNotFoundError) as caught:
        fake.provider().load("beta")
    assert caught.value.model == "beta"
    assert caught.value.status_code == 404


def test_load_of_a_model_that_fails_raises_a_server_error_with_the_exit_status() -> None:
    fake = router("models_broken_failed.json")
    fake.on("POST", "/models/load", recorded("load_ok.json"))
    with pytest.raises(ServerError) as caught:
        fake.provider().load("broken")
    error = caught.value
    assert "'broken'" in str(error)
    assert "status 1" in str(error)
    assert error.hint is not None and "log" in error.hint
    assert error.retriable is False  # loading it again fails the same way
    assert fake.sent_to("POST", "/models/load") == [{"model": "broken"}]


def test_load_refused_while_another_model_is_busy_is_a_retriable_unavailable_error() -> None:
    fake = router("v1_models_alpha_loaded.json")
    fake.on("POST", "/models/load", recorded("load_model_limit_reached.json", 500))
    with pytest.raises(ServiceUnavailableError) as caught:
        fake.provider().load("beta")
    assert caught.value.retriable
    assert "--models-max" in (caught.value.hint or "")
    assert "model limit reached" in str(caught.value)


def test_load_that_takes_longer_than_the_load_timeout_raises_request_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks = itertools.count(0, 100)  # every look at the clock is 100 s later
    monkeypatch.setattr("modelport.providers.llamacpp.provider._now", lambda: float(next(ticks)))
    fake = router("models_all_unloaded.json", "models_beta_loading.json")
    fake.on("POST", "/models/load", recorded("load_ok.json"))
    with pytest.raises(RequestTimeoutError) as caught:
        fake.provider(load_timeout=250).load("beta")
    assert "'beta'" in str(caught.value)
    assert "250" in str(caught.value)
    assert "modelport ps" in (caught.value.hint or "")


def test_load_with_a_context_length_names_the_router_setting_to_use_instead() -> None:
    fake = router()
    with pytest.raises(CapabilityError) as caught:
        fake.provider().load("beta", context_length=4096)
    text = f"{caught.value} {caught.value.hint}"
    assert "ctx-size = 4096" in text
    assert "--models-preset" in text
    assert fake.sent_to("POST", "/models/load") == []


def test_load_with_a_ttl_names_the_router_flag_to_use_instead() -> None:
    fake = router()
    with pytest.raises(CapabilityError) as caught:
        fake.provider().load("beta", ttl=300)
    assert "--sleep-idle-seconds" in (caught.value.hint or "")
    assert fake.sent_to("POST", "/models/load") == []


def test_load_on_a_plain_server_refuses_with_a_router_mode_hint_and_posts_nothing() -> None:
    fake = plain()
    with pytest.raises(CapabilityError) as caught:
        fake.provider().load("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert "does not support loading models" in str(caught.value)
    assert "--models-dir" in (caught.value.hint or "")
    assert fake.paths() == ["GET /props"]


# ---------------------------------------------------------------------------- unload


def test_unload_posts_the_model_name_then_waits_until_it_is_gone() -> None:
    fake = router(
        "v1_models_alpha_loaded.json", "models_alpha_unloading.json", "models_all_unloaded.json"
    )
    fake.on("POST", "/models/unload", recorded("unload_ok.json"))
    fake.provider().unload("alpha")
    assert fake.sent_to("POST", "/models/unload") == [{"model": "alpha"}]
    assert fake.paths().count("GET /v1/models") == 3  # before, still stopping, gone


def test_unload_of_a_model_that_is_not_loaded_is_a_no_op() -> None:
    fake = router("v1_models_alpha_loaded.json")
    fake.provider().unload("beta")
    assert fake.sent_to("POST", "/models/unload") == []


def test_unload_answered_model_is_not_running_is_a_no_op() -> None:
    # It stopped between the listing and the POST.
    fake = router("v1_models_alpha_loaded.json", "models_all_unloaded.json")
    fake.on("POST", "/models/unload", recorded("unload_not_running.json", 400))
    fake.provider().unload("alpha")
    assert fake.sent_to("POST", "/models/unload") == [{"model": "alpha"}]


def test_unload_of_a_sleeping_model_stops_it() -> None:
    fake = router("models_alpha_sleeping.json", "models_all_unloaded.json")
    fake.on("POST", "/models/unload", recorded("unload_ok.json"))
    fake.provider().unload("alpha")
    assert fake.sent_to("POST", "/models/unload") == [{"model": "alpha"}]


def test_unload_of_an_unknown_model_raises_model_not_found_with_suggestions() -> None:
    fake = router()
    with pytest.raises(ModelNotFoundError) as caught:
        fake.provider().unload("betta")
    assert caught.value.suggestions == ["beta"]
    assert fake.sent_to("POST", "/models/unload") == []


def test_unload_answered_model_is_not_found_raises_model_not_found() -> None:
    fake = router("v1_models_alpha_loaded.json")
    fake.on("POST", "/models/unload", recorded("unload_unknown.json", 400))
    with pytest.raises(ModelNotFoundError) as caught:
        fake.provider().unload("alpha")
    assert caught.value.model == "alpha"


def test_unload_on_a_plain_server_refuses_with_a_router_mode_hint() -> None:
    fake = plain()
    with pytest.raises(CapabilityError) as caught:
        fake.provider().unload("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert "does not support unloading models" in str(caught.value)
    assert "--models-dir" in (caught.value.hint or "")
    assert fake.paths() == ["GET /props"]


# ---------------------------------------------------------------------------- chat


def test_chat_to_an_unloaded_model_without_autoload_raises_model_not_loaded_with_a_load_hint() -> (
    None
):
    fake = no_autoload().on(
        "POST", "/v1/chat/completions", recorded("noautoload_chat_unloaded.json", 400)
    )
    with pytest.raises(ModelNotLoadedError) as caught:
        fake.provider().chat("alpha", "hi")
    error = caught.value
    assert error.status_code == 400
    assert "modelport load alpha" in (error.hint or "")
    assert "--no-models-autoload" in str(error)
    assert not error.retriable


def test_stream_to_an_unloaded_model_without_autoload_raises_model_not_loaded() -> None:
    fake = no_autoload().on(
        "POST", "/v1/chat/completions", recorded("noautoload_chat_unloaded.json", 400)
    )
    with pytest.raises(ModelNotLoadedError), fake.provider().chat_stream("alpha", "hi") as stream:
        list(stream)


def test_embed_with_an_unloaded_model_without_autoload_raises_model_not_loaded() -> None:
    fake = no_autoload().on(
        "POST", "/v1/embeddings", recorded("noautoload_chat_unloaded.json", 400)
    )
    with pytest.raises(ModelNotLoadedError):
        fake.provider().embed("alpha", "hi")


def test_chat_to_a_model_that_fails_to_load_raises_a_non_retriable_server_error() -> None:
    fake = router().on("POST", "/v1/chat/completions", recorded("chat_failed_model.json", 500))
    with pytest.raises(ServerError) as caught:
        fake.provider().chat("broken", "hi")
    assert caught.value.retriable is False
    assert "failed to load" in str(caught.value)
    assert "log" in (caught.value.hint or "")


def test_chat_to_an_unknown_router_model_raises_model_not_found() -> None:
    fake = router().on("POST", "/v1/chat/completions", recorded("chat_unknown_model.json", 400))
    with pytest.raises(ModelNotFoundError) as caught:
        fake.provider().chat("gamma", "hi")
    assert caught.value.model == "gamma"


def test_chat_cut_off_by_an_unload_says_the_model_process_went_away() -> None:
    fake = router().on("POST", "/v1/chat/completions", recorded("chat_cut_by_unload.txt", 500))
    with pytest.raises(ServerError) as caught:
        fake.provider().chat("alpha", "hi")
    message = str(caught.value)
    assert "proxy error: Failed to read connection" in message
    assert "unloaded" in message
    assert caught.value.retriable


def test_stream_cut_off_by_an_unload_keeps_the_text_received() -> None:
    fake = router().on(
        "POST",
        "/v1/chat/completions",
        recorded("chat_stream_cut_by_unload.sse", content_type="text/event-stream"),
    )
    received = []
    with pytest.raises(StreamError) as caught, fake.provider().chat_stream("alpha", "hi") as stream:
        for chunk in stream:
            received.append(chunk.text)
    assert caught.value.partial == "".join(received)
    assert caught.value.partial.startswith("In the")


def test_chat_to_a_model_the_router_must_load_first_may_take_as_long_as_a_load() -> None:
    fake = router("v1_models_alpha_loaded.json").on(
        "POST", "/v1/chat/completions", recorded("chat_alpha_ok.json")
    )
    provider = fake.provider(timeout=30, load_timeout=200)
    provider.models()
    provider.chat("beta", "hi")  # listed as unloaded: the router loads it first
    assert fake.read_timeout("POST", "/v1/chat/completions") == 200.0
    provider.chat("alpha", "hi")  # loaded
    assert fake.read_timeout("POST", "/v1/chat/completions") == 30.0


def test_invalid_load_timeout_is_a_configuration_error() -> None:
    with pytest.raises(modelport.ConfigurationError):
        modelport.LlamaCppProvider(BASE_URL, load_timeout=-1)


# ---------------------------------------------------------------------------- async and Client


@pytest.mark.anyio
async def test_async_load_and_unload_send_what_the_sync_ones_send() -> None:
    fake = router(
        "models_all_unloaded.json",
        "models_beta_loaded.json",
        "models_beta_loaded.json",
        "models_all_unloaded.json",
    )
    fake.on("POST", "/models/load", recorded("load_ok.json"))
    fake.on("POST", "/models/unload", recorded("unload_ok.json"))
    provider = fake.provider()
    await provider.aload("beta")
    await provider.aunload("beta")
    await provider.aclose()
    assert fake.sent_to("POST", "/models/load") == [{"model": "beta"}]
    assert fake.sent_to("POST", "/models/unload") == [{"model": "beta"}]


def test_client_loads_and_unloads_on_a_router() -> None:
    fake = router(
        "models_all_unloaded.json",
        "models_beta_loaded.json",
        "models_beta_loaded.json",
        "models_all_unloaded.json",
    )
    fake.on("POST", "/models/load", recorded("load_ok.json"))
    fake.on("POST", "/models/unload", recorded("unload_ok.json"))
    with modelport.Client(services=[fake.provider()]) as client:
        client.load("llamacpp/beta")
        client.unload("beta")
    assert fake.sent_to("POST", "/models/load") == [{"model": "beta"}]
    assert fake.sent_to("POST", "/models/unload") == [{"model": "beta"}]


def test_load_of_an_empty_name_is_refused_before_sending() -> None:
    fake = router()
    with pytest.raises(InvalidRequestError):
        fake.provider().load("")
    assert fake.calls == []


def test_router_answers_for_models_it_does_not_list_are_never_keyerrors() -> None:
    # A list entry without a status or args: an older or newer router.
    fake = FakeRouter().on("GET", "/props", recorded("props_router.json"))
    fake.on(
        "GET",
        "/v1/models",
        lambda request: httpx.Response(
            200, json={"data": [{"id": "alpha", "status": "weird"}, {"id": "beta"}]}
        ),
    )
    models = _by_name(fake.provider().models())
    assert models["alpha"].loaded is None
    assert models["beta"].loaded is None


def test_model_info_by_its_service_prefixed_id_reads_its_props() -> None:
    fake = router("v1_models_alpha_loaded.json")
    info = fake.provider().model_info("llamacpp/alpha")
    assert info.name == "alpha"
    assert "GET /props?model=alpha&autoload=false" in fake.paths()


def test_load_where_props_are_not_json_refuses_as_not_a_router() -> None:
    fake = FakeRouter().on(
        "GET", "/props", lambda request: httpx.Response(200, text="<html>a proxy</html>")
    )
    with pytest.raises(CapabilityError) as caught:
        fake.provider().load("alpha")
    assert "does not support loading models" in str(caught.value)
    assert fake.paths() == ["GET /props"]
