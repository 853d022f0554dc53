"""Prometheus metrics of the coordinator: rounds, each mechanism's round gauges, prices, calls.

Why this module exists: a negotiation is watched live on /metrics (issue 4). Conventions
(Prometheus naming guide): prefix ``ptn_``, base units, counters end in ``_total``, labels with
bounded values only (mechanism, role, method, reason, station: stations are few and public);
never a round number or an id as a label. Families common to every mechanism are fixed here;
each mechanism declares its own round gauges (:class:`~ptn.coordinator.runtime.mechanism.
RoundGauge`: ADMM its residuals and penalty, the pricing game its relative changes), so a
metric always means one thing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ptn.coordinator.runtime.mechanism import RoundGauge
from ptn.protocol.schema import LATENCY_BUCKETS


@dataclass(frozen=True)
class CoordinatorMetrics:
    """The metric families of one coordinator (one registry)."""

    registry: CollectorRegistry
    rounds: Counter
    round: Gauge
    converged: Gauge
    price: Gauge
    load: Gauge
    call_duration: Histogram
    calls_in_progress: Gauge
    call_failures: Counter
    call_retries: Counter
    round_gauge_families: dict[str, Gauge] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def round_gauge(self, gauge: RoundGauge) -> Gauge:
        """The gauge family of a mechanism's round field (registered on first use)."""
        with self._lock:
            if gauge.metric not in self.round_gauge_families:
                self.round_gauge_families[gauge.metric] = Gauge(gauge.metric, gauge.help,
                                                         ["mechanism"], registry=self.registry)
            return self.round_gauge_families[gauge.metric]

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None,
               round_gauges: Iterable[RoundGauge] = ()) -> CoordinatorMetrics:
        """The families on ``registry`` (a new one by default), with a mechanism's round gauges
        registered up front (so they are listed before its first round)."""
        registry = registry if registry is not None else CollectorRegistry()
        metrics = cls(
            registry=registry,
            rounds=Counter("ptn_negotiation_rounds_total", "Rounds completed.",
                           ["mechanism"], registry=registry),
            round=Gauge("ptn_negotiation_round", "The current round of the negotiation.",
                        ["mechanism"], registry=registry),
            converged=Gauge("ptn_negotiation_converged",
                            "1 once the negotiation met its stopping test, else 0.",
                            ["mechanism"], registry=registry),
            price=Gauge("ptn_negotiation_price_per_mwh",
                        "Consensus charging price per station, mean over periods ($/MWh).",
                        ["mechanism", "station"], registry=registry),
            load=Gauge("ptn_negotiation_station_load_mw",
                       "Agreed station charging load, mean over periods (MW).",
                       ["mechanism", "station"], registry=registry),
            call_duration=Histogram(
                "ptn_coordinator_call_duration_seconds",
                "Round-trip time of the coordinator's calls to operators (transport included).",
                ["role", "method"], buckets=LATENCY_BUCKETS, registry=registry),
            calls_in_progress=Gauge("ptn_coordinator_calls_in_progress",
                                    "Calls to operators awaiting their reply.", ["role"],
                                    registry=registry),
            call_failures=Counter(
                "ptn_coordinator_call_failures_total",
                "Calls that failed (reason: unavailable, deadline, refused, invalid_reply).",
                ["role", "method", "reason"], registry=registry),
            call_retries=Counter("ptn_coordinator_call_retries_total",
                                 "Calls sent again with the same request id.",
                                 ["role", "method"], registry=registry),
        )
        for gauge in round_gauges:
            metrics.round_gauge(gauge)
        return metrics
