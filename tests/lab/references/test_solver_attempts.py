"""Solver settings tried in turn: the option sets, and the statuses and messages of the loop.

Toy models whose answers are known by hand: a small QP with an optimum, an infeasible and an
unbounded LP; Clarabel stopped after one interior-point iteration stands for a failing setting.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from ptn.engines.power.distflow import DEFAULT_SOLVER_OPTIONS
from ptn.lab.references.solver_attempts import (
    JOINT_SOLVER_ATTEMPTS,
    joint_solver_attempts,
    option_sets,
    solve_in_turn,
    solver_failure_text,
)

#: what cvxpy raises when a solver ends without a solution (cvxpy/problems/problem.py)
CVXPY_FAILURE = ("Solver 'CLARABEL' failed. Try another solver, or solve with verbose=True for "
                 "more information.")


def toy_qp() -> tuple[cp.Problem, cp.Variable]:
    """min Σx + ‖x − c‖², c = (1, 2, 3), over x ≥ 0 and Σx ≤ 4. By hand (KKT): with Σx ≤ 4
    binding at multiplier μ, x_i = c_i − (1 + μ)/2 and Σx = 4 give μ = 1/3, x = (1/3, 4/3, 7/3)."""
    x = cp.Variable(3)
    target = np.array([1.0, 2.0, 3.0])
    return cp.Problem(cp.Minimize(cp.sum(x) + cp.sum_squares(x - target)),
                      [x >= 0, cp.sum(x) <= 4]), x


def test_option_sets_update_in_order_and_drop_duplicates() -> None:
    sets = option_sets(({"a": 1, "b": 2}, {"a": 3}, {}, {"a": 1, "b": 2}), {"b": 9},
                       base={"a": 0, "c": 5})
    assert sets == [{"a": 1, "b": 9, "c": 5}, {"a": 3, "b": 9, "c": 5}, {"a": 0, "b": 9, "c": 5}]
    assert option_sets(({},), None) == [{}]


def test_joint_attempts_build_on_the_dsos_settings() -> None:
    attempts = joint_solver_attempts("CLARABEL", {"max_iter": 300})
    assert len(attempts) == len(JOINT_SOLVER_ATTEMPTS) == 3
    for attempt, extra in zip(attempts, JOINT_SOLVER_ATTEMPTS, strict=True):
        assert attempt == {**DEFAULT_SOLVER_OPTIONS["CLARABEL"], **extra, "max_iter": 300}
    # another solver: its DSO defaults and the caller's options, once
    assert joint_solver_attempts("SCS", {"eps": 1e-6}) == [
        {**DEFAULT_SOLVER_OPTIONS.get("SCS", {}), "eps": 1e-6}]


def test_the_first_setting_that_solves_is_kept_and_named() -> None:
    model, x = toy_qp()
    status, message, seconds = solve_in_turn(model, "CLARABEL", [{}], "the toy")
    assert (status, message) == ("optimal", "")
    assert seconds >= 0
    np.testing.assert_allclose(x.value, [1 / 3, 4 / 3, 7 / 3], atol=1e-6)
    model, _ = toy_qp()
    status, message, _ = solve_in_turn(model, "CLARABEL", [{"max_iter": 1}, {"max_iter": 200}],
                                       "the toy")
    assert status == "optimal"
    assert message == ("attempt 1 (relative gap target default): status user_limit; "
                       "solved with fallback settings 2 of 2 (relative gap target default)")


def test_failures_are_statuses_with_every_attempt_named() -> None:
    model, _ = toy_qp()
    status, message, _ = solve_in_turn(model, "CLARABEL", [{"max_iter": 1}], "the toy")
    assert status == "solver_error"
    assert message == ("the toy is solver_error: attempt 1 (relative gap target default): "
                       "status user_limit")
    y = cp.Variable()
    infeasible = cp.Problem(cp.Minimize(y), [y >= 1, y <= 0])
    status, message, _ = solve_in_turn(infeasible, "CLARABEL", [{}, {"tol_gap_rel": 1e-9}],
                                       "the toy")
    assert status == "infeasible"  # and the second setting is not tried
    assert message == ("the toy is infeasible: attempt 1 (relative gap target default): "
                       "status infeasible")
    unbounded = cp.Problem(cp.Minimize(y), [y <= 0])
    status, _, _ = solve_in_turn(unbounded, "CLARABEL", [{}, {"tol_gap_rel": 1e-9}], "the toy")
    assert status == "unbounded"


class FailingProblem:
    """A model whose every solve raises cvxpy's SolverError, as Clarabel's numerical failures
    on the joint model of an infeasible baseline did."""

    status = None
    solver_stats = None

    def __init__(self) -> None:
        self.solves = 0

    def solve(self, **options: object) -> None:
        self.solves += 1
        raise cp.error.SolverError(CVXPY_FAILURE)


def test_a_solver_failure_never_shows_cvxpys_advice() -> None:
    assert solver_failure_text("CLARABEL", cp.error.SolverError(CVXPY_FAILURE)) == \
        "the solver CLARABEL stopped without a solution (numerical trouble)"
    assert solver_failure_text("SCS", cp.error.SolverError(
        "Problem too large. Try another solver.")) == "Problem too large"
    model = FailingProblem()
    status, message, _ = solve_in_turn(model, "CLARABEL",  # type: ignore[arg-type]
                                       [{}, {"tol_gap_rel": 1e-8}], "the joint problem")
    assert model.solves == 2 and status == "solver_error"
    assert "Try another solver" not in message and "verbose" not in message
    assert message.startswith("the joint problem is solver_error: attempt 1")
    assert message.count("stopped without a solution (numerical trouble)") == 2
