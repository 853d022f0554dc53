"""The joint ADMM negotiation: optimal, transport-independent, resumable, observable.

Independent checks: the agreed operating point against the full-information joint optimum
solved in one convex model (ptn.lab.references.centralized: link-node Beckmann program + DistFlow,
no ADMM, no path-based solver); against the baseline (flat tariff); and each backend against
the others (in-process, Ray actors, gRPC with each operator its own OS process).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ptn.coordinator.mechanisms.joint_coordination import with_reference
from ptn.coordinator.outcome import NegotiationOutcome, NegotiationStatus, RoundRecord
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints, operator_endpoints
from ptn.coordinator.runtime.launcher import free_port
from ptn.coordinator.runtime.metrics import CoordinatorMetrics
from ptn.coordinator.runtime.transports import CallFailedError, Endpoint, InProcessEndpoint
from ptn.lab.references.joint import centralized_reference
from ptn.metrics_endpoint import serve_metrics
from ptn.scenario.document import load_scenario

SCENARIO = load_scenario()


@pytest.fixture(scope="module")
def inproc_outcome(tmp_path_factory: pytest.TempPathFactory) -> NegotiationOutcome:
    out = tmp_path_factory.mktemp("inproc")
    return with_reference(negotiate(SCENARIO, inproc_endpoints(SCENARIO), out=out), SCENARIO,
                          centralized_reference)


def test_admm_reaches_the_centralized_optimum_and_beats_the_baseline(
        inproc_outcome: NegotiationOutcome) -> None:
    outcome = inproc_outcome
    assert outcome.status == NegotiationStatus.CONVERGED, outcome.message
    assert outcome.agreed is not None and outcome.centralized is not None
    assert outcome.baseline is not None
    assert abs(outcome.gap_to_centralized) <= 1e-4
    assert np.max(np.abs(outcome.agreed.station_load_mw
                         - outcome.centralized.station_load_mw)) <= 1e-3
    assert outcome.saving_vs_baseline > 0
    assert outcome.baseline.total > outcome.centralized.total
    # at the agreement the consensus price is the DSO's marginal price (the joint dual)
    assert np.max(np.abs(outcome.agreed.price_per_mwh
                         - outcome.centralized.price_per_mwh)) <= 0.5
    assert len(outcome.rounds) <= 60


def _run(backend: str, out: Path) -> NegotiationOutcome:
    with operator_endpoints(SCENARIO, "nguyen-dupuis-ieee33", backend,
                            log_directory=out / "logs") as endpoints:
        return negotiate(SCENARIO, endpoints, out=out)


def _same(a: NegotiationOutcome, b: NegotiationOutcome, tolerance: float) -> None:
    assert a.agreed is not None and b.agreed is not None
    assert len(a.rounds) == len(b.rounds)
    assert abs(a.agreed.total - b.agreed.total) <= tolerance * abs(a.agreed.total)
    for side in ("traffic", "dso"):
        assert abs(a.agreed.by_operator[side] - b.agreed.by_operator[side]) <= \
            tolerance * abs(a.agreed.by_operator[side])
    assert np.allclose(a.agreed.station_load_mw, b.agreed.station_load_mw, rtol=0,
                       atol=tolerance)
    assert np.allclose(a.agreed.price_per_mwh, b.agreed.price_per_mwh, rtol=0,
                       atol=tolerance * 1e3)


def test_same_numbers_in_process_on_ray_and_over_grpc(inproc_outcome: NegotiationOutcome,
                                                      tmp_path: Path) -> None:
    pytest.importorskip("ray")
    on_grpc = _run("grpc", tmp_path / "grpc")
    assert on_grpc.status == NegotiationStatus.CONVERGED, on_grpc.message
    _same(inproc_outcome, on_grpc, 1e-9)
    on_ray = _run("ray", tmp_path / "ray")
    assert on_ray.status == NegotiationStatus.CONVERGED, on_ray.message
    _same(inproc_outcome, on_ray, 1e-9)


class LosesFirstReply(Endpoint):
    """An endpoint whose first reply of each method is lost on the way back."""

    transport = "lossy"

    def __init__(self, inner: InProcessEndpoint) -> None:
        super().__init__(inner.role, inner.operator_id)
        self.inner = inner
        self.lost: set[str] = set()

    def _send(self, method: str, data: bytes, timeout_s: float) -> bytes:
        reply = self.inner._send(method, data, timeout_s)
        if method not in self.lost:
            self.lost.add(method)
            raise CallFailedError(self.operator_id, method, "unavailable", "reply lost")
        return reply


def test_retries_reuse_the_request_id_so_nothing_is_applied_twice(
        inproc_outcome: NegotiationOutcome, tmp_path: Path) -> None:
    inner = inproc_endpoints(SCENARIO)
    lossy = {k: LosesFirstReply(v) for k, v in inner.items()}  # type: ignore[arg-type]
    outcome = negotiate(SCENARIO, dict(lossy), out=tmp_path)
    assert outcome.status == NegotiationStatus.CONVERGED
    _same(inproc_outcome, outcome, 1e-9)
    host = inner["dso"].host  # type: ignore[attr-defined]
    assert host.metrics.duplicates.labels("dso", "ConsensusStep")._value.get() == 1
    retried = [json.loads(line) for line in (tmp_path / "transcript.jsonl").open()]
    failures = [e for e in retried if e["direction"] == "failure"]
    assert failures and all(e["reason"] == "unavailable" for e in failures)
    requests = {e["request_id"] for e in retried if e["direction"] == "request"}
    assert {e["request_id"] for e in failures} <= requests


def test_an_operator_that_stays_unreachable_is_named(tmp_path: Path) -> None:
    class Gone(LosesFirstReply):
        def _send(self, method: str, data: bytes, timeout_s: float) -> bytes:
            raise CallFailedError(self.operator_id, method, "unavailable", "connection refused")

    impatient = replace(SCENARIO, coordinator=replace(SCENARIO.coordinator,
                                                      operator_wait_s=1.0))
    endpoints: dict[str, Endpoint] = dict(inproc_endpoints(impatient))
    endpoints["dso"] = Gone(endpoints["dso"])  # type: ignore[arg-type]
    started = time.monotonic()
    outcome = negotiate(impatient, endpoints, out=tmp_path)
    waited = time.monotonic() - started
    assert outcome.status == NegotiationStatus.FAILED
    assert "operator dso" in outcome.message and "unavailable for 1 s" in outcome.message
    assert "[coordinator] operator_wait_s = 1" in outcome.message
    assert 1.0 <= waited < 10.0
    tried = [json.loads(line) for line in (tmp_path / "transcript.jsonl").open()]
    assert sum(e["direction"] == "failure" for e in tried) >= 3  # backed off, tried again


def test_killed_coordinator_resumes_from_its_checkpoint(inproc_outcome: NegotiationOutcome,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ptn", "run", "--backend", "inproc",
               "--no-reference", "--out", str(out), "--json"]
    killed = subprocess.run(command, capture_output=True, text=True, check=False,
                            env={**os.environ, "PTN_CRASH_AFTER_ROUND": "3"})
    assert killed.returncode == 75, killed.stderr
    checkpoint = json.loads((out / "checkpoint.json").read_text())
    assert checkpoint["round"] == 3 and not (out / "summary.json").exists()
    resumed = subprocess.run([*command, "--resume", str(out / "checkpoint.json")],
                             capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["negotiation_id"] == checkpoint["negotiation_id"]
    assert summary["rounds"] == len(inproc_outcome.rounds)
    assert inproc_outcome.agreed is not None
    # the operators restarted without their warm starts: equal to solver accuracy
    assert summary["agreed"]["total"] == pytest.approx(inproc_outcome.agreed.total, rel=1e-8)
    loads = np.array([[float(row.split(",")[2]) for row in
                       (out / "loads.csv").read_text().splitlines()[1:]]])
    assert np.allclose(loads.ravel(), inproc_outcome.agreed.station_load_mw.ravel(), atol=1e-6)


def _scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        match = re.match(r'^(ptn_negotiation_(?:round|primal_residual|dual_residual))'
                         r'\{mechanism="admm"\} (\S+)$', line)
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


def test_metrics_endpoint_shows_rounds_and_residuals_moving() -> None:
    metrics = CoordinatorMetrics.create()
    port = free_port()
    serve_metrics(port, metrics.registry)
    scraped: list[dict[str, float]] = []

    def scrape(record: RoundRecord) -> None:
        scraped.append(_scrape(port))

    outcome = negotiate(SCENARIO, inproc_endpoints(SCENARIO,
                                                                registry=metrics.registry),
                                     metrics=metrics, progress=scrape)
    assert outcome.converged and len(scraped) == len(outcome.rounds) >= 3
    rounds = [s["ptn_negotiation_round"] for s in scraped]
    assert rounds == list(range(1, len(scraped) + 1))
    primal = [s["ptn_negotiation_primal_residual"] for s in scraped]
    assert primal[-1] < primal[0] / 10 and len(set(primal)) == len(primal)
    assert [r.values["primal_residual"] for r in outcome.rounds] == pytest.approx(primal)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'ptn_operator_requests_total{method="ConsensusStep",role="dso",status="STATUS_OK"}' \
        in text
    assert "ptn_coordinator_call_duration_seconds_bucket" in text

