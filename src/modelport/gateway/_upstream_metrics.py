"""``GET /metrics/upstream``: each service's own ``/metrics`` (llama.cpp's with
``--metrics``, vLLM's, SGLang's) with a ``service`` label added, and ``model`` where
the service serves one; ``up{service}`` says which answered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from ._families import Fixed

if TYPE_CHECKING:
    from ..client import AsyncClient

__all__ = ["upstream_metrics"]


async def upstream_metrics(client: AsyncClient) -> bytes:
    """Each service's own ``/metrics`` with a ``service`` label (and ``model``
    where it serves one), and ``up{service}``: 1 for those that answered.
    """
    scraped = await client._service_metrics()
    merged: dict[str, Metric] = {}
    up = GaugeMetricFamily(
        "up", "Whether the service answered its /metrics (1) or not (0).", labels=["service"]
    )
    for service, model, text in scraped:
        families = None
        if text is not None:
            try:
                families = list(text_string_to_metric_families(text))
            except (ValueError, TypeError, IndexError, KeyError):
                families = None
        up.add_metric([service], 0.0 if families is None else 1.0)
        if families is None:
            continue
        extra = {"service": service}
        if model is not None:
            extra["model"] = model
        for family in families:
            if family.name == "up":
                continue
            into = merged.get(family.name)
            if into is None:
                into = merged[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
            for sample in family.samples:
                into.samples.append(sample._replace(labels=_relabel(sample.labels, extra)))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed([up, *merged.values()]))
    return generate_latest(registry)


def _relabel(labels: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    out = {(f"exported_{k}" if k in extra else k): v for k, v in labels.items()}
    out.update(extra)
    return out
