"""The DSO's model: the multi-period DistFlow OPF of its feeders, behind the DSO service.

Why this module exists: the DSO holds its feeders' topology and impedances, its loads, its DER
and its purchase prices, and tells the coordinator only station loads, prices and its own cost
(MODELS.md §0). This is its pure model (numpy, cvxpy and the power engine; no grpc, no ray):
built from its own part of a scenario, it takes protobuf requests and returns protobuf replies.

Model: :class:`ptn.engines.power.distflow.DistFlowOpf`, built once per mode and re-solved with new
Parameters: ``charging="priced"`` for ADMM's local step (MODELS.md §5: the DSO minimizes its
cost minus ``λ·P`` plus ``(ρ/2)·(P − z)²``, with ``Δt`` weights), ``charging="fixed"`` to
dispatch given loads. Its reported cost excludes the coordination terms. Given an output
directory of its own, it writes a private report (voltages, DLMPs) there; nothing of it leaves.

In the pricing game (seed 001, MODELS.md §3; ``[dso.pricing]``) it quotes the stations' prices:
random trial prices for its first ``trial_rounds`` quotes, then the revenue-maximizing OPF with
its fitted load response (:mod:`ptn.engines.power.pricing`); it refits from every (quote, observed
loads) pair of the current negotiation. Its history is keyed by the negotiation id, so each
negotiation (e.g. each variant of the game) starts afresh.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.case_file import TOP_LEVEL_KEYS as DER_KEYS
from ptn.engines.power.case_file import (
    VOLTAGE_BAND_KEYS,
    dso_case_from_mapping,
    voltage_band_from_mapping,
)
from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.pricing import (
    DsoPricingProblem,
    PriceLimits,
    fit_load_response,
    history_weights,
    random_trial_prices,
)
from ptn.engines.power.result import OpfResult, OpfStatus
from ptn.figures import plot_voltage_heatmap
from ptn.protocol.codec import (
    consensus_terms,
    describe_reply,
    from_series,
    reply_header,
    to_series,
)
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import ScenarioPart, require_integer, require_number

DSO_KEYS = ("feeder", "pricing", "formulation", *VOLTAGE_BAND_KEYS, *DER_KEYS)
FORMULATIONS = ("soc", "lindistflow")
PRICING_KEYS = ("price_min_per_mwh", "price_max_per_mwh", "mean_cap_per_mwh", "proximal_weight",
                "trial_rounds", "seed")
FEEDER_KEYS = ("name", "case")

_STATUS = {
    OpfStatus.OPTIMAL: common_pb2.STATUS_OK,
    OpfStatus.INEXACT: common_pb2.STATUS_INEXACT,
    OpfStatus.INFEASIBLE: common_pb2.STATUS_INFEASIBLE,
    OpfStatus.UNBOUNDED: common_pb2.STATUS_FAILED,
    OpfStatus.SOLVER_ERROR: common_pb2.STATUS_FAILED,
}


@dataclass(frozen=True)
class PricingSettings:
    """``[dso.pricing]``: seed 001's MUL-DSO settings (§4.1 of the paper)."""

    limits: PriceLimits
    proximal_weight: float = 0.2
    trial_rounds: int = 5
    seed: int = 0


@dataclass(frozen=True)
class DsoConfig:
    """The DSO's private set-up, validated: its case and the stations' charging points."""

    operator_id: str
    case: DsoCase
    stations: tuple[str, ...]
    pricing: PricingSettings | None = None
    #: the OPF's equations: the SOC relaxation of DistFlow, or lossless LinDistFlow (the model a
    #: KKT-reformulated bilevel reference can hold; ptn.engines.power.distflow)
    formulation: str = "soc"

    @property
    def point_order(self) -> list[int]:
        """Position in ``case.charging_points`` of each public station, in station order."""
        names = [point.name for point in self.case.charging_points]
        return [names.index(station) for station in self.stations]


