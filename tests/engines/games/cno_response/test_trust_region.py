"""The adaptive trust region (engines/games/cno_response/trust_region.py) and the AEM's radius
per price: a reversing price's radius halves, a price pushing at its radius gets it back (never
past the configured one), and the AEM's step never leaves any price's radius."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response import aem_best_response, run_search
from ptn.engines.games.cno_response.trust_region import AdaptiveTrustRegion
from tests.support.cno_cases import (
    PRICING,
    PURCHASE,
    START,
    interior_case,
    jacobian,
    linear_oracle,
    revenue,
)


def test_a_reversal_shrinks_a_push_grows_back_to_the_cap() -> None:
    region = AdaptiveTrustRegion(4.0, 0.5, (1, 3))
    region.record(np.array([[4.0, -1.0, 0.0]]))  # first moves: nothing to reverse
    np.testing.assert_array_equal(region.radius, [[4.0, 4.0, 4.0]])
    region.record(np.array([[-4.0, -1.0, 2.0]]))  # price 0 reverses, 1 and 2 do not
    np.testing.assert_array_equal(region.radius, [[2.0, 4.0, 4.0]])
    region.record(np.array([[-2.0, 0.0, 1.0]]))  # price 0 pushes at its radius: grows by 1.2
    np.testing.assert_allclose(region.radius, [[2.4, 4.0, 4.0]])
    region.record(np.array([[-2.4, 1.0, -3.0]]))  # 1 kept its last sign (-1): reverses
    np.testing.assert_allclose(region.radius, [[2.88, 2.0, 2.0]])
    for _ in range(5):  # pushing on, up to the cap and no farther
        region.record(-region.radius * np.array([[1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(region.radius[0, 0], 4.0)
    again = AdaptiveTrustRegion(4.0, 0.5, (1, 3))
    again.restore(region.state())
    np.testing.assert_array_equal(again.radius, region.radius)
    np.testing.assert_array_equal(again.last_move, region.last_move)


def test_a_two_up_two_down_cycle_dies_out() -> None:
    # with growth 1/shrink, +r, +r, -r, -r, ... would keep its radius for ever
    region = AdaptiveTrustRegion(4.0, 0.5, (1, 1))
    sign = 1.0
    for step in range(40):
        if step % 2 == 0:
            sign = -sign
        region.record(np.array([[sign * region.radius[0, 0]]]))
    assert region.radius[0, 0] < 0.05


@pytest.mark.parametrize(("state", "message"), [
    ({"radius_per_mwh": [[1.0, 1.0]], "last_move_per_mwh": [[0.0, 0.0]]}, "shape"),
    ({"radius_per_mwh": [[1.0, -1.0, 1.0]], "last_move_per_mwh": [[0.0] * 3]}, "positive"),
    ({"radius_per_mwh": [[1.0] * 3]}, "last_move_per_mwh"),
])
def test_a_bad_state_is_refused(state: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        AdaptiveTrustRegion(4.0, 0.5, (1, 3)).restore(state)


@pytest.mark.parametrize(("radius", "shrink"), [(0.0, 0.5), (4.0, 1.0), (4.0, 0.0)])
def test_bad_settings_are_refused(radius: float, shrink: float) -> None:
    with pytest.raises(InvalidInputError):
        AdaptiveTrustRegion(radius, shrink, (1, 3))


def test_the_aem_step_stays_within_each_prices_radius() -> None:
    j = jacobian(block_diagonal=True)
    p0, target = interior_case(j)
    free = run_search(aem_best_response(PRICING, PURCHASE, START), linear_oracle(p0, j))
    np.testing.assert_allclose(free.price_per_mwh.ravel(), target, atol=1e-6)
    radius = np.linspace(0.5, 4.0, target.size).reshape(START.shape)
    bounded = run_search(aem_best_response(PRICING, PURCHASE, START,
                                           trust_region_per_mwh=radius), linear_oracle(p0, j))
    move = bounded.price_per_mwh - START
    assert np.all(np.abs(move) <= radius + 1e-9)
    assert np.any(np.abs(free.price_per_mwh - START) > radius + 1e-6)  # the radius binds
    # the step is the revenue's maximum over the box cut by the radii (L-BFGS-B here)
    low = np.maximum(150.0, START - radius).ravel()
    high = np.minimum(250.0, START + radius).ravel()
    found = minimize(lambda x: -revenue(x, p0, j), START.ravel(), method="L-BFGS-B",
                     bounds=list(zip(low, high, strict=True)),
                     options={"ftol": 1e-15, "gtol": 1e-11})
    np.testing.assert_allclose(bounded.price_per_mwh.ravel(), found.x, atol=1e-4)


def test_a_radius_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="trust_region_per_mwh"):
        aem_best_response(PRICING, PURCHASE, START, trust_region_per_mwh=np.ones(3))
