"""LM Studio provider: load, unload and pull through the native /api/v1 API (0.4+)."""

from __future__ import annotations

import pytest

from modelport import (
    CapabilityError,
    ModelNotFoundError,
    PullProgress,
    ServerError,
)
from tests.conftest import load_fixture
from tests.unit.lmstudio_fake import (
    FakeLMStudio,
    fixture_reply,
    lmstudio_03,
    lmstudio_04,
    not_found_404,
    reply,
)

STATUS_PATH = "/api/v1/models/download/status/job_493c7c9ded"


# ---------------------------------------------------------------------------- load


def test_load_posts_the_model_and_context_length_with_the_jit_timeout() -> None:
    fake = lmstudio_04().on("POST", "/api/v1/models/load", fixture_reply("api_v1_models_load.json"))
    provider = fake.provider(timeout=30, jit_timeout=900)
    assert provider.load("openai/gpt-oss-20b", context_length=16384) is None
    assert fake.paths() == ["POST /api/v1/models/load"]
    assert fake.sent() == {"model": "openai/gpt-oss-20b", "context_length": 16384}
    assert fake.read_timeout() == 900  # loading takes as long as a JIT load


def test_load_without_a_context_length_sends_only_the_model() -> None:
    fake = lmstudio_04().on("POST", "/api/v1/models/load", fixture_reply("api_v1_models_load.json"))
    fake.provider().load("openai/gpt-oss-20b")
    assert fake.sent() == {"model": "openai/gpt-oss-20b"}


def test_a_loaded_model_is_then_asked_with_the_normal_timeout() -> None:
    fake = (
        lmstudio_04()
        .on("POST", "/api/v1/models/load", fixture_reply("api_v1_models_load.json"))
        .on("POST", "/v1/chat/completions", fixture_reply("v1_chat_tool_calls.json"))
    )
    provider = fake.provider(timeout=30, jit_timeout=900)
    provider.load("openai/gpt-oss-20b")
    provider.chat("openai/gpt-oss-20b", "hi")
    assert fake.read_timeout() == 30


@pytest.mark.parametrize("server", [lmstudio_03, lambda: FakeLMStudio(fallback=not_found_404)])
def test_load_on_an_older_server_says_which_lm_studio_version_adds_it(server: object) -> None:
    fake = server()  # type: ignore[operator]
    with pytest.raises(CapabilityError) as caught:
        fake.provider().load("qwen/qwen3-8b")
    message = str(caught.value)
    assert "0.4" in message
    assert "lms load qwen/qwen3-8b" in message


def test_load_of_an_unknown_model_is_model_not_found() -> None:
    fake = lmstudio_04().on(
        "POST",
        "/api/v1/models/load",
        reply(
            404,
            json_body={"error": {"type": "model_not_found", "message": "Model 'nope' not found"}},
        ),
    )
    with pytest.raises(ModelNotFoundError) as caught:
        fake.provider().load("nope")
    assert caught.value.model == "nope"


# ---------------------------------------------------------------------------- unload


def test_unload_finds_the_instance_id_in_the_model_list() -> None:
    fake = lmstudio_04().on(
        "POST", "/api/v1/models/unload", reply(json_body={"instance_id": "google/gemma-4-26b-a4b"})
    )
    fake.provider().unload("google/gemma-4-26b-a4b")
    assert fake.paths() == ["GET /api/v1/models", "POST /api/v1/models/unload"]
    assert fake.sent() == {"instance_id": "google/gemma-4-26b-a4b"}


def test_unload_unloads_every_instance_of_the_model() -> None:
    body = load_fixture("lmstudio/api_v1_models.json")
    instances = body["models"][0]["loaded_instances"]
    instances.append({"id": "google/gemma-4-26b-a4b:2", "config": {"context_length": 8192}})
    fake = (
        FakeLMStudio()
        .on("GET", "/api/v1/models", reply(json_body=body))
        .on("POST", "/api/v1/models/unload", fixture_reply("api_v1_models_unload.json"))
    )
    fake.provider().unload("google/gemma-4-26b-a4b")
    assert fake.sent_to("POST", "/api/v1/models/unload") == [
        {"instance_id": "google/gemma-4-26b-a4b"},
        {"instance_id": "google/gemma-4-26b-a4b:2"},
    ]


def test_unload_by_instance_id_unloads_just_that_instance() -> None:
    body = load_fixture("lmstudio/api_v1_models.json")
    body["models"][0]["loaded_instances"].append(
        {"id": "google/gemma-4-26b-a4b:2", "config": {"context_length": 8192}}
    )
    fake = (
        FakeLMStudio()
        .on("GET", "/api/v1/models", reply(json_body=body))
        .on("POST", "/api/v1/models/unload", fixture_reply("api_v1_models_unload.json"))
    )
    fake.provider().unload("google/gemma-4-26b-a4b:2")
    assert fake.sent_to("POST", "/api/v1/models/unload") == [
        {"instance_id": "google/gemma-4-26b-a4b:2"}
    ]


def test_unload_of_a_model_that_is_not_loaded_sends_nothing() -> None:
    fake = lmstudio_04()
    fake.provider().unload("deepseek-r1")
    assert fake.paths() == ["GET /api/v1/models"]


