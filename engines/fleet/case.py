"""The TNO's private fleet data: electric bus lines, their batteries, charging stations, tariff.

Why this module exists: in seed 000's profit-sharing game (MODELS.md §4) the transport network
operator (TNO) schedules the charging of its electric-bus fleet ("18 electric buses on a 12-node
road network") to minimize its own cost, and the DNO prices or rewards changes of the resulting
station loads. The paper gives neither data nor the fleet model, so this module defines the data
the TNO holds privately (MODELS.md §0) and checks it; :mod:`ptn.engines.fleet.charging_plan` is the
optimization model. Every modelling choice below is ours, marked **(choice)**.

* A *bus line* has an ordered list of stops (road node labels), ``buses`` identical buses, a
  timetable of ``round_trips_per_period[t]`` round trips per bus in period t, each consuming
  ``energy_per_round_trip_mwh`` (battery side), and ``service_share[t]``, the fraction of the
  period a bus is in service and cannot charge **(choice)**: charging happens only in layovers
  and off-service time.
* A *battery* (:class:`BusBattery`) is one bus's: capacity, SOC window and initial SOC
  (fractions of capacity), maximum charging power and grid-to-battery efficiency. A fleet-wide
  type applies unless a line names its own **(choice)**.
* A *station* sits at a road node and has a grid connection limit ``power_max_mw``.
* *Detours* **(choice)**: a bus charging at a station leaves its line at the best stop and
  returns to it: ``detour_hours[l, s] = min_n SP(n → s) + SP(s → n)`` over the line's stops n,
  shortest paths at free-flow times (hours), TNTP's zone rule kept (zones below
  ``first_thru_node`` are never passed through). A station that no stop can reach and return
  from is excluded for that line; a line that can use no station is invalid.
* ``two_way_roads`` **(choice)**: assignment networks often orient links only in the directions
  the OD demand uses. Nguyen–Dupuis is acyclic (every link leads from the origins 1, 4 towards
  the destinations 2, 3), so with directed links no bus could return from a station off its
  line. ``two_way_roads=True`` lets buses drive each link in both directions at its free-flow
  time (real streets mostly are two-way); the default keeps the network as given.
* ``fleet_model`` **(choice of model, not of data)**: ``"pooled-lp"`` (the default) pools a
  line's buses and lets visits be fractional (:mod:`ptn.engines.fleet.charging_plan`);
  ``"bus-mip"`` models each bus and whole visits (:mod:`ptn.engines.fleet.bus_plan`, a MILP);
  ``"bus-mip-full-visits"`` also makes every visit deliver its full energy.
* The public time-of-use tariff ``tariff_per_mwh[t]`` is what the TNO pays per MWh drawn from
  the grid; ``value_of_time_per_h`` prices a bus-hour of detour driving (driver and vehicle).

Units: MW, MWh, h, $/MWh, $/h. Periods have equal length ``period_hours``. Invalid data raises
:class:`~ptn.engines.errors.InvalidInputError` naming the line, station, period and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.network import RoadNetwork, hours_per_time_unit
from ptn.engines.traffic.shortest_path import dijkstra

FloatArray = NDArray[np.float64]

#: the TNO's fleet models (module doc)
FleetModelKind = Literal["pooled-lp", "bus-mip", "bus-mip-full-visits"]
FLEET_MODELS: tuple[str, ...] = get_args(FleetModelKind)

#: $ per bus-hour of detour driving in the example (driver wage plus vehicle operating cost)
EXAMPLE_VALUE_OF_TIME_PER_H = 50.0


@dataclass(frozen=True)
class BusBattery:
    """One bus's battery and charger: SOC values are fractions of ``battery_mwh``.

    ``charge_power_max_mw`` is the grid-side power while plugged in; ``charging_efficiency`` is
    the fraction of grid energy that reaches the battery.
    """

    battery_mwh: float
    soc_min: float
    soc_max: float
    soc_initial: float
    charge_power_max_mw: float
    charging_efficiency: float = 0.95

    def check(self, owner: str) -> None:
        """Raise :class:`InvalidInputError` naming ``owner`` and the field at fault."""
        for label in ("battery_mwh", "soc_min", "soc_max", "soc_initial", "charge_power_max_mw",
                      "charging_efficiency"):
            value = getattr(self, label)
            if not np.isfinite(value):
                raise InvalidInputError(f"{owner}: battery {label} is not finite ({value})")
        if self.battery_mwh <= 0:
            raise InvalidInputError(
                f"{owner}: battery battery_mwh must be positive, got {self.battery_mwh}")
        if self.charge_power_max_mw <= 0:
            raise InvalidInputError(f"{owner}: battery charge_power_max_mw must be positive, got "
                                    f"{self.charge_power_max_mw}")
        if not 0 < self.charging_efficiency <= 1:
            raise InvalidInputError(f"{owner}: battery charging_efficiency must be in (0, 1], got "
                                    f"{self.charging_efficiency}")
        if not 0 <= self.soc_min <= self.soc_max <= 1:
            raise InvalidInputError(
                f"{owner}: battery needs 0 <= soc_min <= soc_max <= 1, got soc_min "
                f"{self.soc_min}, soc_max {self.soc_max}")
        if not self.soc_min <= self.soc_initial <= self.soc_max:
            raise InvalidInputError(
                f"{owner}: battery soc_initial {self.soc_initial} is outside [soc_min, soc_max] "
                f"= [{self.soc_min}, {self.soc_max}]")


@dataclass(frozen=True)
class BusLine:
    """One bus line: stops (road node labels, in order), identical buses and their timetable.

    ``round_trips_per_period`` and ``service_share`` have one entry per period; ``battery``
    overrides the fleet-wide battery type for this line's buses.
    """

    name: str
    stops: tuple[int, ...]
    buses: int
    round_trips_per_period: FloatArray
    energy_per_round_trip_mwh: float
    service_share: FloatArray
    battery: BusBattery | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "stops", tuple(int(n) for n in np.atleast_1d(self.stops)))
        for label in ("round_trips_per_period", "service_share"):
            object.__setattr__(self, label, np.atleast_1d(
                np.asarray(getattr(self, label), dtype=np.float64)))


@dataclass(frozen=True)
class FleetStation:
    """A charging station at road node ``node`` (external label), grid limit ``power_max_mw``."""

    name: str
    node: int
    power_max_mw: float


@dataclass(frozen=True)
class FleetCase:
    """Everything the TNO holds for one horizon; validated on construction.

    ``periods`` is the length of ``tariff_per_mwh``; ``battery`` is the fleet-wide bus type;
    ``session_hours`` is the length of one charging visit (plug-in time at full power).
    """

    network: RoadNetwork
    lines: tuple[BusLine, ...]
    stations: tuple[FleetStation, ...]
    tariff_per_mwh: FloatArray
    battery: BusBattery
    period_hours: float = 1.0
    value_of_time_per_h: float = EXAMPLE_VALUE_OF_TIME_PER_H
    session_hours: float = 0.5
    two_way_roads: bool = False
    name: str = "fleet"
    fleet_model: FleetModelKind = "pooled-lp"
    _detour_hours: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        object.__setattr__(self, "stations", tuple(self.stations))
        object.__setattr__(self, "tariff_per_mwh", np.atleast_1d(
            np.asarray(self.tariff_per_mwh, dtype=np.float64)))
        _validate(self)
        detour = _detour_hours(self)
        detour.setflags(write=False)
        object.__setattr__(self, "_detour_hours", detour)
        for row, line in zip(detour, self.lines, strict=True):
            if not np.isfinite(row).any():
                raise InvalidInputError(
                    f"line {line.name}: no station can be reached from its stops "
                    f"{list(line.stops)} and left back to them on {self.network.name}"
                    + ("" if self.two_way_roads else " (directed links; see two_way_roads)"))

    # ------------------------------------------------------------------ sizes and names
    @property
    def periods(self) -> int:
        return int(self.tariff_per_mwh.size)

    @property
    def num_lines(self) -> int:
        return len(self.lines)

    @property
    def num_stations(self) -> int:
        return len(self.stations)

    @property
    def line_names(self) -> tuple[str, ...]:
        return tuple(line.name for line in self.lines)

    @property
    def station_names(self) -> tuple[str, ...]:
        return tuple(station.name for station in self.stations)

    # ------------------------------------------------------------------ derived data
    def line_battery(self, line: int) -> BusBattery:
        """The battery type of line ``line`` (its own, else the fleet-wide one)."""
        return self.lines[line].battery or self.battery

    def _batteries(self) -> list[BusBattery]:
        return [line.battery or self.battery for line in self.lines]

    def detour_hours(self) -> FloatArray:
        """``(lines, stations)``: round-trip detour from the best stop to each station (h).

        ``inf`` where no stop of the line reaches the station and back.
        """
        return self._detour_hours.copy()

    def buses(self) -> FloatArray:
        """Buses per line."""
        return np.array([line.buses for line in self.lines], dtype=np.float64)

    def consumption_mwh(self) -> FloatArray:
        """``(lines, periods)``: battery energy the line's buses drive in each period."""
        trips = np.stack([line.round_trips_per_period for line in self.lines])
        per_trip = np.array([line.energy_per_round_trip_mwh for line in self.lines])
        return self.buses()[:, None] * trips * per_trip[:, None]

    def energy_bounds_mwh(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per line, the fleet's battery energy: (initial, minimum, maximum) in MWh."""
        batteries = self._batteries()
        capacity = self.buses() * np.array([b.battery_mwh for b in batteries])
        soc = np.array([[b.soc_initial, b.soc_min, b.soc_max] for b in batteries])
        return capacity * soc[:, 0], capacity * soc[:, 1], capacity * soc[:, 2]

    def charge_power_max_mw(self) -> FloatArray:
        """Per line, one bus's maximum (grid-side) charging power."""
        return np.array([b.charge_power_max_mw for b in self._batteries()])

    def charging_efficiency(self) -> FloatArray:
        """Per line, the grid-to-battery efficiency."""
        return np.array([b.charging_efficiency for b in self._batteries()])

    def off_service_hours(self) -> FloatArray:
        """``(lines, periods)``: bus-hours the line's buses are out of service (may charge)."""
        share = np.stack([line.service_share for line in self.lines])
        return self.buses()[:, None] * (1.0 - share) * self.period_hours

    def station_power_max_mw(self) -> FloatArray:
        return np.array([station.power_max_mw for station in self.stations], dtype=np.float64)


# ---------------------------------------------------------------------- validation
def _validate(case: FleetCase) -> None:
    network = case.network
    hours_per_time_unit(network)
    for label in ("period_hours", "session_hours"):
        value = getattr(case, label)
        if not np.isfinite(value) or value <= 0:
            raise InvalidInputError(f"{case.name}: {label} must be positive, got {value}")
    if not np.isfinite(case.value_of_time_per_h) or case.value_of_time_per_h < 0:
        raise InvalidInputError(f"{case.name}: value_of_time_per_h must be >= 0, got "
                                f"{case.value_of_time_per_h}")
    if case.fleet_model not in FLEET_MODELS:
        raise InvalidInputError(f"{case.name}: fleet_model must be one of "
                                f"{', '.join(FLEET_MODELS)}, got {case.fleet_model!r}")
    tariff = case.tariff_per_mwh
    if tariff.ndim != 1 or tariff.size == 0:
        raise InvalidInputError(f"{case.name}: tariff_per_mwh needs one value per period")
    bad = np.flatnonzero(~np.isfinite(tariff))
    if bad.size:
        raise InvalidInputError(f"{case.name}: tariff_per_mwh in period {int(bad[0])} is not "
                                f"finite ({tariff[bad[0]]})")
    case.battery.check(f"{case.name} (fleet-wide)")
    if not case.lines:
        raise InvalidInputError(f"{case.name}: at least one bus line is needed")
    if not case.stations:
        raise InvalidInputError(f"{case.name}: at least one charging station is needed")
    periods = case.periods
    seen: set[str] = set()
    for line in case.lines:
        _validate_line(line, network, periods, seen)
    seen = set()
    for station in case.stations:
        if not station.name or station.name in seen:
            raise InvalidInputError(f"station name {station.name!r} is empty or used twice")
        seen.add(station.name)
        _node_position(network, station.node, f"station {station.name}: node")
        if not np.isfinite(station.power_max_mw) or station.power_max_mw < 0:
            raise InvalidInputError(f"station {station.name}: power_max_mw must be >= 0, got "
                                    f"{station.power_max_mw}")


def _validate_line(line: BusLine, network: RoadNetwork, periods: int, seen: set[str]) -> None:
    name = line.name
    if not name or name in seen:
        raise InvalidInputError(f"line name {name!r} is empty or used twice")
    seen.add(name)
    if not line.stops:
        raise InvalidInputError(f"line {name}: stops is empty")
    for stop in line.stops:
        _node_position(network, stop, f"line {name}: stop")
    if isinstance(line.buses, bool) or int(line.buses) != line.buses or line.buses < 1:
        raise InvalidInputError(f"line {name}: buses must be a positive integer, got "
                                f"{line.buses}")
    energy = line.energy_per_round_trip_mwh
    if not np.isfinite(energy) or energy < 0:
        raise InvalidInputError(f"line {name}: energy_per_round_trip_mwh must be finite and >= 0, "
                                f"got {energy}")
    for label, upper in (("round_trips_per_period", np.inf), ("service_share", 1.0)):
        values = getattr(line, label)
        if values.shape != (periods,):
            raise InvalidInputError(f"line {name}: {label} needs {periods} values (one per "
                                    f"period), got shape {values.shape}")
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > upper))
        if bad.size:
            period = int(bad[0])
            bound = "[0, 1]" if np.isfinite(upper) else ">= 0 and finite"
            raise InvalidInputError(f"line {name}: {label} in period {period} must be {bound}, "
                                    f"got {values[period]}")
    if line.battery is not None:
        line.battery.check(f"line {name}")


