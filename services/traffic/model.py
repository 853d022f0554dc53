"""The traffic department's model: multi-period equilibrium with charging stations.

Why this module exists: the traffic department holds the road network, the travel demand and
the drivers' behaviour (value of time, departure shifting), and answers the coordinator only
with aggregate station loads (MODELS.md §0). This is its pure model (numpy and the traffic
engine; no protobuf, grpc or ray), built from its own part of a scenario
(:mod:`ptn.services.traffic.config`); it implements
:class:`ptn.services.traffic.contract.TrafficOperator`, which its host's binding calls.

Model: :mod:`ptn.engines.traffic.multiperiod` (MUL-UE of seed 001). EV demand is inelastic unless
the table sets ``price_sensitivity`` (σ of seed 001's demand law in the mean charging price,
used in the pricing game; ADMM needs 0). In the pricing game (MODELS.md §3) it answers price
probes with load responses, each an equilibrium warm-started from the previous probe, without
changing the state its cost reports refer to. In ADMM (MODELS.md §5) its local step adds
``λ·P + (ρ/2)·(P − z)²`` per station and period to the Beckmann potential (the rate form of the
consuming side's :class:`~ptn.engines.coupling.CouplingTerms`)
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

Seed 003's options (UE mode): ``residual_share`` carries the vehicles that have not finished
their trip into the next period, and ``[[traffic.ev_class]]`` splits the EVs into classes with
their own energy needs (:mod:`ptn.engines.traffic.residual_flow`,
:mod:`ptn.engines.traffic.ev_classes`). Neither changes what leaves the department: the
aggregate load per station and period (with classes, the sum of each class's energy times its
charging EVs).

Probe batches (UE mode): by default each probe is an exact equilibrium warm-started from the
previous one; the ``probe_*`` keys (:class:`~ptn.services.traffic.config.ProbeSettings`) answer
a batch by first-order sensitivities near solved points, by re-solves warm-started from the
nearest solved point that stop on the station loads, and on private worker processes
(:mod:`ptn.services.traffic.probes`, docs/traffic-probes.md).

Differential privacy (``[privacy]`` protecting ``station_loads``, docs/privacy-mechanisms.md):
the loads of every ADMM step leave the department with calibrated noise from its own seeded
stream, charged to its own accountant (:mod:`ptn.services.private_release`), and the reply says
the privacy spent so far; a step past the budget is refused (INVALID_REQUEST, "privacy budget
spent after N rounds") without solving. The equilibrium behind the noisy loads, its cost report
and its warm starts are the department's own, exact. The uncoordinated baseline's price response
(the status quo's metered loads) is not noised. In the pricing game (the scenario's mechanism
``best-response``) every load answer is one release instead: each price response and each probe
of a batch, in order, clipped at zero (post-processing: a load is never negative; a batch the
budget cannot cover whole is refused without solving);
``[privacy] rounds`` counts those answers there.

State (:meth:`TrafficDepartmentModel.snapshot`): the inputs of its latest state-defining solve
(an ADMM step's coupling terms or a price response's prices), which
:meth:`TrafficDepartmentModel.restore` equilibrates again, cold: its cost reports continue, and
its next solves start from that equilibrium (to the equilibrium's tolerance; the warm starts of
the interrupted run, including its probes', are not kept).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.privacy.settings import PrivacySettings
from ptn.engines.traffic.multiperiod import (
    MultiPeriodResult,
    MultiPeriodSpec,
    build_multiperiod_problem,
)
from ptn.engines.traffic.result import AssignmentStatus
from ptn.engines.traffic.station_capacity import (
    CapacityDiagnosis,
    CapacityShortfall,
    capacity_shortfalls,
    diagnose_station_flows,
    station_capacities,
)
from ptn.engines.traffic.sue_periods import SuePeriodsProblem, SuePeriodsResult
from ptn.scenario.document import ScenarioPart
from ptn.services.contract import (
    CostReport,
    FloatArray,
    OperatorDescription,
    OperatorStatus,
    StationLoads,
)
from ptn.services.private_release import OperatorPrivacy
from ptn.services.snapshot import require_keys, solve_inputs_from_json, solve_inputs_to_json
from ptn.services.traffic.config import TrafficConfig, traffic_config_from_part
from ptn.services.traffic.contract import ProbeLoads
from ptn.services.traffic.probes import ProbeAnswerer

LOG = logging.getLogger("ptn.services.traffic")


def charging_shortfalls(spec: MultiPeriodSpec) -> tuple[CapacityShortfall, ...]:
    """The certain shortfalls of a spec's original EV demand against its stations' capacities
    (:func:`~ptn.engines.traffic.station_capacity.capacity_shortfalls`), the demand counted in
    the charging blocks the capacities are stated in (vehicles without EV classes)."""
    return capacity_shortfalls(spec.ev_blocks_veh_per_h(), station_capacities(spec),
                               max_shift_periods=spec.max_shift_periods)


class TrafficDepartmentModel:
    """The traffic department's pure model (implements
    :class:`ptn.services.traffic.contract.TrafficOperator`)."""

    role = "traffic"

    def __init__(self, config: TrafficConfig, privacy: PrivacySettings | None = None,
                 mechanism: str = "") -> None:
        self.config = config
        self.operator_id = config.operator_id
        #: the pricing game: every load answer (price responses, probe answers) is a release
        self.game_answers = mechanism == "best-response"
        #: the noisy releases of its ADMM loads or of its game answers ([privacy]; without it,
        #: none)
        self.privacy = OperatorPrivacy(privacy or PrivacySettings(), self.role, self.operator_id,
                                       "station_loads", config.spec.num_periods,
                                       "load answers" if self.game_answers else "rounds")
        self.problem = build_multiperiod_problem(config.spec)
        self._last: MultiPeriodResult | None = None
        self._last_probe: MultiPeriodResult | None = None
        #: SUE mode: the per-period logit SUE model and its latest results
        self.sue_problem = None if config.sue is None else SuePeriodsProblem(config.sue)
        self._last_sue: SuePeriodsResult | None = None
        self._last_sue_probe: SuePeriodsResult | None = None
        #: what the latest state-defining solve took: an ADMM step's terms or prices
        self._last_input: CouplingTerms | FloatArray | None = None
        #: the probe batches' answers under the [traffic] probe_* keys (UE mode)
        self.probe_answerer = ProbeAnswerer(self.problem, config.probes, config.equilibrium_gap,
                                            config.max_iterations)
        #: the certain shortfalls of the EV demand against the stations' capacities (a
        #: warning: Davidson's capacity is soft; docs/runtime.md)
        self.shortfalls = charging_shortfalls(config.spec)
        if self.shortfalls:
            LOG.warning("traffic operator %s: charging capacity is short: %s", self.operator_id,
                        "; ".join(s.describe() for s in self.shortfalls))

    @classmethod
    def from_part(cls, part: ScenarioPart,
                  private_output_dir: Path | None = None) -> TrafficDepartmentModel:
        """Its model from its scenario part (it writes no private report)."""
        return cls(traffic_config_from_part(part), part.privacy, part.mechanism)

    @property
    def stations(self) -> tuple[str, ...]:
        return self.config.station_names

    @property
    def periods(self) -> int:
        return self.config.spec.num_periods

    # ------------------------------------------------------------------ the service
    def describe(self) -> OperatorDescription:
        return OperatorDescription(self.role, self.operator_id, self.stations, self.periods,
                                   self.config.period_hours)

    def consensus_step(self, coupling: CouplingTerms) -> StationLoads:
        """ADMM: the equilibrium with ``λ·P + (ρ/2)(P − z)²`` on every station and period,
        its loads released with the ``[privacy]`` noise (or refused past the budget)."""
        if not self.privacy.admits_another():
            return StationLoads(None, OperatorStatus.INVALID_REQUEST, self.privacy.refusal(),
                                self.privacy.report())
        loads = self._consensus_solve(coupling)
        if loads.load_mw is None or not self.privacy.active:
            return loads
        noisy, report = self.privacy.noised(loads.load_mw)
        return replace(loads, load_mw=noisy, privacy=report)

    def _consensus_solve(self, coupling: CouplingTerms) -> StationLoads:
        """The ADMM step's exact equilibrium loads (the department's own)."""
        if self.sue_problem is not None:
            sue = self.sue_problem.solve_coupled(coupling, previous=self._last_sue)
            return self._sue_loads(sue, coupling)
        result = self.problem.solve_coupled(
            coupling, gap=self.config.equilibrium_gap,
            max_iterations=self.config.max_iterations, warm_start=self._last,
        )
        return self._ue_loads(result, coupling)

    @property
    def _noised_answers(self) -> bool:
        """Whether the pricing game's load answers leave with noise ([privacy] active)."""
        return self.game_answers and self.privacy.active

    def respond_to_prices(self, price_per_mwh: FloatArray) -> StationLoads:
        """The equilibrium station loads when charging costs ``price_per_mwh``; in the pricing
        game released with the ``[privacy]`` noise (or refused past the budget)."""
        price = self._check_price(np.array(price_per_mwh, dtype=np.float64), "price_per_mwh")
        if not self._noised_answers:
            return self._price_response(price)
        if not self.privacy.admits_another():
            return StationLoads(None, OperatorStatus.INVALID_REQUEST, self.privacy.refusal(),
                                self.privacy.report())
        loads = self._price_response(price)
        if loads.load_mw is None:
            return loads
        noisy, report = self.privacy.noised(loads.load_mw)
        return replace(loads, load_mw=np.maximum(noisy, 0.0), privacy=report)

    def _price_response(self, price: FloatArray) -> StationLoads:
        """The exact equilibrium loads at ``price`` (the department's own)."""
        if self.sue_problem is not None:
            return self._sue_loads(self.sue_problem.solve(price, previous=self._last_sue),
                                   price)
        result = self.problem.solve(price, gap=self.config.equilibrium_gap,
                                    max_iterations=self.config.max_iterations,
                                    warm_start=self._last)
        return self._ue_loads(result, price)

    def probe_responses(self, price_per_mwh: Sequence[FloatArray]) -> ProbeLoads:
        """The station loads at each probe's prices (the pricing game's load responses).

        Each probe is an exact equilibrium warm-started from the previous probe; the state that
        :meth:`report_cost` refers to is left alone. Not converged anywhere: NOT_CONVERGED.
        With ``[privacy]`` each probe's loads are one noisy release, in the probes' order; a
        batch the budget cannot cover whole is refused (INVALID_REQUEST) without solving.
        """
        if not price_per_mwh:
            raise InvalidInputError("price_per_mwh: no probes given")
        prices = [self._check_price(np.asarray(price, dtype=np.float64),
                                    f"price_per_mwh[{k}]")
                  for k, price in enumerate(price_per_mwh)]
        if not self._noised_answers:
            return self._probe_loads(prices)
        if not self.privacy.admits(len(prices)):
            return ProbeLoads((), OperatorStatus.INVALID_REQUEST,
                              f"{self.privacy.refusal()}: {len(prices)} probes asked")
        answer = self._probe_loads(prices)
        # a load is never negative: clipping the noisy loads at zero is post-processing
        noisy = tuple(np.maximum(self.privacy.noised(load)[0], 0.0) for load in answer.load_mw)
        return replace(answer, load_mw=noisy, privacy=self.privacy.report())

    def _probe_loads(self, prices: list[FloatArray]) -> ProbeLoads:
        """The exact loads at each probe (the department's own)."""
        if self.sue_problem is not None:
            return self._sue_probe_responses(prices)
        if not self.config.probes.default:
            return self._batch_probe_responses(prices)
        loads, worst = [], None
        for price in prices:
            result = self.problem.solve(price, gap=self.config.equilibrium_gap,
                                        max_iterations=self.config.max_iterations,
                                        warm_start=self._last_probe or self._last)
            self._last_probe = result
            if result.status != AssignmentStatus.CONVERGED and worst is None:
                worst = result
            loads.append(result.station_load_mw.T)
        if worst is None:
            return ProbeLoads(tuple(loads))
        stalled = self._loads_with_diagnosis(
            worst.station_load_mw.T, False, f"a probe's equilibrium stopped at relative gap "
            f"{worst.relative_gap:.2e} after {worst.iterations} iterations",
            worst.ev_demand_veh_per_h)
        return ProbeLoads(tuple(loads), OperatorStatus.NOT_CONVERGED, stalled.message)

    def _batch_probe_responses(self, prices: list[FloatArray]) -> ProbeLoads:
        """A batch answered under the probe_* keys (:mod:`ptn.services.traffic.probes`): the
        department's latest price response is a warm start and expansion centre (an ADMM
        step's equilibrium, of the coupled problem, is neither)."""
        state = self._last if isinstance(self._last_input, np.ndarray) else None
        answer = self.probe_answerer.answer(prices, state)
        LOG.debug("traffic operator %s: %d probes, %d re-solved, %d by sensitivities",
                  self.operator_id, len(prices), answer.solved, answer.expanded)
        if answer.failed is None:
            return ProbeLoads(answer.load_mw)
        worst = answer.failed
        stalled = self._loads_with_diagnosis(
            worst.station_load_mw.T, False, f"a probe's equilibrium stopped at relative gap "
            f"{worst.relative_gap:.2e} after {worst.iterations} iterations",
            worst.ev_demand_veh_per_h)
        return ProbeLoads(answer.load_mw, OperatorStatus.NOT_CONVERGED, stalled.message)

    def close(self) -> None:
        """Stop the department's private probe workers, if any."""
        self.probe_answerer.close()

    def report_cost(self) -> CostReport:
        """``Δt ×`` the Beckmann potential of the latest equilibrium (charging payments out)."""
        if self.sue_problem is not None:
            if self._last_sue is None:
                return CostReport.refused("no equilibrium computed yet")
            # Δt × Fisk's objective without charging payments ($/h summed over periods)
            return CostReport(self.config.period_hours * self._last_sue.potential)
        if self._last is None:
            return CostReport.refused("no equilibrium computed yet")
        return CostReport(self.config.period_hours
                          * self.problem.potential(self._last.assignment.link_flow))

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "last_solve": solve_inputs_to_json(self._last_input, "price_per_mwh")}
        if self.privacy.active:
            state["privacy"] = self.privacy.snapshot()
        return state

    def restore(self, state: dict[str, Any]) -> None:
        require_keys(state, ("last_solve",), "traffic state")
        last = solve_inputs_from_json(state["last_solve"], "price_per_mwh",
                                      (len(self.stations), self.periods))
        self._last = self._last_probe = None
        self.probe_answerer.forget()
        self._last_sue = self._last_sue_probe = None
        self._last_input = None
        self.privacy.restore(state.get("privacy", {}))
        if isinstance(last, CouplingTerms):
            self._consensus_solve(last)
        elif last is not None:
            self._price_response(last)

    # ------------------------------------------------------------------ helpers
    def _check_price(self, price: FloatArray, what: str) -> FloatArray:
        if (price < 0).any():
            s, t = (int(v) for v in np.argwhere(price < 0)[0])
            raise InvalidInputError(f"{what}: negative price at station {self.stations[s]} in "
                                    f"period {t}")
        return price

    def capacity_diagnosis(self, station_load_mw: FloatArray,
                           ev_demand_veh_per_h: FloatArray | None = None) -> CapacityDiagnosis:
        """Which stations bind at these loads (stations, periods; MW) and the certain
        shortfalls of the EV demand (default: the original one) against their capacities."""
        spec = self.config.spec
        charging = spec.charging
        flow = np.asarray(station_load_mw, dtype=np.float64).T / charging.energy_per_charge_mwh
        return diagnose_station_flows(
            charging.station_names, [s.capacity_veh_per_h for s in charging.stations], flow,
            spec.ev_blocks_veh_per_h(ev_demand_veh_per_h),
            max_shift_periods=spec.max_shift_periods)

    def _loads_with_diagnosis(self, load_mw: FloatArray, converged: bool, failure: str,
                              ev_demand_veh_per_h: FloatArray | None = None) -> StationLoads:
        """Loads (stations, periods) with their status; a reply whose stations bind says which
        and by how much: as the reason of a non-converged equilibrium, else as a warning."""
        diagnosis = self.capacity_diagnosis(load_mw, ev_demand_veh_per_h)
        if converged:
            return StationLoads(load_mw, OperatorStatus.OK,
                                f"charging capacity binds: {diagnosis.describe()}"
                                if diagnosis.binding else "")
        reason = f"; charging capacity is short: {diagnosis.describe()}" \
            if diagnosis.binding else ""
        return StationLoads(load_mw, OperatorStatus.NOT_CONVERGED, failure + reason)

    def _ue_loads(self, result: MultiPeriodResult,
                  inputs: CouplingTerms | FloatArray) -> StationLoads:
        self._last, self._last_input = result, inputs
        # station_load_mw is (periods, stations); the contract's loads are (stations, periods)
        return self._loads_with_diagnosis(
            result.station_load_mw.T, result.status == AssignmentStatus.CONVERGED,
            f"equilibrium stopped at relative gap {result.relative_gap:.2e} "
            f"({result.status}) after {result.iterations} iterations",
            result.ev_demand_veh_per_h)

    def _sue_loads(self, result: SuePeriodsResult,
                   inputs: CouplingTerms | FloatArray) -> StationLoads:
        self._last_sue, self._last_input = result, inputs
        # the SUE result's station_load_mw is already (stations, periods)
        return self._loads_with_diagnosis(result.station_load_mw, result.converged,
                                          result.describe_failure())

    def _sue_probe_responses(self, prices: list[FloatArray]) -> ProbeLoads:
        """SUE mode's probe answers: each probe warm-started from the previous one."""
        assert self.sue_problem is not None
        loads, worst = [], None
        for price in prices:
            result = self.sue_problem.solve(price,
                                            previous=self._last_sue_probe or self._last_sue)
            self._last_sue_probe = result
            if not result.converged and worst is None:
                worst = result
            loads.append(result.station_load_mw)
        if worst is None:
            return ProbeLoads(tuple(loads))
        return ProbeLoads(tuple(loads), OperatorStatus.NOT_CONVERGED,
                          "a probe's " + worst.describe_failure())
