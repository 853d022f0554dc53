"""Seed 000's full-information references against the private negotiation and each other.

Scenario: ``profit-sharing-seed000`` (18 e-buses on the 12-node grid, case33bw with LinDistFlow, 24
h). Independent numbers: the private search of :mod:`ptn.coordinator.mechanisms.profit_sharing` (the
TNO and the DSO negotiating by ADMM, in process), the cvxpy follower and sweep of
:mod:`ptn.lab.references.profit_sharing`, and the KKT reformulation solved by SCIP, which is checked
on the scenario sliced to periods 16-22 (the full day is beyond SCIP's reach in minutes; module
doc). Measured here (24 h): C0 = 5772.404 $, the optimistic optimum at the breakpoint ρ = 1/8 with L
= 5648.970 $ (the follower's C_DSO tie there is 6.14 $ wide), the private ρ* = 0.12578.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ptn.coordinator.mechanisms.profit_sharing import ProfitSharingOutcome, run_profit_sharing
from ptn.coordinator.runtime.backends import hosted_endpoints, inproc_endpoints
from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet.case import FleetCase
from ptn.engines.power.der import DsoCase
from ptn.lab.references.profit_sharing import (
    BilevelSolution,
    FollowerModel,
    SweepResult,
    leader_cost_usd,
    point_of_station,
    preschedule,
    slice_horizon,
    solve_bilevel_kkt,
    solve_follower,
    sweep,
)
from ptn.scenario.document import Scenario, load_scenario
from ptn.services.dso.config import dso_config_from_part
from ptn.services.dso.model import DsoModel
from ptn.services.tno.config import tno_case_from_part
from ptn.services.tno.model import TnoModel

#: shares inside pieces of the follower's response (breakpoints: 0.125, 6/35, 8/35, 2/7, 0.4)
INTERIOR_SHARES = (0.15, 0.2, 0.3)
#: a breakpoint of the follower's response on the scenario's grid: 1/8
BREAKPOINT = 0.125
#: ADMM stops at primal/dual residuals of 1e-4 (scenario tolerance); inside a piece of the
#: follower's response its costs agree with the centralized optimum to ~1e-6 $ (measured)
ADMM_COST_USD = 1e-3
#: the ADMM negotiation's follower objective is within this of the optimum (measured: 2e-6 $)
ADMM_OBJECTIVE_USD = 1e-4
#: the reduced instance on which the KKT is solved
WINDOW = (16, 22)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario("profit-sharing-seed000")


@pytest.fixture(scope="module")
def cases(scenario: Scenario) -> tuple[FleetCase, DsoCase, list[int]]:
    config = dso_config_from_part(scenario.part("dso"))
    return tno_case_from_part(scenario.part("tno")), config.case, config.point_order


@pytest.fixture(scope="module")
def model(cases: tuple[FleetCase, DsoCase, list[int]]) -> FollowerModel:
    fleet, dso, order = cases
    return FollowerModel(fleet, dso, station_order=order)


@pytest.fixture(scope="module")
def negotiated(scenario: Scenario) -> ProfitSharingOutcome:
    """The private negotiation at a few shares, without refinement."""
    return run_profit_sharing(scenario, inproc_endpoints(scenario),
                              shares=(0.0, BREAKPOINT, *INTERIOR_SHARES), refine_tolerance=1.0)


@pytest.fixture(scope="module")
def private_search(scenario: Scenario) -> ProfitSharingOutcome:
    """The scenario's private search: its sweep and branch and bound to 1e-3."""
    return run_profit_sharing(scenario, inproc_endpoints(scenario))


@pytest.fixture(scope="module")
def full_sweep(model: FollowerModel) -> SweepResult:
    """101 shares and the exact breakpoints between them (~7 s)."""
    return sweep(model.fleet_case, model.dso_case, np.linspace(0.0, 1.0, 101), model=model)


@pytest.fixture(scope="module")
def window(cases: tuple[FleetCase, DsoCase, list[int]]) -> tuple[FleetCase, DsoCase, list[int]]:
    fleet, dso, order = cases
    return (*slice_horizon(fleet, dso, *WINDOW), order)


@pytest.fixture(scope="module")
def window_sweep(window: tuple[FleetCase, DsoCase, list[int]]) -> SweepResult:
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
    return run_profit_sharing(dataclasses.replace(scenario, public=public), endpoints)


@pytest.fixture(scope="module")
def window_kkt(window: tuple[FleetCase, DsoCase, list[int]]) -> BilevelSolution:
    fleet, dso, order = window
    return solve_bilevel_kkt(fleet, dso, station_order=order, time_limit_s=60.0)


