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
from typing import Any

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic import sue_periods
from ptn.engines.traffic.builtin import BUILTIN_NETWORKS, load_network
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.ev_classes import EvClass, common_block_mwh
from ptn.engines.traffic.multiperiod import MultiPeriodSpec
from ptn.engines.traffic.network import FloatArray, RoadNetwork
from ptn.engines.traffic.sue_periods import SuePeriodsSpec, check_method
from ptn.scenario.document import ScenarioPart, require_integer, require_number

TRAFFIC_KEYS = ("network", "demand_profile", "demand_scale", "ev_share", "energy_per_charge_mwh",
                "value_of_time_per_h", "max_shift_periods", "shift_cost_per_period",
                "price_sensitivity", "base_price_per_mwh", "equilibrium_gap", "max_iterations",
                "assignment", "sue_theta", "sue_method", "sue_tolerance", "sue_warm_start",
                "sue_max_iterations", "residual_share", "ev_class", "station", "probe_answers",
                "probe_radius_per_mwh", "probe_workers", "probe_load_tolerance_mw")
#: how the pricing game's probes are answered (:mod:`ptn.services.traffic.probes`)
PROBE_ANSWERS = ("exact", "sensitivity", "derivative")
#: how drivers choose routes: Wardrop's user equilibrium (seed 001's MUL-UE) or logit SUE (seed 002)
ASSIGNMENTS = ("ue", "sue")
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
    "probe_load_tolerance_mw": "the SUE stopping test is sue_tolerance",
}
STATION_KEYS = ("name", "node", "capacity_veh_per_h", "charging_time_h", "davidson_j")
EV_CLASS_KEYS = ("name", "share", "battery_mwh", "soc_arrival", "soc_target", "soc_min",
                 "soc_max", "max_power_mw")
EV_CLASS_REQUIRED = ("name", "share", "battery_mwh", "soc_arrival", "soc_target")
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

    answers: str = "exact"
    radius_per_mwh: float = 1.0
    workers: int = 1
    load_tolerance_mw: float | None = None

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
    equilibrium_gap: float = 1e-10
    max_iterations: int = 1000
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


def road_network_from_table(part: ScenarioPart, default: str) -> RoadNetwork:
    """The road network a role's table names in ``network`` (a built-in name, or a TNTP path
    relative to the scenario; ``default`` when absent), errors naming the key."""
    reader, table, where = part.reader, part.data, part.role
    name = reader.text(table, where, "network", default=default)
    spec: Any = name if name.strip().lower() in BUILTIN_NETWORKS \
        else part.resolve(name, f"{where}.network")
    try:
        return load_network(spec)
    except InvalidInputError as error:
        reader.fail(f"{where}.network", str(error))
        raise  # unreachable: fail raises


