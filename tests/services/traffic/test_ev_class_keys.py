"""The ``[[traffic.ev_class]]`` tables (seed 003's EV classes, eqs. 1.g–1.h).

The default scenario's traffic part (Nguyen–Dupuis, 24 periods, 3 % EVs, stations of 30 veh/h
of 45 kWh charged in 0.5 h) with classes: the energy needs come from battery and states of
charge, the stations are restated in charging blocks, the department's loads (all that leaves
it) follow the class mix, one class of the reference energy is today's model, and bad tables are
refused naming file, table and key.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.scenario.document import ScenarioPart, load_scenario
from ptn.services.traffic.config import traffic_config_from_part
from ptn.services.traffic.model import TrafficDepartmentModel

SCENARIO = load_scenario()
PERIODS = SCENARIO.public.periods
#: 12 kWh (0.5 -> 0.8 of 40 kWh) and 36 kWh (0.2 -> 0.8 of 60 kWh)
CITY = {"name": "city", "share": 0.6, "battery_mwh": 0.04, "soc_arrival": 0.5,
        "soc_target": 0.8}
LONG = {"name": "long", "share": 0.4, "battery_mwh": 0.06, "soc_arrival": 0.2,
        "soc_target": 0.8}


def traffic_part(classes: list[dict[str, Any]], **changes: Any) -> ScenarioPart:
    part = SCENARIO.part("traffic")
    return replace(part, data={**part.data, "ev_class": classes, **changes})


def answer(part: ScenarioPart) -> tuple[np.ndarray, float]:
    """The department's loads (stations, periods) at 100 $/MWh everywhere, and its EV trips."""
    model = TrafficDepartmentModel(traffic_config_from_part(part))
    price = np.full((len(model.stations), PERIODS), 100.0)
    reply = model.respond_to_prices(price)
    assert reply.status.name == "OK", reply.message
    return reply.load_mw, float(model.config.spec.ev_demand_veh_per_h.sum())


def test_classes_are_read_and_stations_restated_in_blocks() -> None:
    spec = traffic_config_from_part(traffic_part([CITY, LONG])).spec
    assert spec.charging.energy_per_charge_mwh == pytest.approx(0.012)
    assert spec.ev_blocks == (1, 3)
    assert spec.class_names == ("GV", "EV:city", "EV:long")
    for station in spec.charging.stations:  # 30 charges of 45 kWh = 112.5 blocks of 12 kWh
        assert station.capacity_veh_per_h == pytest.approx(112.5)
        assert station.charging_time_h == pytest.approx(0.5 * 12 / 45)


def test_the_loads_follow_the_class_mix() -> None:
    loads, trips = answer(traffic_part([CITY, LONG]))
    assert loads.shape == (3, PERIODS)
    # 0.6 x 12 kWh + 0.4 x 36 kWh = 21.6 kWh per EV trip
    assert loads.sum() == pytest.approx(0.0216 * trips, rel=1e-9)
    heavy, _ = answer(traffic_part([{**CITY, "share": 0.2}, {**LONG, "share": 0.8}]))
    assert heavy.sum() == pytest.approx((0.2 * 0.012 + 0.8 * 0.036) * trips, rel=1e-9)


def test_one_class_of_the_reference_energy_is_todays_model() -> None:
    one = {"name": "all", "share": 1.0, "battery_mwh": 0.09, "soc_arrival": 0.3,
           "soc_target": 0.8}  # 45 kWh
    ours, _ = answer(traffic_part([one]))
    today, _ = answer(SCENARIO.part("traffic"))
    np.testing.assert_allclose(ours, today, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(("classes", "key", "message"), [
    ([CITY, {**LONG, "share": 0.3}], "ev_class", "shares of the EV trips must sum to 1, got 0.9"),
    ([CITY, {**LONG, "name": "city"}], "ev_class", "a class name is used twice"),
    ([CITY, {k: v for k, v in LONG.items() if k != "battery_mwh"}], "ev_class[2]",
     "missing required key 'battery_mwh'"),
    ([CITY, {**LONG, "soc_target": 0.2}], "ev_class[2].soc_target",
     "soc_arrival < soc_target"),
    ([CITY, {**LONG, "soc_min": 0.3}], "ev_class[2].soc_arrival", "got soc_arrival 0.2 against "
                                                                  "soc_min 0.3"),
    ([CITY, {**LONG, "soc_max": 1.2}], "ev_class[2].soc_max", "must be <= 1"),
    ([CITY, {**LONG, "max_power_mw": 0.05}], "ev_class[2].max_power_mw",
     "below station cs6's charging rate of 0.09 MW"),
    ([CITY, {**LONG, "colour": "red"}], "ev_class[2]", "colour"),
    ([CITY, {**LONG, "battery_mwh": 1e300}], "ev_class[2].battery_mwh", "at most 10 MWh"),
    ([CITY, {**LONG, "battery_mwh": 0.0600001}], "ev_class",
     "class long: energy need 0.03600006 MWh is not a positive whole number of Wh"),
])
def test_bad_classes_name_file_table_and_key(classes: list[dict[str, Any]], key: str,
                                             message: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        traffic_config_from_part(traffic_part(classes))
    text = str(error.value)
    assert text.startswith(f"{SCENARIO.source}: traffic.{key}"), text
    assert message in text


def test_the_sue_model_refuses_classes() -> None:
    part = traffic_part([CITY, LONG], assignment="sue", max_shift_periods=0)
    part = replace(part, data={k: v for k, v in part.data.items()
                               if k not in ("shift_cost_per_period", "equilibrium_gap")})
    with pytest.raises(InvalidInputError, match=r"traffic\.ev_class: not used with assignment "
                                                r'= "sue": the SUE model has one EV class'):
        traffic_config_from_part(part)


@pytest.mark.parametrize(("value", "reason"), [
    (3, r"expected an array of tables \[\[traffic\.ev_class\]\], got 3"),
    (CITY, r"expected an array of tables: write \[\[traffic\.ev_class\]\], not "
           r"\[traffic\.ev_class\]"),
])
def test_a_wrong_type_names_the_whole_key(value: Any, reason: str) -> None:
    part = SCENARIO.part("traffic")
    with pytest.raises(InvalidInputError, match=r"traffic\.ev_class: " + reason):
        traffic_config_from_part(replace(part, data={**part.data, "ev_class": value}))
