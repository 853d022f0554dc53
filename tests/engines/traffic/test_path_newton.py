"""The compiled Newton direction of the path-based solver against numpy's dense solve.

``newton_direction`` solves (D^T diag(c') D) y = -D^T c by matrix-free conjugate gradients over
D stored by columns, with some columns fixed (the projection's active set). Here D is small and
dense, so the same system is solved directly by ``numpy.linalg.solve`` (the reduced system for
the free columns when some are fixed), an independent computation.
"""

from __future__ import annotations

import numpy as np

from ptn.engines.traffic.path_newton import link_change, newton_direction, within_basic_flow


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
    fixed_step = np.array([9.0, -0.25, 9.0, 9.0, -1.5])  # free entries: a starting point
    hessian = incidence.T @ np.diag(derivative) @ incidence
    f, c = free > 0, free == 0
    want_free = np.linalg.solve(hessian[np.ix_(f, f)],
                                -(incidence.T @ cost)[f] - hessian[np.ix_(f, c)] @ fixed_step[c])
    got = newton_direction(*columns_of(incidence), cost, derivative, 1e-12, 200, free,
                           fixed_step)
    np.testing.assert_array_equal(got[c], fixed_step[c])
    np.testing.assert_allclose(got[f], want_free, rtol=1e-7)


def test_moves_that_overdraw_a_basic_path_are_scaled_to_its_flow() -> None:
    # paths 0 and 1 are basic; columns 0, 1 draw on path 0 (flow 3), column 2 on path 1 (flow 5)
    path_flow = np.array([3.0, 5.0, 0.0, 1.0, 0.0])
    basic = np.array([0, 0, 1])
    moved = np.array([2.0, 4.0, 1.5])  # 6 from path 0, which carries 3: halve both moves
    got = within_basic_flow(moved, basic, path_flow)
    np.testing.assert_allclose(got, [1.0, 2.0, 1.5], rtol=1e-11)
    assert got[0] + got[1] <= 3.0
    # a move back onto the basic path (negative) counts against the others
    np.testing.assert_array_equal(within_basic_flow(np.array([4.0, -2.0, 1.0]), basic, path_flow),
                                  [4.0, -2.0, 1.0])
