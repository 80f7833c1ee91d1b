"""``ps``, ``models``, ``show``, ``load`` and ``unload`` on a llama-server in router mode,
replayed from recorded bodies (tests/fixtures/llamacpp/router)."""

from __future__ import annotations

from click.testing import CliRunner

from modelport.cli import app
from tests.unit.llamacpp_router_fake import FakeRouter, recorded, router

from .conftest import UseServices
from .fakes import lines_of
from .test_models import _facts, _row


def _use(use_services: UseServices, fake: FakeRouter) -> FakeRouter:
    use_services(fake.provider())
    return fake


def test_ps_on_a_router_lists_the_loaded_model_with_its_context(
    runner: CliRunner, use_services: UseServices
) -> None:
    _use(use_services, router("v1_models_alpha_loaded.json"))
    result = runner.invoke(app, ["ps"])
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in lines_of(result.stdout)[1:]] == ["llamacpp/alpha"]
    assert _row(result.stdout, "llamacpp/alpha")[:2] == ["llamacpp/alpha", "8192"]


def test_ps_on_a_router_with_nothing_loaded_says_so(
    runner: CliRunner, use_services: UseServices
) -> None:
    _use(use_services, router())
    result = runner.invoke(app, ["ps"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No models are loaded" in result.stderr


def test_models_on_a_router_shows_which_models_are_loaded(
    runner: CliRunner, use_services: UseServices
) -> None:
    _use(use_services, router("v1_models_alpha_loaded.json"))
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert _row(result.stdout, "llamacpp/alpha")[:4] == ["llamacpp/alpha", "yes", "8192", "8192"]
    assert _row(result.stdout, "llamacpp/beta")[:4] == ["llamacpp/beta", "no", "-", "-"]


def test_show_of_an_unloaded_router_model_never_prints_none(
    runner: CliRunner, use_services: UseServices
) -> None:
    _use(use_services, router("v1_models_alpha_loaded.json"))
    result = runner.invoke(app, ["show", "beta"])
    assert result.exit_code == 0, result.output
    facts = _facts(result.stdout)
    assert facts["loaded"] == "no"
    assert facts["context_length"] == "-"
    assert facts["details.model_path"] == "/tmp/router-cap/models/beta.gguf"
    assert facts["details.status"] == "unloaded"
    assert "none" not in facts.values()


def test_load_on_a_router_waits_for_the_model_and_says_loaded(
    runner: CliRunner, use_services: UseServices
) -> None:
    fake = router("models_all_unloaded.json", "models_beta_loading.json", "models_beta_loaded.json")
    fake.on("POST", "/models/load", recorded("load_ok.json"))
    _use(use_services, fake)
    result = runner.invoke(app, ["load", "beta"])
    assert result.exit_code == 0, result.output
    assert "Loaded beta" in result.stdout
    assert fake.sent_to("POST", "/models/load") == [{"model": "beta"}]


def test_unload_on_a_router_stops_the_model(runner: CliRunner, use_services: UseServices) -> None:
    fake = router("v1_models_alpha_loaded.json", "models_all_unloaded.json")
    fake.on("POST", "/models/unload", recorded("unload_ok.json"))
    _use(use_services, fake)
    result = runner.invoke(app, ["unload", "alpha"])
    assert result.exit_code == 0, result.output
    assert "Unloaded alpha" in result.stdout
    assert fake.sent_to("POST", "/models/unload") == [{"model": "alpha"}]


def test_unload_of_a_model_not_loaded_on_a_router_succeeds(
    runner: CliRunner, use_services: UseServices
) -> None:
    fake = _use(use_services, router())
    result = runner.invoke(app, ["unload", "beta"])
    assert result.exit_code == 0, result.output
    assert fake.sent_to("POST", "/models/unload") == []


def test_load_with_a_context_length_on_a_router_says_how_to_set_it_in_one_line(
    runner: CliRunner, use_services: UseServices
) -> None:
    fake = _use(use_services, router())
    result = runner.invoke(app, ["load", "beta", "--context-length", "4096"])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "ctx-size = 4096" in line
    assert fake.sent_to("POST", "/models/load") == []


def test_load_of_a_model_that_fails_on_a_router_exits_1_with_the_reason(
    runner: CliRunner, use_services: UseServices
) -> None:
    fake = router("models_broken_failed.json").on("POST", "/models/load", recorded("load_ok.json"))
    _use(use_services, fake)
    result = runner.invoke(app, ["load", "broken"])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "status 1" in line
