"""One OPF over many feeders as one cvxpy problem per feeder: memory linear in the feeders.

Why this module exists: :class:`ptn.engines.power.distflow.DistFlowOpf` builds one cvxpy
problem for all the DSO's feeders, and cvxpy's canonicalization of a parametrized (DPP) conic
problem needs, transiently, an index array of one entry per (variable, parameter entry) pair:
``ConicSolver.format_constraints`` reshapes the problem tensor to ``(n + 1)·(p + 1)`` columns
and multiplies it by a sparse restructuring matrix, and scipy's sparse product allocates a
dense work array of that many columns (8 bytes each). With ``n`` variables and ``p`` parameter
entries both proportional to the number of feeders (each feeder has its own price Parameter of
``T`` entries), that is quadratic in the feeders: pandapower's ``lv_schutterwald`` (14 feeders,
2,940 buses, 96 periods: ``n`` ≈ 1.1 M, ``p`` ≈ 1,450) asks for 12.1 GiB. Measured with
``T = 24`` on 1, 2, 4, 8 and 14 of its feeders: 0.4, 0.5, 0.7, 2.7 and 12.2 GB peak.

Nothing couples a DSO's feeders in the model when every device sits on one feeder (which the
case requires) and no ADMM coupling term is shared: the objective is a sum over feeders and
every constraint belongs to one. So :class:`FeederwiseOpf` builds one
:class:`~ptn.engines.power.distflow.DistFlowOpf` per feeder (its devices, its charging points,
its price), each canonicalized once and re-solved through its own Parameters (DPP), solves them
one after another (or ``workers`` at a time on threads: Clarabel releases the GIL while it
solves) and assembles one :class:`~ptn.engines.power.result.OpfResult` with the same
fields as the single problem's (feeders in case order, device and charging dictionaries merged,
costs added, the worst status with the feeder named). The optimum is the single problem's
(the problems are independent); memory is the largest feeder's, time the sum.

``charging="priced"`` (the DSO's ADMM local step, MODELS.md §5) separates the same way: the
coupling terms ``Σ Δt·[−λ·P + (ρ/2)·(P − z)²]`` are a sum over charging points, so each feeder's
block takes its own points' rows of :class:`~ptn.engines.coupling.CouplingTerms` (the penalty ρ
is one number, set in every block); a feeder without charging points is a fixed-load block with
nothing to charge. The seed-001 pricing problem, which ties feeders' charging to prices through
the fitted response, stacks these blocks' solver data instead
(:mod:`ptn.engines.power.feeder_pricing`).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ptn.engines.coupling import CouplingSide, CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.power.der import DsoCase, validate_case
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.distflow_model import ChargingMode, FloatArray, Formulation
from ptn.engines.power.result import InfeasibilityReport, OpfResult, OpfStatus

#: statuses from best to worst: the assembled result takes the worst feeder's
_STATUS_ORDER = (OpfStatus.OPTIMAL, OpfStatus.INEXACT, OpfStatus.UNBOUNDED,
                 OpfStatus.INFEASIBLE, OpfStatus.SOLVER_ERROR)

#: OpfResult's per-device dictionaries, merged across feeders
_DEVICE_FIELDS = (
    "micro_turbine_p_mw", "micro_turbine_q_mvar", "storage_charge_mw", "storage_discharge_mw",
    "storage_soc", "renewable_p_mw", "renewable_q_mvar", "renewable_curtailed_mw",
    "demand_response_shift_mw", "charging_mw", "charging_dlmp_per_mwh",
)


def feeder_case(case: DsoCase, position: int) -> DsoCase:
    """The part of ``case`` on its feeder at ``position``: that feeder, its devices and charging
    points (a device naming no feeder belongs to the only one)."""
    name = case.feeders[position].name
    single = len(case.feeders) == 1

    def mine(devices: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(d for d in devices if single or d.feeder == name)

    return dataclasses.replace(
        case, feeders=(case.feeders[position],),
        micro_turbines=mine(case.micro_turbines), storage=mine(case.storage),
        renewables=mine(case.renewables), demand_response=mine(case.demand_response),
        charging_points=mine(case.charging_points),
        bus_load_profiles=mine(case.bus_load_profiles),
    )


class FeederwiseOpf:
    """The OPF of a DSO's feeders as one :class:`DistFlowOpf` per feeder (see the module doc).

    The interface is the solving part of ``DistFlowOpf``'s: :meth:`solve`,
    :meth:`set_upstream_price`, :meth:`set_load_profile`, :meth:`set_charging_load` (``fixed``
    mode), :meth:`set_coupling` and :meth:`solve_coupled` (``priced`` mode),
    :meth:`upstream_price_per_mwh`; ``build_seconds`` sums the blocks' builds.
    """

    def __init__(self, case: DsoCase, *, charging: ChargingMode = "fixed",
                 formulation: Formulation = "soc", workers: int = 1, **options: Any) -> None:
        validate_case(case)
        if charging not in ("fixed", "priced"):
            raise InvalidInputError(f"charging must be 'fixed' or 'priced', got {charging!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidInputError(f"workers must be a positive integer, got {workers!r}")
        self.case = case
        #: threads solving the feeders' problems at once (Clarabel releases the GIL while it
        #: solves; cvxpy's data refresh and read-out hold it)
        self.workers = workers
        self.charging_mode: ChargingMode = charging
        started = time.perf_counter()
        cases = [feeder_case(case, f) for f in range(len(case.feeders))]
        self.blocks = tuple(
            DistFlowOpf(single, charging=charging if single.charging_points else "fixed",
                        formulation=formulation, **options)
            for single in cases
        )
        #: rows of the case's charging points per block, in case order
        names = [c.name for c in case.charging_points]
        self._charging_rows = [np.array([names.index(c.name) for c in b.case.charging_points],
                                        dtype=np.int64) for b in self.blocks]
        self.build_seconds = time.perf_counter() - started

    @property
    def num_scalar_variables(self) -> int:
        return sum(b.problem.size_metrics.num_scalar_variables for b in self.blocks)

    def upstream_price_per_mwh(self, feeder_position: int = 0) -> FloatArray:
        """The upstream price per period currently set for a feeder ($/MWh)."""
        return self.blocks[feeder_position].upstream_price_per_mwh()

    def set_upstream_price(self, price_per_mwh: FloatArray, feeder: str | None = None) -> None:
        """Upstream energy price per period ($/MWh), for every feeder or the one named."""
        if feeder is not None:
            self.case.feeder_position(feeder, "upstream price")  # names an unknown feeder
        for block in self.blocks:
            if feeder is None or block.case.feeders[0].name == feeder:
                block.set_upstream_price(price_per_mwh)

    def set_load_profile(self, load_profile: FloatArray) -> None:
        """Scale every bus's base load by ``load_profile[t]`` (the buses with a shape of their
        own too, as :meth:`DistFlowOpf.set_load_profile`)."""
        for block in self.blocks:
            block.set_load_profile(load_profile)
        self.case = dataclasses.replace(self.case, load_profile=self.blocks[0].case.load_profile,
                                        bus_load_profiles=())

    def set_charging_load(self, charging_mw: FloatArray) -> None:
        """Charging loads ``[point, period]`` (MW) in the case's charging-point order."""
        loads = np.asarray(charging_mw, dtype=np.float64)
        expected = (len(self.case.charging_points), self.case.periods)
        if loads.shape != expected:
            raise InvalidInputError(f"charging loads need shape {expected}, got {loads.shape}")
        for block, rows in zip(self.blocks, self._charging_rows, strict=True):
            if rows.size:
                block.set_charging_load(loads[rows])

    @property
    def charging_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.case.charging_points)

    def set_coupling(self, coupling: CouplingTerms | None) -> None:
        """The ADMM coupling terms (``priced`` mode; None clears them): aligned to the case's
        charging points by name, each block given its own points' rows."""
        if self.charging_mode != "priced":
            raise InvalidInputError("coupling terms need charging='priced'")
        names = self.charging_names
        if coupling is None:
            coupling = CouplingTerms.zero(names, self.case.periods, self.case.period_hours,
                                          CouplingSide.SUPPLIER)
        coupling = coupling.aligned(names, self.case.periods, "the DSO's OPF")
        coupling.require_side(CouplingSide.SUPPLIER, "the DSO's OPF")
        coupling.require_period_hours(self.case.period_hours, "the DSO's OPF")
        for block, rows in zip(self.blocks, self._charging_rows, strict=True):
            if rows.size:
                block.set_coupling(CouplingTerms.of_side(
                    coupling.side, coupling.price_per_mwh[rows], coupling.penalty_per_mw2h,
                    coupling.target_load_mw[rows], coupling.period_hours,
                    tuple(names[k] for k in rows)))

    def solve_coupled(self, coupling: CouplingTerms) -> OpfResult:
        """The DSO's ADMM local step, feeder by feeder: :meth:`set_coupling`, then
        :meth:`solve`; as :meth:`DistFlowOpf.solve_coupled`."""
        self.set_coupling(coupling)
        return self.solve()

    def solve(self) -> OpfResult:
        """Solve every feeder's problem in turn and assemble one result."""
        started = time.perf_counter()
        workers = min(self.workers, len(self.blocks))
        if workers > 1:
            # each block's solve sets and restores the (process-wide) warning filters; the
            # outer context restores them once every thread is done, whatever their order
            with warnings.catch_warnings(), ThreadPoolExecutor(workers) as pool:
                results = list(pool.map(DistFlowOpf.solve, self.blocks))
        else:
            results = [block.solve() for block in self.blocks]
        return assemble(results, self.case, seconds=time.perf_counter() - started)


