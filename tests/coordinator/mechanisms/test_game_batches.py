"""The pricing game's exchanges at scale, against a stand-in traffic department.

Independent checks: exchanges run together get the very loads a stand-in department computes
for each of their own probes (a closed-form load law, not the code under test), in fewer phases
than one after another, and never more probes in a message than the limit; the sampled revenue
matrix's verdicts equal the full matrix's, its revenues equal the full matrix's on the profiles
both hold, and its verdicts are recomputed here by brute force over the deviations.
"""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from google.protobuf.message import Message

from ptn.coordinator.mechanisms.best_response import PriceGameParties, load_responses_exchange
from ptn.coordinator.mechanisms.game_settings import GameSettings, game_settings
from ptn.coordinator.mechanisms.pricing_game import (
    PricingGame,
    RevenueMatrix,
    VariantResult,
    revenue_matrix_exchange,
)
from ptn.coordinator.mechanisms.revenue_profiles import ALL_PROFILES, matrix_profiles
from ptn.coordinator.mechanisms.together import run_together
from ptn.coordinator.outcome import NegotiationOutcome, NegotiationStatus
from ptn.coordinator.runtime.mechanism import Call, Exchange
from ptn.engines.errors import InvalidInputError
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.scenario.document import load_scenario
from ptn.services.adapters.limits import MAX_MESSAGE_BYTES

PERIODS = 2
SEED = load_scenario("pricing-seed001")


def station_loads(price: np.ndarray) -> np.ndarray:
    """A closed-form stand-in for the traffic equilibrium: each station's load falls with its
    own price and rises with the others' mean price (MW)."""
    others = (price.sum(axis=0, keepdims=True) - price) / max(price.shape[0] - 1, 1)
    return np.maximum(0.0, 5.0 - 0.02 * price + 0.015 * others)


class StandIn:
    """Answers the phases of an exchange like the driver would, with :func:`station_loads`
    at the traffic department and an echo at any other operator; records each phase."""

    def __init__(self, stations: tuple[str, ...], *, reply_short: bool = False,
                 periods: int = PERIODS) -> None:
        self.stations = stations
        self.periods = periods
        self.phases: list[list[Call]] = []
        self.reply_short = reply_short

    def answer(self, call: Call) -> Message:
        if call.method == "ProbeResponses":
            probes: Any = call.request
            loads = [station_loads(from_series(series, self.stations, self.periods, "probe"))
                     for series in probes.price_per_mwh]
            if self.reply_short:
                loads = loads[:-1]
            reply = games_pb2.LoadResponses(load_mw=[to_series(self.stations, load)
                                                     for load in loads])
            reply.header.status = common_pb2.STATUS_OK
            return reply
        return common_pb2.LoadSignal()

    def run(self, exchange: Exchange[Any]) -> Any:
        try:
            calls = next(exchange)
            while True:
                operators = [c.operator_id for c in calls]
                assert len(set(operators)) == len(operators), "one call per operator a phase"
                self.phases.append(calls)
                calls = exchange.send({c.operator_id: self.answer(c) for c in calls})
        except StopIteration as done:
            return done.value


STATIONS = tuple(f"s{k}" for k in range(6))
PARTIES = PriceGameParties(STATIONS, PERIODS, 1.0,
                           {f"cno{k}": (f"s{k}",) for k in range(6)}, scope="nash")


def probing(cno: str, rounds: int, width: int) -> Exchange[list[np.ndarray]]:
    """An exchange like a CNO's turn: a ``BestRespond``-like call to its own operator, then
    ``rounds`` probe batches of ``width`` probes each; returns the loads it was given."""
    seen = []
    for r in range(rounds):
        yield [Call(cno, "BestRespond", common_pb2.LoadSignal(), "nash")]
        prices = [np.full((len(STATIONS), PERIODS), 150.0 + 10 * r + k) for k in range(width)]
        prices = [p + np.arange(len(STATIONS))[:, None] for p in prices]
        seen += (yield from load_responses_exchange(PARTIES, prices))
    return seen