def _node_position(network: RoadNetwork, label: int, what: str) -> int:
    try:
        return network.node_index(int(label))
    except InvalidInputError:
        raise InvalidInputError(f"{what} {label} is not a node of {network.name}") from None


# ---------------------------------------------------------------------- detours
def free_flow_hours_between(
    network: RoadNetwork, origins: NDArray[np.int64], *, two_way_roads: bool
) -> FloatArray:
    """``(len(origins), nodes)``: free-flow shortest-path hours from node positions ``origins``.

    Uses ptn's Dijkstra kernel (:func:`ptn.engines.traffic.shortest_path.dijkstra`) with TNTP's zone
    rule; with ``two_way_roads`` every link may also be driven backwards at its free-flow time.
    """
    hours = np.asarray(network.free_flow_time, dtype=np.float64) * hours_per_time_unit(network)
    tail, head = network.link_tail.astype(np.int64), network.link_head.astype(np.int64)
    if two_way_roads:
        tail, head = np.concatenate([tail, head]), np.concatenate([head, tail])
        hours = np.concatenate([hours, hours])
    order = np.argsort(tail, kind="stable")
    n = network.num_nodes
    first_arc = np.searchsorted(tail[order], np.arange(n + 1)).astype(np.int64)
    arc_head = np.ascontiguousarray(head[order])
    arc_link = np.arange(arc_head.size, dtype=np.int64)
    arc_hours = np.ascontiguousarray(hours[order])
    no_through = np.ascontiguousarray(network.no_through_nodes())
    dist = np.empty(n)
    pred = np.empty(n, dtype=np.int64)
    heap_node = np.empty(arc_head.size + 1, dtype=np.int64)
    heap_key = np.empty(arc_head.size + 1)
    result = np.empty((origins.size, n))
    for k, origin in enumerate(origins):
        dijkstra(int(origin), first_arc, arc_head, arc_link, no_through, arc_hours, dist, pred,
                 heap_node, heap_key)
        result[k] = dist
    return result


