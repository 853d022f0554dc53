"""The traffic department's configuration: its ``[traffic]`` table of a scenario, validated.

Why this module exists: the traffic department's private set-up (road network, demand profile
and scale, EV share, drivers' value of time and departure shifting, the stations' queues, the
UE or logit SUE assignment and its settings, seed 003's residual flow and EV classes) is read in
one place, naming the key of any bad
value, by the operator's model (:mod:`ptn.services.traffic.model`), the up-front check of a
scenario (:func:`ptn.services.hosting.check_part`) and the experimenter's references
(:mod:`ptn.lab`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any, get_args

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.tables import resample_periods
from ptn.engines.traffic.builtin import BUILTIN_NETWORKS, load_network
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.ev_classes import EvClass, common_block_mwh
from ptn.engines.traffic.multiperiod import MultiPeriodSpec
from ptn.engines.traffic.network import FloatArray, RoadNetwork
from ptn.engines.traffic.sue_periods import SuePeriodsSpec, check_method
from ptn.engines.traffic.trip_tables import PeriodTrips, read_period_trips
from ptn.scenario.document import ScenarioPart
from ptn.scenario.keys import default_of
from ptn.scenario.operator_tables import EvClassTable, TrafficStation, TrafficTable
from ptn.scenario.validation import validate_table

#: the keys of ``[traffic]``, their types, bounds and defaults: ptn.scenario.operator_tables
TRAFFIC_KEYS = tuple(TrafficTable.model_fields)
#: how the pricing game's probes are answered (:mod:`ptn.services.traffic.probes`)
PROBE_ANSWERS: tuple[str, ...] = get_args(TrafficTable.model_fields["probe_answers"].annotation)
#: how drivers choose routes: Wardrop's user equilibrium (seed 001's MUL-UE) or logit SUE (seed 002)
ASSIGNMENTS: tuple[str, ...] = get_args(TrafficTable.model_fields["assignment"].annotation)
SUE_KEYS = ("sue_theta", "sue_method", "sue_tolerance", "sue_warm_start", "sue_max_iterations")
#: keys of the UE model with no meaning in SUE mode, and what to use instead
UE_ONLY_KEYS = {
    "shift_cost_per_period": "the SUE model has no departure shifting",
    "base_price_per_mwh": "the SUE model has inelastic EV demand (no price_sensitivity)",
    "equilibrium_gap": "the SUE stopping test is sue_tolerance",
    "max_iterations": "the SUE iteration limit is sue_max_iterations",
    "residual_share": "the SUE model assigns each period on its own (no residual flow)",
    "ev_class": "the SUE model has one EV class",
    "probe_answers": "SUE probes are exact re-solves",
    "probe_radius_per_mwh": "SUE probes are exact re-solves",
    "probe_workers": "SUE probes are solved in the operator's process",
    "probe_workers_on": "SUE probes are solved in the operator's process",
    "probe_load_tolerance_mw": "the SUE stopping test is sue_tolerance",
}
STATION_KEYS = tuple(TrafficStation.model_fields)
EV_CLASS_KEYS = tuple(EvClassTable.model_fields)
#: the most private worker processes a traffic department may start for its probes
MAX_PROBE_WORKERS = 64
#: the largest battery an EV class may have (choice: a heavy truck's is about 1 MWh)
MAX_BATTERY_MWH = 10.0


@dataclass(frozen=True)
class ProbeSettings:
    """How the traffic department answers the pricing game's probe batches (UE mode).

    ``answers``: ``"exact"`` re-solves every probe; ``"sensitivity"`` answers a probe within
    ``radius_per_mwh`` (largest price change) of a solved point by the first-order expansion of
    that equilibrium (:mod:`ptn.engines.traffic.load_sensitivity`) and re-solves the others.
    ``workers``: private worker processes solving a batch's re-solves in parallel (1: in the
    operator's process). ``load_tolerance_mw``: re-solves stop once no station load moves by
    more than this in an iteration (None: at the global ``equilibrium_gap``). The defaults keep
    the answers of the operator before these settings existed (exact, each probe warm-started
    from the previous one).
    """

    answers: str = default_of(TrafficTable, "probe_answers")
    radius_per_mwh: float = default_of(TrafficTable, "probe_radius_per_mwh")
    workers: int = default_of(TrafficTable, "probe_workers")
    load_tolerance_mw: float | None = default_of(TrafficTable, "probe_load_tolerance_mw")
    #: where the workers run (:data:`ptn.engines.traffic.probe_pool.WORKER_BACKENDS`)
    workers_on: str = default_of(TrafficTable, "probe_workers_on")

    @property
    def default(self) -> bool:
        """Whether these are the historical settings (exact, chained, in-process)."""
        return self == ProbeSettings()


@dataclass(frozen=True)
class TrafficConfig:
    """The traffic department's private set-up, validated."""

    operator_id: str
    spec: MultiPeriodSpec
    period_hours: float
    equilibrium_gap: float = default_of(TrafficTable, "equilibrium_gap")
    max_iterations: int = default_of(TrafficTable, "max_iterations")
    #: the logit SUE set-up in SUE mode (``assignment = "sue"``), None in UE mode
    sue: SuePeriodsSpec | None = None
    #: how probe batches are answered (UE mode; :mod:`ptn.services.traffic.probes`)
    probes: ProbeSettings = ProbeSettings()

    @property
    def station_names(self) -> tuple[str, ...]:
        return self.spec.charging.station_names

    @property
    def assignment(self) -> str:
        """``"ue"`` (Wardrop, departure shifting) or ``"sue"`` (logit, per period)."""
        return "ue" if self.sue is None else "sue"