def test_exchanges_run_together_get_their_own_loads_in_fewer_phases() -> None:
    shapes = {"cno0": (3, 2), "cno1": (1, 5), "cno2": (2, 1)}
    alone = {}
    phases_alone = 0
    for cno, (rounds, width) in shapes.items():
        stand_in = StandIn(STATIONS)
        alone[cno] = stand_in.run(probing(cno, rounds, width))
        phases_alone += len(stand_in.phases)
    stand_in = StandIn(STATIONS)
    together = stand_in.run(run_together({cno: probing(cno, *shape)
                                          for cno, shape in shapes.items()}))
    assert list(together) == list(shapes)
    for cno, loads in alone.items():
        assert len(together[cno]) == len(loads)
        for mine, theirs in zip(together[cno], loads, strict=True):
            np.testing.assert_array_equal(mine, theirs)
    # lock step: as many phases as the longest exchange (2 per round), not the sum
    assert phases_alone == 2 * (3 + 1 + 2)
    assert len(stand_in.phases) == 2 * 3
    first_probes = [c for c in stand_in.phases[1] if c.method == "ProbeResponses"]
    assert len(first_probes) == 1
    assert len(first_probes[0].request.price_per_mwh) == 2 + 5 + 1  # type: ignore[attr-defined]


def test_a_merged_batch_above_the_limit_goes_in_several_messages() -> None:
    shapes = {"cno0": (1, 4), "cno1": (1, 5)}
    stand_in = StandIn(STATIONS)
    together = stand_in.run(run_together({cno: probing(cno, *shape)
                                          for cno, shape in shapes.items()}, max_probes=3))
    sizes = [len(c.request.price_per_mwh) for phase in stand_in.phases  # type: ignore[attr-defined]
             for c in phase if c.method == "ProbeResponses"]
    assert sizes == [3, 3, 3]
    assert [len(together[c]) for c in shapes] == [4, 5]
    expected = station_loads(np.full((6, PERIODS), 154.0) + np.arange(6)[:, None])
    np.testing.assert_array_equal(together["cno1"][4], expected)


def test_a_short_merged_reply_is_invalid_and_other_duplicates_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="answered 6 of 7 probes"):
        StandIn(STATIONS, reply_short=True).run(
            run_together({"cno0": probing("cno0", 1, 3), "cno1": probing("cno1", 1, 4)}))

    def twice() -> Exchange[None]:
        yield [Call("dso", "QuotePrices", common_pb2.LoadSignal())]

    with pytest.raises(ValueError, match="operator dso more than once"):
        StandIn(STATIONS).run(run_together({"a": twice(), "b": twice()}))


def variant(name: str, price: np.ndarray, cnos: dict[str, tuple[str, ...]]) -> VariantResult:
    outcome = NegotiationOutcome(negotiation_id="n", mechanism="best-response",
                                 status=NegotiationStatus.CONVERGED, message="",
                                 stations=STATIONS, periods=PERIODS, period_hours=1.0, rounds=(),
                                 seconds=0.0)
    shape = (len(STATIONS), PERIODS)
    return VariantResult(name, outcome, cnos, np.full(shape, 90.0), price, np.zeros(shape), {},
                         {}, {})


def matrices(cooperative_price: float) -> tuple[RevenueMatrix, RevenueMatrix, StandIn]:
    nash = variant("nash", np.full((6, PERIODS), 160.0) + np.arange(6)[:, None], PARTIES.cnos)
    coop = variant("cooperative", np.full((6, PERIODS), cooperative_price),
                   {"cno-alliance": STATIONS})
    full = StandIn(STATIONS).run(revenue_matrix_exchange(PARTIES, nash, coop, GameSettings()))
    sampling = GameSettings(matrix_full_max_cnos=4, matrix_samples=9, matrix_seed=7,
                            matrix_batch_probes=5)
    stand_in = StandIn(STATIONS)
    sampled = stand_in.run(revenue_matrix_exchange(PARTIES, nash, coop, sampling))
    return full, sampled, stand_in


@pytest.mark.parametrize("cooperative_price", [150.0, 200.0, 240.0, 400.0])
def test_the_sampled_revenue_matrix_has_the_full_matrix_verdicts(
        cooperative_price: float) -> None:
    full, sampled, stand_in = matrices(cooperative_price)
    assert full.selection == ALL_PROFILES and len(full.profiles) == 2 ** 6
    assert len(sampled.profiles) == 2 * 6 + 2 + 9 and "2^6" in sampled.selection
    assert set(sampled.profiles) <= set(full.profiles)
    for profile in sampled.profiles:
        assert sampled.revenue_usd[profile] == pytest.approx(full.revenue_usd[profile])
    probes = [len(c.request.price_per_mwh) for phase in stand_in.phases  # type: ignore[attr-defined]
              for c in phase]
    assert max(probes) <= 5 and sum(probes) == len(sampled.profiles)
    flags = ("nash_is_stable", "cooperation_dominates", "cooperation_is_unstable",
             "prisoners_dilemma")
    assert {f: getattr(sampled, f) for f in flags} == {f: getattr(full, f) for f in flags}
    # the verdicts by brute force over the full matrix's deviations
    revenue, cnos = full.revenue_usd, full.cnos
    nash, coop = ("nash",) * 6, ("cooperative",) * 6

    def gains(base: tuple[str, ...], other: str) -> bool:
        return any(revenue[(*base[:k], other, *base[k + 1:])][cno] > revenue[base][cno] + 1e-6
                   for k, cno in enumerate(cnos))

    assert full.nash_is_stable == (not gains(nash, "cooperative"))
    assert full.cooperation_dominates == all(revenue[coop][c] > revenue[nash][c] for c in cnos)
    assert full.cooperation_is_unstable == gains(coop, "nash")


