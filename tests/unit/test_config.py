"""The configuration file: every key, where each value came from, precedence, and every
mistake as a ConfigurationError that names the place and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport import ConfigurationError
from modelport.config import (
    Config,
    ConfigProblem,
    ModelConfig,
    Secret,
    Source,
    check_config,
    find_config,
    load_config,
    parse_config,
)

FULL = """\
# one GPU box and a laptop
[services.gpu]
url = "http://10.0.0.5:11434"
kind = "ollama"
api_key_env = "GPU_KEY"
max_in_flight = 4
max_queue = 16
max_wait = "90s"
max_loaded = 1
swap_after = 30

[services.laptop]
url = "http://127.0.0.1:1234"

[aliases]
coder = "gpu/qwen2.5-coder:7b"
qwen3-8b = ["gpu/qwen3:8b", "laptop/qwen/qwen3-8b"]
"claude-*" = "coder"

[models."gpu/qwen2.5-coder:7b"]
max_in_flight = 2
max_queue = 8
max_wait = 60
ttl = "10m"

[gateway]
host = "0.0.0.0"
port = 8080
api_keys_env = ["TEAM_KEY", "CI_KEY"]
cors_origins = ["http://localhost:5173"]
max_body = "10MB"
"""

ENV = {"GPU_KEY": "sk-gpu-secret\n", "TEAM_KEY": "team-secret", "CI_KEY": ""}


def parse(text: str, **kwargs: object) -> Config:
    kwargs.setdefault("environ", {})
    return parse_config(text, **kwargs)  # type: ignore[arg-type]


def problems(text: str, **kwargs: object) -> list[str]:
    kwargs.setdefault("environ", {})
    return [str(p) for p in check_config(text, **kwargs)]  # type: ignore[arg-type]


def error(text: str, **kwargs: object) -> str:
    with pytest.raises(ConfigurationError) as caught:
        parse(text, **kwargs)
    return str(caught.value)


# --------------------------------------------------------------------------- every key


def test_every_documented_key_is_read() -> None:
    config = parse(FULL, environ=ENV)
    gpu = config.service("gpu")
    assert gpu is not None
    assert (gpu.name, gpu.url, gpu.kind, gpu.api_key_env) == (
        "gpu",
        "http://10.0.0.5:11434",
        "ollama",
        "GPU_KEY",
    )
    assert gpu.api_key == Secret("sk-gpu-secret")
    assert (gpu.max_in_flight, gpu.max_queue, gpu.max_wait) == (4, 16, 90.0)
    assert (gpu.max_loaded, gpu.swap_after) == (1, 30.0)
    laptop = config.service("laptop")
    assert laptop is not None and laptop.kind is None and laptop.max_in_flight is None
    assert [s.name for s in config.services] == ["gpu", "laptop"]

    assert [(a.name, a.targets, a.glob) for a in config.aliases] == [
        ("coder", ("gpu/qwen2.5-coder:7b",), False),
        ("qwen3-8b", ("gpu/qwen3:8b", "laptop/qwen/qwen3-8b"), False),
        ("claude-*", ("coder",), True),
    ]
    [model] = config.models
    assert model == ModelConfig(
        pattern="gpu/qwen2.5-coder:7b", max_in_flight=2, max_queue=8, max_wait=60.0, ttl=600.0
    )

    gateway = config.gateway
    assert (gateway.host, gateway.port, gateway.max_body) == ("0.0.0.0", 8080, 10 * 1024**2)
    assert gateway.api_keys_env == ("TEAM_KEY", "CI_KEY")
    assert gateway.api_keys == (Secret("team-secret"),)  # CI_KEY is empty: no key
    assert gateway.cors_origins == ("http://localhost:5173",)


def test_an_empty_file_gives_the_defaults() -> None:
    config = parse("")
    assert config.services == () and config.aliases == () and config.models == ()
    assert (config.gateway.host, config.gateway.port) == ("127.0.0.1", 11435)
    assert config.gateway.max_body == 100 * 1024**2
    assert config.gateway.api_keys == () and config.gateway.cors_origins == ()


def test_the_default_body_limit_is_the_gateways() -> None:
    from modelport.gateway import DEFAULT_MAX_BODY

    assert parse("").gateway.max_body == DEFAULT_MAX_BODY


def test_a_service_may_be_written_as_just_its_url() -> None:
    config = parse('[services]\ngpu = "http://10.0.0.5:11434/"\n')
    gpu = config.service("gpu")
    assert gpu is not None and gpu.url == "http://10.0.0.5:11434"


def test_a_kind_may_be_written_the_ways_the_cli_accepts() -> None:
    config = parse('[services.box]\nurl = "http://h:8080"\nkind = "llama.cpp"\n')
    box = config.service("box")
    assert box is not None and box.kind == "llamacpp"


# --------------------------------------------------------------------------- sources


def test_each_value_remembers_the_line_it_came_from() -> None:
    config = parse(FULL, name="/etc/modelport.toml", environ=ENV)
    source = config.source("services.gpu.max_in_flight")
    assert source == Source("file", "/etc/modelport.toml", 6)
    assert str(source) == "/etc/modelport.toml:6"
    assert str(config.source('aliases."claude-*"')) == "/etc/modelport.toml:18"
    assert str(config.source('models."gpu/qwen2.5-coder:7b".ttl')) == "/etc/modelport.toml:24"
    assert str(config.source("services.gpu.api_key")) == "env GPU_KEY"
    assert str(config.source("gateway.port")) == "/etc/modelport.toml:28"


def test_inline_tables_give_each_key_its_line() -> None:
    text = '[services]\ngpu = { url = "http://h:1", max_in_flight = 2 }\n'
    config = parse(text)
    assert config.source("services.gpu.max_in_flight") == Source("file", "modelport.toml", 2)


def test_values_not_set_anywhere_say_default() -> None:
    config = parse("")
    assert config.source("gateway.port") == Source("default")
    assert str(config.source("gateway.port")) == "default"


def test_describe_lists_every_effective_value_with_its_source() -> None:
    config = parse(FULL, environ=ENV)
    rows = {path: (shown, str(source)) for path, shown, source in config.describe()}
    assert rows["services.gpu.max_in_flight"] == ("4", "modelport.toml:6")
    assert rows["services.gpu.max_wait"] == ("90s", "modelport.toml:8")
    assert rows["services.gpu.api_key"] == ("***", "env GPU_KEY")
    assert rows["gateway.host"] == ("0.0.0.0", "modelport.toml:27")
    assert rows["gateway.max_body"] == ("10 MiB", "modelport.toml:31")
    assert rows["aliases.qwen3-8b"] == (
        '["gpu/qwen3:8b", "laptop/qwen/qwen3-8b"]',
        "modelport.toml:17",
    )
    assert rows["gateway.api_keys"] == ("*** (1 key)", "env TEAM_KEY")


# --------------------------------------------------------------------------- precedence


def test_flags_beat_the_environment_which_beats_the_file_which_beats_defaults() -> None:
    text = "[gateway]\nport = 8080\nhost = '127.0.0.1'\n"
    assert parse("").gateway.port == 11435
    assert parse(text).gateway.port == 8080
    flagged = parse(text, flags={"gateway.port": 9000})
    assert flagged.gateway.port == 9000
    assert flagged.source("gateway.port") == Source("flag")
    assert str(flagged.source("gateway.port")) == "flag"


def test_a_service_from_the_environment_overrides_the_url_and_keeps_the_files_limits() -> None:
    text = '[services.gpu]\nurl = "http://10.0.0.5:11434"\nmax_in_flight = 2\n'
    env = {"MODELPORT_SERVICES": "gpu=http://10.0.0.9:11434, ollama"}
    config = parse(text, environ=env)
    gpu = config.service("gpu")
    assert gpu is not None and (gpu.url, gpu.max_in_flight) == ("http://10.0.0.9:11434", 2)
    assert str(config.source("services.gpu.url")) == "env MODELPORT_SERVICES"
    ollama = config.service("ollama")
    assert ollama is not None and ollama.kind == "ollama"
    flagged = parse(text, environ=env, services=["gpu=http://10.0.0.10:11434"])
    assert flagged.service("gpu").url == "http://10.0.0.10:11434"  # type: ignore[union-attr]
    assert str(flagged.source("services.gpu.url")) == "flag --service"


def test_an_unnamed_service_url_is_kept_without_a_name() -> None:
    config = parse("", environ={"MODELPORT_SERVICES": "http://127.0.0.1:8000"})
    [service] = config.services
    assert (service.name, service.url) == (None, "http://127.0.0.1:8000")


def test_keys_from_the_environment_and_flags_reach_the_gateway_and_services() -> None:
    env = {"MODELPORT_API_KEYS": "k1, k2", "MODELPORT_API_KEY_GPU_BOX": "env-key"}
    text = '[services.gpu-box]\nurl = "http://h:1"\napi_key_env = "BOX_KEY"\n'
    config = parse(text, environ={**env, "BOX_KEY": "file-named-key"})
    assert config.gateway.api_keys == (Secret("k1"), Secret("k2"))
    box = config.service("gpu-box")
    assert box is not None and box.api_key == Secret("env-key")  # environment beats file
    assert str(config.source("services.gpu-box.api_key")) == "env MODELPORT_API_KEY_GPU_BOX"
    flagged = parse(text, environ=env, flags={"services.gpu-box.api_key": "flag-key"})
    assert flagged.service("gpu-box").api_key == Secret("flag-key")  # type: ignore[union-attr]


@pytest.mark.parametrize("value", [None, "", "   ", "\n"])
def test_a_key_variable_that_is_unset_or_empty_counts_as_no_key(value: str | None) -> None:
    env = {} if value is None else {"GPU_KEY": value}
    config = parse('[services.gpu]\nurl = "http://h:1"\napi_key_env = "GPU_KEY"\n', environ=env)
    assert config.service("gpu").api_key is None  # type: ignore[union-attr]
    text = '[gateway]\nhost = "0.0.0.0"\napi_keys_env = "GPU_KEY"\n'
    assert parse(text, environ=env).gateway.api_keys == ()


# --------------------------------------------------------------------------- masking


def test_keys_are_masked_in_reprs_rows_and_errors() -> None:
    config = parse(FULL, environ=ENV)
    for shown in (repr(config), str(config.service("gpu")), repr(config.gateway)):
        assert "sk-gpu-secret" not in shown and "team-secret" not in shown
    assert "secret" not in " ".join(shown for _, shown, _ in config.describe())
    assert repr(Secret("abc")) == "Secret('***')" and str(Secret("abc")) == "***"
    assert Secret("abc").reveal() == "abc"


def test_a_key_written_in_the_file_is_refused_and_never_echoed() -> None:
    message = error('[services.gpu]\nurl = "http://h:1"\napi_key = "sk-live-1234"\n')
    assert "sk-live-1234" not in message
    assert "modelport.toml:3" in message and "services.gpu.api_key" in message
    assert 'api_key_env = "' in message  # the fix
    message = error('[gateway]\napi_keys = ["gw-secret"]\n')
    assert "gw-secret" not in message and "api_keys_env" in message


def test_a_key_variable_with_a_character_a_header_cannot_carry_is_refused() -> None:
    message = error(
        '[services.gpu]\nurl = "http://h:1"\napi_key_env = "K"\n', environ={"K": "sk-\x00bad"}
    )
    assert "K" in message and "sk-" not in message


# --------------------------------------------------------------------------- mistakes


def test_a_syntax_error_names_its_line_and_column() -> None:
    message = error('[services.gpu]\nurl = "http://h:1"\nmax_in_flight = \n')
    assert message.startswith("modelport.toml:3:17: ")
    assert "TOML" in message


def test_an_unclosed_table_header_names_its_line() -> None:
    assert error("[services.gpu\n").startswith("modelport.toml:1:")


@pytest.mark.parametrize(
    ("text", "place", "fix"),
    [
        (
            "[services.gpu]\nurl = 'http://h:1'\nmax_in_flight = -1\n",
            "modelport.toml:3: services.gpu.max_in_flight",
            "positive whole number",
        ),
        (
            "[services.gpu]\nurl = 'http://h:1'\nmax_in_flight = 2.5\n",
            "services.gpu.max_in_flight",
            "positive whole number",
        ),
        (
            "[services.gpu]\nurl = 'http://h:1'\nmax_queue = true\n",
            "services.gpu.max_queue",
            "positive whole number",
        ),
        ("[services.gpu]\nurl = 'http://h:1'\nmax_wait = 'soon'\n", "services.gpu.max_wait", "90s"),
        (
            "[services.gpu]\nurl = 'http://h:1'\nmax_wait = 0\n",
            "services.gpu.max_wait",
            "more than zero",
        ),
        (
            "[services.gpu]\nurl = 'http://h:1'\nswap_after = -3\n",
            "services.gpu.swap_after",
            "more than zero",
        ),
        ("[services.gpu]\nurl = 'ftp://h'\n", "modelport.toml:2: services.gpu.url", "http://"),
        ("[services.gpu]\nurl = 3\n", "services.gpu.url", "http://"),
        ("[services.gpu]\nkind = 'ollama'\n", "services.gpu", "url ="),
        (
            "[services.gpu]\nurl = 'http://h:1'\nkind = 'tgi'\n",
            "services.gpu.kind",
            "ollama, lmstudio, llamacpp, openai",
        ),
        (
            "[services.gpu]\nurl = 'http://h:1'\napi_key_env = 'my key'\n",
            "services.gpu.api_key_env",
            "variable name",
        ),
        ("[services.\"a/b\"]\nurl = 'http://h:1'\n", "services", "without '/'"),
        ("[models.m]\nttl = '1y'\n", "models.m.ttl", "10m"),
        ("[models.m]\nmax_in_flight = 0\n", "models.m.max_in_flight", "positive whole number"),
        ("[aliases]\ncoder = []\n", "aliases.coder", "model id"),
        ("[aliases]\ncoder = ['', 'x']\n", "aliases.coder", "model id"),
        ("[aliases]\ncoder = 3\n", "aliases.coder", "model id"),
        ("[aliases]\nqwen3.8b = 'x'\n", "aliases.qwen3", '"qwen3.8b" ='),
        ("[gateway]\nport = 70000\n", "gateway.port", "0 to 65535"),
        ("[gateway]\nport = '80'\n", "gateway.port", "0 to 65535"),
        ("[gateway]\nhost = ''\n", "gateway.host", "127.0.0.1"),
        ("[gateway]\nmax_body = 'lots'\n", "gateway.max_body", "100MB"),
        ("[gateway]\ncors_origins = 'http://a'\n", "gateway.cors_origins", "list"),
        (
            "[gateway]\ncors_origins = ['http://a/path']\n",
            "gateway.cors_origins",
            "http://localhost:5173",
        ),
        ("[gateway]\napi_keys_env = ['OK', 'not ok']\n", "gateway.api_keys_env", "variable name"),
        ("services = 3\n", "services", "[services.NAME]"),
    ],
)
def test_a_bad_value_names_its_key_path_and_the_fix(text: str, place: str, fix: str) -> None:
    message = error(text)
    assert place in message, message
    assert fix in message, message


@pytest.mark.parametrize(
    ("text", "wrong", "meant"),
    [
        (
            "[services.gpu]\nurl = 'http://h:1'\nmax_inflight = 2\n",
            "services.gpu.max_inflight",
            "max_in_flight",
        ),
        ("[service.gpu]\nurl = 'http://h:1'\n", "service", "services"),
        ("[gateway]\nports = 1\n", "gateway.ports", "port"),
        ("[models.m]\ntime_to_live = 3\n", "models.m.time_to_live", "ttl"),
        ("[gateway]\ncors = ['*']\n", "gateway.cors", "cors_origins"),
    ],
)
def test_an_unknown_key_is_an_error_with_a_suggestion(text: str, wrong: str, meant: str) -> None:
    message = error(text)
    assert wrong in message and f"Did you mean {meant}?" in message, message


def test_an_unknown_key_far_from_any_says_which_keys_exist() -> None:
    message = error("[gateway]\nzzz = 1\n")
    assert "gateway.zzz" in message and "host, port" in message


THREE_MISTAKES = """\
[services.gpu]
url = 'http://h:1'
max_in_flight = 0
max_wait = 'x'
[gateway]
port = -1
"""


def test_every_problem_in_a_file_is_reported_at_once() -> None:
    found = check_config(THREE_MISTAKES)
    assert [p.path for p in found] == [
        "services.gpu.max_in_flight",
        "services.gpu.max_wait",
        "gateway.port",
    ]
    assert [p.where for p in found] == ["modelport.toml:3", "modelport.toml:4", "modelport.toml:6"]
    assert all(isinstance(p, ConfigProblem) and p.hint for p in found)
    message = error(THREE_MISTAKES)
    assert message.startswith("modelport.toml has 3 problems:")
    assert message.count("\n") == 3


def test_a_valid_file_has_no_problems() -> None:
    assert check_config(FULL, environ=ENV) == []


def test_a_problem_from_the_environment_names_the_variable() -> None:
    message = error("", environ={"MODELPORT_SERVICES": "gpu=ftp://x"})
    assert "MODELPORT_SERVICES" in message


# --------------------------------------------------------------------------- aliases


def test_an_alias_resolves_to_the_ids_it_stands_for() -> None:
    config = parse(FULL)
    assert config.resolve("qwen3-8b") == ("gpu/qwen3:8b", "laptop/qwen/qwen3-8b")
    assert config.resolve("coder") == ("gpu/qwen2.5-coder:7b",)
    assert config.resolve("llama3.2") == ("llama3.2",)  # not an alias: itself


def test_a_glob_alias_maps_an_agents_fixed_names_through_an_alias_chain() -> None:
    config = parse(FULL)
    assert config.resolve("claude-sonnet-4-5-20250929") == ("gpu/qwen2.5-coder:7b",)
    assert config.resolve("claude-haiku-4-5") == ("gpu/qwen2.5-coder:7b",)
    assert config.resolve("gpt-4o") == ("gpt-4o",)


def test_exact_aliases_come_before_globs_and_globs_go_in_file_order() -> None:
    text = """