def traffic_config_from_part(part: ScenarioPart) -> TrafficConfig:
    """Validate the ``[traffic]`` table of a scenario (errors name the key)."""
    reader, table, where = part.reader, part.data, part.role
    reader.check_keys(table, where, TRAFFIC_KEYS)
    assignment = reader.text(table, where, "assignment", default="ue")
    if assignment not in ASSIGNMENTS:
        reader.fail(f"{where}.assignment", f"unknown assignment {assignment!r} (allowed: "
                                           f"{', '.join(ASSIGNMENTS)})")
    sue_mode = assignment == "sue"
    for key in SUE_KEYS if not sue_mode else ():
        if key in table:
            reader.fail(f"{where}.{key}", 'only used with assignment = "sue"')
    for key, reason in UE_ONLY_KEYS.items() if sue_mode else ():
        if key in table:
            reader.fail(f"{where}.{key}", f'not used with assignment = "sue": {reason}; '
                                          "remove the key")
    periods = part.public.periods
    network = road_network_from_table(part, "nguyen-dupuis")
    profile = reader.profile(table, where, "demand_profile", periods, "flat", nonnegative=True)
    scale = require_number(reader, table, where, "demand_scale", default=1.0, minimum=0.0)
    ev_share = require_number(reader, table, where, "ev_share", default=0.05, minimum=0.0)
    if ev_share > 1:
        reader.fail(f"{where}.ev_share", f"must be in [0, 1], got {ev_share:g}")
    energy = require_number(reader, table, where, "energy_per_charge_mwh", default=0.045,
                            strictly_positive=True)
    value_of_time = require_number(reader, table, where, "value_of_time_per_h", default=10.0,
                                   strictly_positive=True)
    shift_cost = require_number(reader, table, where, "shift_cost_per_period", default=3.0,
                                minimum=0.0)
    if isinstance(table.get("price_sensitivity"), list):
        sensitivity = reader.profile(table, where, "price_sensitivity", periods, None,
                                     nonnegative=True)
    else:
        sensitivity = np.full(periods, require_number(reader, table, where, "price_sensitivity",
                                                      default=0.0, minimum=0.0))
    base_price = require_number(reader, table, where, "base_price_per_mwh", default=200.0,
                                strictly_positive=True)
    gap = require_number(reader, table, where, "equilibrium_gap", default=1e-10,
                         strictly_positive=True)
    max_shift = require_integer(reader, table, where, "max_shift_periods",
                                default=0 if sue_mode else 1, minimum=0)
    if sue_mode and max_shift != 0:
        reader.fail(f"{where}.max_shift_periods", 'the SUE model (assignment = "sue") has no '
                                                  "departure shifting: remove the key or set 0")
    if sue_mode and np.any(sensitivity != 0):
        reader.fail(f"{where}.price_sensitivity", 'the SUE model (assignment = "sue") has '
                                                  "inelastic EV demand: remove the key or set 0")
    residual = _residual_share(part, max_shift)
    sue_settings = _sue_settings(part) if sue_mode else None
    max_iterations = require_integer(reader, table, where, "max_iterations", default=1000,
                                     minimum=0)
    stations = []
    for at, entry in table_entries(part, "station", STATION_KEYS, STATION_KEYS):
        name = reader.text(entry, at, "name")
        if name not in part.public.stations:
            reader.fail(f"{at}.name", f"station {name!r} is not in scenario.stations "
                                      f"({', '.join(part.public.stations)})")
        node = reader.integer(entry, at, "node")
        if node not in set(network.node_ids.tolist()):
            reader.fail(f"{at}.node", f"node {node} is not a node of {network.name}")
        stations.append(ChargingStation(
            name=name, node=node,
            capacity_veh_per_h=require_number(reader, entry, at, "capacity_veh_per_h",
                                              strictly_positive=True),
            charging_time_h=require_number(reader, entry, at, "charging_time_h",
                                           strictly_positive=True),
            davidson_j=require_number(reader, entry, at, "davidson_j", minimum=0.0),
            price_per_mwh=np.zeros(periods),
        ))
    names = [s.name for s in stations]
    for public_name in part.public.stations:
        if public_name not in names:
            reader.fail(f"{where}.station", f"no [[{where}.station]] named {public_name!r} "
                                            "(listed in scenario.stations)")
    if len(set(names)) != len(names):
        reader.fail(f"{where}.station", "a station name is used twice")
    order = {name: k for k, name in enumerate(part.public.stations)}
    stations.sort(key=lambda s: order[s.name])
    ev_classes = _ev_classes(part, stations, energy)
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
    demand = profile[:, None] * network.od_demand[None, :] * scale
    try:
        charging = ChargingNetworkSpec(network, tuple(stations), energy, value_of_time)
        spec = MultiPeriodSpec(charging, demand * (1.0 - ev_share), demand * ev_share,
                               max_shift_periods=max_shift, shift_cost_per_period=shift_cost,
                               price_sensitivity=sensitivity, base_price_per_mwh=base_price,
                               residual_share=residual, ev_classes=tuple(ev_classes))
        sue = None if sue_settings is None else SuePeriodsSpec(
            charging, spec.gv_demand_veh_per_h, spec.ev_demand_veh_per_h, **sue_settings)
    except InvalidInputError as error:
        reader.fail(where, str(error))
    return TrafficConfig(part.operator_id, spec, part.public.period_hours, gap, max_iterations,
                         sue, _probe_settings(part))


def _probe_settings(part: ScenarioPart) -> ProbeSettings:
    """The ``probe_*`` keys of a ``[traffic]`` table (errors name the key)."""
    reader, table, where = part.reader, part.data, part.role
    answers = reader.text(table, where, "probe_answers", default="exact")
    if answers not in PROBE_ANSWERS:
        reader.fail(f"{where}.probe_answers", f"unknown probe answers {answers!r} (allowed: "
                                              f"{', '.join(PROBE_ANSWERS)})")
    radius = require_number(reader, table, where, "probe_radius_per_mwh", default=1.0,
                            strictly_positive=True)
    workers = require_integer(reader, table, where, "probe_workers", default=1, minimum=1)
    if workers > MAX_PROBE_WORKERS:
        reader.fail(f"{where}.probe_workers", f"at most {MAX_PROBE_WORKERS} worker processes, "
                                              f"got {workers}")
    tolerance = None
    if "probe_load_tolerance_mw" in table:
        tolerance = require_number(reader, table, where, "probe_load_tolerance_mw",
                                   strictly_positive=True)
    return ProbeSettings(answers, radius, workers, tolerance)


def _residual_share(part: ScenarioPart, max_shift_periods: int) -> FloatArray:
    """``residual_share`` (seed 003's semi-dynamic assignment, :mod:`ptn.engines.traffic.
    residual_flow`): one share or one per period, each in [0, 1); default 0 (none)."""
    reader, table, where = part.reader, part.data, part.role
    periods = part.public.periods
    key = f"{where}.residual_share"
    if isinstance(table.get("residual_share"), list):
        shares = reader.profile(table, where, "residual_share", periods, None, nonnegative=True)
    else:
        shares = np.full(periods, require_number(reader, table, where, "residual_share",
                                                 default=0.0, minimum=0.0))
    if np.any(shares >= 1):
        reader.fail(key, f"must be below 1 (a share of the vehicles on the network that do not "
                         f"finish their trip in the period), got {float(shares.max()):g}")
    if np.any(shares > 0) and max_shift_periods != 0:
        reader.fail(key, "the residual flow is carried between the periods vehicles depart in: "
                         f"it needs max_shift_periods = 0 (got {max_shift_periods}; the UE "
                         "model's default is 1)")
    return shares


