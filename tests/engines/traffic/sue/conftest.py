"""Fixtures of the logit SUE's tests: Nguyen–Dupuis and its deterministic UE link flows."""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.path_based import solve_path_based
from ptn.engines.traffic.problem import AssignmentProblem, problem_from_network


@pytest.fixture(scope="module")
def nd() -> AssignmentProblem:
    return problem_from_network(nguyen_dupuis())


@pytest.fixture(scope="module")
def nd_ue(nd: AssignmentProblem) -> np.ndarray:
    return solve_path_based(nd, gap=1e-12).link_flow
