"""A DistFlow solve that stops at reduced accuracy is solved once more with the retry settings
(iterative refinement), and says so only if that does not reach full accuracy either."""

from __future__ import annotations

from typing import Any

import cvxpy as cp
import pytest

from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow import RETRY_OPTIONS, DistFlowOpf
from ptn.engines.power.result import OpfStatus


def stalling_solve(opf: DistFlowOpf, stalls: int, calls: list[dict[str, Any]]) -> None:
    """Make the first ``stalls`` solves of ``opf`` end as cvxpy's optimal_inaccurate."""
    real = opf.problem.solve

    def solve(**options: Any) -> Any:
        calls.append(options)
        value = real(**options)
        if len(calls) <= stalls:
            opf.problem._status = cp.OPTIMAL_INACCURATE
        return value

    opf.problem.solve = solve


@pytest.mark.parametrize("stalls", [1, 2])
def test_reduced_accuracy_is_retried_with_refinement(stalls: int) -> None:
    opf = DistFlowOpf(DsoCase(feeders=(load_feeder("case33bw"),)))
    calls: list[dict[str, Any]] = []
    stalling_solve(opf, stalls, calls)
    result = opf.solve()
    assert len(calls) == 2
    assert calls[1]["iterative_refinement_enable"] is \
        RETRY_OPTIONS["CLARABEL"]["iterative_refinement_enable"]
    assert result.status is OpfStatus.OPTIMAL
    if stalls == 1:
        assert "reduced accuracy" not in result.message
    else:
        assert "reduced accuracy" in result.message


def test_an_accurate_solve_is_not_repeated() -> None:
    opf = DistFlowOpf(DsoCase(feeders=(load_feeder("case33bw"),)))
    calls: list[dict[str, Any]] = []
    stalling_solve(opf, 0, calls)
    assert opf.solve().status is OpfStatus.OPTIMAL
    assert len(calls) == 1


def test_a_retry_that_fails_gives_the_first_settings_solution_back() -> None:
    opf = DistFlowOpf(DsoCase(feeders=(load_feeder("case33bw"),)))
    real = opf.problem.solve
    calls: list[dict[str, Any]] = []

    def solve(**options: Any) -> Any:
        calls.append(options)
        if len(calls) == 2:
            raise cp.error.SolverError("Solver 'CLARABEL' failed.")
        value = real(**options)
        opf.problem._status = cp.OPTIMAL_INACCURATE
        return value

    opf.problem.solve = solve
    result = opf.solve()
    assert len(calls) == 3
    assert calls[2] == calls[0]  # the first settings again, not the failed retry's
    assert result.status is OpfStatus.OPTIMAL and "reduced accuracy" in result.message
    assert result.objective == pytest.approx(DistFlowOpf(opf.case).solve().objective, rel=1e-9)
