"""The ask/tell contract (ptn.engines.games.cno_response.search): bad answers are refused.

A message from the network is hostile until validated: a transposed, missing or non-finite load
response must raise an error naming the load response, not reach the search.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response import aem_best_response, run_search
from tests.support.cno_cases import PERIODS, PRICING, PURCHASE, START, STATIONS, Oracle


@pytest.mark.parametrize("answer", [
    lambda prices: [np.zeros((PERIODS, STATIONS)) for _ in prices],   # transposed
    lambda prices: [np.zeros((STATIONS, PERIODS)) for _ in prices[1:]],  # one missing
    lambda prices: [np.full((STATIONS, PERIODS), np.nan) for _ in prices],
])
def test_run_search_rejects_bad_answers(answer: Oracle) -> None:
    with pytest.raises(InvalidInputError, match="load response"):
        run_search(aem_best_response(PRICING, PURCHASE, START), answer)
