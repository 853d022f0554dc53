"""The TNO's configuration: its ``[tno]`` table of a scenario, read into its fleet's case.

Why this module exists: the TNO's private set-up (its bus lines and timetables, batteries,
stations it may charge at, tariff, value of time) is read in one place, naming the key of any
bad value, by its model (:mod:`ptn.services.tno.model`), the up-front check of a scenario
(:func:`ptn.services.hosting.check_part`) and the experimenter's references (:mod:`ptn.lab`).
"""

from __future__ import annotations

from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet.case import BusBattery, BusLine, FleetCase, FleetStation
from ptn.scenario.document import ScenarioPart
from ptn.scenario.operator_tables import (
    BusBatteryTable,
    BusLineTable,
    FleetStationTable,
    TnoTable,
)
from ptn.scenario.validation import validate_table
from ptn.services.traffic.config import road_network_from_table

#: the keys of ``[tno]`` and its tables, their types, bounds and defaults:
#: ptn.scenario.operator_tables
TNO_KEYS = tuple(TnoTable.model_fields)
BATTERY_KEYS = tuple(BusBatteryTable.model_fields)
LINE_KEYS = tuple(BusLineTable.model_fields)
STATION_KEYS = tuple(FleetStationTable.model_fields)


def tno_case_from_part(part: ScenarioPart) -> FleetCase:
    """Validate a ``[tno]`` table (its keys against the schema, then what needs the road
    network and the public stations; errors name the key) into the fleet's case."""
    reader, where = part.reader, part.role
    table = validate_table(TnoTable, part.data, part.source, where)
    periods = part.public.periods
    network = road_network_from_table(part, table.network)
    tariff = reader.profile(part.data, where, "tariff_per_mwh", periods, None,
                            nonnegative=True)
    lines = []
    for index, (entry, raw) in enumerate(zip(table.line, part.data.get("line", []),
                                             strict=True), start=1):
        at = f"{where}.line[{index}]"
        if not entry.stops:
            reader.fail(f"{at}.stops", "expected a non-empty list of road node ids")
        lines.append(BusLine(
            name=entry.name, stops=tuple(entry.stops), buses=entry.buses,
            round_trips_per_period=reader.profile(raw, at, "round_trips_per_period", periods,
                                                  None, nonnegative=True),
            energy_per_round_trip_mwh=entry.energy_per_round_trip_mwh,
            service_share=reader.profile(raw, at, "service_share", periods, None,
                                         nonnegative=True),
        ))
    stations = []
    for index, station in enumerate(table.station, start=1):
        at = f"{where}.station[{index}]"
        if station.name not in part.public.stations:
            reader.fail(f"{at}.name", f"station {station.name!r} is not in scenario.stations "
                                      f"({', '.join(part.public.stations)})")
        stations.append(FleetStation(station.name, station.node, station.power_max_mw))
    names = [s.name for s in stations]
    for public_name in part.public.stations:
        if public_name not in names:
            reader.fail(f"{where}.station", f"no [[{where}.station]] named {public_name!r} "
                                            "(listed in scenario.stations)")
    order = {station: k for k, station in enumerate(part.public.stations)}
    stations.sort(key=lambda s: order[s.name])
    if not lines:
        reader.fail(where, "no [[tno.line]]: the fleet needs at least one bus line")
    try:
        return FleetCase(
            network=network, lines=tuple(lines), stations=tuple(stations), tariff_per_mwh=tariff,
            battery=BusBattery(**table.battery.model_dump()),
            period_hours=part.public.period_hours,
            value_of_time_per_h=table.value_of_time_per_h, session_hours=table.session_hours,
            two_way_roads=table.two_way_roads, name=part.public.name,
            fleet_model=table.fleet_model)
    except InvalidInputError as error:
        reader.fail(where, str(error))
        raise  # unreachable: fail raises
