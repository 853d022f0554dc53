"""Prometheus metrics of an operator process: calls served, latency, failures, duplicates.

Why this module exists: every operator serves /metrics (issue 4) with the same names, whatever
its role or transport, so one Grafana dashboard shows them all. Conventions (Prometheus naming
guide): prefix ``ptn_``, base units, counters end in ``_total``, labels with bounded values only
(role, method, status; never a round, request id or station value). Nothing private is ever a
label or a value: only counts and durations, and the privacy an operator has spent on its
differentially private releases (public numbers about its noise, issue 20), labelled by
operator id.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ptn.protocol.schema import LATENCY_BUCKETS


@dataclass(frozen=True)
class OperatorMetrics:
    """The metric families of one operator process (one registry, shared by its operators)."""

    registry: CollectorRegistry
    requests: Counter
    duration: Histogram
    in_progress: Gauge
    duplicates: Counter
    failures: Counter
    privacy_epsilon: Gauge
    privacy_releases: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> OperatorMetrics:
        registry = registry if registry is not None else CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "ptn_operator_requests_total",
                "Requests an operator answered, by role, method and reply status.",
                ["role", "method", "status"], registry=registry,
            ),
            duration=Histogram(
                "ptn_operator_request_duration_seconds",
                "Time an operator spent answering a request.",
                ["role", "method"], buckets=LATENCY_BUCKETS, registry=registry,
            ),
            in_progress=Gauge(
                "ptn_operator_requests_in_progress",
                "Requests an operator is working on now.",
                ["role"], registry=registry,
            ),
            duplicates=Counter(
                "ptn_operator_duplicate_requests_total",
                "Repeated request ids answered from the first reply (retries), not re-applied.",
                ["role", "method"], registry=registry,
            ),
            failures=Counter(
                "ptn_operator_failures_total",
                "Requests that ended in an internal failure (status FAILED).",
                ["role", "method"], registry=registry,
            ),
            privacy_epsilon=Gauge(
                "ptn_privacy_epsilon_spent",
                "Differential privacy: the epsilon an operator has spent on its noisy releases "
                "in the current negotiation (its accountant's best bound).",
                ["operator"], registry=registry,
            ),
            privacy_releases=Gauge(
                "ptn_privacy_releases",
                "Differential privacy: the noisy releases an operator has made in the current "
                "negotiation.",
                ["operator"], registry=registry,
            ),
        )

    def observe_privacy(self, operator_id: str, reply: Message) -> None:
        """The privacy spent that a reply reports (a ``privacy`` field, when set)."""
        if "privacy" not in reply.DESCRIPTOR.fields_by_name or not reply.HasField("privacy"):
            return
        spent = reply.privacy  # type: ignore[attr-defined]
        self.privacy_epsilon.labels(operator_id).set(spent.epsilon)
        self.privacy_releases.labels(operator_id).set(spent.releases)
