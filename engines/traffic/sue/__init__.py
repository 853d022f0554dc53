"""Stochastic user equilibrium (SUE) with logit route choice: seed 002's MSA and a fast Newton.

Why this package exists: seed 002 models drivers' route choice as logit SUE rather than Wardrop
UE, and maps the equilibrium station flows to charging loads period by period (MODELS.md §1). It
solves the SUE by the method of successive averages (MSA), warm-started from the previous
period. This package provides that solver and a much faster one for the same fixed point, so the
traffic department can answer the many load queries of a negotiation.

Model (Daganzo & Sheffi 1977; Sheffi 1985, ch. 10–12). OD pair ``w`` with demand ``d_w`` and
route set ``K_w``; route cost ``c_k = sum_a n_ka * c_a(x_a)`` with ``c_a`` the problem's
*generalized* link cost (:meth:`~ptn.engines.traffic.link_costs.LinkCosts.costs`, so tolls and
charging prices enter) and ``n_ka`` the number of times route ``k`` uses link ``a``. Logit::

    P_k = exp(-theta * c_k) / sum_{j in K_w} exp(-theta * c_j),     theta in 1 / cost unit,

evaluated with the stable log-sum-exp (costs shifted by the OD's minimum). SUE: ``f = y(c(f))``
with ``y_k = d_w * P_k``; it is the unique minimiser of Fisk's (1980) convex objective::

    Z(f) = sum_a int_0^{x_a} c_a(u) du + (1 / theta) * sum_k f_k * (ln f_k - 1)

over route flows meeting demand. As theta -> infinity the SUE link flows tend to the
deterministic UE ones; as theta -> 0 the flows spread evenly over the routes.

Modules, one job each:

* :mod:`~ptn.engines.traffic.sue.solver`: :func:`solve_stochastic_equilibrium`, the entry point
  (options, convergence criteria and statuses);
* :mod:`~ptn.engines.traffic.sue.results`: :class:`SueResult`, :class:`SueState` (the warm
  start) and :class:`OdPathFlows`;
* :mod:`~ptn.engines.traffic.sue.route_sets`: enumerated, generated or given route sets, and how
  a warm start's routes carry over;
* :mod:`~ptn.engines.traffic.sue.workspace`: the logit loading and what the iterations share;
* :mod:`~ptn.engines.traffic.sue.msa`: seed 002's MSA and its exact-line-search variant, whose
  step :mod:`~ptn.engines.traffic.sue.line_search` computes;
* :mod:`~ptn.engines.traffic.sue.newton`: Newton on the link-flow fixed point, with continuation
  in theta.

References: C. Fisk (1980), "Some developments in equilibrium traffic assignment",
Transportation Research B 14(3), 243–255. Y. Sheffi (1985), *Urban Transportation Networks*,
Prentice-Hall. C. F. Daganzo & Y. Sheffi (1977), "On stochastic models of traffic assignment",
Transportation Science 11(3), 253–274. Y. Sheffi & W. B. Powell (1982), "An algorithm for the
equilibrium assignment problem with random link times", Networks 12(2), 191–207. M. Chen &
A. S. Alfa (1991), "Algorithms for solving Fisk's stochastic traffic assignment model",
Transportation Research B 25(6), 405–412. M. Maher (1998), "Algorithms for logit-based
stochastic user equilibrium assignment", Transportation Research B 32(8), 539–549. R. Damberg,
J. T. Lundgren & M. Patriksson (1996), "An algorithm for the stochastic user equilibrium
problem", Transportation Research B 30(2), 115–131. S. Bekhor & T. Toledo (2005),
"Investigating path-based solution algorithms to the stochastic user equilibrium problem",
Transportation Research B 39(3), 279–295. Seed 002 (``../shared/seeds/002_*``, section 3 and
its MSA framework): SUE by MSA, each period warm-started from the previous one.
"""

from ptn.engines.traffic.sue.results import OdPathFlows, SueResult, SueState
from ptn.engines.traffic.sue.route_sets import PATH_SET_MODES
from ptn.engines.traffic.sue.solver import (
    CRITERIA,
    DEFAULT_MAX_ITERATIONS,
    METHODS,
    canonical_method,
    check_theta,
    solve_stochastic_equilibrium,
)
from ptn.engines.traffic.sue.workspace import ProgressCallback

__all__ = [
    "CRITERIA",
    "DEFAULT_MAX_ITERATIONS",
    "METHODS",
    "PATH_SET_MODES",
    "OdPathFlows",
    "ProgressCallback",
    "SueResult",
    "SueState",
    "canonical_method",
    "check_theta",
    "solve_stochastic_equilibrium",
]
