"""What each server says that gives the scheduler its defaults, read from recorded bodies."""

from __future__ import annotations

from typing import Any

import pytest

from modelport._schedule import ServerHints, ServiceLimits, with_hints
from modelport._schedule.hints import llamacpp_hints, lmstudio_hints
from tests.conftest import load_fixture


def test_a_plain_llama_server_gives_its_slots_as_the_in_flight_limit() -> None:
    props = load_fixture("llamacpp/router/plain_props.json")
    assert llamacpp_hints(props) == ServerHints(max_in_flight=4)


def test_a_llama_router_gives_how_many_models_it_holds() -> None:
    props = load_fixture("llamacpp/router/props_router.json")
    assert llamacpp_hints(props) == ServerHints(max_loaded=1)


def test_a_router_model_gives_its_own_slots() -> None:
    router = load_fixture("llamacpp/router/props_router.json")
    alpha = load_fixture("llamacpp/router/props_model_alpha.json")
    hints = llamacpp_hints(router, models={"alpha": alpha})
    assert hints == ServerHints(max_loaded=1, model_slots={"alpha": 4})


def test_lm_studio_gives_each_loaded_instance_its_parallel_predictions() -> None:
    body = load_fixture("lmstudio/api_v1_models.json")
    assert lmstudio_hints(body) == ServerHints(model_slots={"google/gemma-4-26b-a4b": 4})


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"total_slots": "4"},
        {"total_slots": -1},
        {"total_slots": True},
        {"role": "router", "max_instances": 0},
        {"role": "router", "max_instances": 2.5},
    ],
)
def test_llama_server_values_that_are_no_count_give_no_hint(body: Any) -> None:
    assert llamacpp_hints(body) == ServerHints()


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"models": "x"},
        {"models": [{"key": "m", "loaded_instances": [{"config": {"parallel": 0}}]}]},
        {"models": [{"key": 3, "loaded_instances": [{"config": {"parallel": 2}}]}]},
        {"models": [{"key": "m", "loaded_instances": "x"}]},
    ],
)
def test_lm_studio_bodies_without_a_count_give_no_hint(body: Any) -> None:
    assert lmstudio_hints(body) == ServerHints()


def test_lm_studio_instances_of_one_model_add_up() -> None:
    instance = {"config": {"parallel": 2}}
    body = {"models": [{"key": "m", "loaded_instances": [instance, instance]}]}
    assert lmstudio_hints(body) == ServerHints(model_slots={"m": 4})


def test_configured_limits_win_over_hints_and_hints_fill_the_rest() -> None:
    configured = ServiceLimits(max_in_flight=8, max_wait=30)
    hints = ServerHints(max_in_flight=4, max_loaded=1)
    assert with_hints(configured, hints) == ServiceLimits(
        max_in_flight=8, max_wait=30, max_loaded=1
    )