def _detour_hours(case: FleetCase) -> FloatArray:
    network = case.network
    station_nodes = np.array([network.node_index(s.node) for s in case.stations], dtype=np.int64)
    stops = [np.array([network.node_index(n) for n in line.stops], dtype=np.int64)
             for line in case.lines]
    all_stops = np.unique(np.concatenate(stops))
    outward = free_flow_hours_between(network, all_stops, two_way_roads=case.two_way_roads)
    back = free_flow_hours_between(network, station_nodes, two_way_roads=case.two_way_roads)
    detour = np.empty((case.num_lines, case.num_stations))
    for position, line_stops in enumerate(stops):
        rows = np.searchsorted(all_stops, line_stops)
        # (stops, stations): stop -> station plus station -> stop
        round_trip = outward[rows][:, station_nodes] + back[:, line_stops].T
        detour[position] = round_trip.min(axis=0)
    return detour


# ---------------------------------------------------------------------- example
#: Seed 002's time-of-use tariff shape (MODELS.md §5: valley 1–8 h and 24 h 0.35, flat 9–12 h
#: and 21–23 h 0.68, peak 13–20 h 1.09 CNY/kWh), converted at 7.2 CNY/$ to $/MWh, hour h being
#: period h − 1.
EXAMPLE_TARIFF_PER_MWH = np.array(
    [48.6] * 8 + [94.4] * 4 + [151.4] * 8 + [94.4] * 3 + [48.6], dtype=np.float64)