def road_network_from_table(part: ScenarioPart, name: str,
                            time_unit: str = "min") -> RoadNetwork:
    """The road network ``name`` that a role's table gives in ``network`` (validated by the
    schema, which holds its default): a built-in name, or a TNTP path relative to the
    scenario, its free-flow times in ``time_unit``; errors name the key."""
    reader, where = part.reader, part.role
    spec: Any = name if name.strip().lower() in BUILTIN_NETWORKS \
        else part.resolve(name, f"{where}.network")
    try:
        return load_network(spec, time_unit=time_unit)
    except InvalidInputError as error:
        reader.fail(f"{where}.network", str(error))
        raise  # unreachable: fail raises


def traffic_config_from_part(part: ScenarioPart) -> TrafficConfig:
    """Validate the ``[traffic]`` table of a scenario (errors name the key): its keys against
    the schema (ptn.scenario.operator_tables.TrafficTable), then what needs the road network,
    the public stations or several keys at once."""
    reader, data, where = part.reader, part.data, part.role
    reader.check_keys(data, where, TRAFFIC_KEYS)
    assignment = data.get("assignment", "ue")
    if assignment not in ASSIGNMENTS:
        reader.fail(f"{where}.assignment", f"unknown assignment {assignment!r} (allowed: "
                                           f"{', '.join(ASSIGNMENTS)})")
    sue_mode = assignment == "sue"
    for key in SUE_KEYS if not sue_mode else ():
        if key in data:
            reader.fail(f"{where}.{key}", 'only used with assignment = "sue"')
    for key, reason in UE_ONLY_KEYS.items() if sue_mode else ():
        if key in data:
            reader.fail(f"{where}.{key}", f'not used with assignment = "sue": {reason}; '
                                          "remove the key")
    table = validate_table(TrafficTable, data, part.source, where)
    periods = part.public.periods
    network = road_network_from_table(part, table.network, table.time_unit)
    per_period_trips = _period_trips(part, table, network)
    if per_period_trips is not None:
        network = per_period_trips.network  # the pairs that have trips in some period
    profile = reader.profile(data, where, "demand_profile", periods, table.demand_profile,
                             nonnegative=True)
    energy = table.energy_per_charge_mwh
    sensitivity = _per_period(part, "price_sensitivity", table.price_sensitivity)
    max_shift = table.max_shift_periods if table.max_shift_periods is not None \
        else 0 if sue_mode else 1
    if sue_mode and max_shift != 0:
        reader.fail(f"{where}.max_shift_periods", 'the SUE model (assignment = "sue") has no '
                                                  "departure shifting: remove the key or set 0")
    if sue_mode and np.any(sensitivity != 0):
        reader.fail(f"{where}.price_sensitivity", 'the SUE model (assignment = "sue") has '
                                                  "inelastic EV demand: remove the key or set 0")
    residual = _residual_share(part, table, max_shift)
    sue_settings = _sue_settings(part, table) if sue_mode else None
    node_ids = set(network.node_ids.tolist())
    stations = []
    for index, entry in enumerate(table.station, start=1):
        at = f"{where}.station[{index}]"
        if entry.name not in part.public.stations:
            reader.fail(f"{at}.name", f"station {entry.name!r} is not in scenario.stations "
                                      f"({', '.join(part.public.stations)})")
        if entry.node not in node_ids:
            reader.fail(f"{at}.node", f"node {entry.node} is not a node of {network.name}")
        stations.append(ChargingStation(
            name=entry.name, node=entry.node, capacity_veh_per_h=entry.capacity_veh_per_h,
            charging_time_h=entry.charging_time_h, davidson_j=entry.davidson_j,
            price_per_mwh=np.zeros(periods)))
    names = [s.name for s in stations]
    for public_name in part.public.stations:
        if public_name not in names:
            reader.fail(f"{where}.station", f"no [[{where}.station]] named {public_name!r} "
                                            "(listed in scenario.stations)")
    if len(set(names)) != len(names):
        reader.fail(f"{where}.station", "a station name is used twice")
    order = {name: k for k, name in enumerate(part.public.stations)}
    stations.sort(key=lambda s: order[s.name])
    ev_classes = _ev_classes(part, table.ev_class, stations, energy)
    if ev_classes:  # stations in charging blocks (ptn.engines.traffic.ev_classes)
        try:
            block = common_block_mwh([c.energy_mwh for c in ev_classes],
                                     [f"class {c.name}" for c in ev_classes])
        except InvalidInputError as error:
            reader.fail(f"{where}.ev_class", str(error))
        stations = [replace(s, capacity_veh_per_h=s.capacity_veh_per_h * energy / block,
                            charging_time_h=s.charging_time_h * block / energy)
                    for s in stations]
        energy = block
    demand = (profile[:, None] * network.od_demand[None, :] if per_period_trips is None
              else per_period_trips.demand_veh_per_h) * table.demand_scale
    try:
        charging = ChargingNetworkSpec(network, tuple(stations), energy,
                                       table.value_of_time_per_h)
        spec = MultiPeriodSpec(charging, demand * (1.0 - table.ev_share),
                               demand * table.ev_share, max_shift_periods=max_shift,
                               shift_cost_per_period=table.shift_cost_per_period,
                               price_sensitivity=sensitivity,
                               base_price_per_mwh=table.base_price_per_mwh,
                               residual_share=residual, ev_classes=tuple(ev_classes))
        sue = None if sue_settings is None else SuePeriodsSpec(
            charging, spec.gv_demand_veh_per_h, spec.ev_demand_veh_per_h, **sue_settings)
    except InvalidInputError as error:
        reader.fail(where, str(error))
    return TrafficConfig(part.operator_id, spec, part.public.period_hours,
                         table.equilibrium_gap, table.max_iterations, sue,
                         _probe_settings(part, table))