def assemble(results: list[OpfResult], case: DsoCase, *, seconds: float) -> OpfResult:
    """One :class:`OpfResult` from per-feeder results of ``case``'s feeders (in case order)."""
    worst = max(results, key=lambda r: _STATUS_ORDER.index(r.status))
    status = worst.status
    notes = tuple(note for r in results for note in r.notes)
    solver_seconds = sum(r.solver_seconds for r in results)
    messages = [r.message for r in results if r.message and r.status is status]
    message = "; ".join(messages)
    if not status.has_solution:
        failing = [f.name for f, r in zip(case.feeders, results, strict=True)
                   if r.status is status]
        return OpfResult(
            status=status, objective=float("nan"), cost_breakdown={}, feeders=(),
            period_hours=case.period_hours, seconds=seconds, solver_seconds=solver_seconds,
            # one feeder: its own message, as one problem's (the diagnosis names the feeder)
            message=f"feeder {', '.join(failing)}: {message}" if message and len(results) > 1
            else message or f"the OPF is {status}", notes=notes,
            infeasibility=_merged_reports(results),
        )
    breakdown: dict[str, float] = {}
    extra: dict[str, Any] = {}
    for r in results:
        for key, value in r.cost_breakdown.items():
            breakdown[key] = breakdown.get(key, 0.0) + value
        for key, value in r.extra.items():
            extra[key] = extra.get(key, 0.0) + value if isinstance(value, float) else value
    merged: dict[str, dict[str, FloatArray]] = {name: {} for name in _DEVICE_FIELDS}
    for r in results:
        for name in _DEVICE_FIELDS:
            merged[name].update(getattr(r, name))
    return OpfResult(
        status=status,
        objective=float(sum(r.objective for r in results)),
        cost_breakdown=breakdown,
        feeders=tuple(d for r in results for d in r.feeders),
        period_hours=case.period_hours,
        seconds=seconds,
        solver_seconds=solver_seconds,
        message=message,
        extra=extra,
        notes=notes,
        **merged,  # type: ignore[arg-type]
    )


def _merged_reports(results: list[OpfResult]) -> InfeasibilityReport | None:
    """The infeasible feeders' elastic diagnoses as one report (the first's status)."""
    reports = [r.infeasibility for r in results if r.infeasibility is not None]
    if not reports:
        return None
    return InfeasibilityReport(
        status=reports[0].status,
        violations=tuple(v for report in reports for v in report.violations),
        message="; ".join(report.message for report in reports),
        seconds=sum(report.seconds for report in reports),
    )