#: The example's lines on Nguyen–Dupuis: name, stops, buses, round-trip hours. Stops follow
#: links of the network; a round trip is twice the one-way free-flow time plus 10 min of
#: terminal time, rounded.
_EXAMPLE_LINES: tuple[tuple[str, tuple[int, ...], int, float], ...] = (
    ("L1", (1, 5, 6, 7, 8, 2), 4, 1.15),
    ("L2", (1, 12, 8, 2), 2, 1.2),
    ("L3", (4, 5, 9, 10, 11, 3), 4, 1.55),
    ("L4", (4, 9, 13, 3), 2, 1.25),
    ("L5", (1, 12, 6, 10, 11, 2), 3, 1.65),
    ("L6", (4, 5, 6, 7, 11, 3), 3, 1.3),
)


def nguyen_dupuis_example(network: RoadNetwork, *, energy_scale: float = 1.0) -> FleetCase:
    """An 18-bus, 6-line, 3-station, 24 × 1 h fleet on the Nguyen–Dupuis network.

    ``network`` must be Nguyen–Dupuis (``load_network("nguyen-dupuis")``); roads are two-way.
    Plausible, not measured, numbers **(choice)**: buses in service 6–22 h (85 % of each hour,
    90 % in the 7–9 h and 17–19 h peaks) and parked at night; energy 26 kWh per driving hour
    (≈1.3 kWh/km at 20 km/h); 400 kWh batteries in [20 %, 95 %] SOC, starting at midnight at
    50 % and ending at least there; 150 kW chargers at 95 % efficiency; stations at nodes 7
    (0.6 MW), 10 (0.45 MW) and 13 (0.3 MW); seed 002's time-of-use tariff; 50 $/h of detour
    driving; 0.5 h charging visits.
    ``energy_scale`` multiplies every line's energy per round trip (to stress the stations).
    """
    periods = 24
    service = np.zeros(periods)
    service[6:22] = 0.85
    service[[7, 8, 17, 18]] = 0.9
    lines = []
    for name, stops, buses, round_trip_h in _EXAMPLE_LINES:
        lines.append(BusLine(
            name=name, stops=stops, buses=buses,
            round_trips_per_period=service / round_trip_h,
            energy_per_round_trip_mwh=0.026 * round_trip_h * energy_scale,
            service_share=service,
        ))
    stations = (FleetStation("S7", 7, 0.6), FleetStation("S10", 10, 0.45),
                FleetStation("S13", 13, 0.3))
    return FleetCase(
        network=network, lines=tuple(lines), stations=stations,
        tariff_per_mwh=EXAMPLE_TARIFF_PER_MWH.copy(),
        battery=BusBattery(battery_mwh=0.4, soc_min=0.2, soc_max=0.95, soc_initial=0.5,
                           charge_power_max_mw=0.15, charging_efficiency=0.95),
        period_hours=1.0, value_of_time_per_h=EXAMPLE_VALUE_OF_TIME_PER_H, session_hours=0.5,
        two_way_roads=True, name="nguyen-dupuis-buses",
    )
