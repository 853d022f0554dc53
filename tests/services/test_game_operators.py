"""The pricing game's operators on their own: a CNO's turn protocol and tables, the DSO's quotes.

Checked through the operator host (serialized messages, as every transport sends them): a
CNO's turn asks probes and ends with prices within its bounds; out-of-turn or miscounted
answers are INVALID_REQUEST; bad tables name the key; the alliance merges its members; the
DSO's first quotes are seeded random trials within its bounds and cap, and a new negotiation id
starts its history afresh.
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
from ptn.services.dso.model import DsoModel
from ptn.services.host import OperatorHost

SCENARIO = load_scenario("pricing-seed001")
PERIODS = SCENARIO.public.periods


def _header(operator_id: str, request_id: str, negotiation: str = "n1") -> common_pb2.RequestHeader:
    return common_pb2.RequestHeader(negotiation_id=negotiation, operator_id=operator_id,
                                    request_id=request_id)


def _turn(request_id: str, loads: list[np.ndarray] | None = None) -> games_pb2.PriceGameTurn:
    stations = ("cs7", "cs9")
    turn = games_pb2.PriceGameTurn(
        header=_header("cno1", request_id),
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


def _quote(endpoint: InProcessEndpoint, request_id: str, negotiation: str,
           loads: np.ndarray | None = None) -> common_pb2.PriceReply:
    signal = common_pb2.LoadSignal(header=_header("dso", request_id, negotiation))
    if loads is not None:
        signal.load_mw.CopyFrom(to_series(SCENARIO.public.stations, loads))
    reply: common_pb2.PriceReply = endpoint.call("QuotePrices", signal, 30.0)
    return reply


def test_dso_quotes_seeded_trials_first_and_restarts_per_negotiation() -> None:
    endpoint = InProcessEndpoint(OperatorHost(DsoModel.from_part(SCENARIO.part("dso"))))
    stations = SCENARIO.public.stations
    first = []
    for k in range(6):
        loads = None if k == 0 else np.full((4, PERIODS), 1.5 - 0.05 * k)
        reply = _quote(endpoint, f"q{k}", "n1", loads)
        assert reply.header.status in (common_pb2.STATUS_OK, common_pb2.STATUS_INEXACT)
        price = from_series(reply.price_per_mwh, stations, PERIODS, "price")
        assert price.min() >= 80 - 1e-6 and price.max() <= 180 + 1e-6
        assert price.mean(axis=1).max() <= 120 + 1e-6
        assert reply.trial == (k < 5)
        first.append(price)
    again = _quote(endpoint, "r0", "n2")  # a new negotiation: its first trial quote again
    assert again.trial
    assert np.array_equal(from_series(again.price_per_mwh, stations, PERIODS, "price"), first[0])
    loads_before_quote = _quote(endpoint, "r1", "n3", np.ones((4, PERIODS)))
    assert loads_before_quote.header.status == common_pb2.STATUS_INVALID_REQUEST


SHARING = load_scenario("profit-sharing-seed000")


def test_tno_tables_are_validated() -> None:
    from ptn.services.tno.config import tno_case_from_part

    case = tno_case_from_part(SHARING.part("tno"))
    assert [s.name for s in case.stations] == list(SHARING.public.stations)
    assert sum(line.buses for line in case.lines) == 18
    for old, new, message in (
        ("stops = [1, 2, 3, 4]", "stops = [1, 2, 99]", "tno: .*99"),
        ("soc_min = 0.2", "soc_min = 0.99", "tno: .*soc"),
        ('name = "east4"\nnode = 4', 'name = "east5"\nnode = 4',
         "tno.station\\[2\\].name: station 'east5' is not in scenario.stations"),
        ("value_of_time_per_h = 50.0", "value_of_time_per_h = -1.0",
         "tno.value_of_time_per_h: must be positive"),
    ):
        assert old in SHARING.text, old
        scenario = scenario_from_text(SHARING.text.replace(old, new, 1), source="tno.toml",
                                      base_directory=SHARING.parts["dso"].base_directory)
        with pytest.raises(InvalidInputError, match=message):
            tno_case_from_part(scenario.part("tno"))


def test_the_tno_considers_an_offer_only_after_planning() -> None:
    from ptn.services.tno.model import TnoModel

    endpoint = InProcessEndpoint(OperatorHost(TnoModel.from_part(SHARING.part("tno"))))
    offer = games_pb2.ProfitShareOffer(header=_header("tno", "o1"), share=0.2,
                                       reference_cost=1000.0, payment=5.0)
    answer = endpoint.call("ConsiderShare", offer, 30.0)
    assert answer.header.status == common_pb2.STATUS_INVALID_REQUEST
    stations, periods = SHARING.public.stations, SHARING.public.periods
    zero = to_series(stations, np.zeros((len(stations), periods)))
    step = common_pb2.ConsensusStep(header=_header("tno", "c1"), price_per_mwh=zero,
                                    target_load_mw=zero, penalty_per_mw2h=0.0)
    assert endpoint.call("ConsensusStep", step, 30.0).header.status == common_pb2.STATUS_OK
    offer.header.request_id = "o2"
    answer = endpoint.call("ConsiderShare", offer, 30.0)
    # planning alone, its benefit is exactly the payment
    assert answer.accepted and answer.benefit == pytest.approx(5.0, abs=1e-6)
    assert answer.cost == pytest.approx(answer.cost_alone, rel=1e-9)
