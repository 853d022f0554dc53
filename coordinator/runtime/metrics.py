"""Prometheus metrics of the coordinator: rounds, residuals, penalty, prices, calls.

Why this module exists: a negotiation is watched live on /metrics (issue 4). Conventions
(Prometheus naming guide): prefix ``ptn_``, base units, counters end in ``_total``, labels with
bounded values only (mechanism, role, method, reason, station: stations are few and public);
never a round number or an id as a label.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ptn.protocol.schema import LATENCY_BUCKETS


@dataclass(frozen=True)
class CoordinatorMetrics:
    """The metric families of one coordinator (one registry)."""

    registry: CollectorRegistry
    rounds: Counter
    round: Gauge
    primal_residual: Gauge
    dual_residual: Gauge
    penalty: Gauge
    converged: Gauge
    price: Gauge
    load: Gauge
    call_duration: Histogram
    calls_in_progress: Gauge
    call_failures: Counter
    call_retries: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> CoordinatorMetrics:
        registry = registry if registry is not None else CollectorRegistry()
        return cls(
            registry=registry,
            rounds=Counter("ptn_negotiation_rounds_total", "Rounds completed.",
                           ["mechanism"], registry=registry),
            round=Gauge("ptn_negotiation_round", "The current round of the negotiation.",
                        ["mechanism"], registry=registry),
            primal_residual=Gauge(
                "ptn_negotiation_primal_residual",
                "Relative primal residual ||P_a - P_b|| / max(||P_a||, ||P_b||) of the last round.",
                ["mechanism"], registry=registry),
            dual_residual=Gauge(
                "ptn_negotiation_dual_residual",
                "Relative dual residual rho*||z_k - z_(k-1)|| / ||lambda|| of the last round.",
                ["mechanism"], registry=registry),
            penalty=Gauge("ptn_negotiation_penalty_per_mw2h",
                          "ADMM penalty rho ($/MW^2h) after residual balancing.",
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
