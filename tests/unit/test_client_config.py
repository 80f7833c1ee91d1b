"""``Client(config=...)``: services, keys and aliases from the configuration file
(``docs/configuration.md``), with fake servers (no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelport
from modelport import (
    ConfigurationError,
    ModelInfo,
    ModelNotFoundError,
    ServiceUnavailableError,
)
from modelport.config import Config, parse_config
from modelport.testing import FakeProvider

GPU = """
[services.gpu]
url = "http://10.0.0.5:11434"
kind = "ollama"
api_key_env = "GPU_KEY"
max_in_flight = 2
"""


def _states(client: modelport.Client) -> list[tuple[str, str, str]]:
    return [(s.name, s.provider.kind, s.provider.base_url) for s in client.router.states]


def _auth(client: modelport.Client, name: str) -> str | None:
    state = next(s for s in client.router.states if s.name == name)
    return state.provider._headers().get("authorization")


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("MODELPORT_CONFIG", "MODELPORT_SERVICES", "GPU_KEY", "MODELPORT_API_KEY_GPU"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


# ---------------------------------------------------------------------------- services


def test_a_plain_client_reads_no_file_even_with_modelport_toml_here(tmp_path: Path) -> None:
    (tmp_path / "modelport.toml").write_text(GPU)
    client = modelport.Client(services=[FakeProvider(name="fake")])
    assert client.config is None
    assert _states(client) == [("fake", "openai", "http://127.0.0.1:9/fake")]


def test_a_plain_client_reads_the_file_modelport_config_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "team.toml"
    path.write_text(GPU)
    monkeypatch.setenv("MODELPORT_CONFIG", str(path))
    client = modelport.Client()
    assert isinstance(client.config, Config) and client.config.path == path
    assert _states(client) == [("gpu", "ollama", "http://10.0.0.5:11434")]


def test_client_takes_a_config_path_or_a_config_object(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    path.write_text(GPU)
    by_path = modelport.Client(config=path)
    by_text = modelport.Client(config=str(path))
    by_object = modelport.AsyncClient(config=parse_config(GPU, environ={}))
    for client in (by_path, by_text, by_object):
        assert [(s.name, s.provider.base_url) for s in client.router.states] == [
            ("gpu", "http://10.0.0.5:11434")
        ]
    assert by_path.config is not None and by_path.config.service("gpu") is not None
    assert by_path.config.service("gpu").max_in_flight == 2  # type: ignore[union-attr]


def test_a_config_file_that_does_not_exist_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        modelport.Client(config=tmp_path / "missing.toml")


def test_a_config_of_the_wrong_type_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="config"):
        modelport.Client(config=42)  # type: ignore[arg-type]


def test_from_config_searches_the_working_folder_then_the_user_folder(tmp_path: Path) -> None:
    user = tmp_path / "xdg" / "modelport" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[services.user]\nurl = "http://10.0.0.7:8080"\nkind = "llamacpp"')
    assert _states(modelport.Client.from_config()) == [("user", "llamacpp", "http://10.0.0.7:8080")]
    (tmp_path / "modelport.toml").write_text(GPU)
    assert _states(modelport.Client.from_config()) == [("gpu", "ollama", "http://10.0.0.5:11434")]
    assert isinstance(modelport.AsyncClient.from_config(user), modelport.AsyncClient)


def test_from_config_with_no_file_anywhere_discovers_as_a_plain_client() -> None:
    client = modelport.Client.from_config()
    assert client.config is not None and client.config.path is None
    assert client._discover and not client.router.states


def test_the_service_key_comes_from_the_variable_the_file_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GPU_KEY", "sk-from-env\n")
    client = modelport.Client(config=parse_config(GPU))
    assert _auth(client, "gpu") == "Bearer sk-from-env"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_key_variable_unset_or_empty_is_no_key(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is not None:
        monkeypatch.setenv("GPU_KEY", value)
    client = modelport.Client(config=parse_config(GPU))
    assert _auth(client, "gpu") is None


def test_explicit_api_keys_beat_the_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPU_KEY", "sk-from-file-variable")
    client = modelport.Client(config=parse_config(GPU), api_keys={"gpu": "sk-explicit"})
    assert _auth(client, "gpu") == "Bearer sk-explicit"


def test_modelport_api_key_for_the_service_beats_the_files_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GPU_KEY", "sk-file")
    monkeypatch.setenv("MODELPORT_API_KEY_GPU", "sk-env")
    path = tmp_path / "m.toml"
    path.write_text(GPU)
    assert _auth(modelport.Client(config=path), "gpu") == "Bearer sk-env"


def test_credentials_in_a_configured_url_are_sent_as_basic_auth() -> None:
    config = parse_config(
        '[services.box]\nurl = "http://me:p%40ss@10.0.0.9:8000"\nkind = "openai"', environ={}
    )
    client = modelport.Client(config=config)
    [state] = client.router.states
    assert state.provider.base_url == "http://10.0.0.9:8000"
    assert state.provider._credentials == ("me", "p@ss")
    assert "p@ss" not in repr(client) and "p%40ss" not in repr(state.provider)


def test_modelport_services_overrides_the_files_url_of_the_same_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODELPORT_SERVICES", "gpu=http://10.0.0.9:11434,http://10.0.0.8:1234")
    path = tmp_path / "m.toml"
    path.write_text(GPU)
    client = modelport.Client(config=path)
    assert _states(client)[0] == ("gpu", "ollama", "http://10.0.0.9:11434")
    assert [c.url for c in client._pending] == ["http://10.0.0.8:1234"]  # kind found by probing


def test_explicit_services_replace_configured_ones_by_name_and_add_the_rest() -> None:
    fake = FakeProvider(name="gpu", models=["m"])
    extra = FakeProvider(name="extra", models=["n"])
    other = '\n[services.cpu]\nurl = "http://10.0.0.6:8080"\nkind = "llamacpp"'
    client = modelport.Client(services=[fake, extra], config=parse_config(GPU + other, environ={}))
    assert client.router.states[0].provider is fake
    assert [s.name for s in client.router.states] == ["gpu", "cpu", "extra"]


def test_a_config_without_services_uses_the_services_given_or_discovery() -> None:
    config = parse_config('[aliases]\ncoder = "m"', environ={})
    assert modelport.Client(config=config)._discover
    fake = FakeProvider(name="fake")
    assert [s.provider for s in modelport.Client(services=[fake], config=config).router.states] == [
        fake
    ]


# ---------------------------------------------------------------------------- aliases


def _aliased(aliases: str, *providers: FakeProvider, **kwargs: object) -> modelport.Client:
    client = modelport.Client(
        services=list(providers),
        config=parse_config("[aliases]\n" + aliases, environ={}),
        **kwargs,  # type: ignore[arg-type]
    )
    client._sleep = lambda seconds: None
    return client


def _info(service: str, name: str, *, loaded: bool, context: int = 4096) -> ModelInfo:
    return ModelInfo(
        id=f"{service}/{name}",
        name=name,
        service=service,
        kind="ollama",
        loaded=loaded,
        context_length=context,
        capabilities=modelport.Capabilities(chat=True, tools=True),
    )


def test_an_alias_across_services_prefers_the_replica_with_the_model_loaded() -> None:
    ollama = FakeProvider(name="ollama", models=[_info("ollama", "qwen3:8b", loaded=False)])
    lmstudio = FakeProvider(
        name="lmstudio", models=[_info("lmstudio", "qwen/qwen3-8b", loaded=True)]
    )
    client = _aliased('qwen3-8b = ["ollama/qwen3:8b", "lmstudio/qwen/qwen3-8b"]', ollama, lmstudio)
    client.chat("qwen3-8b", "hi")
    assert [r.model for r in lmstudio.requests] == ["qwen/qwen3-8b"]
    assert ollama.requests == []


def test_an_alias_fails_over_to_its_next_replica_on_another_service() -> None:
    ollama = FakeProvider(name="ollama", models=["qwen3:8b"], reply="from ollama")
    lmstudio = FakeProvider(name="lmstudio", models=["qwen/qwen3-8b"], reply="from lmstudio")
    ollama.fail_next(ServiceUnavailableError("503 busy"))
    client = _aliased(
        'qwen3-8b = ["ollama/qwen3:8b", "lmstudio/qwen/qwen3-8b"]', ollama, lmstudio, max_retries=0
    )
    assert client.chat("qwen3-8b", "hi").text == "from lmstudio"
    assert [r.model for r in ollama.requests] == ["qwen3:8b"]
    assert [r.model for r in lmstudio.requests] == ["qwen/qwen3-8b"]


async def _concurrent_split(stream: bool) -> tuple[int, int]:
    import asyncio

    first = FakeProvider(name="first", models=["a"], latency=0.05, chunk_delay=0.01)
    second = FakeProvider(name="second", models=["b"], latency=0.05, chunk_delay=0.01)
    client = modelport.AsyncClient(
        services=[first, second],
        config=parse_config('[aliases]\nab = ["first/a", "second/b"]', environ={}),
    )

    async def one() -> None:
        if stream:
            async with client.chat_stream("ab", "hi") as chunks:
                async for _ in chunks:
                    pass
        else:
            await client.chat("ab", "hi")

    await asyncio.gather(*(one() for _ in range(8)))
    return len(first.requests), len(second.requests)


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_concurrent_requests_for_an_alias_balance_over_its_replicas(stream: bool) -> None:
    import asyncio

    assert asyncio.run(_concurrent_split(stream)) == (4, 4)


def test_a_glob_alias_routes_an_agents_fixed_names() -> None:
    gpu = FakeProvider(name="gpu", models=["qwen2.5-coder:7b", "qwen3:8b"])
    client = _aliased(
        'coder = "gpu/qwen2.5-coder:7b"\nchat = "gpu/qwen3:8b"\n'
        '"claude-haiku-*" = "chat"\n"claude-*" = "coder"',
        gpu,
    )
    client.chat("claude-sonnet-4-5-20250929", "hi")
    client.chat("claude-haiku-4-5", "hi")
    assert [r.model for r in gpu.requests] == ["qwen2.5-coder:7b", "qwen3:8b"]


def test_an_alias_of_aliases_stands_for_all_their_replicas_in_order() -> None:
    a = FakeProvider(name="a", models=["m"], reply="from a")
    b = FakeProvider(name="b", models=["n"], reply="from b")
    a.fail_next(ServiceUnavailableError("down"))
    client = _aliased('one = "a/m"\ntwo = "b/n"\nboth = ["one", "two"]', a, b, max_retries=0)
    assert client.chat("both", "hi").text == "from b"
    assert client.chat("two", "hi").text == "from b"


def test_an_alias_of_a_bare_name_reaches_every_service_that_has_it() -> None:
    a = FakeProvider(name="a", models=[_info("a", "m", loaded=False)])
    b = FakeProvider(name="b", models=[_info("b", "m", loaded=True)])
    client = _aliased('mine = "m"', a, b)
    client.chat("mine", "hi")
    assert (len(a.requests), len(b.requests)) == (0, 1)


def test_a_cycle_of_aliases_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="a -> b -> a"):
        modelport.Client(config=parse_config('[aliases]\na = "b"\nb = "a"', environ={}))


def test_an_alias_whose_models_no_service_has_is_model_not_found_naming_it() -> None:
    client = _aliased('coder = ["gpu/x", "y"]', FakeProvider(name="gpu", models=["m"]))
    with pytest.raises(ModelNotFoundError) as caught:
        client.chat("coder", "hi")
    assert "coder" in str(caught.value) and caught.value.model == "coder"


def test_models_lists_exact_aliases_after_the_models_marked_with_what_they_stand_for() -> None:
    ollama = FakeProvider(name="ollama", models=[_info("ollama", "qwen3:8b", loaded=False)])
    lmstudio = FakeProvider(
        name="lmstudio", models=[_info("lmstudio", "qwen/qwen3-8b", loaded=True, context=8192)]
    )
    client = _aliased(
        'qwen3-8b = ["lmstudio/qwen/qwen3-8b", "ollama/qwen3:8b"]\n'
        '"claude-*" = "qwen3-8b"\nghost = "nowhere/x"',
        ollama,
        lmstudio,
    )
    models = client.models()
    assert [m.id for m in models] == ["ollama/qwen3:8b", "lmstudio/qwen/qwen3-8b", "qwen3-8b"]
    assert [m.alias_of for m in models] == [(), (), ("lmstudio/qwen/qwen3-8b", "ollama/qwen3:8b")]
    alias = models[-1]
    assert (alias.name, alias.loaded, alias.context_length) == ("qwen3-8b", True, 8192)
    assert alias.capabilities.tools is True


def test_model_info_of_an_alias_describes_its_best_replica_under_the_alias() -> None:
    gpu = FakeProvider(name="gpu", models=[_info("gpu", "qwen2.5-coder:7b", loaded=True)])
    client = _aliased('coder = "gpu/qwen2.5-coder:7b"\n"claude-*" = "coder"', gpu)
    info = client.model_info("coder")
    assert (info.id, info.name, info.alias_of) == ("coder", "coder", ("gpu/qwen2.5-coder:7b",))
    assert info.context_length == 4096
    glob = client.model_info("claude-sonnet-4-5")
    assert (glob.id, glob.alias_of) == ("claude-sonnet-4-5", ("gpu/qwen2.5-coder:7b",))


def test_a_real_model_named_like_a_glob_alias_is_still_reached_by_its_id() -> None:
    gpu = FakeProvider(name="gpu", models=["claude-local", "coder-model"])
    client = _aliased('"claude-*" = "gpu/coder-model"', gpu)
    client.chat("gpu/claude-local", "hi")
    assert [r.model for r in gpu.requests] == ["claude-local"]
