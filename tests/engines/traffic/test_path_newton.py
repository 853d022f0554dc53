"""The compiled Newton direction of the path-based solver against numpy's dense solve.

``newton_direction`` solves (D^T diag(c') D) y = -D^T c by matrix-free conjugate gradients over
D stored by columns, with some columns fixed (the projection's active set). Here D is small and
dense, so the same system is solved directly by ``numpy.linalg.solve`` (the reduced system for
the free columns when some are fixed), an independent computation.
"""

from __future__ import annotations

import numpy as np

from ptn.engines.traffic.path_newton import link_change, newton_direction


def columns_of(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dense links x columns matrix in the kernels' by-column layout."""
    starts: list[int] = [0]
    rows: list[int] = []
    values: list[float] = []
    for column in matrix.T:
        nonzero = np.flatnonzero(column)
        rows.extend(nonzero)
        values.extend(column[nonzero])
        starts.append(len(rows))
    return (np.array(starts, dtype=np.int64), np.array(rows, dtype=np.int64),
            np.array(values, dtype=np.float64))


def system() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    generator = np.random.default_rng(7)
    incidence = generator.integers(-1, 2, size=(12, 5)).astype(np.float64)
    incidence[0, :] = 1.0  # full column rank
    incidence[1:6, :] += np.eye(5)
    cost = generator.uniform(1.0, 5.0, size=12)
    derivative = generator.uniform(0.1, 2.0, size=12)
    return incidence, cost, derivative


def test_direction_solves_the_newton_system() -> None:
    incidence, cost, derivative = system()
    hessian = incidence.T @ np.diag(derivative) @ incidence
    want = np.linalg.solve(hessian, -incidence.T @ cost)
    got = newton_direction(*columns_of(incidence), cost, derivative, 1e-12, 200,
                           np.ones(5), np.zeros(5))
    np.testing.assert_allclose(got, want, rtol=1e-7)
    np.testing.assert_allclose(link_change(*columns_of(incidence), got, 12), incidence @ want,
                               rtol=1e-7, atol=1e-9)


def test_fixed_columns_keep_their_step_and_the_others_solve_the_reduced_system() -> None:
    incidence, cost, derivative = system()
    free = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    fixed_step = np.array([9.0, -0.25, 9.0, 9.0, -1.5])  # only the fixed entries count
    hessian = incidence.T @ np.diag(derivative) @ incidence
    f, c = free > 0, free == 0
    want_free = np.linalg.solve(hessian[np.ix_(f, f)],
                                -(incidence.T @ cost)[f] - hessian[np.ix_(f, c)] @ fixed_step[c])
    got = newton_direction(*columns_of(incidence), cost, derivative, 1e-12, 200, free,
                           fixed_step)
    np.testing.assert_array_equal(got[c], fixed_step[c])
    np.testing.assert_allclose(got[f], want_free, rtol=1e-7)
