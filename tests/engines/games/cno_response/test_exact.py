"""The exact best response (ptn.engines.games.cno_response.exact): a batched compass search.

Its optimum is checked with the global reference's in test_global_search.py; here, its budget.
"""

from __future__ import annotations

from ptn.engines.games.cno_response import exact_best_response, run_search
from tests.support.cno_cases import PRICING, PURCHASE, START, interior_case, jacobian, linear_oracle


def test_exact_search_stops_at_its_probe_budget() -> None:
    j = jacobian(block_diagonal=False)
    p0, _ = interior_case(j)
    found = run_search(exact_best_response(PRICING, PURCHASE, START, max_probes=40),
                       linear_oracle(p0, j))
    assert found.status == "max_probes"
    assert found.probes <= 40
    assert found.revenue_usd >= found.start_revenue_usd

