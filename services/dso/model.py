"""The DSO's model: the multi-period DistFlow OPF of its feeders, behind the DSO service.

Why this module exists: the DSO holds its feeders' topology and impedances, its loads, its DER
and its purchase prices, and tells the coordinator only station loads, prices and its own cost
(MODELS.md §0). This is its pure model (numpy, cvxpy and the power engine; no grpc, no ray):
built from its own part of a scenario, it takes protobuf requests and returns protobuf replies.

Model: :class:`engines.power.distflow.DistFlowOpf`, built once per mode and re-solved with new
Parameters: ``charging="priced"`` for ADMM's local step (MODELS.md §5: the DSO minimizes its
cost minus ``λ·P`` plus ``(ρ/2)·(P − z)²``, with ``Δt`` weights), ``charging="fixed"`` to
dispatch given loads. Its reported cost excludes the coordination terms. Given an output
directory of its own, it writes a private report (voltages, DLMPs) there; nothing of it leaves.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.errors import InvalidInputError
from engines.power.builtin_feeders import load_feeder
from engines.power.case_file import TOP_LEVEL_KEYS as DER_KEYS
from engines.power.case_file import dso_case_from_mapping
from engines.power.der import DsoCase
from engines.power.distflow import DistFlowOpf
from engines.power.feeder import Feeder
from engines.power.result import OpfResult, OpfStatus
from negotiation.v1 import common_pb2
from services.figures import plot_voltage_heatmap
from services.messages import describe_reply, from_series, reply_header, to_series
from services.scenario import ScenarioPart

DSO_KEYS = ("feeder", *DER_KEYS)

_STATUS = {
    OpfStatus.OPTIMAL: common_pb2.STATUS_OK,
    OpfStatus.INEXACT: common_pb2.STATUS_INEXACT,
    OpfStatus.INFEASIBLE: common_pb2.STATUS_INFEASIBLE,
    OpfStatus.UNBOUNDED: common_pb2.STATUS_FAILED,
    OpfStatus.SOLVER_ERROR: common_pb2.STATUS_FAILED,
}


@dataclass(frozen=True)
class DsoConfig:
    """The DSO's private set-up, validated: its case and the stations' charging points."""

    operator_id: str
    case: DsoCase
    stations: tuple[str, ...]

    @property
    def point_order(self) -> list[int]:
        """Position in ``case.charging_points`` of each public station, in station order."""
        names = [point.name for point in self.case.charging_points]
        return [names.index(station) for station in self.stations]


def dso_config_from_part(part: ScenarioPart) -> DsoConfig:
    """Validate the ``[dso]`` table: ``feeder`` plus the DER case keys (engines.power.case_file)."""
    reader, table, where = part.reader, dict(part.data), part.role
    reader.check_keys(table, where, DSO_KEYS)
    spec = table.pop("feeder", "case33bw")
    specs = spec if isinstance(spec, list) else [spec]
    feeders: list[Feeder] = []
    for position, item in enumerate(specs):
        at = f"{where}.feeder" + (f"[{position}]" if isinstance(spec, list) else "")
        if not isinstance(item, str) or not item.strip():
            reader.fail(at, f"expected a feeder name or path, got {item!r}")
        candidate = part.resolve(item)
        try:
            feeders.append(load_feeder(str(candidate) if candidate.exists() else item))
        except InvalidInputError as error:
            reader.fail(at, str(error))
    horizon = dict(table.get("horizon", {})) if isinstance(table.get("horizon"), dict) else None
    if horizon is not None:
        given = horizon.get("period_hours")
        if given is not None and given != part.public.period_hours:
            reader.fail(f"{where}.horizon.period_hours",
                        f"{given!r} differs from scenario.period_hours "
                        f"({part.public.period_hours:g})")
        horizon["period_hours"] = part.public.period_hours
        table["horizon"] = horizon
    case = dso_case_from_mapping(table, tuple(feeders), part.public.periods,
                                 label=f"{part.source}: {where}")
    names = [point.name for point in case.charging_points]
    for station in part.public.stations:
        if station not in names:
            reader.fail(f"{where}.charging_point",
                        f"no [[{where}.charging_point]] named {station!r} (listed in "
                        "scenario.stations)")
    for name in names:
        if name not in part.public.stations:
            reader.fail(f"{where}.charging_point",
                        f"charging point {name!r} is not in scenario.stations")
    return DsoConfig(part.operator_id, case, part.public.stations)


class DsoModel:
    """The DSO behind the ``DsoOperator`` service (pure model)."""

    role = "dso"

    def __init__(self, config: DsoConfig, private_output_dir: Path | None = None) -> None:
        self.config = config
        self.operator_id = config.operator_id
        self.private_output_dir = private_output_dir
        self._order = config.point_order
        self._opf: dict[str, DistFlowOpf] = {}
        self._last: OpfResult | None = None
        self._last_cost = float("nan")

    @classmethod
    def from_part(cls, part: ScenarioPart, private_output_dir: Path | None = None) -> DsoModel:
        return cls(dso_config_from_part(part), private_output_dir)

    @property
    def stations(self) -> tuple[str, ...]:
        return self.config.stations

    @property
    def periods(self) -> int:
        return self.config.case.periods

    def opf(self, mode: str) -> DistFlowOpf:
        """The OPF of a charging mode, built on first use and then only re-solved."""
        if mode not in self._opf:
            self._opf[mode] = DistFlowOpf(self.config.case, charging=mode)  # type: ignore[arg-type]
        return self._opf[mode]

    # ------------------------------------------------------------------ service methods
    def describe(self, request: common_pb2.DescribeRequest) -> common_pb2.DescribeReply:
        return describe_reply(request, role=self.role, operator_id=self.operator_id,
                              stations=self.stations, periods=self.periods,
                              period_hours=self.config.case.period_hours)

    def consensus_step(self, request: common_pb2.ConsensusStep) -> common_pb2.LoadReply:
        """ADMM: min cost − Σ Δt·λ·P + Σ Δt·(ρ/2)·(P − z)² over its charging loads P."""
        started = time.perf_counter()
        price = self._points(from_series(request.price_per_mwh, self.stations, self.periods,
                                         "price_per_mwh"))
        target = self._points(from_series(request.target_load_mw, self.stations, self.periods,
                                          "target_load_mw"))
        penalty = request.penalty_per_mw2h
        if not (np.isfinite(penalty) and penalty >= 0):
            raise InvalidInputError(f"penalty_per_mw2h must be >= 0, got {penalty}")
        opf = self.opf("priced")
        dt = self.config.case.period_hours
        opf.set_charging_terms(-price, dt * penalty, target)
        result = opf.solve()
        header = self._remember(request.header, result, started, coupling=True)
        if not result.status.has_solution:
            return common_pb2.LoadReply(header=header)
        loads = self._stations_of(np.stack([result.charging_mw[n] for n in opf.charging_names]))
        return common_pb2.LoadReply(header=header, load_mw=to_series(self.stations, loads))

    def dispatch(self, request: common_pb2.LoadSignal) -> common_pb2.DispatchReply:
        """Dispatch the feeders against fixed station loads; its cost and the station DLMPs."""
        started = time.perf_counter()
        loads = from_series(request.load_mw, self.stations, self.periods, "load_mw")
        opf = self.opf("fixed")
        opf.set_charging_load(self._points(loads))
        result = opf.solve()
        header = self._remember(request.header, result, started, coupling=False)
        if not result.status.has_solution:
            return common_pb2.DispatchReply(header=header, cost=float("nan"))
        dlmp = self._stations_of(np.stack([result.charging_dlmp_per_mwh[n]
                                           for n in opf.charging_names]))
        return common_pb2.DispatchReply(header=header, cost=self._last_cost,
                                        price_per_mwh=to_series(self.stations, dlmp))

    def report_cost(self, request: common_pb2.CostRequest) -> common_pb2.CostReport:
        """The DSO's cost at its latest dispatch ($), without coordination terms."""
        header = reply_header(request.header, self.operator_id)
        if self._last is None or not self._last.status.has_solution:
            header.status = common_pb2.STATUS_INVALID_REQUEST
            header.message = "no dispatch computed yet"
            return common_pb2.CostReport(header=header, cost=float("nan"))
        self.write_private_report()
        return common_pb2.CostReport(header=header, cost=self._last_cost)

    # ------------------------------------------------------------------ private report
    def write_private_report(self) -> list[Path]:
        """Voltages (heatmap and CSV) and station DLMPs of the latest dispatch, kept local."""
        if self.private_output_dir is None or self._last is None \
                or not self._last.status.has_solution:
            return []
        out = Path(self.private_output_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for feeder in self._last.feeders:
            suffix = "" if len(self._last.feeders) == 1 else f"-{feeder.name}"
            labels = [str(bus) for bus in feeder.bus_ids]
            source = next(f for f in self.config.case.feeders if f.name == feeder.name)
            written.append(plot_voltage_heatmap(
                feeder.voltage_pu, labels, out / f"voltages{suffix}.png",
                v_min_pu=float(np.min(source.v_min_pu)), v_max_pu=float(np.max(source.v_max_pu)),
                title=f"{feeder.name}: bus voltages",
            ))
            path = out / f"voltages{suffix}.csv"
            with path.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["bus", *(f"period_{t}" for t in range(self.periods))])
                for label, row in zip(labels, feeder.voltage_pu, strict=True):
                    writer.writerow([label, *(repr(float(v)) for v in row)])
            written.append(path)
        return written

    # ------------------------------------------------------------------ helpers
    def _points(self, station_values: np.ndarray) -> np.ndarray:
        """(stations, T) in public order → (points, T) in the case's charging-point order."""
        points = np.empty_like(station_values)
        points[self._order] = station_values
        return points

    def _stations_of(self, point_values: np.ndarray) -> np.ndarray:
        return np.asarray(point_values[self._order], dtype=np.float64)

    def _remember(self, header: common_pb2.RequestHeader, result: OpfResult, started: float, *,
                  coupling: bool) -> common_pb2.ReplyHeader:
        self._last = result
        if result.status.has_solution:
            coordination = result.cost_breakdown.get("charging_coupling", 0.0) if coupling else 0.0
            self._last_cost = float(result.objective - coordination)
        else:
            self._last_cost = float("nan")
        status = _STATUS[result.status]
        return reply_header(header, self.operator_id, status, result.message,
                            time.perf_counter() - started)