def _period_trips(part: ScenarioPart, table: TrafficTable,
                  network: RoadNetwork) -> PeriodTrips | None:
    """``trips``: each period's OD demand from a long table or one TNTP trips file per period
    (:mod:`ptn.engines.traffic.trip_tables`), on ``network``'s zones; errors name the key and
    the file's line. None without the key (the network's trip matrix × ``demand_profile``)."""
    if table.trips is None:
        return None
    key = f"{part.role}.trips"
    if "demand_profile" in part.data:
        part.reader.fail(key, "the trip table gives each period's demand, and demand_profile "
                              "would scale it again: remove demand_profile (or trips)")
    sources = [table.trips] if isinstance(table.trips, str) else list(table.trips)
    if not sources:
        part.reader.fail(key, "an empty list: give a trip table or one TNTP trips file per "
                              "period")
    paths = [part.resolve(source, key) for source in sources]
    # the table's periods are the scenario file's; --periods resamples them like a profile
    periods = part.public.periods
    file_periods = part.public.file_periods or periods
    if isinstance(table.trips, list) and len(paths) != file_periods:
        part.reader.fail(key, f"{len(paths)} TNTP trips files for {file_periods} periods: give "
                              "one per period (or one long table)")
    try:
        trips = read_period_trips(paths[0] if isinstance(table.trips, str) else paths, network,
                                  file_periods)
        if file_periods == periods:
            return trips
        return replace(trips, demand_veh_per_h=resample_periods(
            trips.demand_veh_per_h, periods, "a trip table"))
    except InvalidInputError as error:
        part.reader.fail(key, str(error))
        raise  # unreachable: fail raises


def _per_period(part: ScenarioPart, key: str, value: Any) -> FloatArray:
    """A key given as one number (the schema checked it) or one per period (24 hourly or one
    per period, resampled), non-negative."""
    periods = part.public.periods
    if isinstance(value, list):
        return part.reader.profile({key: value}, part.role, key, periods, None,
                                   nonnegative=True)
    if value < 0:
        part.reader.fail(f"{part.role}.{key}", f"must be >= 0, got {value!r}")
    return np.full(periods, float(value))


