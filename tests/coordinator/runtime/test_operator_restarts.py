"""Operators killed with SIGKILL mid-negotiation and restarted on their port: same numbers.

Every operator runs as its own ``ptn serve`` process with its private folder (its state file)
(:func:`ptn.lab.faults.negotiate_with_kills`). During the negotiation operators are killed right
after a round, or a moment into the next one (inside or between its calls), and started again on
the same port a second later. The coordinator waits for each and sends the round's requests
again; a restarted operator restores its state from its file and answers a request it had
already applied from the reply saved with it. Independent check: the same scenario negotiated
without interruption by operators hosted in this process.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ptn.coordinator.outcome import RoundRecord
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints, operator_endpoints
from ptn.lab.faults import FaultRun, Kill, negotiate_with_kills
from ptn.scenario.document import Scenario, load_scenario
from tests.support import with_settings


def _close(expected: float, got: float) -> bool:
    return abs(expected - got) <= 1e-6 * max(1.0, abs(expected))


def _check_faults(run: FaultRun, kills: list[Kill]) -> None:
    """Every killed operator was missed by the coordinator (the kill fell inside the
    negotiation), only for being unreachable, and restored its state when it came back."""
    killed = {kill.operator_id for kill in kills}
    assert {e["operator_id"] for e in run.failures} == killed
    assert {e["reason"] for e in run.failures} == {"unavailable"}
    assert all(run.restored.values()) and set(run.restored) == killed, run.restored


def test_admm_survives_killed_operators(tmp_path: Path) -> None:
    """The DSO killed right after round 2; the traffic department 20 ms into round 5, inside
    or between its calls (its solves take most of the run): a request may have been applied
    and saved before the kill, or not; the numbers are the same."""
    scenario = load_scenario(periods=4)
    expected = negotiate(scenario, inproc_endpoints(scenario))
    kills = [Kill(2, "dso"), Kill(4, "traffic", mid_round=True)]
    run = negotiate_with_kills(scenario, tmp_path, kills)
    _check_faults(run, kills)
    got = run.outcome
    assert got.status == expected.status == "converged", got.message
    assert len(got.rounds) == len(expected.rounds)
    assert _close(expected.agreed.total, got.agreed.total)
    assert np.allclose(got.agreed.station_load_mw, expected.agreed.station_load_mw, rtol=0,
                       atol=1e-6)
    assert np.allclose(got.agreed.price_per_mwh, expected.agreed.price_per_mwh, rtol=0,
                       atol=1e-4)


def _short_game() -> Scenario:
    """Seed 001's non-cooperative game cut to 8 rounds (5 trial quotes, then the DSO's fitted
    response): kills fall in both phases."""
    return with_settings(load_scenario("pricing-seed001"), max_rounds=8, variants=["nash"],
                         certificate=False)


def test_the_pricing_game_survives_killed_operators(tmp_path: Path) -> None:
    scenario = _short_game()
    expected = negotiate(scenario, inproc_endpoints(scenario)).variants["nash"]
    kills = [Kill(2, "dso"), Kill(4, "traffic"), Kill(5, "cno1"), Kill(6, "dso"),
             Kill(7, "cno2")]
    run = negotiate_with_kills(scenario, tmp_path, kills)
    _check_faults(run, kills)
    got = run.outcome.variants["nash"]
    assert len(got.outcome.rounds) == len(expected.outcome.rounds) == 8
    for party, revenue in expected.revenue_usd.items():
        assert _close(revenue, got.revenue_usd[party]), party
    assert np.allclose(got.dso_price_per_mwh, expected.dso_price_per_mwh, rtol=1e-6)
    assert np.allclose(got.charging_price_per_mwh, expected.charging_price_per_mwh, rtol=1e-6)


def test_profit_sharing_survives_killed_operators(tmp_path: Path) -> None:
    scenario = with_settings(load_scenario("profit-sharing-seed000"), shares=[0.0, 0.3, 1.0],
                             refine_tolerance=1.0)
    expected = negotiate(scenario, inproc_endpoints(scenario))
    kills = [Kill(2, "tno"), Kill(3, "dso"), Kill(5, "tno")]
    run = negotiate_with_kills(scenario, tmp_path, kills)
    _check_faults(run, kills)
    got = run.outcome
    assert got.best_share == expected.best_share
    assert _close(expected.payment_usd, got.payment_usd)
    assert _close(expected.dno_total_cost_usd(expected.best), got.dno_total_cost_usd(got.best))
    evaluations = {e.share: e for e in got.evaluations}
    for evaluation in expected.evaluations:
        assert _close(evaluation.dso_cost_usd, evaluations[evaluation.share].dso_cost_usd)
        assert _close(evaluation.tno_cost_usd, evaluations[evaluation.share].tno_cost_usd)


def test_ray_restarts_a_killed_operator_actor(tmp_path: Path) -> None:
    """On Ray, an operator with a private folder is an actor Ray restarts when its process
    dies (``ray.kill(..., no_restart=False)`` kills the actor's process); it restores its
    state and the coordinator waits for it."""
    ray = pytest.importorskip("ray")
    scenario = load_scenario(periods=4)
    expected = negotiate(scenario, inproc_endpoints(scenario))
    with operator_endpoints(scenario, "nguyen-dupuis-ieee33", "ray",
                            private_root=tmp_path / "private") as endpoints:
        seen = [0]

        def progress(record: RoundRecord) -> None:
            seen[0] += 1
            if seen[0] == 3:
                ray.kill(endpoints["dso"].actor, no_restart=False)  # type: ignore[attr-defined]

        got = negotiate(scenario, endpoints, out=tmp_path / "run", progress=progress)
    with (tmp_path / "run" / "transcript.jsonl").open(encoding="utf-8") as transcript:
        failures = [entry for entry in map(json.loads, transcript)
                    if entry["direction"] == "failure"]
    assert failures and {e["operator_id"] for e in failures} == {"dso"}
    assert got.status == "converged", got.message
    assert _close(expected.agreed.total, got.agreed.total)
    assert np.allclose(got.agreed.station_load_mw, expected.agreed.station_load_mw, rtol=0,
                       atol=1e-6)
