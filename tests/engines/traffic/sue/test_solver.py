"""The logit SUE solver (ptn.engines.traffic.sue.solver): checks against hand-derived answers.

The two-route cases are solved here independently of the solver: closed-form logit for constant
costs, and the scalar fixed point ``f1 = d * P1(c(f1), c(d - f1))`` by Brent's method for BPR.
Every method must reach them; the deterministic UE (path-based solver) is the large-theta limit.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
from scipy.optimize import brentq

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.link_costs import CostKind
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.result import AssignmentStatus
from ptn.engines.traffic.sue import solve_stochastic_equilibrium
from tests.support.sue_cases import route_flows, two_route_problem


@pytest.mark.parametrize("method", ["newton", "line-search", "msa"])
def test_constant_costs_give_the_closed_form_logit_split(method: str) -> None:
    theta, demand = 0.5, 100.0
    problem = two_route_problem(CostKind.CONSTANT, (10.0, 11.0), fixed_cost=(0.0, 1.0),
                                value_of_time=1.0, demand=demand)
    result = solve_stochastic_equilibrium(problem, theta=theta, method=method)
    # generalized costs 10 and 12: P1 = 1 / (1 + exp(-theta * (12 - 10)))
    expected = demand / (1.0 + math.exp(-theta * 2.0))
    flows = route_flows(result)
    assert result.converged
    assert flows[(0,)] == pytest.approx(expected, abs=1e-6)
    assert flows[(1,)] == pytest.approx(demand - expected, abs=1e-6)
    assert result.link_flow == pytest.approx([expected, demand - expected], abs=1e-6)


@pytest.mark.parametrize("method", ["newton", "line-search"])
def test_bpr_two_routes_match_the_scalar_fixed_point(method: str) -> None:
    theta, demand, vot = 0.3, 100.0, 2.0
    t0, cap, toll = (10.0, 12.0), (40.0, 60.0), (1.5, 0.0)
    problem = two_route_problem(CostKind.BPR, t0, cap, toll, vot, demand)

    def cost(link: int, x: float) -> float:
        return vot * t0[link] * (1.0 + 0.15 * (x / cap[link]) ** 4) + toll[link]

    def excess(f1: float) -> float:  # f1 minus its logit response
        return f1 - demand / (1.0 + math.exp(-theta * (cost(1, demand - f1) - cost(0, f1))))

    expected = brentq(excess, 0.0, demand, xtol=1e-13, rtol=1e-15)
    result = solve_stochastic_equilibrium(problem, theta=theta, method=method,
                                          criterion="residual", tolerance=1e-10)
    assert result.converged
    assert route_flows(result)[(0,)] == pytest.approx(expected, abs=1e-6)
    assert result.residual < 1e-8
    assert result.link_cost == pytest.approx(
        [cost(0, expected), cost(1, demand - expected)], abs=1e-6)


def test_growing_theta_approaches_the_deterministic_ue(
    nd: AssignmentProblem, nd_ue: np.ndarray
) -> None:
    distances = []
    for theta in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0):
        result = solve_stochastic_equilibrium(nd, theta=theta, criterion="residual",
                                              tolerance=1e-4)
        assert result.converged, (theta, result.status)
        distances.append(float(np.abs(result.link_flow - nd_ue).sum()))
    assert all(later < earlier for earlier, later in pairwise(distances))
    # at theta = 100 per minute, total link-flow difference < 0.1 % of total link flow
    assert distances[-1] < 1e-3 * nd_ue.sum()

@pytest.mark.parametrize(
    "theta", [0.0, -1.0, math.nan, math.inf, -math.inf, "abc", "0.5", True, None]
)
def test_invalid_theta_is_refused_with_a_clear_message(
    nd: AssignmentProblem, theta: object
) -> None:
    with pytest.raises(InvalidInputError, match=r"theta .* must be a positive finite number"):
        solve_stochastic_equilibrium(nd, theta=theta)  # type: ignore[arg-type]


def test_iteration_limit_is_reported_not_raised(nd: AssignmentProblem) -> None:
    result = solve_stochastic_equilibrium(nd, theta=0.5, method="msa", max_iterations=5)
    assert result.status == AssignmentStatus.MAX_ITERATIONS
    assert result.iterations == 5
    assert result.summary()["status"] == "max_iterations"
