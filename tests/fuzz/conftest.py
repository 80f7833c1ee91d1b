"""Hypothesis settings for the fuzz tests (issue 11).

Profiles: ``ci`` (the default; 200 examples a property, no deadline, no example
database, derandomized so a CI run is repeatable, sized for CI on 2 cores); ``deep``
(5,000 random examples, for a long local run:
``MODELPORT_FUZZ_PROFILE=deep pytest tests/fuzz``); and ``generated``, which skips
the explicit examples (the issue's repros) to show what random generation finds on
its own.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "deep",
    max_examples=5_000,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "generated",
    parent=settings.get_profile("ci"),
    derandomize=False,
    phases=[Phase.generate, Phase.shrink],
)
settings.load_profile(os.environ.get("MODELPORT_FUZZ_PROFILE", "ci"))