def dso_config_from_part(part: ScenarioPart) -> DsoConfig:
    """Validate the ``[dso]`` table: ``feeder``, the voltage band (``voltage_min_pu``,
    ``voltage_max_pu``) and the DER case keys (ptn.engines.power.case_file)."""
    reader, table, where = part.reader, dict(part.data), part.role
    reader.check_keys(table, where, DSO_KEYS)
    spec = table.pop("feeder", "case33bw")
    pricing = _pricing_settings(part, table.pop("pricing")) if "pricing" in table else None
    formulation = table.pop("formulation", "soc")
    if formulation not in FORMULATIONS:
        reader.fail(f"{where}.formulation", f"unknown formulation {formulation!r} (allowed: "
                                            f"{', '.join(FORMULATIONS)})")
    specs = spec if isinstance(spec, list) else [spec]
    feeders: list[Feeder] = []
    for position, item in enumerate(specs):
        at = f"{where}.feeder" + (f"[{position}]" if isinstance(spec, list) else "")
        name = None
        if isinstance(item, dict):  # {name = "north", case = "case18"}: a named copy
            reader.check_keys(item, at, FEEDER_KEYS)
            name = reader.text(item, at, "name")
            item = item.get("case")
        if not isinstance(item, str) or not item.strip():
            reader.fail(at, f"expected a feeder name or path, or a table {{name, case}}, "
                            f"got {item!r}")
        candidate = part.resolve(item)
        try:
            feeder = load_feeder(str(candidate) if candidate.exists() else item)
        except InvalidInputError as error:
            reader.fail(at, str(error))
        feeders.append(feeder if name is None else replace(feeder, name=name))
    band = {key: table.pop(key) for key in VOLTAGE_BAND_KEYS if key in table}
    feeders = list(voltage_band_from_mapping(reader, band, where, tuple(feeders)))
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
    return DsoConfig(part.operator_id, case, part.public.stations, pricing, formulation)


def _pricing_settings(part: ScenarioPart, table: object) -> PricingSettings:
    reader, where = part.reader, f"{part.role}.pricing"
    if not isinstance(table, dict):
        reader.fail(where, "expected a table [dso.pricing]")
    assert isinstance(table, dict)
    reader.check_keys(table, where, PRICING_KEYS)
    defaults = PriceLimits()
    try:
        limits = PriceLimits(**{key: require_number(reader, table, where, key,
                                                    default=getattr(defaults, key))
                                for key in ("price_min_per_mwh", "price_max_per_mwh",
                                            "mean_cap_per_mwh")})
    except InvalidInputError as error:
        reader.fail(where, str(error))
    return PricingSettings(
        limits=limits,
        proximal_weight=require_number(reader, table, where, "proximal_weight", default=0.2,
                                       minimum=0.0),
        trial_rounds=require_integer(reader, table, where, "trial_rounds", default=5, minimum=1),
        seed=require_integer(reader, table, where, "seed", default=0, minimum=0),
    )


