"""Live: ``modelport serve --config FILE`` in front of a real llama-server, the file
naming the service, an alias, a ``claude-*`` glob and the gateway's key by variable; the
real openai and anthropic SDKs call the alias and Claude names (docs/configuration.md)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .conftest import ServeProcess

openai = pytest.importorskip("openai")

KEY = "live-config-key"


@pytest.fixture(scope="module")
def configured(
    llamacpp_chat_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServeProcess, str]]:
    """``modelport serve --config FILE`` (and no other option), and the model's name as
    modelport lists it (the file's stem: the server serves a path)."""
    import os

    [served] = [m["id"] for m in httpx.get(f"{llamacpp_chat_url}/v1/models").json()["data"]]
    model = served.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".gguf")  # as listed
    folder = tmp_path_factory.mktemp("config")
    path = folder / "modelport.toml"
    path.write_text(
        f"""
[services.local]
url = "{llamacpp_chat_url}"
kind = "llamacpp"

[aliases]
smol = "local/{model}"
"claude-*" = "smol"

[gateway]
api_keys_env = ["LIVE_CONFIG_GATEWAY_KEY"]
""",
        encoding="utf-8",
    )
    os.environ["LIVE_CONFIG_GATEWAY_KEY"] = KEY  # ServeProcess passes the environment on
    try:
        process = ServeProcess([], folder / "serve.log", cli_options=["--config", str(path)])
    finally:
        del os.environ["LIVE_CONFIG_GATEWAY_KEY"]
    yield process, model
    process.stop()


@pytest.fixture(scope="module")
def sdk(configured: tuple[ServeProcess, str]) -> Iterator[object]:
    client = openai.OpenAI(
        base_url=configured[0].url + "/v1", api_key=KEY, max_retries=0, timeout=120
    )
    yield client
    client.close()


def test_live_the_gateway_serves_the_files_service_and_asks_for_its_key(
    configured: tuple[ServeProcess, str],
) -> None:
    process, _ = configured
    assert "local (llamacpp)" in process.banner
    assert "1 API key required" in process.banner
    assert httpx.get(process.url + "/v1/models").status_code == 401


def test_live_models_lists_the_alias_marked_and_not_the_glob(
    sdk: object, configured: tuple[ServeProcess, str]
) -> None:
    _, model = configured
    listed = {m.id: m for m in sdk.models.list().data}  # type: ignore[attr-defined]
    assert f"local/{model}" in listed
    alias = listed["smol"]
    assert alias.owned_by == "modelport-alias"
    assert alias.model_extra["modelport"] == {"alias_of": [f"local/{model}"]}
    assert not any("*" in name for name in listed)


@pytest.mark.parametrize("name", ["smol", "claude-sonnet-4-5-20250929"])
def test_live_openai_sdk_chats_through_an_alias_and_a_glob_name(sdk: object, name: str) -> None:
    reply = sdk.chat.completions.create(  # type: ignore[attr-defined]
        model=name,
        messages=[{"role": "user", "content": "What is the capital of France? One word."}],
        max_tokens=16,
        temperature=0,
    )
    assert reply.model == name
    assert reply.choices[0].message.content.strip()
    assert reply.usage.prompt_tokens > 5


def test_live_anthropic_sdk_reaches_the_local_model_by_a_claude_name(
    configured: tuple[ServeProcess, str],
) -> None:
    anthropic = pytest.importorskip("anthropic")
    client = anthropic.Anthropic(
        base_url=configured[0].url, api_key=KEY, max_retries=0, timeout=120
    )
    try:
        message = client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=16,
            messages=[{"role": "user", "content": "Say hello."}],
        )
    finally:
        client.close()
    assert message.model == "claude-haiku-4-5"
    assert message.content[0].text.strip()
