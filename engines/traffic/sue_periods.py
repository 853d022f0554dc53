"""Multi-period logit stochastic user equilibrium with charging stations (seed 002's traffic model).

Why this module exists: seed 002 ("SUE traffic (MSA) mapped to station loads", MODELS.md §1 and
§5) models the traffic side of the coupled power–transportation system by a *stochastic* user
equilibrium per hourly period, not by Wardrop's deterministic one: drivers choose routes (and EV
drivers their charging station) by logit on perceived generalized cost. It solves each period by
the method of successive averages (MSA), periods in order, each started from the previous
period's equilibrium (its Figures 7–8: with that warm start, period t = 2 converges in two
iterations). :mod:`ptn.engines.traffic.sue` solves one SUE; :mod:`ptn.engines.traffic.multiperiod`
is seed 001's time-expanded UE with departure shifting. This module is the seed-002 day: one SUE
per period, chained by the warm start, with the station loads the DSO sees and the ADMM step of
the joint minimum-cost coordination (MODELS.md §5), so the traffic department can take part in
ADMM with an SUE model.

Model, per period ``t`` (no departure shifting, inelastic demand):

* classes GV (road graph) and EV (two-layer graph: every EV route passes exactly one charging
  link, a Davidson queue; :mod:`ptn.engines.traffic.charging`), demand (periods, OD pairs) veh/h;
* generalized link cost ``c_a`` in $: value of time ($/h) x time (h) + money; a charging link's
  money is ``price_st * E_B`` ($/MWh x MWh);
* logit route choice ``P_k = exp(-theta c_k) / sum_j exp(-theta c_j)`` over each OD pair's routes
  of a class, ``theta`` in 1/$; the SUE is the unique minimiser of Fisk's (1980) objective
  ``Z_t(f) = sum_a int_0^{x_a} c_a(u) du + (1/theta) sum_k f_k (ln f_k - 1)`` (Sheffi 1985,
  ch. 12) over route flows meeting the period's demand. Route sets: every acyclic route (the
  textbook logit SUE; Nguyen–Dupuis with three stations has 70 routes, 45 of them EV), or
  column generation on big networks (``path_set="auto"`` of :func:`solve_stochastic_equilibrium`).
* station load ``P_st = E_B x_st`` (MW: veh/h x MWh).

Solution: :func:`~ptn.engines.traffic.sue.solve_stochastic_equilibrium` per period, in period order.
``method="msa"`` is seed 002's algorithm (step ``1/n``) and stops by its test
``max_k |f_k^{n+1} - f_k^n| <= tolerance`` (``criterion="step"``, veh/h; note that the MSA step
is the fixed-point residual divided by ``n``, so the residual at the stop, reported per period,
can be ``n`` times larger). With ``warm_start=True`` period ``t`` starts from period ``t - 1``'s
route flows, rescaled to period ``t``'s demand per OD (seed 002, step 2 of its MSA framework);
cold, from the logit loading at free-flow costs. ``method="newton"`` solves the same fixed point
by Newton's method (a few iterations per period) for the many solves of a negotiation. Each
period's iterations, final step, fixed-point residual and seconds are recorded, and
:func:`compare_warm_start` solves the day cold and warm for the study's "MSA iterations per
period with and without warm start" figure.

ADMM (MODELS.md §5): the traffic side's local step minimises
``sum_t [Z_t(f) + sum_s (lambda_st P_st + (rho/2)(P_st - z_st)^2)]``, Fisk's objective without
charging money plus the augmented-Lagrangian terms. The terms enter each period exactly as in
the UE model (:func:`~ptn.engines.traffic.multiperiod.with_admm_station_terms`: a fixed money term
and a linear Davidson term on each charging link), so the logit SUE of the coupled costs is the
minimiser. The traffic side's cost in the joint problem is :meth:`SuePeriodsProblem.potential`:
``sum_t Z_t`` with no charging money, in $/h summed over periods (each period's value is a rate);
like the UE model's Beckmann potential it is NOT multiplied by the period length here; the
traffic operator (:mod:`ptn.services.traffic.model`) reports ``period_hours x`` it. It is a
potential, not a travel bill: the entropy term is negative, and only differences matter.

References: C. Fisk (1980), "Some developments in equilibrium traffic assignment",
Transportation Research B 14(3), 243–255. Y. Sheffi (1985), *Urban Transportation Networks:
Equilibrium Analysis with Mathematical Programming Methods*, Prentice-Hall (ch. 10–12: logit SUE,
Fisk's program, MSA). Seed 002 (``../shared/seeds/002_*``, section 3, its MSA framework, and
section 5.2, Figures 7–8): per-period SUE by MSA, warm-started from the previous period.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.charging import (
    ChargingNetworkSpec,
    build_charging_problem,
    require_demand,
)
from ptn.engines.traffic.link_costs import LinkCosts
from ptn.engines.traffic.multiperiod import (
    check_coupling,
    check_period_demand,
    with_admm_station_terms,
)
from ptn.engines.traffic.network import FloatArray, IntArray
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.result import AssignmentStatus
from ptn.engines.traffic.sue import (
    CRITERIA,
    SueResult,
    SueState,
    canonical_method,
    solve_stochastic_equilibrium,
)

#: **(choice)** logit dispersion: 1 per $ (with a value of time of 10 $/h, 1/6 per minute of
#: travel time); seed 002 does not state its theta
DEFAULT_THETA_PER_DOLLAR = 1.0
#: seed 002's algorithm, the default for the study
DEFAULT_METHOD = "msa"
METHODS = ("msa", "newton")
DEFAULT_TOLERANCE_VEH_PER_H = 1e-3
DEFAULT_MAX_ITERATIONS = 10_000


@dataclass(frozen=True)
class SuePeriodsSpec:
    """Everything the per-period SUE needs besides the charging prices.

    Demands have shape (periods, OD pairs of ``charging.network``) in veh/h; the stations need as
    many price periods (their prices are the default of :meth:`SuePeriodsProblem.solve`).
    ``theta_per_dollar``: logit dispersion (1/$). ``method``: ``"msa"`` (seed 002) or
    ``"newton"``. ``tolerance_veh_per_h`` and ``criterion``: the stopping test of each period
    (``"step"``: seed 002's ``max_k |f_k^{n+1} - f_k^n|``; ``"residual"``: ``max_k |f_k -
    y_k(c(f))|``). ``max_iterations``: per period. ``warm_start``: start each period from the
    previous period's equilibrium (seed 002) instead of the free-flow logit loading.
    """

    charging: ChargingNetworkSpec
    gv_demand_veh_per_h: FloatArray
    ev_demand_veh_per_h: FloatArray
    theta_per_dollar: float = DEFAULT_THETA_PER_DOLLAR
    method: str = DEFAULT_METHOD
    tolerance_veh_per_h: float = DEFAULT_TOLERANCE_VEH_PER_H
    criterion: str = "step"
    max_iterations: int = DEFAULT_MAX_ITERATIONS
    warm_start: bool = True

    def __post_init__(self) -> None:
        gv = check_period_demand(self.charging.network, self.gv_demand_veh_per_h, "GV demand")
        ev = check_period_demand(self.charging.network, self.ev_demand_veh_per_h, "EV demand")
        if gv.shape != ev.shape:
            raise InvalidInputError(
                f"GV demand has {gv.shape[0]} periods but EV demand {ev.shape[0]}"
            )
        require_demand(self.charging.network, "per-period SUE", gv, ev)
        for station in self.charging.stations:
            if station.num_periods != gv.shape[0]:
                raise InvalidInputError(
                    f"station {station.name}: {station.num_periods} price periods, "
                    f"but the demand has {gv.shape[0]}"
                )
        theta = self.theta_per_dollar
        if isinstance(theta, bool) or not isinstance(theta, numbers.Real) \
                or not math.isfinite(theta) or theta <= 0:
            raise InvalidInputError(
                f"theta_per_dollar (logit dispersion, 1/$) must be a positive finite number, "
                f"got {theta!r}"
            )
        object.__setattr__(self, "method", check_method(self.method))
        if self.criterion not in CRITERIA:
            raise InvalidInputError(
                f"unknown criterion {self.criterion!r} (choose from {', '.join(CRITERIA)})"
            )
        tolerance = self.tolerance_veh_per_h
        if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) \
                or not math.isfinite(tolerance) or tolerance <= 0:
            raise InvalidInputError(
                f"tolerance_veh_per_h must be a positive finite number, got {tolerance!r}"
            )
        if isinstance(self.max_iterations, bool) \
                or not isinstance(self.max_iterations, numbers.Integral) or self.max_iterations < 1:
            raise InvalidInputError(
                f"max_iterations must be a positive integer, got {self.max_iterations!r}"
            )
        if not isinstance(self.warm_start, bool | np.bool_):
            raise InvalidInputError(f"warm_start must be true or false, got {self.warm_start!r}")
        object.__setattr__(self, "gv_demand_veh_per_h", gv)
        object.__setattr__(self, "ev_demand_veh_per_h", ev)
        object.__setattr__(self, "theta_per_dollar", float(theta))
        object.__setattr__(self, "tolerance_veh_per_h", float(tolerance))
        object.__setattr__(self, "warm_start", bool(self.warm_start))
        object.__setattr__(self, "max_iterations", int(self.max_iterations))

    @property
    def num_periods(self) -> int:
        return int(self.gv_demand_veh_per_h.shape[0])


def check_method(method: str) -> str:
    """The canonical name of an SUE method this module offers (``"msa"`` or ``"newton"``)."""
    name = canonical_method(method)
    if name not in METHODS:
        raise InvalidInputError(
            f"unknown per-period SUE method {method!r} (choose from {', '.join(METHODS)})"
        )
    return name


@dataclass(frozen=True)
class SuePeriodsResult:
    """The per-period SUE of a day at given prices (or ADMM terms) and how it was reached.

    Arrays: ``price_per_mwh`` and ``station_load_mw`` (stations, periods), the schema's layout;
    ``station_flow_veh_per_h`` (stations, periods); ``link_flow_veh_per_h`` (periods, road links
    + stations: road links in the network's order, then one charging link per station) and
    ``road_link_flow_veh_per_h`` (periods, road links), GV + EV. Per period (arrays of length
    periods): ``iterations``, ``final_step_veh_per_h`` (the last iteration's max route-flow
    change, seed 002's test), ``residual_veh_per_h`` (the SUE fixed-point residual
    ``max_k |f_k - y_k(c(f))|`` at the returned flows), ``msa_start`` (the ``n`` of MSA's first
    step; 0 for Newton), ``seconds`` and ``statuses``. ``status`` is CONVERGED when every
    period converged, else the first failing period's status. ``potential`` is Fisk's
    objective without charging money, $/h summed over periods (:meth:`SuePeriodsProblem.
    potential`); ``objective`` the sum of the per-period Fisk objectives actually minimised
    (with the charging money or the ADMM terms, up to a constant per period).
    ``warm_started``: whether the periods were chained (seed 002's warm start).
    """

    status: AssignmentStatus
    method: str
    theta_per_dollar: float
    criterion: str
    tolerance_veh_per_h: float
    warm_started: bool
    price_per_mwh: FloatArray
    station_flow_veh_per_h: FloatArray
    station_load_mw: FloatArray
    link_flow_veh_per_h: FloatArray
    road_link_flow_veh_per_h: FloatArray
    iterations: IntArray
    final_step_veh_per_h: FloatArray
    residual_veh_per_h: FloatArray
    msa_start: IntArray
    seconds: FloatArray
    statuses: tuple[AssignmentStatus, ...]
    potential: float
    objective: float
    period_results: tuple[SueResult, ...] = field(repr=False, compare=False)

    @property
    def converged(self) -> bool:
        return self.status == AssignmentStatus.CONVERGED

    @property
    def num_periods(self) -> int:
        return len(self.period_results)

    @property
    def total_iterations(self) -> int:
        return int(self.iterations.sum())

    @property
    def path_flow_veh_per_h(self) -> tuple[FloatArray, ...]:
        """Each period's route flows (its :attr:`SueResult.paths` order)."""
        return tuple(result.path_flow for result in self.period_results)

    def warm_state(self, period: int) -> SueState | None:
        """Period ``period``'s routes and route flows (a warm start for later solves)."""
        return self.period_results[period].warm_start

    def describe_failure(self) -> str:
        """Why the result is not converged ("" when it is)."""
        if self.converged:
            return ""
        t = next(k for k, status in enumerate(self.statuses)
                 if status != AssignmentStatus.CONVERGED)
        return (f"period {t}: SUE ({self.method}) stopped {self.statuses[t]} after "
                f"{int(self.iterations[t])} iterations at step "
                f"{float(self.final_step_veh_per_h[t]):.2e} veh/h (tolerance "
                f"{self.tolerance_veh_per_h:.1e}, criterion {self.criterion})")


class SuePeriodsProblem:
    """The per-period GV/EV logit SUE of a :class:`SuePeriodsSpec`, built once.

    Per period an :class:`~ptn.engines.traffic.problem.AssignmentProblem` on the charging-expanded
    network (links: road ``0..L-1``, then station ``s`` as link ``L + s``) with no charging money;
    :meth:`solve` prices it, :meth:`solve_coupled` adds ADMM's terms. Raises
    :class:`InvalidInputError` naming the OD pair and period when a class has demand but no route
    (for EVs: none through any charging station).
    """

    def __init__(self, spec: SuePeriodsSpec) -> None:
        self.spec = spec
        charging = spec.charging
        unpriced: list[AssignmentProblem] = []
        for t in range(spec.num_periods):
            try:
                built = build_charging_problem(charging, spec.gv_demand_veh_per_h[t],
                                               spec.ev_demand_veh_per_h[t], period=t,
                                               allow_no_demand=True).problem
            except InvalidInputError as error:
                raise InvalidInputError(f"period {t}: {error}") from None
            fixed = built.links.fixed_cost.copy()
            fixed[self.station_links] = 0.0
            unpriced.append(built.with_fixed_cost(fixed))
        self.unpriced_problems: tuple[AssignmentProblem, ...] = tuple(unpriced)

    @property
    def num_periods(self) -> int:
        return self.spec.num_periods

    @property
    def num_road_links(self) -> int:
        return self.spec.charging.num_road_links

    @property
    def station_links(self) -> IntArray:
        """Link ids of the charging links in every period's problem (station order)."""
        charging = self.spec.charging
        return charging.num_road_links + np.arange(charging.num_stations, dtype=np.int64)

    # ------------------------------------------------------------------ problems
    def problems_at(self, price_per_mwh: ArrayLike) -> tuple[AssignmentProblem, ...]:
        """Each period's problem at charging prices (stations, periods), $/MWh."""
        charging = self.spec.charging
        prices = charging.check_prices(price_per_mwh, periods=self.num_periods)
        out = []
        for t, problem in enumerate(self.unpriced_problems):
            fixed = problem.links.fixed_cost.copy()
            fixed[self.station_links] = prices[:, t] * charging.energy_per_charge_mwh
            out.append(problem.with_fixed_cost(fixed))
        return tuple(out)

    def coupled_problems_at(self, coupling: CouplingTerms) -> tuple[AssignmentProblem, ...]:
        """Each period's problem with ADMM's ``λ·P + (ρ/2)·(P − z)²`` per station ($/h).

        ``coupling``: the consuming side's terms (λ in $/MWh, may be negative; z in MW; ρ in
        $/(MW²·h)), in their rate form. Built by
        :func:`~ptn.engines.traffic.multiperiod.with_admm_station_terms`, as in the UE model.
        """
        charging = self.spec.charging
        terms = check_coupling(charging, self.num_periods, coupling)
        prices = terms.signed_price_per_mwh
        return tuple(
            problem.with_links(with_admm_station_terms(
                problem.links, self.station_links, prices[:, t], terms.penalty_per_mw2h,
                terms.target_load_mw[:, t], charging.energy_per_charge_mwh))
            for t, problem in enumerate(self.unpriced_problems)
        )

    # ------------------------------------------------------------------ solves
    def solve(
        self,
        price_per_mwh: ArrayLike | None = None,
        *,
        previous: SuePeriodsResult | None = None,
        method: str | None = None,
        warm_start: bool | None = None,
    ) -> SuePeriodsResult:
        """The SUE of every period at charging prices (stations, periods), $/MWh.

        Default prices: the stations' own. ``previous``: a result of this problem (e.g. the last
        negotiation round); period ``t`` then starts from ``previous``'s period ``t``. Without it,
        period ``t`` starts from period ``t - 1``'s equilibrium when ``warm_start`` (default: the
        spec's) is true, else cold. ``method`` overrides the spec's.
        """
        charging = self.spec.charging
        prices = (charging.price_matrix_per_mwh() if price_per_mwh is None
                  else charging.check_prices(price_per_mwh, periods=self.num_periods))
        return self._solve_periods(prices, self.problems_at(prices), previous, method,
                                   warm_start)

    def solve_coupled(
        self,
        coupling: CouplingTerms,
        *,
        previous: SuePeriodsResult | None = None,
        method: str | None = None,
        warm_start: bool | None = None,
    ) -> SuePeriodsResult:
        """The traffic side's ADMM step: per period the logit SUE of the costs of
        :meth:`coupled_problems_at`, i.e. the minimiser of Fisk's objective plus
        ``λ·P + (ρ/2)·(P − z)²`` per station and period. Other arguments as :meth:`solve`.

        The result's ``price_per_mwh`` is λ; its ``potential`` excludes the ADMM terms.
        """
        problems = self.coupled_problems_at(coupling)
        prices = check_coupling(self.spec.charging, self.num_periods, coupling).price_per_mwh
        return self._solve_periods(np.array(prices), problems, previous, method, warm_start)

    def potential(
        self, link_flow_veh_per_h: ArrayLike, path_flow_veh_per_h: Sequence[ArrayLike]
    ) -> float:
        """Fisk's objective without charging money, $/h summed over periods.

        ``sum_t [sum_a int_0^{x_ta} c_a + (1/theta) sum_k f_tk (ln f_tk - 1)]`` with ``c_a`` the
        generalized link cost with no charging payment (value of time x time, plus the road
        network's own money terms): the traffic side's cost in the joint minimum-cost problem,
        where charging payments are transfers. Not multiplied by the period length.
        ``link_flow_veh_per_h``: (periods, road links + stations); ``path_flow_veh_per_h``: each
        period's route flows (veh/h).
        """
        flows = np.asarray(link_flow_veh_per_h, dtype=np.float64)
        shape = (self.num_periods, self.num_road_links + self.spec.charging.num_stations)
        if flows.shape != shape:
            raise InvalidInputError(f"link flows need shape {shape} (periods, links), got "
                                    f"{flows.shape}")
        if len(path_flow_veh_per_h) != self.num_periods:
            raise InvalidInputError(f"route flows needed for {self.num_periods} periods, got "
                                    f"{len(path_flow_veh_per_h)}")
        total = 0.0
        for t, problem in enumerate(self.unpriced_problems):
            total += _fisk(problem.links, flows[t], np.asarray(path_flow_veh_per_h[t],
                                                               dtype=np.float64),
                           self.spec.theta_per_dollar)
        return total

    def _solve_periods(
        self,
        prices: FloatArray,
        problems: tuple[AssignmentProblem, ...],
        previous: SuePeriodsResult | None,
        method: str | None,
        warm_start: bool | None,
    ) -> SuePeriodsResult:
        spec = self.spec
        name = spec.method if method is None else check_method(method)
        chain = spec.warm_start if warm_start is None else bool(warm_start)
        if previous is not None and previous.num_periods != self.num_periods:
            raise InvalidInputError(f"previous result has {previous.num_periods} periods, this "
                                    f"problem {self.num_periods}")
        results: list[SueResult] = []
        for t, problem in enumerate(problems):
            state: SueState | None = None
            if previous is not None:
                state = previous.warm_state(t)
            elif chain and t > 0:
                state = results[-1].warm_start
            results.append(solve_stochastic_equilibrium(
                problem, theta=spec.theta_per_dollar, method=name,
                tolerance=spec.tolerance_veh_per_h, criterion=spec.criterion,
                max_iterations=spec.max_iterations, warm_start=state))
        return self._result(prices, name, chain or previous is not None, results)

    def _result(self, prices: FloatArray, method: str, warm: bool,
                results: list[SueResult]) -> SuePeriodsResult:
        spec = self.spec
        road = self.num_road_links
        flows = np.stack([result.link_flow for result in results])
        station_flow = flows[:, road:].T.copy()
        statuses = tuple(result.status for result in results)
        failing = [status for status in statuses if status != AssignmentStatus.CONVERGED]
        return SuePeriodsResult(
            status=failing[0] if failing else AssignmentStatus.CONVERGED,
            method=method,
            theta_per_dollar=spec.theta_per_dollar,
            criterion=spec.criterion,
            tolerance_veh_per_h=spec.tolerance_veh_per_h,
            warm_started=warm,
            price_per_mwh=prices,
            station_flow_veh_per_h=station_flow,
            station_load_mw=station_flow * spec.charging.energy_per_charge_mwh,
            link_flow_veh_per_h=flows,
            road_link_flow_veh_per_h=flows[:, :road].copy(),
            iterations=np.array([r.iterations for r in results], dtype=np.int64),
            final_step_veh_per_h=np.array([r.step for r in results]),
            residual_veh_per_h=np.array([r.residual for r in results]),
            msa_start=np.array([int(r.extra.get("msa_start", 0)) for r in results],
                               dtype=np.int64),
            seconds=np.array([r.seconds for r in results]),
            statuses=statuses,
            potential=self.potential(flows, [r.path_flow for r in results]),
            objective=float(sum(r.fisk_objective for r in results)),
            period_results=tuple(results),
        )


def _fisk(links: LinkCosts, link_flow: FloatArray, path_flow: FloatArray, theta: float) -> float:
    """``sum_a int c_a + (1/theta) sum_k f_k (ln f_k - 1)`` (0 ln 0 = 0)."""
    positive = path_flow[path_flow > 0]
    entropy = float(np.sum(positive * (np.log(positive) - 1.0)))
    return links.beckmann(link_flow) + entropy / theta


@dataclass(frozen=True)
class WarmStartComparison:
    """The day solved cold and warm (seed 002's Figures 7–8, per period).

    ``cold_iterations`` / ``warm_iterations`` (periods,): iterations of each period's solve
    started from the free-flow logit loading / from the previous period's equilibrium;
    ``*_seconds`` likewise; ``max_link_flow_difference_veh_per_h``: the largest difference of
    any link flow in any period between the two (both stop at the same tolerance).
    """

    method: str
    cold_iterations: IntArray
    warm_iterations: IntArray
    cold_seconds: FloatArray
    warm_seconds: FloatArray
    max_link_flow_difference_veh_per_h: float
    cold: SuePeriodsResult = field(repr=False, compare=False)
    warm: SuePeriodsResult = field(repr=False, compare=False)

    @property
    def status(self) -> AssignmentStatus:
        """CONVERGED when both solves converged in every period."""
        if self.cold.converged:
            return self.warm.status
        return self.cold.status

    def rows(self) -> list[dict[str, float | int]]:
        """One row per period (for a table or a plot)."""
        return [{"period": t, "cold_iterations": int(self.cold_iterations[t]),
                 "warm_iterations": int(self.warm_iterations[t]),
                 "cold_seconds": float(self.cold_seconds[t]),
                 "warm_seconds": float(self.warm_seconds[t])}
                for t in range(self.cold_iterations.size)]


def compare_warm_start(
    problem: SuePeriodsProblem,
    price_per_mwh: ArrayLike | None = None,
    *,
    method: str | None = None,
) -> WarmStartComparison:
    """Solve the day cold and warm at the same prices (default: the stations' own) and return
    the iterations per period of each (``method``: default the spec's, i.e. MSA for the study).
    """
    cold = problem.solve(price_per_mwh, method=method, warm_start=False)
    warm = problem.solve(price_per_mwh, method=method, warm_start=True)
    return WarmStartComparison(
        method=cold.method,
        cold_iterations=cold.iterations,
        warm_iterations=warm.iterations,
        cold_seconds=cold.seconds,
        warm_seconds=warm.seconds,
        max_link_flow_difference_veh_per_h=float(
            np.max(np.abs(cold.link_flow_veh_per_h - warm.link_flow_veh_per_h))),
        cold=cold,
        warm=warm,
    )
