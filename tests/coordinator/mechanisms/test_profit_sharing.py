"""Seed 000's profit sharing, negotiated privately: the DNO's choice, the TNO's gain, transports.

Independent checks: the leader's costs and the TNO's benefits recomputed here from the reported
costs; the payment against the settlement the TNO books; the follower's DSO cost against the
monotonicity that any optimal response must have; the TNO's plan alone against the fleet model
solved in this process; in-process against gRPC with every operator its own OS process. (The
agreement with the full-information references — the centralized follower, the sweep, the
KKT-reformulated bilevel problem — is in tests/lab/references/profit_sharing/.)
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from ptn.coordinator.mechanisms.profit_sharing import ProfitSharingOutcome
from ptn.coordinator.outcome import NegotiationStatus
from ptn.coordinator.results.profit_sharing import write_profit_sharing_results
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints, operator_endpoints
from ptn.engines.fleet.charging_plan import FleetChargingModel
from ptn.scenario.document import load_scenario
from ptn.services.tno.config import tno_case_from_part
from tests.support import with_settings

SCENARIO = load_scenario("profit-sharing-seed000")


@pytest.fixture(scope="module")
def sharing() -> tuple[ProfitSharingOutcome, dict]:  # type: ignore[type-arg]
    endpoints = inproc_endpoints(SCENARIO)
    outcome = negotiate(SCENARIO, endpoints)
    return outcome, endpoints


def test_the_dno_saves_and_the_tno_gains_at_the_chosen_share(
        sharing: tuple[ProfitSharingOutcome, dict]) -> None:  # type: ignore[type-arg]
    outcome, endpoints = sharing
    assert outcome.status == NegotiationStatus.CONVERGED, outcome.message
    best = outcome.best
    c0 = outcome.original_dso_cost_usd
    assert 0.0 < outcome.best_share < 1.0
    total = best.dso_cost_usd + best.share * (c0 - best.dso_cost_usd)
    assert outcome.dno_total_cost_usd(best) == pytest.approx(total)
    assert total < c0
    for evaluation in outcome.evaluations:  # ρ* is the best share negotiated
        assert outcome.dno_total_cost_usd(evaluation) >= total - 1e-9
    benefit = outcome.tno_cost_alone_usd - best.tno_cost_usd + best.share * (c0 - best.dso_cost_usd)
    assert outcome.tno_benefit_usd(best) == pytest.approx(benefit)
    assert benefit >= 0 and outcome.tno_accepted
    # the TNO's own account of its benefit, for the plan agreed at ρ*
    assert outcome.extra["tno_reported_benefit_usd"] == pytest.approx(benefit, abs=1e-6)
    assert outcome.payment_usd == pytest.approx(best.share * (c0 - best.dso_cost_usd))
    # the TNO booked exactly that payment
    tno = endpoints["tno"].host.model  # type: ignore[attr-defined]
    assert tno.received_usd == pytest.approx(outcome.payment_usd)
    # its plan alone is the fleet model's own optimum, solved here
    alone = FleetChargingModel(tno_case_from_part(SCENARIO.part("tno"))).plan()
    assert outcome.tno_cost_alone_usd == pytest.approx(alone.cost_usd, rel=1e-6)


def test_the_follower_response_is_monotone_in_the_share(
        sharing: tuple[ProfitSharingOutcome, dict]) -> None:  # type: ignore[type-arg]
    """min C_TNO + ρ·C_DSO: C_DSO of any optimal response can only fall as ρ grows, and C_TNO
    only rise (up to ADMM's accuracy)."""
    outcome, _ = sharing
    evaluations = sorted(outcome.evaluations, key=lambda e: e.share)
    slack = 1e-3 * outcome.original_dso_cost_usd
    for before, after in itertools.pairwise(evaluations):
        assert after.dso_cost_usd <= before.dso_cost_usd + slack
        assert after.tno_cost_usd >= before.tno_cost_usd - 1e-3 * abs(before.tno_cost_usd)
    assert evaluations[0].share == 0.0
    assert evaluations[0].dso_cost_usd == pytest.approx(outcome.original_dso_cost_usd)


def test_results_folder(sharing: tuple[ProfitSharingOutcome, dict],  # type: ignore[type-arg]
                        tmp_path: Path) -> None:
    import csv
    import json

    outcome, _ = sharing
    written = write_profit_sharing_results(outcome, tmp_path)
    assert {p.name for p in written} >= {"summary.json", "shares.csv", "load_shift.csv",
                                         "dno_cost.png", "tno_benefit.png", "load_shift.png"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["best_share"] == outcome.best_share
    # report.md: the claims table of docs/profit-sharing.md, its first rows from this run
    report = (tmp_path / "report.md").read_text().splitlines()
    table = [line for line in report if line.startswith("| ")]
    assert table[0] == "| claim | paper | ptn | verdict |"
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in table[1:]]
    assert all(len(row) == 4 for row in rows) and len(rows) >= 6
    c0 = outcome.original_dso_cost_usd
    best = outcome.best
    total = best.dso_cost_usd + best.share * (c0 - best.dso_cost_usd)
    assert f"ρ* = {outcome.best_share:.4f}: {total:,.2f} $ against C0 {c0:,.2f} $" in rows[0][2]
    assert rows[0][3] == "reproduced" and rows[1][3] == "reproduced"
    assert {row[3].split(" ")[0] for row in rows} <= {"reproduced", "differs", "not"}
    assert summary["dno_total_cost_usd"] == pytest.approx(outcome.dno_total_cost_usd(outcome.best))
    rows = list(csv.DictReader((tmp_path / "shares.csv").open()))
    assert len(rows) == len(outcome.evaluations)
    shift = list(csv.DictReader((tmp_path / "load_shift.csv").open()))
    assert len(shift) == len(outcome.stations) * outcome.periods
    moved = sum(abs(float(r["shift_mw"])) for r in shift)
    assert moved == pytest.approx(float(np.abs(outcome.best.load_mw
                                               - outcome.preschedule_load_mw).sum()), rel=1e-9)


def test_same_numbers_in_process_and_over_grpc(tmp_path: Path) -> None:
    outcomes = {}
    scenario = with_settings(SCENARIO, shares=[0.0, 0.3, 1.0], refine_tolerance=1.0)
    for backend in ("inproc", "grpc"):
        with operator_endpoints(scenario, "profit-sharing-seed000", backend,
                                log_directory=tmp_path / backend / "logs") as endpoints:
            outcomes[backend] = negotiate(scenario, endpoints, out=tmp_path / backend)
    local, remote = outcomes["inproc"], outcomes["grpc"]
    assert remote.status == NegotiationStatus.CONVERGED, remote.message
    assert remote.best_share == local.best_share
    for a, b in zip(local.evaluations, remote.evaluations, strict=True):
        assert (a.share, a.rounds) == (b.share, b.rounds)
        assert a.dso_cost_usd == pytest.approx(b.dso_cost_usd, rel=1e-9)
        assert a.tno_cost_usd == pytest.approx(b.tno_cost_usd, rel=1e-9)
        assert np.allclose(a.load_mw, b.load_mw, rtol=0, atol=1e-9)
    transcript = (tmp_path / "grpc" / "transcript.jsonl").read_text(encoding="utf-8")
    assert "ConsiderShare" in transcript and "Settle" in transcript
    # the fleet's lines and batteries and the DSO's feeder stay private
    for private in ("north", "battery", "case33bw", "mt33", "twelve"):
        assert private not in transcript, private


def test_the_nguyen_dupuis_case_runs_and_saves() -> None:
    scenario = with_settings(load_scenario("profit-sharing-nguyen-dupuis"),
                             shares=[0.0, 0.15, 1.0], refine_tolerance=1.0)
    outcome = negotiate(scenario, inproc_endpoints(scenario))
    assert outcome.status == NegotiationStatus.CONVERGED, outcome.message
    assert outcome.dno_total_cost_usd(outcome.best) < outcome.original_dso_cost_usd
    assert outcome.tno_benefit_usd(outcome.best) >= 0 and outcome.tno_accepted
