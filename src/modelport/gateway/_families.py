"""The gateway's metric families, kept as plain Python and handed to prometheus-client
as metric families at each scrape (``_metrics`` says why).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from itertools import accumulate

from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["Counters", "Fixed", "Histogram", "Histograms"]


class Histogram:
    """One label set's histogram: a count per bucket (not cumulative) and the sum.

    Plain Python on the event loop's thread, with no lock: every observation and every
    scrape runs there (prometheus-client's own ``Histogram`` takes a lock per
    observation, which cost more than the rest of the gateway's bookkeeping).
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # le: value <= bound
        self.sum += value


class Histograms:
    """A histogram family: its label sets, exported at each scrape."""

    def __init__(self, name: str, doc: str, labels: Sequence[str], bounds: Sequence[float]):
        self.name, self.doc, self.labels = name, doc, list(labels)
        self.bounds = tuple(float(b) for b in bounds)
        self.les = [repr(b) for b in self.bounds] + ["+Inf"]
        self.children: dict[tuple[str, ...], Histogram] = {}

    def child(self, *values: str) -> Histogram:
        found = self.children.get(values)
        if found is None:
            found = self.children[values] = Histogram(self.bounds)
        return found

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for values, h in list(self.children.items()):
            buckets = list(zip(self.les, map(float, accumulate(h.counts)), strict=True))
            family.add_metric(list(values), buckets, h.sum)
        return family


class Counters:
    """A counter family (``name`` without ``_total``), exported at each scrape."""

    def __init__(self, name: str, doc: str, labels: Sequence[str]):
        self.name, self.doc, self.labels = name, doc, list(labels)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, *values: str) -> None:
        self.values[values] = self.values.get(values, 0.0) + 1.0

    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for values, count in list(self.values.items()):
            family.add_metric(list(values), count)
        return family


class Fixed(Collector):
    """Metric families made beforehand, handed to a registry as they are."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families
