"""Solving a reference's convex model with solver settings tried in turn; failures are data.

Why this module exists: the full-information references (:mod:`ptn.lab.references.centralized`,
:mod:`ptn.lab.references.centralized_sue`) aim Clarabel close to its accuracy floor, where one
setting stalls on an instance another solves. Each reference lists the settings it tries, in
order (measured where they are defined: :data:`JOINT_SOLVER_ATTEMPTS` for the joint
traffic–power model both joint references build,
:data:`ptn.lab.references.centralized_sue.TRAFFIC_SOLVER_ATTEMPTS` for the traffic-only SUE
program); this module makes the option sets and runs them until one gives a solution, saying in
the message which one did and why the others did not.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import cvxpy as cp

from ptn.engines.power.distflow import DEFAULT_SOLVER_OPTIONS
from ptn.engines.traffic.beckmann_program import solver_status

#: Clarabel settings tried in turn, each on top of the DSO's
#: (:data:`ptn.engines.power.distflow.DEFAULT_SOLVER_OPTIONS`), until one ends with a solution.
#: Clarabel stalls on the joint model at an absolute duality gap of ~3e-4 $ (the DSO part's floor:
#: alone it stalls at ~7e-8 of ~9,000 $), i.e. ~1.5e-9 of the default scenario's ~173,000 $
#: (Nguyen–Dupuis × case33bw, 24 h, 3 % EVs), and then either reports "AlmostSolved" or, when its
#: last step made the residuals worse, "NumericalError". Measured there against a tightly
#: converged ADMM: station loads 4e-5 MW and prices 7e-4 $/MWh off when aiming at 1e-9, 1e-4 MW
#: and 1.4e-3 $/MWh at 1e-8, 3e-4 MW at the DSO's 1e-7. Hence: aim at 1e-9 and accept a stall
#: within reduced tolerances of 1e-7 (rather than Clarabel's 5e-5); failing that, 1e-8; failing
#: that, the DSO's own settings. Iterative refinement on: without it, stations loaded near capacity
#: (6 % EVs) end in "InsufficientProgress"; with it they solve, at 1.5x the time (~0.35 s).
JOINT_SOLVER_ATTEMPTS: tuple[dict[str, Any], ...] = (
    {"iterative_refinement_enable": True, "tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9,
     "tol_feas": 1e-9, "reduced_tol_gap_abs": 1e-7, "reduced_tol_gap_rel": 1e-7,
     "reduced_tol_feas": 1e-7},
    {"iterative_refinement_enable": True, "tol_gap_abs": 1e-8, "tol_gap_rel": 1e-8,
     "tol_feas": 1e-9},
    {},
)

#: Clarabel's largest interior-point step (its default 0.99) in the joint model's last attempt:
#: shorter steps get past the stalls of instances whose every other attempt ends in
#: "InsufficientProgress" (:func:`ptn.lab.references.centralized.solve_joint_min_cost`)
SHORT_STEP_FRACTION = 0.8


def option_sets(fallbacks: Iterable[Mapping[str, Any]], solver_options: dict[str, Any] | None,
                base: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The option sets to try in turn: ``base`` updated by each of ``fallbacks``, then by the
    caller's ``solver_options`` (duplicates dropped, order kept)."""
    attempts: list[dict[str, Any]] = []
    for extra in fallbacks:
        options = {**(base or {}), **extra, **(solver_options or {})}
        if options not in attempts:
            attempts.append(options)
    return attempts


def joint_solver_attempts(solver: str,
                          solver_options: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The option sets of a joint traffic–power model: the DSO's defaults
    (:data:`ptn.engines.power.distflow.DEFAULT_SOLVER_OPTIONS`) updated, with Clarabel, by each
    of :data:`JOINT_SOLVER_ATTEMPTS`, then by ``solver_options`` (duplicates dropped)."""
    return option_sets(JOINT_SOLVER_ATTEMPTS if solver == "CLARABEL" else ({},), solver_options,
                       DEFAULT_SOLVER_OPTIONS.get(solver, {}))


#: sentences of cvxpy's errors that advise a programmer, not a user ("Try another solver, or
#: solve with verbose=True for more information."): never shown
_ADVICE = re.compile(r"\s*(Try another solver|[^.]*verbose=True)[^.]*\.?", re.IGNORECASE)


def solver_failure_text(solver: str, error: Exception) -> str:
    """A solver's failure for a user: what cvxpy says without its advice to programmers
    (``Solver 'CLARABEL' failed. Try another solver, ...`` becomes ``the solver CLARABEL
    stopped without a solution (numerical trouble)``)."""
    text = _ADVICE.sub("", str(error)).strip().rstrip(".")
    if not text or re.fullmatch(r"Solver '?\w+'? failed", text):
        return f"the solver {solver} stopped without a solution (numerical trouble)"
    return text


def solve_in_turn(model: cp.Problem, solver: str, attempts: list[dict[str, Any]],
                  what: str) -> tuple[str, str, float]:
    """Solve with each option set in turn until one gives a solution: (status, message,
    solver seconds summed over the attempts); ``what`` names the model in the message.

    ``status`` is ``optimal`` (also at reduced accuracy: the message says so), ``infeasible``,
    ``unbounded`` (either ends the attempts) or the last attempt's failure; never raises on
    solver trouble.
    """
    seconds = 0.0
    notes: list[str] = []
    status = "solver_error"
    for number, options in enumerate(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                model.solve(solver=solver, **options)
            status = solver_status(model.status)
            failure = f"status {model.status}"
        except cp.error.SolverError as error:
            status, failure = "solver_error", solver_failure_text(solver, error)
        if model.solver_stats is not None:
            seconds += float(model.solver_stats.solve_time or 0.0)
        target = f"relative gap target {options.get('tol_gap_rel', 'default')}"
        if status in ("optimal", "optimal_inaccurate"):
            if number:
                notes.append(f"solved with fallback settings {number + 1} of {len(attempts)} "
                             f"({target})")
            if status == "optimal_inaccurate":
                reduced = options.get("reduced_tol_gap_rel")
                notes.append(
                    f"the solver stopped short of its {target} (cvxpy status optimal_inaccurate"
                    + ("" if reduced is None else f"; within its reduced tolerance {reduced}")
                    + ")"
                )
            return "optimal", "; ".join(notes), seconds
        notes.append(f"attempt {number + 1} ({target}): {failure}")
        if status in ("infeasible", "unbounded"):
            break
    return status, f"{what} is {status}: " + "; ".join(notes), seconds