def _probe_settings(part: ScenarioPart, table: TrafficTable) -> ProbeSettings:
    """The ``probe_*`` keys of a ``[traffic]`` table (errors name the key)."""
    if table.probe_workers > MAX_PROBE_WORKERS:
        part.reader.fail(f"{part.role}.probe_workers", f"at most {MAX_PROBE_WORKERS} worker "
                                                       f"processes, got {table.probe_workers}")
    if table.probe_workers_on != "processes" and table.probe_workers == 1:
        part.reader.fail(f"{part.role}.probe_workers_on", "needs probe_workers > 1 (one worker "
                                                          "solves in the operator's process)")
    return ProbeSettings(table.probe_answers, table.probe_radius_per_mwh, table.probe_workers,
                         table.probe_load_tolerance_mw, table.probe_workers_on)


def _residual_share(part: ScenarioPart, table: TrafficTable,
                    max_shift_periods: int) -> FloatArray:
    """``residual_share`` (seed 003's semi-dynamic assignment, :mod:`ptn.engines.traffic.
    residual_flow`): one share or one per period, each in [0, 1); default 0 (none)."""
    key = f"{part.role}.residual_share"
    shares = _per_period(part, "residual_share", table.residual_share)
    if np.any(shares >= 1):
        part.reader.fail(key, f"must be below 1 (a share of the vehicles on the network that "
                              f"do not finish their trip in the period), got "
                              f"{float(shares.max()):g}")
    if np.any(shares > 0) and max_shift_periods != 0:
        part.reader.fail(key, "the residual flow is carried between the periods vehicles "
                              f"depart in: it needs max_shift_periods = 0 (got "
                              f"{max_shift_periods}; the UE model's default is 1)")
    return shares


def _ev_classes(part: ScenarioPart, tables: list[EvClassTable],
                stations: list[ChargingStation], energy_per_charge_mwh: float) -> list[EvClass]:
    """The ``[[traffic.ev_class]]`` tables (seed 003's EV classes, eqs. 1.g–1.h): each class's
    share of the EV trips, battery, state of charge on arrival and after charging (within its
    optional ``soc_min`` and ``soc_max``, 1.h) and optional maximum charging power (1.g: at
    least the stations' rate, ``energy_per_charge_mwh / charging_time_h``). Energy need =
    ``(soc_target − soc_arrival) × battery_mwh``. The schema checked each key; the checks
    here relate keys and stations. Errors name the table and key."""
    reader, where = part.reader, part.role
    classes = []
    for index, entry in enumerate(tables, start=1):
        at = f"{where}.ev_class[{index}]"
        if entry.battery_mwh > MAX_BATTERY_MWH:
            reader.fail(f"{at}.battery_mwh", f"must be at most {MAX_BATTERY_MWH:g} MWh (a road "
                                             f"vehicle's battery), got {entry.battery_mwh:g}")
        order = ("soc_min", "soc_arrival", "soc_target", "soc_max")
        soc = {key: float(getattr(entry, key)) for key in order}
        for low, high in pairwise(order):
            if soc[low] > soc[high] or (low == "soc_arrival" and soc[low] == soc[high]):
                reader.fail(f"{at}.{high}", f"needs soc_min <= soc_arrival < soc_target <= "
                                            f"soc_max <= 1 (eq. 1.h), got {high} {soc[high]:g} "
                                            f"against {low} {soc[low]:g}")
        if soc["soc_max"] > 1:
            reader.fail(f"{at}.soc_max", f"must be <= 1, got {soc['soc_max']:g}")
        power = entry.max_power_mw
        for station in stations:
            if power is None:
                break
            rate = energy_per_charge_mwh / station.charging_time_h
            if rate > power * (1 + 1e-12):
                reader.fail(f"{at}.max_power_mw", f"{power:g} MW is below station "
                                                  f"{station.name}'s charging rate of "
                                                  f"{rate:g} MW (eq. 1.g)")
        classes.append(EvClass(entry.name, entry.share,
                               (soc["soc_target"] - soc["soc_arrival"]) * entry.battery_mwh))
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        reader.fail(f"{where}.ev_class", f"a class name is used twice ({', '.join(names)})")
    if classes and abs(sum(c.share for c in classes) - 1) > 1e-9:
        reader.fail(f"{where}.ev_class", f"the classes' shares of the EV trips must sum to 1, "
                                         f"got {sum(c.share for c in classes):g}")
    return classes


def _sue_settings(part: ScenarioPart, table: TrafficTable) -> dict[str, Any]:
    """The ``sue_*`` keys of a ``[traffic]`` table in SUE mode (the schema checked their
    types and bounds; the method's name is checked by the SUE solver's own list)."""
    try:
        method = check_method(table.sue_method)
    except InvalidInputError as error:
        part.reader.fail(f"{part.role}.sue_method", str(error))
    return {"theta_per_dollar": table.sue_theta, "method": method,
            "tolerance_veh_per_h": table.sue_tolerance, "warm_start": table.sue_warm_start,
            "max_iterations": table.sue_max_iterations}
