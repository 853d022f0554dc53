"""The DSO's model: the multi-period DistFlow OPF of its feeders, over domain values.

Why this module exists: the DSO holds its feeders' topology and impedances, its loads, its DER
and its purchase prices, and tells the coordinator only station loads, prices and its own cost
(MODELS.md §0). This is its pure model (numpy, cvxpy and the power engine; no protobuf, grpc or
ray), built from its own part of a scenario (:mod:`ptn.services.dso.config`); it implements
:class:`ptn.services.dso.contract.DsoOperator`, which its host's binding calls.

Model: the multi-period DistFlow OPF of :mod:`ptn.engines.power.distflow`, one cvxpy problem per
feeder (:class:`ptn.engines.power.feeder_blocks.FeederwiseOpf`: nothing couples its feeders, so
memory is the largest feeder's rather than growing with feeders²; ``[dso] feeder_workers``
solves that many at once on threads), built once per mode and
re-solved with new Parameters: ``charging="priced"`` for ADMM's local step (MODELS.md §5: the
supplying side's :class:`~ptn.engines.coupling.CouplingTerms`,
``Σ Δt·[−λ·P + (ρ/2)·(P − z)²]`` on top of its cost), ``charging="fixed"`` to dispatch given
loads. Its reported cost excludes the coordination terms. Given an output directory of its own,
it writes a private report there (:mod:`ptn.services.dso.report`); nothing of it leaves.

In the pricing game (seed 001, MODELS.md §3; ``[dso.pricing]``) it quotes the stations' prices:
random trial prices for its first ``trial_rounds`` quotes, then the revenue-maximizing OPF with its
fitted load response (:mod:`ptn.engines.power.pricing`, solved over its feeders' own OPFs with the
response as data: :mod:`ptn.engines.power.feeder_pricing`); it refits from every (quote, observed
loads) pair of the current negotiation. Prices, trials and the fit are per price group
(:attr:`DsoConfig.price_groups`: with ``price_per = "bus"`` the stations at one bus share one price,
and the fit relates the bus's total load to the buses' prices); each station is quoted its group's
price. Its history is keyed by the negotiation id, so each negotiation (e.g. each variant of the
game) starts afresh.

State (:meth:`DsoModel.snapshot`): the pricing history (negotiation id, quotes, the prices with
observed loads, the loads, its random generator's state) and the inputs of its latest
state-defining solve (an ADMM step's coupling terms or a dispatch's loads), which
:meth:`DsoModel.restore` solves again, so that its cost reports and dispatch revenues continue.
Restoring also drops its built OPFs (their solvers warm-start from earlier solves), so a
restored model answers exactly as a fresh one that was given the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.power.distflow import ChargingMode
from ptn.engines.power.feeder_blocks import FeederwiseOpf
from ptn.engines.power.feeder_pricing import FeederwisePricingProblem
from ptn.engines.power.pricing import (
    fit_load_response,
    history_weights,
    random_trial_prices,
)
from ptn.engines.power.result import OpfResult, OpfStatus
from ptn.scenario.document import ScenarioPart
from ptn.services.contract import (
    CostReport,
    FloatArray,
    OperatorDescription,
    OperatorStatus,
    StationLoads,
)
from ptn.services.dso.config import DsoConfig, PricingSettings, dso_config_from_part
from ptn.services.dso.contract import DispatchResult, PriceQuote
from ptn.services.dso.report import (
    INFEASIBILITY_FILE,
    write_infeasibility_report,
    write_voltage_report,
)
from ptn.services.observations import check_station_loads
from ptn.services.snapshot import (
    float_matrices,
    require_keys,
    solve_inputs_from_json,
    solve_inputs_to_json,
)

_STATUS = {
    OpfStatus.OPTIMAL: OperatorStatus.OK,
    OpfStatus.INEXACT: OperatorStatus.INEXACT,
    OpfStatus.INFEASIBLE: OperatorStatus.INFEASIBLE,
    OpfStatus.UNBOUNDED: OperatorStatus.FAILED,
    OpfStatus.SOLVER_ERROR: OperatorStatus.FAILED,
}


@dataclass
class PricingHistory:
    """One negotiation's quotes and the loads observed at them (station order)."""

    negotiation_id: str
    rng: np.random.Generator
    quotes: list[FloatArray] = field(default_factory=list)
    prices: list[FloatArray] = field(default_factory=list)  # quotes with observed loads
    loads: list[FloatArray] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"negotiation_id": self.negotiation_id, "rng": self.rng.bit_generator.state,
                "quotes": [q.tolist() for q in self.quotes],
                "prices": [p.tolist() for p in self.prices],
                "loads": [load.tolist() for load in self.loads]}

    @classmethod
    def from_json(cls, data: Any, shape: tuple[int, int]) -> PricingHistory:
        require_keys(data, ("negotiation_id", "rng", "quotes", "prices", "loads"), "pricing")
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = data["rng"]
        except (TypeError, ValueError, KeyError) as error:
            raise InvalidInputError(f"pricing.rng: not a random generator state "
                                    f"({error!r})") from None
        history = cls(str(data["negotiation_id"]), rng,
                      float_matrices(data["quotes"], shape, "pricing.quotes"),
                      float_matrices(data["prices"], shape, "pricing.prices"),
                      float_matrices(data["loads"], shape, "pricing.loads"))
        if len(history.prices) != len(history.loads):
            raise InvalidInputError("pricing: as many observed prices as loads expected")
        return history


