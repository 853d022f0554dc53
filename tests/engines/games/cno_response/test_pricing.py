"""A CNO's pricing and revenue (ptn.engines.games.cno_response.pricing): eq. 25 and bad input.

Independent numbers: the revenue of a 1 × 2 case computed by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response import (
    CnoPricing,
    aem_best_response,
    cno_revenue_usd,
    exact_best_response,
)
from tests.support.cno_cases import PRICING, PURCHASE, START


def test_revenue_formula() -> None:
    price = np.array([[200.0, 210.0]])
    load = np.array([[2.0, 3.0]])
    assert cno_revenue_usd(price, [100.0, 120.0], load, 0.25) == pytest.approx(
        0.25 * (100.0 * 2.0 + 90.0 * 3.0))


def test_invalid_input_is_named() -> None:
    with pytest.raises(InvalidInputError, match=r"station cs9, period 2"):
        CnoPricing(("cs7", "cs9"), [[150.0] * 3, [150.0, 150.0, 260.0]], 250.0)
    with pytest.raises(InvalidInputError, match="rows"):
        CnoPricing(("cs7",), np.full((2, 3), 150.0), 250.0)
    with pytest.raises(InvalidInputError, match="periods"):
        CnoPricing(("cs7",), 150.0, 250.0)
    with pytest.raises(InvalidInputError, match="duplicate"):
        CnoPricing(("cs7", "cs7"), 150.0, 250.0, periods=2)
    assert CnoPricing(("cs7", "cs9"), 150.0, [250.0] * 3).shape == (2, 3)
    with pytest.raises(InvalidInputError, match="purchase_price_per_mwh"):
        aem_best_response(PRICING, np.zeros((3, 3)), START)
    with pytest.raises(InvalidInputError, match="elasticity"):
        aem_best_response(PRICING, PURCHASE, START, elasticity="diagonal")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="min_step_per_mwh"):
        exact_best_response(PRICING, PURCHASE, START, min_step_per_mwh=0.0)