@dataclass
class _PricingHistory:
    """One negotiation's quotes and the loads observed at them (station order)."""

    negotiation_id: str
    rng: np.random.Generator
    quotes: list[np.ndarray] = field(default_factory=list)
    prices: list[np.ndarray] = field(default_factory=list)  # quotes with observed loads
    loads: list[np.ndarray] = field(default_factory=list)


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
        self._history: _PricingHistory | None = None
        self._pricing: DsoPricingProblem | None = None

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
            self._opf[mode] = DistFlowOpf(self.config.case, charging=mode,  # type: ignore[arg-type]
                                          formulation=self.config.formulation)  # type: ignore[arg-type]
        return self._opf[mode]

    # ------------------------------------------------------------------ service methods
    def describe(self, request: common_pb2.DescribeRequest) -> common_pb2.DescribeReply:
        return describe_reply(request, role=self.role, operator_id=self.operator_id,
                              stations=self.stations, periods=self.periods,
                              period_hours=self.config.case.period_hours)

    def consensus_step(self, request: common_pb2.ConsensusStep) -> common_pb2.LoadReply:
        """ADMM: min cost − Σ Δt·λ·P + Σ Δt·(ρ/2)·(P − z)² over its charging loads P."""
        started = time.perf_counter()
        station_price, station_target, penalty = consensus_terms(request, self.stations,
                                                                 self.periods)
        price, target = self._points(station_price), self._points(station_target)
        opf = self.opf("priced")
        dt = self.config.case.period_hours
        opf.set_charging_terms(-price, dt * penalty, target)
        result = opf.solve()
        header = self._remember(request.header, result, started, coupling=True)
        if not result.status.has_solution:
            return common_pb2.LoadReply(header=header)
        loads = self._stations_of(np.stack([result.charging_mw[n] for n in opf.charging_names]))
        return common_pb2.LoadReply(header=header, load_mw=to_series(self.stations, loads))

    def dispatch_fixed(self, station_load_mw: np.ndarray) -> OpfResult:
        """The feeders' optimal dispatch with the stations' loads fixed ((stations, periods) in
        public order, MW); the fixed-load OPF is built once and re-solved."""
        opf = self.opf("fixed")
        opf.set_charging_load(self._points(np.asarray(station_load_mw, dtype=np.float64)))
        return opf.solve()

    def dispatch(self, request: common_pb2.LoadSignal) -> common_pb2.DispatchReply:
        """Dispatch the feeders against fixed station loads; its cost and the station DLMPs."""
        started = time.perf_counter()
        loads = from_series(request.load_mw, self.stations, self.periods, "load_mw")
        result = self.dispatch_fixed(loads)
        header = self._remember(request.header, result, started, coupling=False)
        if not result.status.has_solution:
            return common_pb2.DispatchReply(header=header, cost=float("nan"))
        dlmp = self._stations_of(np.stack([result.charging_dlmp_per_mwh[n]
                                           for n in self.opf("fixed").charging_names]))
        return common_pb2.DispatchReply(header=header, cost=self._last_cost,
                                        price_per_mwh=to_series(self.stations, dlmp),
                                        revenue=self._charging_profit(request.header, loads))

    def quote_prices(self, request: common_pb2.LoadSignal) -> common_pb2.PriceReply:
        """The pricing game: its next quote (random trials first, then the fitted-response
        OPF), after adding the loads observed at its previous quote to its history."""
        started = time.perf_counter()
        settings = self.config.pricing
        if settings is None:
            raise InvalidInputError("QuotePrices: this DSO has no [dso.pricing] table")
        history = self._history_for(request.header.negotiation_id, settings)
        if request.HasField("load_mw"):
            if not history.quotes:
                raise InvalidInputError("load_mw: loads observed before any quote")
            history.prices.append(history.quotes[-1])
            history.loads.append(from_series(request.load_mw, self.stations, self.periods,
                                             "load_mw"))
        status, message, trial = common_pb2.STATUS_OK, "", False
        stations, periods = len(self.stations), self.periods
        if len(history.quotes) < settings.trial_rounds or not history.loads:
            price = random_trial_prices(history.rng, stations, periods, settings.limits)
            trial = True
        else:
            fit = fit_load_response(np.stack([self._points(p) for p in history.prices]),
                                    np.stack([self._points(p) for p in history.loads]),
                                    history_weights(len(history.loads)))
            result = self.pricing_problem().solve(fit, self._points(history.quotes[-1]))
            price = self._stations_of(result.price_per_mwh)
            if result.status != "optimal":
                status = common_pb2.STATUS_INEXACT
                message = f"pricing problem {result.status}: {result.message}" + (
                    "; its previous prices are kept" if result.status in ("infeasible", "failed")
                    else "")
            if fit.status != "optimal":
                message = "; ".join(m for m in (message, f"response fit {fit.status}") if m)
        history.quotes.append(price)
        header = reply_header(request.header, self.operator_id, status, message,
                              time.perf_counter() - started)
        return common_pb2.PriceReply(header=header, price_per_mwh=to_series(self.stations, price),
                                     trial=trial)

    def pricing_problem(self) -> DsoPricingProblem:
        """The fitted-response pricing OPF, built on first use and then only re-solved."""
        settings = self.config.pricing
        assert settings is not None
        if self._pricing is None:
            self._pricing = DsoPricingProblem(self.config.case, settings.limits,
                                              proximal_weight=settings.proximal_weight)
        return self._pricing

    def _history_for(self, negotiation_id: str, settings: PricingSettings) -> _PricingHistory:
        if self._history is None or self._history.negotiation_id != negotiation_id:
            self._history = _PricingHistory(negotiation_id,
                                            np.random.default_rng(settings.seed))
        return self._history

    def _charging_profit(self, header: common_pb2.RequestHeader, loads: np.ndarray) -> float:
        """Σ Δt·λ·P − (C(P) − C(0)) at its last quote in this negotiation (NaN without one)."""
        history = self._history
        if history is None or history.negotiation_id != header.negotiation_id \
                or not history.quotes or self.config.pricing is None:
            return float("nan")
        sales = float(np.sum(history.quotes[-1] * loads)) * self.config.case.period_hours
        return sales - (self._last_cost - self.pricing_problem().no_charging_cost_usd())

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

