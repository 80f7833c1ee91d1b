"""The configuration's limits as the scheduler reads them."""

from __future__ import annotations

from modelport._schedule import ModelLimits, ServiceLimits, Target
from modelport._schedule.config_limits import limits_from_config
from modelport.config import parse_config

TEXT = """
[services.gpu]
url = "http://10.0.0.5:11434"
max_in_flight = 4
max_queue = 16
max_wait = "90s"
max_loaded = 1
swap_after = 30

[aliases]
coder = "gpu/qwen2.5-coder:7b"

[models.coder]
max_in_flight = 2
ttl = "10m"
"""


def test_the_configured_limits_reach_the_scheduler() -> None:
    limits = limits_from_config(parse_config(TEXT, environ={}))
    assert limits.service("gpu") == ServiceLimits(
        max_in_flight=4, max_queue=16, max_wait=90.0, max_loaded=1, swap_after=30.0
    )
    assert limits.model(Target("gpu", "qwen2.5-coder:7b")) == ModelLimits(
        max_in_flight=2, ttl=600.0
    )


def test_what_the_configuration_does_not_name_has_no_limit() -> None:
    limits = limits_from_config(parse_config(TEXT, environ={}))
    assert limits.service("laptop") == ServiceLimits()
    assert limits.model(Target("gpu", "llama3.2")) == ModelLimits()
