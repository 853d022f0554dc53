"""The bilevel problem by KKT reformulation (SCIP) against the sweep and the private search.

Scenario: ``profit-sharing-seed000`` sliced to periods 16-22 (the full day is beyond SCIP's reach
in minutes; module doc of :mod:`ptn.lab.references.profit_sharing.kkt`). Independent numbers: the
KKT reformulation solved by SCIP, the cvxpy sweep with its exact breakpoints
(:mod:`ptn.lab.references.profit_sharing.sweep`) and the private search of
:mod:`ptn.coordinator.mechanisms.profit_sharing` (ADMM per share, sweep, branch and bound) on the
same window; the SOS1 and the strong-duality forms against each other.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ptn.coordinator.mechanisms.profit_sharing import ProfitSharingOutcome
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import hosted_endpoints
from ptn.engines.errors import InvalidInputError
from ptn.lab.references.profit_sharing.game import leader_cost_usd
from ptn.lab.references.profit_sharing.horizon import slice_horizon
from ptn.lab.references.profit_sharing.kkt import BilevelSolution, solve_bilevel_kkt
from ptn.lab.references.profit_sharing.sweep import SweepResult, sweep
from ptn.scenario.document import Scenario
from ptn.services.dso.config import dso_config_from_part
from ptn.services.dso.model import DsoModel
from ptn.services.tno.config import tno_case_from_part
from ptn.services.tno.model import TnoModel
from tests.support.profit_sharing_cases import Cases

#: the reduced instance on which the KKT is solved
WINDOW = (16, 22)


@pytest.fixture(scope="module")
def window(cases: Cases) -> Cases:
    fleet, dso, order = cases
    return (*slice_horizon(fleet, dso, *WINDOW), order)


@pytest.fixture(scope="module")
def window_sweep(window: Cases) -> SweepResult:
    fleet, dso, order = window
    return sweep(fleet, dso, np.linspace(0.0, 1.0, 101), station_order=order)


@pytest.fixture(scope="module")
def window_private_search(scenario: Scenario) -> ProfitSharingOutcome:
    """The private search (ADMM per share, sweep, branch and bound) on the window's cases."""
    config = dso_config_from_part(scenario.part("dso"))
    fleet, dso = slice_horizon(tno_case_from_part(scenario.part("tno")), config.case, *WINDOW)
    endpoints = hosted_endpoints({"tno": TnoModel("tno", fleet),
                                  "dso": DsoModel(dataclasses.replace(config, case=dso))})
    public = dataclasses.replace(scenario.public, periods=WINDOW[1] - WINDOW[0])
    return negotiate(dataclasses.replace(scenario, public=public), endpoints)


@pytest.fixture(scope="module")
def window_kkt(window: Cases) -> BilevelSolution:
    fleet, dso, order = window
    return solve_bilevel_kkt(fleet, dso, station_order=order, time_limit_s=60.0)


def test_kkt_agrees_with_the_sweep(window_sweep: SweepResult, window_kkt: BilevelSolution) -> None:
    assert window_sweep.status == "optimal", window_sweep.message
    assert window_kkt.status == "optimal", window_kkt.message
    assert window_kkt.gap < 1e-6
    assert window_kkt.original_dso_cost_usd == pytest.approx(
        window_sweep.original_dso_cost_usd, rel=1e-12)
    exact_share, exact_cost = window_sweep.exact_best
    assert window_kkt.share == pytest.approx(exact_share, abs=1e-6)
    assert window_kkt.leader_cost_usd == pytest.approx(exact_cost, abs=1e-3)
    grid_share, grid_cost = window_sweep.optimistic_best
    slope = window_sweep.original_dso_cost_usd - min(window_sweep.optimistic_dso_cost_usd)
    assert abs(window_kkt.share - grid_share) <= window_sweep.resolution
    assert window_kkt.leader_cost_usd <= grid_cost + 1e-3
    assert grid_cost <= window_kkt.leader_cost_usd + window_sweep.resolution * slope
    # the KKT point is a follower optimum, dispatched optimally
    assert abs(window_kkt.follower_gap_usd) < 1e-4
    assert window_kkt.dispatch_cost_usd == pytest.approx(window_kkt.dso_cost_usd, abs=1e-4)
    assert leader_cost_usd(window_kkt.share, window_kkt.dso_cost_usd,
                           window_kkt.original_dso_cost_usd) == window_kkt.leader_cost_usd


def test_the_private_search_finds_the_kkt_optimum(
    window_private_search: ProfitSharingOutcome, window_kkt: BilevelSolution,
    window_sweep: SweepResult
) -> None:
    """Same instance: the private ρ* is within its refine tolerance (1e-3) of the KKT's."""
    private = window_private_search
    assert private.converged, private.message
    assert private.original_dso_cost_usd == pytest.approx(window_kkt.original_dso_cost_usd,
                                                          rel=1e-9)
    tolerance = 1e-3  # the scenario's refine tolerance
    assert abs(private.best_share - window_kkt.share) <= tolerance
    slope = window_kkt.original_dso_cost_usd - min(window_sweep.optimistic_dso_cost_usd)
    private_cost = private.dno_total_cost_usd(private.best)
    assert window_kkt.leader_cost_usd - 1e-3 <= private_cost \
        <= window_kkt.leader_cost_usd + tolerance * slope
    assert private.tno_accepted and private.tno_benefit_usd(private.best) >= -1e-6


def test_at_the_kkt_optimum_both_gain(window_kkt: BilevelSolution) -> None:
    assert window_kkt.tno_gain_usd >= -1e-6
    assert window_kkt.dno_saving_usd > 0
    assert 0 < window_kkt.share < 1


def test_strong_duality_form_finds_the_same_optimum(window: Cases) -> None:
    """Periods 18-22; without SOS1 SCIP may use its 1e-6 feasibility tolerance in the
    strong-duality row, so the share agrees to ~1e-6 rather than exactly."""
    fleet, dso = slice_horizon(window[0], window[1], 2, 6)
    sos = solve_bilevel_kkt(fleet, dso, station_order=window[2], time_limit_s=30.0)
    duality = solve_bilevel_kkt(fleet, dso, station_order=window[2], time_limit_s=30.0,
                                method="strong_duality")
    assert sos.status == duality.status == "optimal"
    assert duality.share == pytest.approx(sos.share, abs=1e-4)
    assert duality.leader_cost_usd == pytest.approx(sos.leader_cost_usd, abs=1e-2)
    assert duality.complementarity_pairs == 0 < sos.complementarity_pairs


def test_invalid_inputs_are_refused(cases: Cases) -> None:
    fleet, dso, _ = cases
    turbine = dataclasses.replace(dso.micro_turbines[0], cost_quadratic_per_mw2h=1.0)
    quadratic = dataclasses.replace(dso, micro_turbines=(turbine,))
    small_fleet, small_dso = slice_horizon(fleet, quadratic, 18, 20)
    with pytest.raises(InvalidInputError, match="LP follower"):
        solve_bilevel_kkt(small_fleet, small_dso)
