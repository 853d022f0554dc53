"""The DSO's one price per bus (seed 001: λ_j,t of node j) and its trial draw, in its model.

Seed 001's scenario puts both CNOs' stations on the same two buses (cs7 and cs10 at pdn1 bus 4,
cs9 and cs12 at pdn2 bus 6). Checked here: co-located stations are always quoted one price;
the trial quotes are drawn below the cap; only a bus's total load enters the fit (two histories
with the same bus totals but other splits between the stations give the same quotes); with
``price_per = "station"`` the co-located stations get prices of their own; bad keys are refused
naming the key.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.scenario.document import load_scenario, scenario_from_text
from ptn.services.dso.model import DsoModel

SCENARIO = load_scenario("pricing-seed001")
STATIONS = SCENARIO.public.stations  # cs7, cs9, cs10, cs12
PERIODS = SCENARIO.public.periods
BUS_4, BUS_6 = [STATIONS.index("cs7"), STATIONS.index("cs10")], \
    [STATIONS.index("cs9"), STATIONS.index("cs12")]


def _model(text: str = SCENARIO.text) -> DsoModel:
    scenario = scenario_from_text(text, source="pricing.toml", base_directory=Path.cwd())
    return DsoModel.from_part(scenario.part("dso"))


def _loads(k: int, share: float) -> np.ndarray:
    """Station loads of round k: bus totals set by k, split ``share``/``1 − share``."""
    bus = np.array([1.6 - 0.04 * k + 0.1 * np.arange(PERIODS),
                    1.2 + 0.03 * k - 0.05 * np.arange(PERIODS)])
    loads = np.empty((4, PERIODS))
    for total, (first, second) in zip(bus, (BUS_4, BUS_6), strict=True):
        loads[first], loads[second] = share * total, (1 - share) * total
    return loads


def _quotes(model: DsoModel, share: float, count: int = 7) -> list[np.ndarray]:
    quotes = []
    for k in range(count):
        quote = model.quote_prices("n1", None if k == 0 else _loads(k, share))
        assert quote.trial == (k < 5)
        quotes.append(quote.price_per_mwh)
    return quotes


def test_co_located_stations_share_one_price_and_only_bus_totals_matter() -> None:
    even = _quotes(_model(), 0.5)
    skewed = _quotes(_model(), 0.8)
    for k, (price, other) in enumerate(zip(even, skewed, strict=True)):
        for bus in (BUS_4, BUS_6):
            np.testing.assert_array_equal(price[bus[0]], price[bus[1]])
        assert price.min() >= 80.0 and price.max() <= 180.0
        assert price.mean(axis=1).max() <= 120.0 + 1e-6  # the mean cap, per bus
        if k < 5:  # trials: uniform in [80, 120], below the cap
            assert price.max() <= 120.0
        np.testing.assert_allclose(price, other, rtol=0, atol=1e-6)
    # the fitted quotes differ from the trials (the fit is used)
    assert not np.allclose(even[5], even[4])


def test_price_per_station_prices_co_located_stations_apart() -> None:
    text = SCENARIO.text.replace('price_per = "bus"', 'price_per = "station"')
    quotes = _quotes(_model(text), 0.5, count=5)
    assert any(not np.array_equal(q[BUS_4[0]], q[BUS_4[1]]) for q in quotes)


@pytest.mark.parametrize(("old", "new", "key"), [
    ('price_per = "bus"', 'price_per = "node"', "dso.pricing.price_per"),
    ("trial_price_max_per_mwh = 120.0", "trial_price_max_per_mwh = 200.0",
     "dso.pricing.trial_price_max_per_mwh"),
    ("trial_price_min_per_mwh = 80.0", "trial_price_min_per_mwh = 150.0",
     "dso.pricing.trial_price_min_per_mwh"),
    ("trial_price_min_per_mwh = 80.0", 'trial_price_min_per_mwh = "low"',
     "dso.pricing.trial_price_min_per_mwh"),
])
def test_bad_pricing_keys_are_refused_naming_the_key(old: str, new: str, key: str) -> None:
    assert old in SCENARIO.text
    with pytest.raises(InvalidInputError, match=key.replace(".", r"\.")):
        _model(SCENARIO.text.replace(old, new))
