"""Operators killed with SIGKILL mid-negotiation and restarted on their port: same numbers.

Every operator runs as its own ``ptn serve`` process with its private folder (its state file).
During the negotiation the test kills operators (SIGKILL: no goodbye, no flush) right after a
driver round, and, for the traffic department, in the middle of its calls; a supervisor (here a
timer) starts each again on the same port a second later. The coordinator waits for it and sends
the round's requests again; the restarted operator restores its state from its file and answers
a request it had already applied from the reply saved with it. Independent check: the same
scenario negotiated without interruption by operators hosted in this process.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from ptn.coordinator.outcome import RoundRecord
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints, operator_endpoints
from ptn.coordinator.runtime.launcher import OperatorProcesses
from ptn.scenario.document import Scenario, load_scenario
from tests.support import with_settings

RESTART_AFTER_S = 1.0


def _interrupted(scenario: Scenario, folder: Path, kills: dict[int, str], *,
                 mid_call: tuple[int, str] | None = None) -> object:
    """The negotiation over operator processes, killing ``kills[k]`` right after the k-th
    round record, and ``mid_call[1]`` a moment after the ``mid_call[0]``-th (while the next
    round's calls run); its outcome."""
    path = folder / "scenario.toml"
    path.write_text(scenario.text, encoding="utf-8")
    restarts: list[threading.Thread] = []
    with OperatorProcesses(str(path), scenario, log_directory=folder / "logs",
                           private_root=folder / "private", metrics=False,
                           verbose=True) as processes:

        def kill_and_restart(operator_id: str) -> None:
            processes.kill(operator_id)
            timer = threading.Timer(RESTART_AFTER_S, processes.restart, args=(operator_id,))
            timer.start()
            restarts.append(timer)

        seen = [0]

        def progress(record: RoundRecord) -> None:
            seen[0] += 1
            if seen[0] in kills:
                kill_and_restart(kills[seen[0]])
            if mid_call is not None and seen[0] == mid_call[0]:
                timer = threading.Timer(0.02, kill_and_restart, args=(mid_call[1],))
                timer.start()
                restarts.append(timer)

        endpoints = processes.endpoints()
        try:
            outcome = negotiate(scenario, dict(endpoints), out=folder / "run",
                                progress=progress)
        finally:
            for timer in list(restarts):
                timer.join()
            for endpoint in endpoints.values():
                endpoint.close()
        for operator_id in set(kills.values()):
            log = (folder / "logs" / f"{operator_id}.log").read_text(encoding="utf-8")
            assert "restored its state" in log, log[-2000:]
    return outcome


def _close(expected: float, got: float) -> bool:
    return abs(expected - got) <= 1e-6 * max(1.0, abs(expected))


def test_admm_survives_killed_operators(tmp_path: Path) -> None:
    scenario = load_scenario(periods=4)
    expected = negotiate(scenario, inproc_endpoints(scenario))
    got = _interrupted(scenario, tmp_path, {2: "dso", 4: "traffic"})
    assert got.status == expected.status == "converged", got.message  # type: ignore[attr-defined]
    assert len(got.rounds) == len(expected.rounds)  # type: ignore[attr-defined]
    assert _close(expected.agreed.total, got.agreed.total)  # type: ignore[attr-defined]
    assert np.allclose(got.agreed.station_load_mw,  # type: ignore[attr-defined]
                       expected.agreed.station_load_mw, rtol=0, atol=1e-6)
    assert np.allclose(got.agreed.price_per_mwh,  # type: ignore[attr-defined]
                       expected.agreed.price_per_mwh, rtol=0, atol=1e-4)


def test_admm_survives_a_traffic_department_killed_mid_call(tmp_path: Path) -> None:
    """Killed 20 ms into a round, inside or between its calls (its solves take most of the
    run): the request may have been applied and saved, or not; the numbers are the same."""
    scenario = load_scenario(periods=4)
    expected = negotiate(scenario, inproc_endpoints(scenario))
    got = _interrupted(scenario, tmp_path, {}, mid_call=(3, "traffic"))
    with (tmp_path / "run" / "transcript.jsonl").open(encoding="utf-8") as transcript:
        failures = [entry for entry in map(json.loads, transcript)
                    if entry["direction"] == "failure"]
    # the kill fell inside the negotiation, and only the traffic department went missing
    assert failures and {(e["operator_id"], e["reason"]) for e in failures} \
        == {("traffic", "unavailable")}
    assert got.status == "converged", got.message  # type: ignore[attr-defined]
    assert _close(expected.agreed.total, got.agreed.total)  # type: ignore[attr-defined]
    assert np.allclose(got.agreed.station_load_mw,  # type: ignore[attr-defined]
                       expected.agreed.station_load_mw, rtol=0, atol=1e-6)


def _short_game() -> Scenario:
    """Seed 001's non-cooperative game cut to 8 rounds (5 trial quotes, then the DSO's fitted
    response): kills fall in both phases."""
    return with_settings(load_scenario("pricing-seed001"), max_rounds=8, variants=["nash"],
                         certificate=False)


def test_the_pricing_game_survives_killed_operators(tmp_path: Path) -> None:
    scenario = _short_game()
    expected = negotiate(scenario, inproc_endpoints(scenario)).variants["nash"]
    got = _interrupted(scenario, tmp_path, {2: "dso", 4: "traffic", 5: "cno1", 6: "dso",
                                            7: "cno2"}).variants["nash"]  # type: ignore[attr-defined]
    assert len(got.outcome.rounds) == len(expected.outcome.rounds) == 8
    for party, revenue in expected.revenue_usd.items():
        assert _close(revenue, got.revenue_usd[party]), party
    assert np.allclose(got.dso_price_per_mwh, expected.dso_price_per_mwh, rtol=1e-6)
    assert np.allclose(got.charging_price_per_mwh, expected.charging_price_per_mwh, rtol=1e-6)


def test_profit_sharing_survives_killed_operators(tmp_path: Path) -> None:
    scenario = with_settings(load_scenario("profit-sharing-seed000"), shares=[0.0, 0.3, 1.0],
                             refine_tolerance=1.0)
    expected = negotiate(scenario, inproc_endpoints(scenario))
    got = _interrupted(scenario, tmp_path, {2: "tno", 3: "dso", 5: "tno"})
    assert got.best_share == expected.best_share  # type: ignore[attr-defined]
    assert _close(expected.payment_usd, got.payment_usd)  # type: ignore[attr-defined]
    assert _close(expected.dno_total_cost_usd(expected.best),
                  got.dno_total_cost_usd(got.best))  # type: ignore[attr-defined]
    evaluations = {e.share: e for e in got.evaluations}  # type: ignore[attr-defined]
    for evaluation in expected.evaluations:
        assert _close(evaluation.dso_cost_usd, evaluations[evaluation.share].dso_cost_usd)
        assert _close(evaluation.tno_cost_usd, evaluations[evaluation.share].tno_cost_usd)



def test_ray_restarts_a_killed_operator_actor(tmp_path: Path) -> None:
    """On Ray, an operator with a private folder is an actor Ray restarts when its process
    dies (``ray.kill(..., no_restart=False)``: the actor's process is killed); it restores its
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
