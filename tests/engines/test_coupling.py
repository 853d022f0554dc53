"""The ADMM coupling terms (ptn.engines.coupling): one statement of λ, ρ, z, Δt and the side.

The terms' value is checked against the MODELS.md §5 formula written out here for both sides;
their horizon coefficients must add up to that value at any loads; bounds and malformed values
are refused naming the field (and station and period); named terms align to an engine's order
by name; a JSON round trip is exact; and every engine refuses terms of the other side or of
another period length, so a sign or Δt mismatch is an error, not a silently wrong step.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ptn.engines.coupling import (
    MAX_PENALTY_PER_MW2H,
    CouplingSide,
    CouplingTerms,
)
from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet import FleetChargingModel, nguyen_dupuis_example
from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.der import ChargingPoint, DsoCase
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.traffic.builtin import load_network
from ptn.engines.traffic.result import AssignmentStatus
from tests.support.traffic_cases import default_traffic

RNG = np.random.default_rng(11)
PRICE = RNG.uniform(-40.0, 160.0, (3, 4))
TARGET = RNG.uniform(0.0, 2.0, (3, 4))
LOAD = RNG.uniform(0.0, 2.0, (3, 4))
NAMES = ("a", "b", "c")


@pytest.mark.parametrize(("side", "sign"), [(CouplingSide.CONSUMER, 1.0),
                                            (CouplingSide.SUPPLIER, -1.0)])
def test_the_terms_value_is_the_formula_of_their_side(side: CouplingSide, sign: float) -> None:
    dt, rho = 0.25, 30.0
    terms = CouplingTerms(PRICE, rho, TARGET, dt, side, NAMES)
    by_hand = sum(dt * (sign * PRICE[s, t] * LOAD[s, t] + rho / 2 * (LOAD[s, t] - TARGET[s, t])
                        ** 2) for s in range(3) for t in range(4))
    assert terms.cost_usd(LOAD) == pytest.approx(by_hand, rel=1e-12)
    expanded = float(np.sum(terms.linear_usd_per_mw * LOAD)) \
        + terms.quadratic_usd_per_mw2 * float(np.sum(LOAD**2)) + terms.constant_usd
    assert expanded == pytest.approx(by_hand, rel=1e-12)
    np.testing.assert_array_equal(terms.signed_price_per_mwh, sign * PRICE)
    assert terms.sign == sign


def test_consumer_and_supplier_constructors_state_the_side() -> None:
    assert CouplingTerms.consumer(PRICE, 1.0, TARGET, 1.0).side is CouplingSide.CONSUMER
    assert CouplingTerms.supplier(PRICE, 1.0, TARGET, 1.0).side is CouplingSide.SUPPLIER
    zero = CouplingTerms.zero(NAMES, 4, 1.0, CouplingSide.SUPPLIER)
    assert zero.cost_usd(LOAD) == 0.0 and zero.stations == NAMES


@pytest.mark.parametrize(("changes", "message"), [
    ({"penalty_per_mw2h": 1e300}, "penalty_per_mw2h: ADMM penalty must be >= 0 and at most "
                                  "1e+09 $/MW²h, got 1e+300"),
    ({"penalty_per_mw2h": -1.0}, "penalty_per_mw2h: ADMM penalty must be >= 0"),
    ({"penalty_per_mw2h": math.nan}, "penalty_per_mw2h"),
    ({"penalty_per_mw2h": "large"}, "penalty_per_mw2h: expected a number"),
    ({"target_load_mw": np.full((3, 4), 1e300)},
     "target_load_mw: ADMM target at station a in period 0 is 1e+300 MW, beyond ±100000 MW"),
    ({"target_load_mw": np.full((3, 4), -1e300)}, "target_load_mw: ADMM target at station a"),
    ({"price_per_mwh": np.where(np.arange(4) == 2, np.nan, PRICE)},
     "price_per_mwh: ADMM price at station a in period 2 is not finite"),
    ({"price_per_mwh": np.where(np.arange(3)[:, None] == 1, 2e6, PRICE)},
     "price_per_mwh: ADMM price at station b in period 0 is 2e+06 $/MWh"),
    ({"target_load_mw": np.zeros((3, 5))}, "target_load_mw: shape (3, 5) differs"),
    ({"price_per_mwh": np.zeros(4)}, "price_per_mwh: needs shape (stations, periods)"),
    ({"period_hours": 0.0}, "period_hours: must be positive"),
    ({"period_hours": math.inf}, "period_hours: must be positive"),
    ({"stations": ("a", "b")}, "stations: 2 names for 3 rows"),
    ({"stations": ("a", "a", "b")}, "stations: a station is named twice"),
    ({"side": 0}, "side: expected +1 (consumer) or -1 (supplier)"),
])
def test_bad_values_are_refused_naming_the_field(changes: dict[str, object],
                                                 message: str) -> None:
    values: dict[str, object] = {"price_per_mwh": PRICE, "penalty_per_mw2h": 10.0,
                                 "target_load_mw": TARGET, "period_hours": 1.0,
                                 "side": CouplingSide.CONSUMER, "stations": NAMES}
    values.update(changes)
    with pytest.raises(InvalidInputError) as error:
        CouplingTerms(**values)  # type: ignore[arg-type]
    assert message in str(error.value)


def test_the_bounds_themselves_are_accepted() -> None:
    terms = CouplingTerms(np.full((3, 4), -1e6), MAX_PENALTY_PER_MW2H, np.full((3, 4), 1e5),
                          8784.0, CouplingSide.SUPPLIER)
    assert np.isfinite(terms.cost_usd(np.full((3, 4), -1e5)))


def test_named_terms_align_to_an_engines_order_by_name() -> None:
    terms = CouplingTerms.consumer(PRICE, 5.0, TARGET, 1.0, NAMES)
    aligned = terms.aligned(("c", "a", "b"), 4, "engine")
    np.testing.assert_array_equal(aligned.price_per_mwh, PRICE[[2, 0, 1]])
    np.testing.assert_array_equal(aligned.target_load_mw, TARGET[[2, 0, 1]])
    assert aligned.cost_usd(LOAD[[2, 0, 1]]) == pytest.approx(terms.cost_usd(LOAD), rel=1e-12)
    assert terms.aligned(NAMES, 4, "engine") is terms
    unnamed = CouplingTerms.consumer(PRICE, 5.0, TARGET, 1.0)
    assert unnamed.aligned(("x", "y", "z"), 4, "engine").stations == ("x", "y", "z")
    for names, periods, message in ((("a", "b", "d"), 4, "engine: unknown station c"),
                                    (("a", "b", "c", "d"), 4, "engine: station d is missing"),
                                    (NAMES, 5, "engine: the coupling terms have 4 periods")):
        with pytest.raises(InvalidInputError, match=message):
            terms.aligned(names, periods, "engine")
    with pytest.raises(InvalidInputError, match="engine: station d is missing"):
        CouplingTerms.consumer(PRICE[:2], 5.0, TARGET[:2], 1.0, ("a", "b")).aligned(
            ("a", "b", "d"), 4, "engine")
    with pytest.raises(InvalidInputError, match="engine: the coupling terms have 3 stations"):
        unnamed.aligned(("x", "y"), 4, "engine")


def test_a_json_round_trip_is_exact() -> None:
    terms = CouplingTerms.supplier(PRICE, 12.5, TARGET, 0.5, NAMES)
    again = CouplingTerms.from_json(json.loads(json.dumps(terms.to_json())))
    np.testing.assert_array_equal(again.price_per_mwh, terms.price_per_mwh)
    np.testing.assert_array_equal(again.target_load_mw, terms.target_load_mw)
    assert (again.penalty_per_mw2h, again.period_hours, again.side, again.stations) == \
        (12.5, 0.5, CouplingSide.SUPPLIER, NAMES)
    with pytest.raises(InvalidInputError, match="coupling terms: unreadable"):
        CouplingTerms.from_json({"price_per_mwh": [[1.0]]})


def test_the_values_are_frozen() -> None:
    terms = CouplingTerms.consumer(PRICE.copy(), 1.0, TARGET.copy(), 1.0)
    with pytest.raises(ValueError, match="read-only"):
        terms.price_per_mwh[0, 0] = 1.0


def test_every_engine_refuses_the_other_side_and_another_period_length() -> None:
    case = DsoCase(feeders=(load_feeder("case33bw"),), periods=2, period_hours=1.0,
                   load_profile=np.array([0.5, 0.8]),
                   charging_points=(ChargingPoint("cs", 18),))
    opf = DistFlowOpf(case, charging="priced")
    zeros = np.zeros((1, 2))
    with pytest.raises(InvalidInputError, match=r"the DSO's OPF is the supplier side of the "
                                                r"coupling .* but the terms are for the consumer"):
        opf.set_coupling(CouplingTerms.consumer(zeros, 1.0, zeros, 1.0))
    with pytest.raises(InvalidInputError, match=r"periods of 0\.5 h, its periods last 1 h"):
        opf.set_coupling(CouplingTerms.supplier(zeros, 1.0, zeros, 0.5))
    traffic = default_traffic()
    station_zeros = np.zeros((3, traffic.num_periods))
    with pytest.raises(InvalidInputError, match="the traffic model is the consumer side"):
        traffic.solve_coupled(CouplingTerms.supplier(station_zeros, 1.0, station_zeros, 1.0))
    fleet_case = nguyen_dupuis_example(load_network("nguyen-dupuis"))
    fleet = FleetChargingModel(fleet_case)
    shape = (fleet_case.num_stations, fleet_case.periods)
    with pytest.raises(InvalidInputError, match="the TNO's fleet is the consumer side"):
        fleet.consensus_step(CouplingTerms.supplier(np.zeros(shape), 1.0, np.zeros(shape),
                                                    fleet_case.period_hours))
    with pytest.raises(InvalidInputError, match="its periods last"):
        fleet.consensus_step(CouplingTerms.consumer(np.zeros(shape), 1.0, np.zeros(shape),
                                                    2 * fleet_case.period_hours))


def test_the_traffic_engine_at_the_bounds_reports_a_status() -> None:
    """The largest terms the bounds admit (a 1e300 target once crashed this engine) end in a
    status, not a crash: here the path solver stops at its iteration limit."""
    traffic = default_traffic(periods=2)
    extreme = CouplingTerms.consumer(np.full((3, 2), 1e6), MAX_PENALTY_PER_MW2H,
                                     np.full((3, 2), 1e5), 1.0)
    result = traffic.solve_coupled(extreme, max_iterations=200)
    assert result.status in set(AssignmentStatus)
    # every EV still charges once (in its period or a shifted one): the loads add up to the EV
    # demand's energy over the horizon
    ev_energy = traffic.spec.ev_demand_veh_per_h.sum() * traffic.spec.charging.energy_per_charge_mwh
    assert result.station_load_mw.sum() == pytest.approx(ev_energy, rel=1e-9)