# ---------------------------------------------------------------------- the follower
def test_prescheduling_is_the_private_searchs(
    cases: tuple[FleetCase, DsoCase, list[int]], negotiated: ProfitSharingOutcome
) -> None:
    fleet, dso, order = cases
    alone = preschedule(fleet, dso, station_order=order)
    assert alone.status == "optimal"
    assert alone.dso_cost_usd == pytest.approx(negotiated.original_dso_cost_usd, rel=1e-9)
    assert alone.tno_cost_usd == pytest.approx(negotiated.tno_cost_alone_usd, rel=1e-9)
    np.testing.assert_allclose(alone.station_load_mw, negotiated.preschedule_load_mw, atol=1e-9)
    at_zero = solve_follower(fleet, dso, 0.0, station_order=order)
    assert at_zero.selection == "alone"
    assert at_zero.dso_cost_usd == alone.dso_cost_usd


@pytest.mark.parametrize("share", INTERIOR_SHARES)
def test_follower_matches_the_admm_negotiation(
    cases: tuple[FleetCase, DsoCase, list[int]], negotiated: ProfitSharingOutcome, share: float
) -> None:
    fleet, dso, order = cases
    solution = solve_follower(fleet, dso, share, station_order=order)
    private = next(e for e in negotiated.evaluations if e.share == share)
    assert solution.status == "optimal"
    assert solution.dso_cost_usd == pytest.approx(private.dso_cost_usd, abs=ADMM_COST_USD)
    assert solution.tno_cost_usd == pytest.approx(private.tno_cost_usd, abs=ADMM_COST_USD)
    # the negotiated plan is a near-optimal point of the follower's problem, never better
    objective = private.tno_cost_usd + share * private.dso_cost_usd
    assert solution.objective_usd - 1e-6 <= objective <= solution.objective_usd \
        + ADMM_OBJECTIVE_USD
    # loads may differ where the follower is indifferent without any cost changing (night
    # periods 2 and 3 share both the tariff and the upstream price); each station's daily
    # energy may not
    np.testing.assert_allclose(solution.station_load_mw.sum(axis=1), private.load_mw.sum(axis=1),
                               atol=1e-5)


def test_admm_lands_inside_the_tie_at_a_breakpoint(
    model: FollowerModel, negotiated: ProfitSharingOutcome
) -> None:
    """At ρ = 1/8 the follower's optimal set spans 6.1 $ of C_DSO; ADMM ends somewhere on it."""
    ties = model.ties(BREAKPOINT, method="perturbation")
    assert ties.width_usd > 5.0
    private = next(e for e in negotiated.evaluations if e.share == BREAKPOINT)
    slack = ADMM_COST_USD
    assert ties.optimistic.dso_cost_usd - slack <= private.dso_cost_usd \
        <= ties.pessimistic.dso_cost_usd + slack
    assert private.tno_cost_usd + BREAKPOINT * private.dso_cost_usd \
        == pytest.approx(ties.follower.objective_usd, abs=ADMM_OBJECTIVE_USD)


@pytest.mark.parametrize("share", [BREAKPOINT, 0.15])
def test_the_two_tie_methods_agree(model: FollowerModel, share: float) -> None:
    constrained = model.ties(share, method="constraint")
    perturbed = model.ties(share, method="perturbation")
    for pick in ("optimistic", "pessimistic"):
        a, b = getattr(constrained, pick), getattr(perturbed, pick)
        assert a.has_solution and b.has_solution
        assert a.dso_cost_usd == pytest.approx(b.dso_cost_usd, abs=5e-3)
        assert a.tno_cost_usd == pytest.approx(b.tno_cost_usd, abs=5e-3)
    # both selections are optimal for the follower at ρ
    for selection in (perturbed.optimistic, perturbed.pessimistic):
        assert selection.objective_usd == pytest.approx(perturbed.follower.objective_usd,
                                                        abs=2 * perturbed.tolerance_usd)


# ---------------------------------------------------------------------- the sweep
def test_ties_only_at_breakpoints(full_sweep: SweepResult) -> None:
    assert full_sweep.status == "optimal", full_sweep.message
    width = full_sweep.tie_width_usd
    assert (width > -1e-6).all()
    assert (full_sweep.optimistic_leader_cost_usd
            <= full_sweep.pessimistic_leader_cost_usd + 1e-6).all()
    on_breakpoint = np.array([any(abs(s - b.share) < 1e-6 for b in full_sweep.breakpoints)
                              for s in full_sweep.shares])
    inside = ~on_breakpoint & (full_sweep.shares > 0)
    assert np.abs(width[inside]).max() < 1e-6
    np.testing.assert_allclose(full_sweep.optimistic_leader_cost_usd[inside],
                               full_sweep.pessimistic_leader_cost_usd[inside], atol=1e-6)
    assert (width[on_breakpoint] > 0.1).all()
    assert {0.04, 0.05, 0.08, 0.1, 0.4, 0.6} <= {round(float(s), 6)
                                                 for s in full_sweep.shares[on_breakpoint]}