[aliases]
"claude-*" = "big"
"claude-haiku-*" = "small"
claude-opus = "huge"
"""
    config = parse(text)
    assert config.resolve("claude-opus") == ("huge",)
    assert config.resolve("claude-haiku-4-5") == ("big",)  # the first glob that matches


def test_an_alias_of_aliases_forms_one_replica_set_without_repeats() -> None:
    text = """
[aliases]
a = ["x/m", "b"]
b = ["y/m", "x/m"]
c = ["a", "b"]
"""
    assert parse(text).resolve("c") == ("x/m", "y/m")


@pytest.mark.parametrize(
    ("text", "cycle"),
    [
        ('[aliases]\na = "a"\n', "a -> a"),
        ('[aliases]\na = "b"\nb = ["x", "a"]\n', "a -> b -> a"),
        ('[aliases]\nx = "y"\na = "b"\nb = "c"\nc = "a"\n', "a -> b -> c -> a"),
    ],
)
def test_an_alias_cycle_is_an_error_that_draws_the_cycle(text: str, cycle: str) -> None:
    message = error(text)
    assert cycle in message and "aliases." in message


def test_the_alias_list_holds_exact_aliases_with_their_models() -> None:
    listed = parse(FULL).alias_entries()
    assert [(a.name, a.targets) for a in listed] == [
        ("coder", ("gpu/qwen2.5-coder:7b",)),
        ("qwen3-8b", ("gpu/qwen3:8b", "laptop/qwen/qwen3-8b")),
    ]


# --------------------------------------------------------------------------- model settings


def test_model_settings_come_from_the_id_then_the_name_then_aliases_then_globs() -> None:
    text = """
