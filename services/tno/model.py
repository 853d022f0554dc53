"""The transport network operator's model: its bus fleet's charging plan, behind the TNO service.

Why this module exists: the TNO holds its fleet (lines, buses, batteries, energy per trip) and
its cost, and tells the coordinator only aggregate station loads and, where a mechanism pays on
it, its own cost and benefit (MODELS.md §0, §4). This is its pure model (numpy, cvxpy and the
fleet engine :mod:`ptn.engines.fleet`; no grpc, no ray), built from its own ``[tno]`` table.

Service methods:

* ``ConsensusStep``: the ADMM local step ``min C_TNO + Σ Δt·[λ·P + (ρ/2)·(P − z)²]``; with λ = 0
  and ρ = 0 it is the plan alone (seed 000's prescheduling);
* ``ConsiderShare``: a profit-sharing offer (share, the DNO's C0, the payment at the TNO's
  current plan): its cost at that plan, its cost alone, its benefit, and whether it accepts;
* ``Settle``: a payment it receives (kept in its books);
* ``ReportCost``: its own cost at its latest plan.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet.case import BusBattery, BusLine, FleetCase, FleetStation
from ptn.engines.fleet.charging_plan import FleetChargingModel, FleetPlan
from ptn.engines.traffic.builtin import BUILTIN_NETWORKS, load_network
from ptn.protocol.codec import (
    consensus_terms,
    describe_reply,
    reply_header,
    to_series,
)
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.scenario.document import ScenarioPart, require_integer, require_number

TNO_KEYS = ("network", "tariff_per_mwh", "value_of_time_per_h", "session_hours",
            "two_way_roads", "battery", "line", "station")
BATTERY_KEYS = ("battery_mwh", "soc_min", "soc_max", "soc_initial", "charge_power_max_mw",
                "charging_efficiency")
LINE_KEYS = ("name", "stops", "buses", "round_trips_per_period", "energy_per_round_trip_mwh",
             "service_share")
STATION_KEYS = ("name", "node", "power_max_mw")

_STATUS = {"optimal": common_pb2.STATUS_OK, "infeasible": common_pb2.STATUS_INFEASIBLE}


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
    name = reader.text(table, where, "network", default="twelve-node")
    spec: Any = name if name.strip().lower() in BUILTIN_NETWORKS \
        else part.resolve(name, f"{where}.network")
    try:
        network = load_network(spec)
    except InvalidInputError as error:
        reader.fail(f"{where}.network", str(error))
    if "tariff_per_mwh" not in table:
        reader.fail(where, "missing required key 'tariff_per_mwh'")
    tariff = reader.profile(table, where, "tariff_per_mwh", periods, None, nonnegative=True)
    lines = []
    for index, entry in enumerate(reader.array_of_tables(table, "line"), start=1):
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
    for index, entry in enumerate(reader.array_of_tables(table, "station"), start=1):
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
    try:
        return FleetCase(
            network=network, lines=tuple(lines), stations=tuple(stations), tariff_per_mwh=tariff,
            battery=_battery(part, table.get("battery"), f"{where}.battery"),
            period_hours=part.public.period_hours,
            value_of_time_per_h=require_number(reader, table, where, "value_of_time_per_h",
                                               default=50.0, strictly_positive=True),
            session_hours=require_number(reader, table, where, "session_hours", default=0.5,
                                         strictly_positive=True),
            two_way_roads=two_way, name=part.public.name)
    except InvalidInputError as error:
        reader.fail(where, str(error))
        raise  # unreachable: fail raises


class TnoModel:
    """The TNO behind the ``TnoOperator`` service (pure model)."""

    role = "tno"

    def __init__(self, operator_id: str, case: FleetCase) -> None:
        self.operator_id = operator_id
        self.case = case
        self.fleet = FleetChargingModel(case)
        self._last: FleetPlan | None = None
        self._alone: FleetPlan | None = None
        self.received_usd = 0.0

    @classmethod
    def from_part(cls, part: ScenarioPart, private_output_dir: Path | None = None) -> TnoModel:
        """Its model from its scenario part (it writes no private report)."""
        return cls(part.operator_id, tno_case_from_part(part))

    @property
    def stations(self) -> tuple[str, ...]:
        return tuple(self.fleet.station_names)

    @property
    def periods(self) -> int:
        return int(self.case.tariff_per_mwh.shape[0])

    # ------------------------------------------------------------------ service methods
    def describe(self, request: common_pb2.DescribeRequest) -> common_pb2.DescribeReply:
        return describe_reply(request, role=self.role, operator_id=self.operator_id,
                              stations=self.stations, periods=self.periods,
                              period_hours=self.case.period_hours)

    def consensus_step(self, request: common_pb2.ConsensusStep) -> common_pb2.LoadReply:
        """ADMM: its plan minimizing its cost plus ``Σ Δt·[λ·P + (ρ/2)(P − z)²]``."""
        started = time.perf_counter()
        price, target, penalty = consensus_terms(request, self.stations, self.periods)
        plan = self.fleet.consensus_step(price, penalty, target)
        self._last = plan
        status = _STATUS.get(plan.status, common_pb2.STATUS_FAILED)
        header = reply_header(request.header, self.operator_id, status, plan.message,
                              time.perf_counter() - started)
        if not plan.has_solution:
            return common_pb2.LoadReply(header=header)
        return common_pb2.LoadReply(header=header,
                                    load_mw=to_series(self.stations, plan.station_load_mw))

    def consider_share(self, request: games_pb2.ProfitShareOffer) -> games_pb2.ProfitShareAnswer:
        """Its benefit from the offer at its current plan: what it saves against planning
        alone, plus the payment; it accepts when that is not negative."""
        started = time.perf_counter()
        if not 0.0 <= request.share <= 1.0:
            raise InvalidInputError(f"share must lie in [0, 1], got {request.share}")
        if self._last is None or not self._last.has_solution:
            raise InvalidInputError("no plan to consider the offer at: negotiate first")
        alone = self.plan_alone()
        benefit = alone.cost_usd - self._last.cost_usd + request.payment
        header = reply_header(request.header, self.operator_id,
                              seconds=time.perf_counter() - started)
        return games_pb2.ProfitShareAnswer(
            header=header, accepted=bool(benefit >= -1e-6),
            load_mw=to_series(self.stations, self._last.station_load_mw), benefit=benefit,
            cost=self._last.cost_usd, cost_alone=alone.cost_usd)

    def settle(self, request: games_pb2.Settlement) -> games_pb2.SettlementAck:
        """A payment received (its books only)."""
        if not np.isfinite(request.amount):
            raise InvalidInputError(f"amount must be finite, got {request.amount}")
        self.received_usd += request.amount
        return games_pb2.SettlementAck(header=reply_header(request.header, self.operator_id))

    def report_cost(self, request: common_pb2.CostRequest) -> common_pb2.CostReport:
        """Its own cost at its latest plan ($), without payments or coordination terms."""
        header = reply_header(request.header, self.operator_id)
        if self._last is None or not self._last.has_solution:
            header.status = common_pb2.STATUS_INVALID_REQUEST
            header.message = "no plan computed yet"
            return common_pb2.CostReport(header=header, cost=float("nan"))
        return common_pb2.CostReport(header=header, cost=self._last.cost_usd)

    # ------------------------------------------------------------------ helpers
    def plan_alone(self) -> FleetPlan:
        """Its plan without any coordination (computed once; the fleet is re-solved)."""
        if self._alone is None:
            self._alone = self.fleet.plan()
        return self._alone