def test_breakpoints_are_where_the_follower_is_indifferent(
    model: FollowerModel, full_sweep: SweepResult
) -> None:
    shares = [b.share for b in full_sweep.breakpoints]
    assert len(shares) >= 20 and shares == sorted(shares)
    previous = np.inf
    for point in full_sweep.breakpoints:
        left = point.left_tno_cost_usd + point.share * point.left_dso_cost_usd
        right = point.right_tno_cost_usd + point.share * point.right_dso_cost_usd
        assert left == pytest.approx(right, abs=1e-4)
        assert point.right_dso_cost_usd < point.left_dso_cost_usd <= previous + 1e-6
        previous = point.right_dso_cost_usd
    best = min(full_sweep.breakpoints, key=lambda b: b.optimistic_leader_cost_usd)
    value = model.solve(best.share).objective_usd
    assert value == pytest.approx(best.right_tno_cost_usd + best.share * best.right_dso_cost_usd,
                                  abs=1e-5)


def test_the_sweep_finds_the_private_optimum(
    full_sweep: SweepResult, private_search: ProfitSharingOutcome
) -> None:
    """The private ρ* lies within its refine tolerance right of the optimistic optimum."""
    original = full_sweep.original_dso_cost_usd
    assert original == pytest.approx(private_search.original_dso_cost_usd, rel=1e-9)
    exact_share, exact_cost = full_sweep.exact_best
    assert exact_share == pytest.approx(BREAKPOINT, abs=1e-8)
    private_share = private_search.best_share
    private_cost = private_search.dno_total_cost_usd(private_search.best)
    tolerance = 1e-3  # the scenario's refine tolerance
    slope = original - min(full_sweep.optimistic_dso_cost_usd)  # of L on a piece, at most
    assert exact_share <= private_share + 1e-9
    assert private_share - exact_share <= tolerance
    assert exact_cost - 1e-3 <= private_cost <= exact_cost + tolerance * slope
    # the grid: within its resolution of the breakpoint, the pessimistic from the right
    resolution = full_sweep.resolution
    grid_share, grid_cost = full_sweep.optimistic_best
    assert abs(grid_share - exact_share) <= resolution + 1e-9
    assert exact_cost - 1e-6 <= grid_cost <= exact_cost + resolution * slope
    pessimistic_share, pessimistic_cost = full_sweep.pessimistic_best
    assert exact_share < pessimistic_share <= exact_share + resolution + 1e-9
    assert pessimistic_cost >= exact_cost - 1e-6
    assert abs(private_share - grid_share) <= resolution + tolerance


def test_at_the_optimum_both_gain(full_sweep: SweepResult) -> None:
    best = min(full_sweep.breakpoints, key=lambda b: b.optimistic_leader_cost_usd)
    original = full_sweep.original_dso_cost_usd
    payment = best.share * (original - best.right_dso_cost_usd)
    tno_gain = full_sweep.tno_cost_alone_usd - best.right_tno_cost_usd + payment
    assert tno_gain >= 0
    assert best.optimistic_leader_cost_usd < original
    # and the pessimistic follower at the same share leaves the DNO worse off
    assert best.pessimistic_leader_cost_usd > best.optimistic_leader_cost_usd + 5.0


# ---------------------------------------------------------------------- the bilevel KKT
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


def test_strong_duality_form_finds_the_same_optimum(
    window: tuple[FleetCase, DsoCase, list[int]]
) -> None:
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


# ---------------------------------------------------------------------- invalid input
def test_invalid_inputs_are_refused(cases: tuple[FleetCase, DsoCase, list[int]]) -> None:
    fleet, dso, _ = cases
    with pytest.raises(InvalidInputError, match="permutation"):
        point_of_station(fleet, dso, [0, 0, 1])
    assert point_of_station(fleet, dso).tolist() == [0, 1, 2]  # matched by name
    with pytest.raises(InvalidInputError, match="periods"):
        point_of_station(slice_horizon(fleet, dso, 0, 12)[0], dso)
    with pytest.raises(InvalidInputError, match="shares"):
        sweep(fleet, dso, [0.0, 1.5])
    with pytest.raises(InvalidInputError, match="start"):
        slice_horizon(fleet, dso, 5, 5)
    with pytest.raises(InvalidInputError, match="share"):
        solve_follower(fleet, dso, -0.1)
    turbine = dataclasses.replace(dso.micro_turbines[0], cost_quadratic_per_mw2h=1.0)
    quadratic = dataclasses.replace(dso, micro_turbines=(turbine,))
    small_fleet, small_dso = slice_horizon(fleet, quadratic, 18, 20)
    with pytest.raises(InvalidInputError, match="LP follower"):
        solve_bilevel_kkt(small_fleet, small_dso)
