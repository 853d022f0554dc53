"""The matrix-free Newton direction equals the dense solve it replaced.

Independent numbers: the link-route incidence ``A`` and the logit covariance ``S`` written out in
numpy from the route set, ``M = A S A^T`` and the Jacobian ``J = I + theta * M diag(c')`` formed
densely (fine on Nguyen–Dupuis's 19 links) and solved by ``numpy.linalg.solve``. One extra route
uses a link twice, as routes of the charging network's two-layer graph can, so the diagonal
kernel's repeat counting is exercised.
"""

from __future__ import annotations

import numpy as np

from ptn.engines.traffic.graph import compile_graph
from ptn.engines.traffic.path_sets import enumerate_paths
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.sue.newton import newton_direction
from ptn.engines.traffic.sue.workspace import (
    Workspace,
    apply_logit_link_matrix,
    logit_link_matrix_diagonal,
)


def dense_logit_matrix(paths_links: list[tuple[int, ...]], path_od: np.ndarray, y: np.ndarray,
                       demand: np.ndarray, num_links: int) -> np.ndarray:
    incidence = np.zeros((num_links, len(paths_links)))
    for p, links in enumerate(paths_links):
        for a in links:
            incidence[a, p] += 1.0
    covariance = np.diag(y)
    for od, d in enumerate(demand):
        mine = np.flatnonzero(path_od == od)
        covariance[np.ix_(mine, mine)] -= np.outer(y[mine], y[mine]) / d
    return incidence @ covariance @ incidence.T


def test_matrix_free_products_diagonal_and_direction_match_dense_algebra(
    nd: AssignmentProblem,
) -> None:
    graph = compile_graph(nd)
    paths = enumerate_paths(nd)
    assert paths is not None
    # a route of OD 0 that takes its first link twice (not a road route; exercises repeats)
    first = paths.links_of(0)
    paths, _ = paths.with_paths(np.array([0]), np.array([0, len(first) + 1]),
                                np.array([first[0], *first]))
    theta = 0.2
    work = Workspace(nd, graph, theta, paths, generate=False)
    flow = np.linspace(50.0, 400.0, nd.num_links)
    _, y = work.load(flow)
    residual = flow - work.link_flows(y)
    routes = [paths.links_of(p) for p in range(paths.num_paths)]
    dense = dense_logit_matrix(routes, paths.path_od, y, work.demand, nd.num_links)

    vector = np.cos(np.arange(nd.num_links))
    np.testing.assert_allclose(
        apply_logit_link_matrix(paths.od_first, paths.path_first, paths.path_links, y,
                                work.demand, vector), dense @ vector, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(
        logit_link_matrix_diagonal(paths.od_first, paths.path_first, paths.path_links, y,
                                   work.demand, nd.num_links), np.diag(dense),
        rtol=1e-10, atol=1e-8)

    work.set_costs(flow)
    jacobian = np.eye(nd.num_links) + theta * dense * work.deriv[np.newaxis, :]
    want = np.linalg.solve(jacobian, -residual)
    got, iterations = newton_direction(work, y, residual)
    assert 0 < iterations <= nd.num_links
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7 * np.abs(want).max())
