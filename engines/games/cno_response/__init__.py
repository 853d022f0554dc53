"""A charging network operator's (CNO's) best response in the charging price game, as ask/tell.

Why this package exists: in seed 001's game (Lu, Yang, Cui, Du, Tian & Hu 2024, "Optimal pricing
strategies for distribution system operator in coupled power-transportation system", Front.
Energy Res. 11:1343311, §3.3; MODELS.md §3) each CNO k answers the others' prices with the prices
of its own stations that maximize its revenue

    U_k = Σ_{m,t} (α_mt − λ_mt) · P_mt · Δt                      (eq. 25)
    s.t. α_mt^min ≤ α_mt ≤ α_mt^max                                (eq. 26)

where λ is the DSO's price to the CNO and the loads P are the traffic department's equilibrium
(MUL-UE) at all CNOs' prices (eq. 27). The CNO has no traffic model: each evaluation of P is a
*probe* that the traffic department answers, reached through a coordinator. Every search is
therefore a generator that yields a batch (list) of probe prices, each (stations, periods) for
this CNO's stations only, and is sent back the loads (MW, same shape) in the same order; it
returns a :class:`BestResponse`. :func:`run_search` drives one with an in-process oracle.

Modules, one job each:

* :mod:`~ptn.engines.games.cno_response.pricing`: :class:`CnoPricing` (stations and bounds) and
  :func:`cno_revenue_usd` (eq. 25);
* :mod:`~ptn.engines.games.cno_response.search`: the ask/tell contract (:class:`BestResponse`,
  :data:`BestResponseSearch`, :func:`run_search`) and the bookkeeping every search shares;
* :mod:`~ptn.engines.games.cno_response.aem`: :func:`aem_best_response`, the paper's
  approximation by elasticity matrix (AEM, eqs. 28–31), whose QP
  :mod:`~ptn.engines.games.cno_response.concave_qp` makes concave and solves;
* :mod:`~ptn.engines.games.cno_response.exact`: :func:`exact_best_response`, no linearization: a
  batched compass (pattern) search over all prices against the oracle, to a local maximum to
  ``min_step_per_mwh``;
* :mod:`~ptn.engines.games.cno_response.global_search`: :func:`global_best_response`, an
  in-process reference like the paper's genetic algorithm (200 generations): differential
  evolution over the box, one oracle batch per generation, then optionally refined by the exact
  search;
* :mod:`~ptn.engines.games.cno_response.verified`: :func:`verified_best_response`, the
  certificate's cheap alternative to the compass search: the AEM's model (from the equilibrium's
  derivatives) proposes candidate prices, each verified by the oracle; the gain is the best
  verified candidate's.

Arrays of one CNO are (stations, periods) in $/MWh or MW; flattened vectors (the Jacobian's
n = stations·periods axes) are row-major, index ``m * periods + t``.

Measured on seed 001's Nguyen–Dupuis case (tests/engines/games/cno_response/
test_nguyen_dupuis.py: CNO 1 owns cs7 and cs9, CNO 2 prices at 200 $/MWh, purchase prices 95–150
$/MWh per period): the iterated per-period AEM converges in 5 steps (21 probes) to 3839.94 $,
0.06 % below the exact best response's 3842.21 $ (589 probes), well within the paper's 0.5 %;
the remaining gap is the cross-period terms it ignores, which the iterated "full" AEM recovers
(3842.207 $, 66 probes). Differential evolution (200 generations × 50) finds the same 3842.21 $
with 10,051 probes.
"""

from ptn.engines.games.cno_response.aem import DEFAULT_BACKTRACKS, aem_best_response
from ptn.engines.games.cno_response.exact import exact_best_response
from ptn.engines.games.cno_response.global_search import global_best_response
from ptn.engines.games.cno_response.pricing import CnoPricing, FloatArray, cno_revenue_usd
from ptn.engines.games.cno_response.search import (
    CONVERGED,
    MAX_PROBES,
    MAX_STEPS,
    BatchOracle,
    BestResponse,
    BestResponseSearch,
    check_answers,
    run_search,
)
from ptn.engines.games.cno_response.verified import verified_best_response

__all__ = [
    "CONVERGED",
    "DEFAULT_BACKTRACKS",
    "MAX_PROBES",
    "MAX_STEPS",
    "BatchOracle",
    "BestResponse",
    "BestResponseSearch",
    "CnoPricing",
    "FloatArray",
    "aem_best_response",
    "check_answers",
    "cno_revenue_usd",
    "exact_best_response",
    "global_best_response",
    "run_search",
    "verified_best_response",
]
