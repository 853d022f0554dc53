"""Seed 002's MSA (ptn.engines.traffic.sue.msa): a warm start from the previous period pays off.

Independent numbers: the exact SUE of the busier period, solved cold by Newton to a residual of
1e-9 veh/h, and the iteration count of MSA started cold.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.sue import solve_stochastic_equilibrium


def test_warm_started_msa_needs_fewer_iterations(nd: AssignmentProblem) -> None:
    theta = 0.5
    base = solve_stochastic_equilibrium(nd, theta=theta, method="msa", tolerance=1e-4)
    road = nd.classes[0]
    busier = AssignmentProblem(nd.links, (road.with_demand(road.od_demand * 1.05),),
                               nd.link_labels)
    cold = solve_stochastic_equilibrium(busier, theta=theta, method="msa", tolerance=1e-4)
    warm = solve_stochastic_equilibrium(busier, theta=theta, method="msa", tolerance=1e-4,
                                        warm_start=base.warm_start)
    assert cold.converged and warm.converged
    assert warm.iterations < cold.iterations / 2
    assert warm.extra["msa_start"] > 1
    reference = solve_stochastic_equilibrium(busier, theta=theta, criterion="residual",
                                             tolerance=1e-9)
    # both stop on the seed's step rule; their flows agree with the exact SUE to within 1 veh/h
    assert np.abs(warm.link_flow - reference.link_flow).max() < 1.0
    assert np.abs(cold.link_flow - reference.link_flow).max() < 1.0
    assert warm.path_flow.sum() == pytest.approx(busier.total_demand)

