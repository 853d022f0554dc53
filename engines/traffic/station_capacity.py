"""Is the stations' charging capacity short of the EV demand? Which stations bind, by how much.

Why this module exists: every EV trip charges exactly once (the two-layer network of
:mod:`ptn.engines.traffic.charging`), so in every period the stations together must carry the
whole EV demand. A station is a charging link with Davidson's delay ``t0·(1 + J·x/(c − x))``,
which the path-based solver continues linearly above ``0.95·c``
(:data:`~ptn.engines.traffic.link_costs.DAVIDSON_LINEAR_FROM`): the capacity ``c`` is *soft*
there, a flow above it only costs a steep (linear) delay. When the EV demand needs more than
the stations have, the equilibrium pushes flows deep into that continuation, where link costs
are huge and the gap stalls (a user saw "stopped at relative gap 2.81e-05 after 1000
iterations" and nothing else). This module says why, in numbers:

* **before solving** (:func:`capacity_shortfalls`): the EV demand of each period against the
  total capacity of the stations in the periods it may be served in (the period itself, or
  ``t − M .. t + M`` with departure shifting by up to ``M`` periods), and the whole horizon's
  EV demand against the horizon's capacity. Either shortfall is *certain*: no assignment
  serves that demand within the capacities;
* **after solving** (:func:`diagnose_station_flows`): the stations whose charging flow is at or
  above the continuation point ``0.95·c`` in some period, each with its flow and capacity.

Decision (docs/runtime.md, "When charging capacity is short"): with Davidson's soft capacity a
shortfall is **not** an input error, since the model still has an equilibrium: the traffic
department warns and, when its equilibrium does not converge, gives this diagnosis as the
reason. A model with a *hard* capacity (the centralized reference's pure Davidson function,
whose delay has a barrier at ``c``) is certainly infeasible under a shortfall, and reports
that status with this text instead of calling its solver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.link_costs import DAVIDSON_LINEAR_FROM
from ptn.engines.traffic.multiperiod import MultiPeriodResult, MultiPeriodSpec

#: at most this many stations are named in a message (the most loaded ones)
MAX_NAMED_STATIONS = 6


@dataclass(frozen=True)
class StationOverload:
    """One station at or above its continuation point in its worst period."""

    station: str
    period: int
    flow_veh_per_h: float
    capacity_veh_per_h: float

    @property
    def utilization(self) -> float:
        """Flow over capacity (1.38 for 138 %)."""
        return self.flow_veh_per_h / self.capacity_veh_per_h


@dataclass(frozen=True)
class CapacityShortfall:
    """EV demand that the stations cannot carry within their capacities, certainly.

    ``periods`` is the period (or ``first``–``last`` window of periods) whose EV demand is
    compared: ``demand_veh_per_h`` is its EV demand (summed over the window's periods, in
    veh/h of one period), ``capacity_veh_per_h`` the stations' capacity over the periods that
    demand may be served in, summed likewise.
    """

    first_period: int
    last_period: int
    demand_veh_per_h: float
    capacity_veh_per_h: float

    def describe(self) -> str:
        where = (f"period {self.first_period}" if self.first_period == self.last_period
                 else f"periods {self.first_period}–{self.last_period}")
        return (f"the EV demand of {where} ({self.demand_veh_per_h:,.0f} veh/h) needs at "
                f"least that much station capacity, the stations have "
                f"{self.capacity_veh_per_h:,.0f}")


@dataclass(frozen=True)
class CapacityDiagnosis:
    """The stations that bind after a solve and the certain shortfalls of the demand."""

    overloads: tuple[StationOverload, ...]
    shortfalls: tuple[CapacityShortfall, ...]

    @property
    def binding(self) -> bool:
        """Whether any station is at or above its continuation point or demand is short."""
        return bool(self.overloads or self.shortfalls)

    def describe(self) -> str:
        """One line: the binding stations with their loadings, then the shortfall; empty when
        nothing binds."""
        parts = []
        if self.overloads:
            parts.append(describe_overloads(self.overloads))
        if self.shortfalls:
            parts.append(describe_shortfalls(self.shortfalls))
        return "; ".join(parts)


def describe_overloads(overloads: Sequence[StationOverload]) -> str:
    """``stations S2, S4 carry 138 % and 121 % of their charging capacity (412 vs 300 veh/h in
    period 3, ...)``, the most loaded first, at most :data:`MAX_NAMED_STATIONS` named."""
    ordered = sorted(overloads, key=lambda o: -o.utilization)
    shown = ordered[:MAX_NAMED_STATIONS]
    names = ", ".join(o.station for o in shown)
    percents = [f"{100 * o.utilization:.0f} %" for o in shown]
    amount = percents[0] if len(percents) == 1 else \
        ", ".join(percents[:-1]) + " and " + percents[-1]
    details = ", ".join(f"{o.flow_veh_per_h:,.0f} vs {o.capacity_veh_per_h:,.0f} veh/h in "
                        f"period {o.period}" for o in shown)
    noun = "station" if len(shown) == 1 else "stations"
    verb = "carries" if len(shown) == 1 else "carry"
    more = f" (and {len(ordered) - len(shown)} more)" if len(ordered) > len(shown) else ""
    return (f"{noun} {names}{more} {verb} {amount} of {'its' if len(shown) == 1 else 'their'} "
            f"charging capacity ({details}; Davidson's delay is continued linearly above "
            f"{DAVIDSON_LINEAR_FROM:g} of capacity)")


def describe_shortfalls(shortfalls: Sequence[CapacityShortfall]) -> str:
    """The worst shortfall in words, and how many periods are short."""
    worst = max(shortfalls, key=lambda s: s.demand_veh_per_h - s.capacity_veh_per_h)
    count = len(shortfalls)
    return worst.describe() + (f" ({count} shortfalls in all)" if count > 1 else "")


def _stations_capacity(capacity_veh_per_h: ArrayLike, stations: int) -> np.ndarray:
    capacity = np.asarray(capacity_veh_per_h, dtype=np.float64).reshape(-1)
    if capacity.size != stations or not np.all(np.isfinite(capacity)) or np.any(capacity <= 0):
        raise InvalidInputError(f"station capacities: expected {stations} positive values, got "
                                f"{capacity.tolist()}")
    return capacity


def capacity_shortfalls(ev_demand_veh_per_h: ArrayLike, capacity_veh_per_h: ArrayLike, *,
                        max_shift_periods: int = 0) -> tuple[CapacityShortfall, ...]:
    """The certain shortfalls of a horizon's EV demand (per period, veh/h, summed over OD
    pairs; shape (periods,) or (periods, OD pairs)) against the stations' capacities (veh/h,
    one per station, the same in every period).

    A period's EV demand may be served in periods ``t − M .. t + M`` (``M`` =
    ``max_shift_periods``, clipped to the horizon); it is short when it exceeds the capacity of
    those periods together. The whole horizon is short when its demand exceeds the horizon's
    capacity. Every shortfall returned is certain: no assignment carries that demand within
    the capacities.
    """
    demand = np.asarray(ev_demand_veh_per_h, dtype=np.float64)
    per_period = demand.reshape(demand.shape[0], -1).sum(axis=1) if demand.ndim else \
        demand.reshape(1)
    periods = per_period.size
    total_capacity = float(np.asarray(capacity_veh_per_h, dtype=np.float64).sum())
    shift = max(0, int(max_shift_periods))
    found = []
    for period in range(periods):
        window = min(periods - 1, period + shift) - max(0, period - shift) + 1
        if per_period[period] > window * total_capacity * (1 + 1e-12):
            found.append(CapacityShortfall(period, period, float(per_period[period]),
                                           window * total_capacity))
    if shift and periods > 1 and per_period.sum() > periods * total_capacity * (1 + 1e-12):
        found.append(CapacityShortfall(0, periods - 1, float(per_period.sum()),
                                       periods * total_capacity))
    return tuple(found)


def diagnose_station_flows(station_names: Sequence[str], capacity_veh_per_h: ArrayLike,
                           station_flow_veh_per_h: ArrayLike, ev_demand_veh_per_h: ArrayLike,
                           *, max_shift_periods: int = 0,
                           threshold: float = DAVIDSON_LINEAR_FROM) -> CapacityDiagnosis:
    """Which stations bind in a solved assignment: each station whose charging flow reaches
    ``threshold`` × its capacity in some period (reported at its worst period), with the
    certain shortfalls of the EV demand (:func:`capacity_shortfalls`).

    ``station_flow_veh_per_h`` is (periods, stations), as
    :attr:`~ptn.engines.traffic.multiperiod.MultiPeriodResult.station_flow_veh_per_h`.
    """
    names = tuple(station_names)
    capacity = _stations_capacity(capacity_veh_per_h, len(names))
    flow = np.asarray(station_flow_veh_per_h, dtype=np.float64).reshape(-1, len(names))
    utilization = flow / capacity[None, :]
    overloads = []
    for station in np.flatnonzero(utilization.max(axis=0, initial=0.0) >= threshold):
        period = int(np.argmax(utilization[:, station]))
        overloads.append(StationOverload(names[station], period,
                                         float(flow[period, station]),
                                         float(capacity[station])))
    return CapacityDiagnosis(tuple(overloads),
                             capacity_shortfalls(ev_demand_veh_per_h, capacity,
                                                 max_shift_periods=max_shift_periods))


def station_capacities(spec: MultiPeriodSpec) -> np.ndarray:
    """The stations' charging capacities (veh/h) of a multi-period spec, in station order."""
    return np.array([s.capacity_veh_per_h for s in spec.charging.stations], dtype=np.float64)


def spec_shortfalls(spec: MultiPeriodSpec) -> tuple[CapacityShortfall, ...]:
    """:func:`capacity_shortfalls` of a multi-period spec's original EV demand (before any
    price response, which can only lower it)."""
    return capacity_shortfalls(spec.ev_demand_veh_per_h, station_capacities(spec),
                               max_shift_periods=spec.max_shift_periods)


def diagnose_result(result: MultiPeriodResult) -> CapacityDiagnosis:
    """:func:`diagnose_station_flows` of a multi-period equilibrium (its EV demand after the
    price response)."""
    spec = result.problem.spec
    return diagnose_station_flows(spec.charging.station_names, station_capacities(spec),
                                  result.station_flow_veh_per_h, result.ev_demand_veh_per_h,
                                  max_shift_periods=spec.max_shift_periods)
