"""The sweep of the share and its exact breakpoints against the private search.

Scenario: ``profit-sharing-seed000`` (24 h). Independent numbers: the private search of
:mod:`ptn.coordinator.mechanisms.profit_sharing` (ADMM per share, a sweep and a branch and bound
to 1e-3, in process) against :func:`ptn.lab.references.profit_sharing.sweep.sweep` over 101
shares with the exact breakpoints between them; each breakpoint is checked against the follower
re-solved there. Measured here: C0 = 5772.404 $, the optimistic optimum at the breakpoint
ρ = 1/8 with L = 5648.970 $, the private ρ* = 0.12578.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.coordinator.mechanisms.profit_sharing import ProfitSharingOutcome
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints
from ptn.engines.errors import InvalidInputError
from ptn.lab.references.profit_sharing.follower import FollowerModel
from ptn.lab.references.profit_sharing.sweep import SweepResult, sweep
from ptn.scenario.document import Scenario
from tests.support.profit_sharing_cases import BREAKPOINT, Cases


@pytest.fixture(scope="module")
def private_search(scenario: Scenario) -> ProfitSharingOutcome:
    """The scenario's private search: its sweep and branch and bound to 1e-3."""
    return negotiate(scenario, inproc_endpoints(scenario))


@pytest.fixture(scope="module")
def full_sweep(model: FollowerModel) -> SweepResult:
    """101 shares and the exact breakpoints between them (~7 s)."""
    return sweep(model.fleet_case, model.dso_case, np.linspace(0.0, 1.0, 101), model=model)


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


def test_invalid_inputs_are_refused(cases: Cases) -> None:
    fleet, dso, _ = cases
    with pytest.raises(InvalidInputError, match="shares"):
        sweep(fleet, dso, [0.0, 1.5])
