"""One entry point for deterministic user equilibrium, whichever algorithm solves it.

``gradient-projection`` (path-based, :mod:`ptn.engines.traffic.path_based`) is the default: exact to
relative gaps of 1e-12 and warm-startable. ``bfw`` (bi-conjugate Frank–Wolfe,
:mod:`ptn.engines.traffic.frank_wolfe`) is the link-based method AequilibraE users know.
"""

from __future__ import annotations

from typing import Any

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.path_based import ProgressCallback, solve_path_based
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.result import AssignmentResult

ALGORITHMS = ("gradient-projection", "bfw")
_ALIASES = {"gp": "gradient-projection", "path": "gradient-projection",
            "gradient-projection": "gradient-projection", "bfw": "bfw",
            "biconjugate-frank-wolfe": "bfw"}


def canonical_algorithm(name: str) -> str:
    """The canonical name of an algorithm given by name or alias."""
    key = name.strip().lower()
    if key not in _ALIASES:
        raise InvalidInputError(
            f"unknown assignment algorithm {name!r} (choose from {', '.join(ALGORITHMS)})"
        )
    return _ALIASES[key]


def solve_user_equilibrium(
    problem: AssignmentProblem,
    *,
    algorithm: str = "gradient-projection",
    gap: float = 1e-8,
    max_iterations: int = 1000,
    warm_start: Any = None,
    time_limit_seconds: float | None = None,
    progress: ProgressCallback | None = None,
) -> AssignmentResult:
    """Solve the deterministic UE of ``problem`` to relative gap ``gap``."""
    if not gap > 0:
        raise InvalidInputError(f"gap must be positive, got {gap}")
    if max_iterations < 1:
        raise InvalidInputError(f"max_iterations must be at least 1, got {max_iterations}")
    name = canonical_algorithm(algorithm)
    if name == "bfw":
        from ptn.engines.traffic.frank_wolfe import solve_biconjugate_frank_wolfe

        return solve_biconjugate_frank_wolfe(
            problem, gap=gap, max_iterations=max_iterations, warm_start=warm_start,
            time_limit_seconds=time_limit_seconds, progress=progress,
        )
    return solve_path_based(
        problem, gap=gap, max_iterations=max_iterations, warm_start=warm_start,
        time_limit_seconds=time_limit_seconds, progress=progress,
    )