class DsoModel:
    """The DSO's pure model (implements :class:`ptn.services.dso.contract.DsoOperator`)."""

    role = "dso"

    def __init__(self, config: DsoConfig, private_output_dir: Path | None = None) -> None:
        self.config = config
        self.operator_id = config.operator_id
        self.private_output_dir = private_output_dir
        self._order = config.point_order
        self._groups = config.price_groups
        #: each charging point's price group, and the groups in the public order of their first
        #: station (the order trial prices are drawn in)
        self._group_of_point = np.empty(len(self._order), dtype=np.int64)
        for group, members in enumerate(self._groups):
            self._group_of_point[list(members)] = group
        first_station = [min(self._order.index(k) for k in members) for members in self._groups]
        self._draw_order = np.argsort(first_station, kind="stable")
        self._opf: dict[str, FeederwiseOpf] = {}
        self._last: OpfResult | None = None
        self._last_cost = float("nan")
        #: what the latest state-defining solve took: an ADMM step's terms or fixed loads
        self._last_input: CouplingTerms | FloatArray | None = None
        self._history: PricingHistory | None = None
        self._pricing: FeederwisePricingProblem | None = None

    @classmethod
    def from_part(cls, part: ScenarioPart, private_output_dir: Path | None = None) -> DsoModel:
        return cls(dso_config_from_part(part), private_output_dir)

    @property
    def stations(self) -> tuple[str, ...]:
        return self.config.stations

    @property
    def periods(self) -> int:
        return self.config.case.periods

    def opf(self, mode: ChargingMode) -> FeederwiseOpf:
        """The OPF of a charging mode (one problem per feeder), built on first use and then
        only re-solved."""
        if mode not in self._opf:
            self._opf[mode] = FeederwiseOpf(self.config.case, charging=mode,
                                            formulation=self.config.formulation,  # type: ignore[arg-type]
                                            workers=self.config.feeder_workers)
        return self._opf[mode]

    # ------------------------------------------------------------------ the service
    def describe(self) -> OperatorDescription:
        return OperatorDescription(self.role, self.operator_id, self.stations, self.periods,
                                   self.config.case.period_hours)

    def consensus_step(self, coupling: CouplingTerms) -> StationLoads:
        """ADMM: min cost − Σ Δt·λ·P + Σ Δt·(ρ/2)·(P − z)² over its charging loads P."""
        result = self.opf("priced").solve_coupled(coupling)
        self._remember(result, coupling)
        loads = self._by_station(result.charging_mw) if result.status.has_solution else None
        return StationLoads(loads, _STATUS[result.status], result.message)

    def dispatch_fixed(self, station_load_mw: FloatArray) -> OpfResult:
        """The feeders' optimal dispatch with the stations' loads fixed ((stations, periods) in
        public order, MW); the fixed-load OPF is built once and re-solved."""
        opf = self.opf("fixed")
        opf.set_charging_load(self._points(np.asarray(station_load_mw, dtype=np.float64)))
        return opf.solve()

    def dispatch(self, load_mw: FloatArray, negotiation_id: str) -> DispatchResult:
        """Dispatch the feeders against fixed station loads; its cost and the station DLMPs."""
        result = self.dispatch_fixed(load_mw)
        self._remember(result, np.array(load_mw, dtype=np.float64))
        status = _STATUS[result.status]
        if not result.status.has_solution:
            return DispatchResult(float("nan"), None, float("nan"), status, result.message)
        return DispatchResult(self._last_cost, self._by_station(result.charging_dlmp_per_mwh),
                              self._charging_profit(negotiation_id, load_mw), status,
                              result.message)

    def quote_prices(self, negotiation_id: str,
                     observed_load_mw: FloatArray | None) -> PriceQuote:
        """The pricing game: its next quote (random trials first, then the fitted-response
        OPF), after adding the loads observed at its previous quote to its history."""
        settings = self.config.pricing
        if settings is None:
            raise InvalidInputError("QuotePrices: this DSO has no [dso.pricing] table")
        history = self._history if self._history is not None \
            and self._history.negotiation_id == negotiation_id else None
        if observed_load_mw is not None:
            check_station_loads(observed_load_mw, self.stations, "load_mw")
        if observed_load_mw is not None and (history is None or not history.quotes):
            raise InvalidInputError("load_mw: loads observed before any quote")
        previous = self._history
        if history is None:
            history = PricingHistory(negotiation_id, np.random.default_rng(settings.seed))
        rng_state = history.rng.bit_generator.state
        if observed_load_mw is not None:
            history.prices.append(history.quotes[-1])
            history.loads.append(np.array(observed_load_mw, dtype=np.float64))
        try:
            price, status, message, trial = self._next_quote(history, settings)
        except BaseException as error:
            # a quote that cannot be made leaves the history as it was (a hostile observation
            # must not poison the fit of every later quote)
            if observed_load_mw is not None:
                history.prices.pop()
                history.loads.pop()
            history.rng.bit_generator.state = rng_state
            self._history = previous
            if isinstance(error, np.linalg.LinAlgError | ArithmeticError):
                raise InvalidInputError(f"load_mw: the observed loads leave the response fit "
                                        f"unsolvable ({type(error).__name__}: {error})") \
                    from None
            raise
        self._history = history
        history.quotes.append(price)
        return PriceQuote(price, trial, status, message)

    def report_cost(self) -> CostReport:
        """The DSO's cost at its latest dispatch ($), without coordination terms."""
        if self._last is None or not self._last.status.has_solution:
            return CostReport.refused("no dispatch computed yet")
        self.write_private_report()
        return CostReport(self._last_cost)

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        return {"last_solve": solve_inputs_to_json(self._last_input, "load_mw"),
                "pricing": None if self._history is None else self._history.to_json()}

    def restore(self, state: dict[str, Any]) -> None:
        require_keys(state, ("last_solve", "pricing"), "DSO state")
        shape = (len(self.stations), self.periods)
        history = None if state["pricing"] is None \
            else PricingHistory.from_json(state["pricing"], shape)
        last = solve_inputs_from_json(state["last_solve"], "load_mw", shape)
        self._history = history
        self._last, self._last_input, self._last_cost = None, None, float("nan")
        # the solvers warm-start from their previous solves: built afresh, they answer as a
        # fresh model's would (a negotiation after other traffic gets a fresh server's numbers)
        self._opf, self._pricing = {}, None
        if isinstance(last, CouplingTerms):
            self.consensus_step(last)
        elif last is not None:
            self.dispatch(last, "")

    # ------------------------------------------------------------------ private report
    def write_private_report(self) -> list[Path]:
        """Voltages (heatmap and CSV) of the latest dispatch, or the limits an infeasible one
        could not meet (``infeasibility.json``), kept in its own folder."""
        if self.private_output_dir is None or self._last is None:
            return []
        if not self._last.status.has_solution:
            return write_infeasibility_report(self._last, self.private_output_dir)
        # an earlier infeasible dispatch's report no longer describes the latest one
        (self.private_output_dir / INFEASIBILITY_FILE).unlink(missing_ok=True)
        return write_voltage_report(self._last, self.config.case, self.private_output_dir)

    # ------------------------------------------------------------------ helpers
    def pricing_problem(self) -> FeederwisePricingProblem:
        """The fitted-response pricing OPF, built on first use and then only re-solved."""
        settings = self.config.pricing
        assert settings is not None
        if self._pricing is None:
            self._pricing = FeederwisePricingProblem(self.config.case, settings.limits,
                                                     proximal_weight=settings.proximal_weight,
                                                     price_groups=self._groups)
        return self._pricing

    def _next_quote(self, history: PricingHistory, settings: PricingSettings
                    ) -> tuple[FloatArray, OperatorStatus, str, bool]:
        """(prices, status, message, trial) of the next quote of a history."""
        groups, periods = len(self._groups), self.periods
        if len(history.quotes) < settings.trial_rounds or not history.loads:
            drawn = random_trial_prices(history.rng, groups, periods, settings.limits,
                                        settings.trial_draw)
            by_group = np.empty_like(drawn)
            by_group[self._draw_order] = drawn
            return self._stations_of_groups(by_group), OperatorStatus.OK, "", True
        fit = fit_load_response(np.stack([self._group_prices(p) for p in history.prices]),
                                np.stack([self._group_loads(p) for p in history.loads]),
                                history_weights(len(history.loads)))
        result = self.pricing_problem().solve(fit, self._group_prices(history.quotes[-1]))
        status, message = OperatorStatus.OK, ""
        if result.status != "optimal":
            status = OperatorStatus.INEXACT
            message = f"pricing problem {result.status}: {result.message}" + (
                "; its previous prices are kept" if result.status in ("infeasible", "failed")
                else "")
        if fit.status != "optimal":
            message = "; ".join(m for m in (message, f"response fit {fit.status}") if m)
        return self._stations_of_groups(result.price_per_mwh), status, message, False

    def _charging_profit(self, negotiation_id: str, loads: FloatArray) -> float:
        """Σ Δt·λ·P − (C(P) − C(0)) at its last quote in this negotiation (NaN without one)."""
        history = self._history
        if history is None or history.negotiation_id != negotiation_id \
                or not history.quotes or self.config.pricing is None:
            return float("nan")
        sales = float(np.sum(history.quotes[-1] * loads)) * self.config.case.period_hours
        return sales - (self._last_cost - self.pricing_problem().no_charging_cost_usd())

    def _points(self, station_values: FloatArray) -> FloatArray:
        """(stations, T) in public order → (points, T) in the case's charging-point order."""
        points = np.empty_like(station_values)
        points[self._order] = station_values
        return points

    def _stations_of(self, point_values: FloatArray) -> FloatArray:
        return np.asarray(point_values[self._order], dtype=np.float64)

    def _group_prices(self, station_price: FloatArray) -> FloatArray:
        """(stations, T) prices → (groups, T): a group's price is its first point's (its
        stations are quoted one price)."""
        return np.asarray(self._points(station_price)[[members[0] for members in self._groups]],
                          dtype=np.float64)

    def _group_loads(self, station_load: FloatArray) -> FloatArray:
        """(stations, T) loads → (groups, T): a group's load is its points' total."""
        points = self._points(station_load)
        return np.stack([points[list(members)].sum(axis=0) for members in self._groups])

    def _stations_of_groups(self, group_values: FloatArray) -> FloatArray:
        """(groups, T) prices → (stations, T): each station gets its group's."""
        return self._stations_of(np.asarray(group_values)[self._group_of_point])

    def _by_station(self, values: dict[str, FloatArray]) -> FloatArray:
        """A result's per-charging-point series as (stations, periods) in public order."""
        return np.stack([values[station] for station in self.stations])

    def _remember(self, result: OpfResult, inputs: CouplingTerms | FloatArray) -> None:
        self._last, self._last_input = result, inputs
        if result.infeasibility is not None:
            self.write_private_report()
        if result.status.has_solution:
            coordination = result.cost_breakdown.get("charging_coupling", 0.0) \
                if isinstance(inputs, CouplingTerms) else 0.0
            self._last_cost = float(result.objective - coordination)
        else:
            self._last_cost = float("nan")
