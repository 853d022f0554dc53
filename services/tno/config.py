"""The TNO's configuration: its ``[tno]`` table of a scenario, read into its fleet's case.

Why this module exists: the TNO's private set-up (its bus lines and timetables, batteries,
stations it may charge at, tariff, value of time) is read in one place, naming the key of any
bad value, by its model (:mod:`ptn.services.tno.model`), the up-front check of a scenario
(:func:`ptn.services.hosting.check_part`) and the experimenter's references (:mod:`ptn.lab`).
"""

from __future__ import annotations

from typing import Any, cast

from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet.case import (
    FLEET_MODELS,
    BusBattery,
    BusLine,
    FleetCase,
    FleetModelKind,
    FleetStation,
)
from ptn.scenario.document import ScenarioPart, require_integer, require_number
from ptn.services.traffic.config import road_network_from_table

TNO_KEYS = ("network", "tariff_per_mwh", "value_of_time_per_h", "session_hours",
            "two_way_roads", "fleet_model", "battery", "line", "station")
BATTERY_KEYS = ("battery_mwh", "soc_min", "soc_max", "soc_initial", "charge_power_max_mw",
                "charging_efficiency")
LINE_KEYS = ("name", "stops", "buses", "round_trips_per_period", "energy_per_round_trip_mwh",
             "service_share")
STATION_KEYS = ("name", "node", "power_max_mw")

def _battery(part: ScenarioPart, table: Any, where: str) -> BusBattery:
    reader = part.reader
    if not isinstance(table, dict):
        reader.fail(where, "expected a table [tno.battery]")
    reader.check_keys(table, where, BATTERY_KEYS)
    values = {key: require_number(reader, table, where, key) for key in BATTERY_KEYS
              if key != "charging_efficiency"}
    efficiency = require_number(reader, table, where, "charging_efficiency", default=0.95)
    return BusBattery(charging_efficiency=efficiency, **values)


def _stops(part: ScenarioPart, entry: dict[str, Any], where: str) -> tuple[int, ...]:
    stops = entry.get("stops")
    if not isinstance(stops, list) or not stops or any(
            isinstance(s, bool) or not isinstance(s, int) for s in stops):
        part.reader.fail(f"{where}.stops", "expected a non-empty list of road node ids")
    return tuple(int(s) for s in stops)  # type: ignore[union-attr]


def tno_case_from_part(part: ScenarioPart) -> FleetCase:
    """Validate a ``[tno]`` table (errors name the key) into the fleet's case."""
    reader, table, where = part.reader, part.data, part.role
    reader.check_keys(table, where, TNO_KEYS)
    periods = part.public.periods
    network = road_network_from_table(part, "twelve-node")
    if "tariff_per_mwh" not in table:
        reader.fail(where, "missing required key 'tariff_per_mwh'")
    tariff = reader.profile(table, where, "tariff_per_mwh", periods, None, nonnegative=True)
    lines = []
    for index, entry in enumerate(reader.array_of_tables(table, "line", where), start=1):
        at = f"{where}.line[{index}]"
        reader.check_keys(entry, at, LINE_KEYS)
        lines.append(BusLine(
            name=reader.text(entry, at, "name"), stops=_stops(part, entry, at),
            buses=require_integer(reader, entry, at, "buses", minimum=1),
            round_trips_per_period=reader.profile(entry, at, "round_trips_per_period", periods,
                                                  None, nonnegative=True),
            energy_per_round_trip_mwh=require_number(reader, entry, at,
                                                     "energy_per_round_trip_mwh", minimum=0.0),
            service_share=reader.profile(entry, at, "service_share", periods, None,
                                         nonnegative=True),
        ))
    stations = []
    for index, entry in enumerate(reader.array_of_tables(table, "station", where), start=1):
        at = f"{where}.station[{index}]"
        reader.check_keys(entry, at, STATION_KEYS)
        station = reader.text(entry, at, "name")
        if station not in part.public.stations:
            reader.fail(f"{at}.name", f"station {station!r} is not in scenario.stations "
                                      f"({', '.join(part.public.stations)})")
        stations.append(FleetStation(station, reader.integer(entry, at, "node"),
                                     require_number(reader, entry, at, "power_max_mw",
                                                    minimum=0.0)))
    names = [s.name for s in stations]
    for public_name in part.public.stations:
        if public_name not in names:
            reader.fail(f"{where}.station", f"no [[{where}.station]] named {public_name!r} "
                                            "(listed in scenario.stations)")
    order = {station: k for k, station in enumerate(part.public.stations)}
    stations.sort(key=lambda s: order[s.name])
    if not lines:
        reader.fail(where, "no [[tno.line]]: the fleet needs at least one bus line")
    two_way = reader.boolean(table, where, "two_way_roads") if "two_way_roads" in table \
        else False
    fleet_model = reader.text(table, where, "fleet_model", default="pooled-lp")
    if fleet_model not in FLEET_MODELS:
        reader.fail(f"{where}.fleet_model", f"expected one of {', '.join(FLEET_MODELS)}, got "
                                            f"{fleet_model!r}")
    try:
        return FleetCase(
            network=network, lines=tuple(lines), stations=tuple(stations), tariff_per_mwh=tariff,
            battery=_battery(part, table.get("battery"), f"{where}.battery"),
            period_hours=part.public.period_hours,
            value_of_time_per_h=require_number(reader, table, where, "value_of_time_per_h",
                                               default=50.0, strictly_positive=True),
            session_hours=require_number(reader, table, where, "session_hours", default=0.5,
                                         strictly_positive=True),
            two_way_roads=two_way, name=part.public.name,
            fleet_model=cast(FleetModelKind, fleet_model))
    except InvalidInputError as error:
        reader.fail(where, str(error))
        raise  # unreachable: fail raises