[aliases]
coder = "gpu/qwen:7b"

[models."gpu/qwen:7b"]
max_in_flight = 1

[models."qwen:7b"]
max_in_flight = 5
max_queue = 3

[models.coder]
ttl = 60
max_queue = 9

[models."gpu/*"]
max_wait = 30
ttl = 5
"""
    config = parse(text)
    settings = config.model_settings("gpu", "qwen:7b")
    assert (settings.max_in_flight, settings.max_queue, settings.ttl, settings.max_wait) == (
        1,
        3,
        60.0,
        30.0,
    )
    assert config.model_settings("cpu", "other") == ModelConfig(pattern="cpu/other")


# --------------------------------------------------------------------------- finding the file


def _exists(*paths: str) -> object:
    return lambda path: str(path) in paths


def test_an_explicit_path_comes_first() -> None:
    found = find_config(
        "/x/my.toml",
        environ={"MODELPORT_CONFIG": "/y/env.toml"},
        cwd="/w",
        home="/h",
        exists=_exists("/x/my.toml", "/y/env.toml", "/w/modelport.toml"),
    )
    assert found == Path("/x/my.toml")


def test_the_search_order_is_env_then_working_folder_then_user_folder() -> None:
    every = _exists("/y/env.toml", "/w/modelport.toml", "/h/.config/modelport/config.toml")
    kwargs: dict[str, object] = {"cwd": "/w", "home": "/h", "platform": "linux"}
    env = {"MODELPORT_CONFIG": "/y/env.toml"}
    assert find_config(environ=env, exists=every, **kwargs) == Path("/y/env.toml")  # type: ignore[arg-type]
    assert find_config(environ={}, exists=every, **kwargs) == Path("/w/modelport.toml")  # type: ignore[arg-type]
    user = _exists("/h/.config/modelport/config.toml")
    assert find_config(environ={}, exists=user, **kwargs) == Path(  # type: ignore[arg-type]
        "/h/.config/modelport/config.toml"
    )
    assert find_config(environ={}, exists=_exists(), **kwargs) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {"XDG_CONFIG_HOME": "/xdg"}, "/xdg/modelport/config.toml"),
        ("linux", {}, "/h/.config/modelport/config.toml"),
        ("darwin", {}, "/h/Library/Application Support/modelport/config.toml"),
        ("darwin", {"XDG_CONFIG_HOME": "/xdg"}, "/xdg/modelport/config.toml"),
        (
            "win32",
            {"APPDATA": "C:/Users/me/AppData/Roaming"},
            "C:/Users/me/AppData/Roaming/modelport/config.toml",
        ),
    ],
)
def test_the_user_folder_follows_each_systems_convention(
    platform: str, environ: dict[str, str], expected: str
) -> None:
    found = find_config(
        environ=environ, cwd="/w", home="/h", platform=platform, exists=_exists(expected)
    )
    assert found == Path(expected)


def test_without_search_only_an_explicit_path_or_the_variable_is_read() -> None:
    every = _exists("/y/env.toml", "/w/modelport.toml", "/h/.config/modelport/config.toml")
    kwargs: dict[str, object] = {"cwd": "/w", "home": "/h", "search": False, "exists": every}
    assert find_config(environ={}, **kwargs) is None  # type: ignore[arg-type]
    assert find_config(environ={"MODELPORT_CONFIG": "/y/env.toml"}, **kwargs) == Path(  # type: ignore[arg-type]
        "/y/env.toml"
    )


def test_a_named_file_that_does_not_exist_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigurationError, match=r"MODELPORT_CONFIG.*/y/gone\.toml"):
        find_config(environ={"MODELPORT_CONFIG": "/y/gone.toml"}, exists=_exists())
    with pytest.raises(ConfigurationError, match=r"/x/gone\.toml"):
        find_config("/x/gone.toml", environ={}, exists=_exists())


def test_load_config_reads_the_file_it_finds(tmp_path: Path) -> None:
    path = tmp_path / "modelport.toml"
    path.write_text("[gateway]\nport = 9999\n", encoding="utf-8")
    config = load_config(cwd=tmp_path, environ={}, home=tmp_path / "home")
    assert config.gateway.port == 9999
    assert config.path == path
    assert config.source("gateway.port") == Source("file", str(path), 2)


def test_load_config_without_a_file_gives_defaults_and_environment(tmp_path: Path) -> None:
    config = load_config(cwd=tmp_path, environ={"MODELPORT_API_KEYS": "k"}, home=tmp_path)
    assert config.path is None and config.gateway.api_keys == (Secret("k"),)


def test_a_file_that_cannot_be_read_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "modelport.toml"
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ConfigurationError, match=r"modelport\.toml.*UTF-8"):
        load_config(path, environ={})
    with pytest.raises(ConfigurationError, match="is a folder"):
        load_config(tmp_path, environ={})


def test_layers_merge_key_by_key_the_later_winning() -> None:
    from modelport._config.layers import Setting, merge_settings

    defaults = {("gateway", "port"): Setting(11435, Source("default"))}
    file = {
        ("gateway", "port"): Setting(8080, Source("file", "f", 1)),
        ("gateway", "host"): Setting("h", Source("file", "f", 2)),
    }
    flags = {("gateway", "port"): Setting(9000, Source("flag"))}
    merged = merge_settings(defaults, file, {}, flags)
    assert merged == {
        ("gateway", "port"): Setting(9000, Source("flag")),
        ("gateway", "host"): Setting("h", Source("file", "f", 2)),
    }


def test_a_syntax_error_column_is_read_on_every_python() -> None:
    from modelport._config.toml import error_place

    class Modern(ValueError):
        lineno = 4
        colno = 2

    assert error_place(Modern("Invalid value")) == (4, 2)
    assert error_place(ValueError("Invalid value (at line 3, column 17)")) == (3, 17)
    assert error_place(ValueError("Invalid value (at end of document)")) == (None, None)


def test_the_configuration_names_are_public_and_load_lazily() -> None:
    import subprocess
    import sys

    import modelport
    import modelport.config

    for name in modelport.config.__all__:
        assert name in modelport.__all__, name
        assert getattr(modelport, name) is getattr(modelport.config, name)
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, modelport; print('modelport.config' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "False"


def test_the_config_module_loads_without_httpx() -> None:
    import subprocess
    import sys

    code = "import sys, modelport.config; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_default_port_is_the_one_serve_uses() -> None:
    from modelport.cli._serve import DEFAULT_PORT

    assert parse("").gateway.port == DEFAULT_PORT


def test_a_bad_duration_is_named_as_a_duration() -> None:
    message = error("[models.m]\nttl = 'soon'\n")
    assert '"soon" is not a duration' in message and "keep_alive" not in message


def test_an_unknown_table_lists_the_tables() -> None:
    message = error("zzz = 1\n")
    assert "The tables of the file are: services, aliases, models, gateway." in message


def test_api_keys_by_service_name_apply_to_known_services_only() -> None:
    text = '[services.gpu]\nurl = "http://h:1"\napi_key_env = "GPU_KEY"\n'
    config = parse(text, environ={"GPU_KEY": "env"}, api_keys={"gpu": "flag", "nope": "x"})
    assert config.service("gpu").api_key == Secret("flag")  # type: ignore[union-attr]
    assert str(config.source("services.gpu.api_key")) == "flag --api-key"
    assert [s.name for s in config.services] == ["gpu"]


def test_the_search_paths_are_the_working_folder_then_the_user_folder() -> None:
    from modelport.config import config_search_paths

    paths = config_search_paths(environ={}, cwd="/w", home="/h", platform="linux")
    assert paths == [Path("/w/modelport.toml"), Path("/h/.config/modelport/config.toml")]


def test_problems_come_in_the_order_of_their_lines() -> None:
    text = "[services.gpu]\nurl = 'http://h:1'\nmax_in_flight = -1\nmax_inflight = 2\n"
    assert [p.where for p in check_config(text)] == ["modelport.toml:3", "modelport.toml:4"]
