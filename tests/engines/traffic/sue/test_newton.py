"""Newton on the SUE fixed point (ptn.engines.traffic.sue.newton) against MSA and the UE limit.

Independent numbers: MSA's and the line search's flows on the same problem, and the deterministic
UE of the path-based solver, which a very large theta must approach (reached by continuation).
"""

from __future__ import annotations

import numpy as np

from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.sue import solve_stochastic_equilibrium


def test_newton_reaches_the_msa_flows_in_far_fewer_iterations(nd: AssignmentProblem) -> None:
    theta = 0.1
    msa = solve_stochastic_equilibrium(nd, theta=theta, method="msa", tolerance=1e-6)
    newton = solve_stochastic_equilibrium(nd, theta=theta, method="newton", tolerance=1e-6)
    line = solve_stochastic_equilibrium(nd, theta=theta, method="line-search", tolerance=1e-6)
    assert msa.converged and newton.converged and line.converged
    assert newton.iterations * 100 < msa.iterations
    assert line.iterations * 10 < msa.iterations
    assert np.abs(newton.link_flow - msa.link_flow).max() < 0.05
    assert np.abs(line.link_flow - newton.link_flow).max() < 1e-4
    # Newton is at the fixed point; MSA's step rule stops ~1e-2 veh/h short of it
    assert newton.residual < 1e-8 < msa.residual
    assert newton.fisk_objective <= msa.fisk_objective + 1e-9


def test_large_theta_is_solved_by_continuation(nd: AssignmentProblem, nd_ue: np.ndarray) -> None:
    result = solve_stochastic_equilibrium(nd, theta=1000.0, criterion="residual",
                                          tolerance=1e-2)
    assert result.converged
    assert result.extra.get("continuation_stages", 0) >= 1
    assert np.abs(result.link_flow - nd_ue).max() < 0.5