def test_unload_of_an_unknown_model_is_model_not_found_with_suggestions() -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        lmstudio_04().provider().unload("deepseek-r2")
    assert "deepseek-r1" in caught.value.suggestions


def test_unload_on_an_older_server_says_which_lm_studio_version_adds_it() -> None:
    with pytest.raises(CapabilityError) as caught:
        lmstudio_03().provider().unload("qwen/qwen3-8b")
    assert "0.4" in str(caught.value)
    assert "lms unload" in str(caught.value)


# ---------------------------------------------------------------------------- pull


def test_pull_starts_a_download_and_polls_its_status_until_completed() -> None:
    downloading = {
        "job_id": "job_493c7c9ded",
        "status": "downloading",
        "total_size_bytes": 2279145003,
        "downloaded_bytes": 948,
        "bytes_per_second": 7834.7,
        "started_at": "2025-10-03T15:33:23.496Z",
    }
    fake = (
        lmstudio_04()
        .on("POST", "/api/v1/models/download", fixture_reply("api_v1_models_download.json"))
        .on(
            "GET",
            STATUS_PATH,
            reply(json_body=downloading),
            fixture_reply("api_v1_models_download_status.json"),
        )
    )
    progress = list(fake.provider(poll_interval=0).pull("qwen/qwen3-4b-2507"))
    assert fake.sent_to("POST", "/api/v1/models/download") == [{"model": "qwen/qwen3-4b-2507"}]
    assert fake.paths() == [
        "POST /api/v1/models/download",
        f"GET {STATUS_PATH}",
        f"GET {STATUS_PATH}",
    ]
    assert progress == [
        PullProgress(status="downloading", completed=None, total=2279145003),
        PullProgress(status="downloading", completed=948, total=2279145003),
        PullProgress(status="completed", completed=2279145003, total=2279145003),
    ]
    assert progress[-1].fraction == 1.0


def test_pull_of_an_already_downloaded_model_yields_once_and_stops() -> None:
    fake = lmstudio_04().on(
        "POST", "/api/v1/models/download", reply(json_body={"status": "already_downloaded"})
    )
    progress = list(fake.provider(poll_interval=0).pull("qwen/qwen3-4b-2507"))
    assert progress == [PullProgress(status="already_downloaded")]
    assert fake.paths() == ["POST /api/v1/models/download"]


def test_a_failed_download_raises_after_the_progress_before_it() -> None:
    fake = (
        lmstudio_04()
        .on("POST", "/api/v1/models/download", fixture_reply("api_v1_models_download.json"))
        .on("GET", STATUS_PATH, reply(json_body={"job_id": "job_493c7c9ded", "status": "failed"}))
    )
    seen: list[PullProgress] = []
    with pytest.raises(ServerError) as caught:
        for step in fake.provider(poll_interval=0).pull("qwen/qwen3-4b-2507"):
            seen.append(step)
    assert [s.status for s in seen] == ["downloading"]
    assert "qwen/qwen3-4b-2507" in str(caught.value)


def test_pull_on_an_older_server_says_which_lm_studio_version_adds_it() -> None:
    with pytest.raises(CapabilityError) as caught:
        list(lmstudio_03().provider().pull("qwen/qwen3-4b-2507"))
    assert "0.4" in str(caught.value)
    assert "lms get" in str(caught.value)


# ---------------------------------------------------------------------------- async twins


@pytest.mark.anyio
async def test_async_load_unload_and_pull_match_the_sync_ones() -> None:
    fake = (
        lmstudio_04()
        .on("POST", "/api/v1/models/load", fixture_reply("api_v1_models_load.json"))
        .on("POST", "/api/v1/models/unload", fixture_reply("api_v1_models_unload.json"))
        .on("POST", "/api/v1/models/download", fixture_reply("api_v1_models_download.json"))
        .on("GET", STATUS_PATH, fixture_reply("api_v1_models_download_status.json"))
    )
    provider = fake.provider(poll_interval=0)
    await provider.aload("openai/gpt-oss-20b", context_length=8192)
    await provider.aunload("google/gemma-4-26b-a4b")
    statuses = [p.status async for p in provider.apull("qwen/qwen3-4b-2507")]
    assert statuses == ["downloading", "completed"]
    assert fake.paths() == [
        "POST /api/v1/models/load",
        "GET /api/v1/models",
        "POST /api/v1/models/unload",
        "POST /api/v1/models/download",
        f"GET {STATUS_PATH}",
    ]
    assert fake.sent_to("POST", "/api/v1/models/load") == [
        {"model": "openai/gpt-oss-20b", "context_length": 8192}
    ]
    await provider.aclose()


def test_client_load_goes_to_the_lm_studio_provider() -> None:
    import modelport

    fake = lmstudio_04().on("POST", "/api/v1/models/load", fixture_reply("api_v1_models_load.json"))
    client = modelport.Client(services=[fake.provider()])
    client.load("lmstudio/deepseek-r1", context_length=4096)
    assert fake.sent_to("POST", "/api/v1/models/load") == [
        {"model": "deepseek-r1", "context_length": 4096}
    ]