def test_the_verdicts_differ_across_cooperative_prices() -> None:
    """The cases above are not all alike (a check that could not fail would prove nothing)."""
    verdicts = {price: matrices(price)[0].cooperation_dominates for price in (150.0, 240.0)}
    assert verdicts == {150.0: False, 240.0: True}


def test_matrix_profiles_are_all_up_to_the_limit_then_deviations_and_a_seeded_sample() -> None:
    cnos = tuple(f"c{k}" for k in range(12))
    profiles, selection = matrix_profiles(cnos[:3], GameSettings(matrix_full_max_cnos=3))
    assert selection == ALL_PROFILES
    assert set(profiles) == set(itertools.product(("nash", "cooperative"), repeat=3))
    settings = GameSettings(matrix_full_max_cnos=3, matrix_samples=20, matrix_seed=3)
    sampled, selection = matrix_profiles(cnos, settings)
    assert sampled == matrix_profiles(cnos, settings)[0]  # seeded
    assert len(set(sampled)) == len(sampled) == 2 * 12 + 2 + 20
    assert sampled[0] == ("nash",) * 12 and ("cooperative",) * 12 in sampled
    assert all(p.count("cooperative") == 1 for p in sampled[1:13])
    assert "26" in selection and "20 drawn at random (seed 3)" in selection
    other = matrix_profiles(cnos, GameSettings(matrix_full_max_cnos=3, matrix_samples=20,
                                               matrix_seed=4))[0]
    assert other[:26] == sampled[:26] and other[26:] != sampled[26:]


@pytest.mark.parametrize(("key", "value"), [("best_response_order", "random"),
                                            ("matrix_batch_probes", 0),
                                            ("probe_batch_max", 0), ("matrix_samples", -1),
                                            ("certificate_together", 1)])
def test_bad_game_settings_name_the_key(key: str, value: Any) -> None:
    with pytest.raises(InvalidInputError, match=f"coordinator.{key}"):
        GameSettings(**{key: value})


def test_game_settings_are_read_from_the_coordinator_settings_that_carry_them() -> None:
    assert game_settings(SEED.coordinator) == GameSettings()  # today's scenarios: defaults
    carried = SimpleNamespace(best_response_order="simultaneous", matrix_samples=3,
                              tolerance=0.005)
    assert game_settings(carried) == GameSettings(best_response_order="simultaneous",
                                                  matrix_samples=3)
    with pytest.raises(InvalidInputError, match=r"coordinator\.best_response_order"):
        game_settings(SimpleNamespace(best_response_order="alternating"))


def test_a_batch_too_large_for_one_grpc_message_is_cut_to_fit() -> None:
    stations = tuple(f"station{k}" for k in range(500))
    parties = PriceGameParties(stations, 24, 1.0, {"cno0": stations}, scope="nash")
    prices = [np.full((500, 24), 100.0 + k) for k in range(60)]
    stand_in = StandIn(stations, periods=24)
    loads = stand_in.run(run_together({"a": load_responses_exchange(parties, prices)}))["a"]
    messages = [c.request for phase in stand_in.phases for c in phase]
    assert len(messages) > 1 and all(m.ByteSize() <= MAX_MESSAGE_BYTES // 2 for m in messages)
    assert sum(len(m.price_per_mwh) for m in messages) == 60  # type: ignore[attr-defined]
    np.testing.assert_array_equal(loads[59], station_loads(prices[59]))


def test_a_sampled_matrix_and_its_selection_survive_a_checkpoint() -> None:
    _, sampled, _ = matrices(240.0)
    game = PricingGame(SEED)
    game.matrix = sampled
    again = PricingGame(SEED)
    again.restore(json.loads(json.dumps(game.state())))
    assert again.matrix is not None and again.matrix.selection == sampled.selection
    assert again.matrix.profiles == sampled.profiles
    assert again.matrix.revenue_usd == sampled.revenue_usd
    assert again.matrix.prisoners_dilemma == sampled.prisoners_dilemma