def table_entries(part: ScenarioPart, key: str, allowed: tuple[str, ...],
                  required: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """The tables of the array ``[[<role>.<key>]]`` with their paths (``traffic.station[2]``),
    each with only ``allowed`` keys and every ``required`` one (errors name the table)."""
    reader, where = part.reader, part.role
    entries = []
    for index, entry in enumerate(reader.array_of_tables(part.data, key, where), start=1):
        at = f"{where}.{key}[{index}]"
        reader.check_keys(entry, at, allowed)
        for name in required:
            if name not in entry:
                reader.fail(at, f"missing required key '{name}'")
        entries.append((at, entry))
    return entries


def _ev_classes(part: ScenarioPart, stations: list[ChargingStation],
                energy_per_charge_mwh: float) -> list[EvClass]:
    """The ``[[traffic.ev_class]]`` tables (seed 003's EV classes, eqs. 1.g–1.h): each class's
    share of the EV trips, battery, state of charge on arrival and after charging (within its
    optional ``soc_min`` and ``soc_max``, 1.h) and optional maximum charging power (1.g: at
    least the stations' rate, ``energy_per_charge_mwh / charging_time_h``). Energy need =
    ``(soc_target − soc_arrival) × battery_mwh``. Errors name the table and key."""
    reader, where = part.reader, part.role
    classes = []
    for at, entry in table_entries(part, "ev_class", EV_CLASS_KEYS, EV_CLASS_REQUIRED):
        name = reader.text(entry, at, "name")
        share = require_number(reader, entry, at, "share", minimum=0.0)
        battery = require_number(reader, entry, at, "battery_mwh", strictly_positive=True)
        if battery > MAX_BATTERY_MWH:
            reader.fail(f"{at}.battery_mwh", f"must be at most {MAX_BATTERY_MWH:g} MWh (a road "
                                             f"vehicle's battery), got {battery:g}")
        soc = {key: require_number(reader, entry, at, key, default=default, minimum=0.0)
               for key, default in (("soc_min", 0.0), ("soc_arrival", None),
                                    ("soc_target", None), ("soc_max", 1.0))}
        order = ("soc_min", "soc_arrival", "soc_target", "soc_max")
        for low, high in pairwise(order):
            if soc[low] > soc[high] or (low == "soc_arrival" and soc[low] == soc[high]):
                reader.fail(f"{at}.{high}", f"needs soc_min <= soc_arrival < soc_target <= "
                                            f"soc_max <= 1 (eq. 1.h), got {high} {soc[high]:g} "
                                            f"against {low} {soc[low]:g}")
        if soc["soc_max"] > 1:
            reader.fail(f"{at}.soc_max", f"must be <= 1, got {soc['soc_max']:g}")
        if "max_power_mw" in entry:
            power = require_number(reader, entry, at, "max_power_mw", strictly_positive=True)
            for station in stations:
                rate = energy_per_charge_mwh / station.charging_time_h
                if rate > power * (1 + 1e-12):
                    reader.fail(f"{at}.max_power_mw", f"{power:g} MW is below station "
                                                      f"{station.name}'s charging rate of "
                                                      f"{rate:g} MW (eq. 1.g)")
        classes.append(EvClass(name, share, (soc["soc_target"] - soc["soc_arrival"]) * battery))
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        reader.fail(f"{where}.ev_class", f"a class name is used twice ({', '.join(names)})")
    if classes and abs(sum(c.share for c in classes) - 1) > 1e-9:
        reader.fail(f"{where}.ev_class", f"the classes' shares of the EV trips must sum to 1, "
                                         f"got {sum(c.share for c in classes):g}")
    return classes


def _sue_settings(part: ScenarioPart) -> dict[str, Any]:
    """The ``sue_*`` keys of a ``[traffic]`` table in SUE mode, validated (errors name the key)."""
    reader, table, where = part.reader, part.data, part.role
    theta = require_number(reader, table, where, "sue_theta",
                           default=sue_periods.DEFAULT_THETA_PER_DOLLAR, strictly_positive=True)
    method = reader.text(table, where, "sue_method", default=sue_periods.DEFAULT_METHOD)
    try:
        method = check_method(method)
    except InvalidInputError as error:
        reader.fail(f"{where}.sue_method", str(error))
    tolerance = require_number(reader, table, where, "sue_tolerance",
                               default=sue_periods.DEFAULT_TOLERANCE_VEH_PER_H,
                               strictly_positive=True)
    warm_start = reader.boolean(table, where, "sue_warm_start") \
        if "sue_warm_start" in table else True
    max_iterations = require_integer(reader, table, where, "sue_max_iterations",
                                     default=sue_periods.DEFAULT_MAX_ITERATIONS, minimum=1)
    return {"theta_per_dollar": theta, "method": method, "tolerance_veh_per_h": tolerance,
            "warm_start": warm_start, "max_iterations": max_iterations}
