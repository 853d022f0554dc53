"""The traffic department's model: multi-period equilibrium with charging stations.

Why this module exists: the traffic department holds the road network, the travel demand and
the drivers' behaviour (value of time, departure shifting), and answers the coordinator only
with aggregate station loads (MODELS.md §0). This is its pure model (numpy and the traffic
engine; no grpc, no ray): built from its own part of a scenario, it takes protobuf requests and
returns protobuf replies, so the schema is the boundary in every transport.

Model: :mod:`ptn.engines.traffic.multiperiod` (MUL-UE of seed 001). EV demand is inelastic unless
the table sets ``price_sensitivity`` (σ of seed 001's demand law in the mean charging price,
used in the pricing game; ADMM needs 0). In the pricing game (MODELS.md §3) it answers price
probes with load responses, each an equilibrium warm-started from the previous probe, without
changing the state its cost reports refer to. In ADMM (MODELS.md §5) its local step adds
``λ·P + (ρ/2)·(P − z)²`` per station and period to the Beckmann potential
(:meth:`~ptn.engines.traffic.multiperiod.MultiPeriodProblem.solve_coupled`); its reported cost is
``Δt ×`` the Beckmann potential without charging payments (which are transfers between the
parties, not costs of the system).

SUE mode (``assignment = "sue"``, seed 002): drivers choose routes and stations by logit instead
of Wardrop's rule, one stochastic user equilibrium per period, solved in period order by MSA
(``sue_method = "msa"``, seed 002's algorithm) or Newton, each period warm-started from the
previous one (``sue_warm_start``) and, from the second request on, from the previous request's
same period (:mod:`ptn.engines.traffic.sue_periods`). No departure shifting, inelastic EV demand
(``max_shift_periods`` and ``price_sensitivity`` absent or 0; the UE-only keys are refused). The
ADMM step adds the same ``λ·P + (ρ/2)·(P − z)²`` terms; the reported cost is ``Δt ×`` Fisk's
objective without charging payments (:meth:`~ptn.engines.traffic.sue_periods.SuePeriodsProblem.
potential`, $/h summed over periods).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic import sue_periods
from ptn.engines.traffic.builtin import BUILTIN_NETWORKS, load_network
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.multiperiod import (
    MultiPeriodResult,
    MultiPeriodSpec,
    build_multiperiod_problem,
)
from ptn.engines.traffic.result import AssignmentStatus
from ptn.engines.traffic.sue_periods import (
    SuePeriodsProblem,
    SuePeriodsResult,
    SuePeriodsSpec,
    check_method,
)
from ptn.protocol.codec import (
    consensus_terms,
    describe_reply,
    from_series,
    reply_header,
    to_series,
)
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.scenario.document import ScenarioPart, require_integer, require_number

TRAFFIC_KEYS = ("network", "demand_profile", "demand_scale", "ev_share", "energy_per_charge_mwh",
                "value_of_time_per_h", "max_shift_periods", "shift_cost_per_period",
                "price_sensitivity", "base_price_per_mwh", "equilibrium_gap", "max_iterations",
                "assignment", "sue_theta", "sue_method", "sue_tolerance", "sue_warm_start",
                "sue_max_iterations", "station")
#: how drivers choose routes: Wardrop's user equilibrium (seed 001's MUL-UE) or logit SUE (seed 002)
ASSIGNMENTS = ("ue", "sue")
SUE_KEYS = ("sue_theta", "sue_method", "sue_tolerance", "sue_warm_start", "sue_max_iterations")
#: keys of the UE model with no meaning in SUE mode, and what to use instead
UE_ONLY_KEYS = {
    "shift_cost_per_period": "the SUE model has no departure shifting",
    "base_price_per_mwh": "the SUE model has inelastic EV demand (no price_sensitivity)",
    "equilibrium_gap": "the SUE stopping test is sue_tolerance",
    "max_iterations": "the SUE iteration limit is sue_max_iterations",
}
STATION_KEYS = ("name", "node", "capacity_veh_per_h", "charging_time_h", "davidson_j")


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

    @property
    def station_names(self) -> tuple[str, ...]:
        return self.spec.charging.station_names

    @property
    def assignment(self) -> str:
        """``"ue"`` (Wardrop, departure shifting) or ``"sue"`` (logit, per period)."""
        return "ue" if self.sue is None else "sue"


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
    network_name = reader.text(table, where, "network", default="nguyen-dupuis")
    spec_path: Any = network_name if network_name.strip().lower() in BUILTIN_NETWORKS \
        else part.resolve(network_name, f"{where}.network")
    try:
        network = load_network(spec_path)
    except InvalidInputError as error:
        reader.fail(f"{where}.network", str(error))
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
    sue_settings = _sue_settings(part) if sue_mode else None
    max_iterations = require_integer(reader, table, where, "max_iterations", default=1000,
                                     minimum=0)
    stations = []
    for index, entry in enumerate(reader.array_of_tables(table, "station"), start=1):
        at = f"{where}.station[{index}]"
        reader.check_keys(entry, at, STATION_KEYS)
        for key in STATION_KEYS:
            if key not in entry:
                reader.fail(at, f"missing required key '{key}'")
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
    demand = profile[:, None] * network.od_demand[None, :] * scale
    try:
        charging = ChargingNetworkSpec(network, tuple(stations), energy, value_of_time)
        spec = MultiPeriodSpec(charging, demand * (1.0 - ev_share), demand * ev_share,
                               max_shift_periods=max_shift, shift_cost_per_period=shift_cost,
                               price_sensitivity=sensitivity, base_price_per_mwh=base_price)
        sue = None if sue_settings is None else SuePeriodsSpec(
            charging, spec.gv_demand_veh_per_h, spec.ev_demand_veh_per_h, **sue_settings)
    except InvalidInputError as error:
        reader.fail(where, str(error))
    return TrafficConfig(part.operator_id, spec, part.public.period_hours, gap, max_iterations,
                         sue)


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


_STATUS = {AssignmentStatus.CONVERGED: common_pb2.STATUS_OK}


class TrafficDepartmentModel:
    """The traffic department behind the ``TrafficDepartment`` service (pure model)."""

    role = "traffic"

    def __init__(self, config: TrafficConfig) -> None:
        self.config = config
        self.operator_id = config.operator_id
        self.problem = build_multiperiod_problem(config.spec)
        self._last: MultiPeriodResult | None = None
        self._last_probe: MultiPeriodResult | None = None
        #: SUE mode: the per-period logit SUE model and its latest results
        self.sue_problem = None if config.sue is None else SuePeriodsProblem(config.sue)
        self._last_sue: SuePeriodsResult | None = None
        self._last_sue_probe: SuePeriodsResult | None = None

    @classmethod
    def from_part(cls, part: ScenarioPart,
                  private_output_dir: Path | None = None) -> TrafficDepartmentModel:
        """Its model from its scenario part (it writes no private report)."""
        return cls(traffic_config_from_part(part))

    @property
    def stations(self) -> tuple[str, ...]:
        return self.config.station_names

    @property
    def periods(self) -> int:
        return self.config.spec.num_periods

    # ------------------------------------------------------------------ service methods
    def describe(self, request: common_pb2.DescribeRequest) -> common_pb2.DescribeReply:
        return describe_reply(request, role=self.role, operator_id=self.operator_id,
                              stations=self.stations, periods=self.periods,
                              period_hours=self.config.period_hours)

    def consensus_step(self, request: common_pb2.ConsensusStep) -> common_pb2.LoadReply:
        """ADMM: the equilibrium with ``λ·P + (ρ/2)(P − z)²`` on every station and period."""
        started = time.perf_counter()
        price, target, penalty = consensus_terms(request, self.stations, self.periods)
        if self.sue_problem is not None:
            sue = self.sue_problem.solve_coupled(price, penalty, target, previous=self._last_sue)
            return self._sue_load_reply(request.header, sue, started)
        result = self.problem.solve_coupled(
            price, penalty, target, gap=self.config.equilibrium_gap,
            max_iterations=self.config.max_iterations, warm_start=self._last,
        )
        return self._load_reply(request.header, result, started)

    def respond_to_prices(self, request: common_pb2.PriceSignal) -> common_pb2.LoadReply:
        """The equilibrium station loads when charging costs ``price_per_mwh``."""
        started = time.perf_counter()
        price = self._check_price(from_series(request.price_per_mwh, self.stations,
                                              self.periods, "price_per_mwh"), "price_per_mwh")
        if self.sue_problem is not None:
            sue = self.sue_problem.solve(price, previous=self._last_sue)
            return self._sue_load_reply(request.header, sue, started)
        result = self.problem.solve(price, gap=self.config.equilibrium_gap,
                                    max_iterations=self.config.max_iterations,
                                    warm_start=self._last)
        return self._load_reply(request.header, result, started)

    def probe_responses(self, request: games_pb2.PriceProbes) -> games_pb2.LoadResponses:
        """The station loads at each probe's prices (the pricing game's load responses).

        Each probe is an exact equilibrium warm-started from the previous probe; the state that
        :meth:`report_cost` refers to is left alone. Not converged anywhere: NOT_CONVERGED.
        """
        started = time.perf_counter()
        if not request.price_per_mwh:
            raise InvalidInputError("price_per_mwh: no probes given")
        prices = [self._check_price(from_series(series, self.stations, self.periods,
                                                f"price_per_mwh[{k}]"), f"price_per_mwh[{k}]")
                  for k, series in enumerate(request.price_per_mwh)]
        if self.sue_problem is not None:
            return self._sue_probe_responses(request, prices, started)
        loads, worst = [], None
        for price in prices:
            result = self.problem.solve(price, gap=self.config.equilibrium_gap,
                                        max_iterations=self.config.max_iterations,
                                        warm_start=self._last_probe or self._last)
            self._last_probe = result
            if result.status != AssignmentStatus.CONVERGED and worst is None:
                worst = result
            loads.append(to_series(self.stations, result.station_load_mw.T))
        status, message = common_pb2.STATUS_OK, ""
        if worst is not None:
            status = common_pb2.STATUS_NOT_CONVERGED
            message = (f"a probe's equilibrium stopped at relative gap {worst.relative_gap:.2e} "
                       f"after {worst.iterations} iterations")
        header = reply_header(request.header, self.operator_id, status, message,
                              time.perf_counter() - started)
        return games_pb2.LoadResponses(header=header, load_mw=loads)

    def report_cost(self, request: common_pb2.CostRequest) -> common_pb2.CostReport:
        """``Δt ×`` the Beckmann potential of the latest equilibrium (charging payments out)."""
        header = reply_header(request.header, self.operator_id)
        if self.sue_problem is not None:
            if self._last_sue is None:
                header.status = common_pb2.STATUS_INVALID_REQUEST
                header.message = "no equilibrium computed yet"
                return common_pb2.CostReport(header=header, cost=float("nan"))
            # Δt × Fisk's objective without charging payments ($/h summed over periods)
            return common_pb2.CostReport(
                header=header, cost=self.config.period_hours * self._last_sue.potential)
        if self._last is None:
            header.status = common_pb2.STATUS_INVALID_REQUEST
            header.message = "no equilibrium computed yet"
            return common_pb2.CostReport(header=header, cost=float("nan"))
        cost = self.config.period_hours * self.problem.potential(
            self._last.assignment.link_flow)
        return common_pb2.CostReport(header=header, cost=cost)

    # ------------------------------------------------------------------ helpers
    def _check_price(self, price: np.ndarray, what: str) -> np.ndarray:
        if (price < 0).any():
            s, t = (int(v) for v in np.argwhere(price < 0)[0])
            raise InvalidInputError(f"{what}: negative price at station {self.stations[s]} in "
                                    f"period {t}")
        return price

    def _load_reply(self, header: common_pb2.RequestHeader, result: MultiPeriodResult,
                    started: float) -> common_pb2.LoadReply:
        self._last = result
        status = _STATUS.get(result.status, common_pb2.STATUS_NOT_CONVERGED)
        message = "" if status == common_pb2.STATUS_OK else (
            f"equilibrium stopped at relative gap {result.relative_gap:.2e} "
            f"({result.status}) after {result.iterations} iterations")
        reply_to = reply_header(header, self.operator_id, status, message,
                                time.perf_counter() - started)
        # station_load_mw is (periods, stations); the schema's series are (stations, periods)
        return common_pb2.LoadReply(header=reply_to,
                                    load_mw=to_series(self.stations, result.station_load_mw.T))

    def _sue_load_reply(self, header: common_pb2.RequestHeader, result: SuePeriodsResult,
                        started: float) -> common_pb2.LoadReply:
        self._last_sue = result
        status = _STATUS.get(result.status, common_pb2.STATUS_NOT_CONVERGED)
        reply_to = reply_header(header, self.operator_id, status, result.describe_failure(),
                                time.perf_counter() - started)
        # the SUE result's station_load_mw is already (stations, periods)
        return common_pb2.LoadReply(header=reply_to,
                                    load_mw=to_series(self.stations, result.station_load_mw))

    def _sue_probe_responses(self, request: games_pb2.PriceProbes, prices: list[np.ndarray],
                             started: float) -> games_pb2.LoadResponses:
        """SUE mode's probe answers: each probe warm-started from the previous one."""
        assert self.sue_problem is not None
        loads, worst = [], None
        for price in prices:
            result = self.sue_problem.solve(price,
                                            previous=self._last_sue_probe or self._last_sue)
            self._last_sue_probe = result
            if not result.converged and worst is None:
                worst = result
            loads.append(to_series(self.stations, result.station_load_mw))
        status, message = common_pb2.STATUS_OK, ""
        if worst is not None:
            status = common_pb2.STATUS_NOT_CONVERGED
            message = "a probe's " + worst.describe_failure()
        header = reply_header(request.header, self.operator_id, status, message,
                              time.perf_counter() - started)
        return games_pb2.LoadResponses(header=header, load_mw=loads)
