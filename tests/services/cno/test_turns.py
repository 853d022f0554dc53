"""A CNO on its own: its turn protocol through its host, and its tables.

Checked through the operator host (serialized messages, as every transport sends them): a
CNO's turn asks probes and ends with prices within its bounds; out-of-turn answers are
INVALID_REQUEST; bad tables name the key; the alliance merges its members.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.coordinator.runtime.transports import InProcessEndpoint
from ptn.engines.errors import InvalidInputError
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.scenario.document import ALLIANCE_ID, load_scenario, scenario_from_text
from ptn.services.cno.config import cno_config_from_part
from ptn.services.cno.model import CnoModel
from ptn.services.host import OperatorHost
from tests.support.operators import header

SCENARIO = load_scenario("pricing-seed001")
PERIODS = SCENARIO.public.periods


def _turn(request_id: str, loads: list[np.ndarray] | None = None) -> games_pb2.PriceGameTurn:
    stations = ("cs7", "cs9")
    turn = games_pb2.PriceGameTurn(
        header=header("cno1", request_id),
        purchase_price_per_mwh=to_series(stations, np.full((2, PERIODS), 110.0)),
        current_price_per_mwh=to_series(stations, np.full((2, PERIODS), 200.0)))
    turn.probe_load_mw.extend(to_series(stations, load) for load in loads or [])
    return turn


def test_a_cno_turn_asks_probes_then_answers_within_its_bounds() -> None:
    endpoint = InProcessEndpoint(OperatorHost(CnoModel.from_part(SCENARIO.part("cno1"))))
    move = endpoint.call("BestRespond", _turn("a"), 5.0)
    assert len(move.probe_price_per_mwh) == 3  # AEM per-period: the point and one per station
    step = 0
    while move.probe_price_per_mwh:
        prices = [from_series(p, ("cs7", "cs9"), PERIODS, "probe") for p in
                  move.probe_price_per_mwh]
        # a linear response: each station loses 0.02 MW per $/MWh of its own price
        loads = [np.maximum(0.0, 6.0 - 0.02 * p) for p in prices]
        step += 1
        move = endpoint.call("BestRespond", _turn(f"b{step}", loads), 5.0)
    price = from_series(move.price_per_mwh, ("cs7", "cs9"), PERIODS, "price")
    assert price.min() >= 150 and price.max() <= 250
    # the revenue (p − 110)(6 − 0.02 p) peaks at p = 205 in every period; one AEM step is exact
    assert np.allclose(price, 205.0, atol=1e-6)
    expected = 2 * PERIODS * SCENARIO.public.period_hours * (205 - 110) * (6 - 0.02 * 205)
    assert move.revenue == pytest.approx(expected, rel=1e-9)


def test_out_of_turn_answers_are_refused() -> None:
    endpoint = InProcessEndpoint(OperatorHost(CnoModel.from_part(SCENARIO.part("cno2"))))
    loads = [np.ones((2, PERIODS))]
    turn = _turn("x", loads)
    turn.header.operator_id = "cno2"
    del turn.purchase_price_per_mwh.stations[:]
    turn.purchase_price_per_mwh.stations.extend(["cs10", "cs12"])
    move = endpoint.call("BestRespond", turn, 5.0)
    assert move.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert "no turn of this CNO is in progress" in move.header.message


def test_cno_tables_are_validated_and_the_alliance_merges_its_members() -> None:
    alliance = cno_config_from_part(SCENARIO.part(ALLIANCE_ID))
    assert alliance.stations == ("cs7", "cs9", "cs10", "cs12")
    assert alliance.pricing.price_min_per_mwh.shape == (4, PERIODS)
    for old, new, message in (
        ("price_min_per_mwh = 150.0\nprice_max_per_mwh = 250.0\nbest_response",
         "price_min_per_mwh = 260.0\nprice_max_per_mwh = 250.0\nbest_response",
         "cno.cno1.price_min_per_mwh: station cs7: minimum 260 exceeds maximum 250"),
        ('stations = ["cs7", "cs9"]', 'stations = ["cs7", "cs99"]',
         "cno.cno1.stations: station 'cs99' is not in scenario.stations"),
        ('best_response = "aem"\nelasticity = "per-period"\naem_steps = 1\n\n[cno.cno2]',
         'best_response = "newton"\n\n[cno.cno2]', "cno.cno1.best_response: unknown method"),
    ):
        assert old in SCENARIO.text
        scenario = scenario_from_text(SCENARIO.text.replace(old, new, 1), source="game.toml",
                                      base_directory=SCENARIO.parts["dso"].base_directory)
        with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")):
            cno_config_from_part(scenario.part("cno1"))
