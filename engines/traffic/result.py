"""What an equilibrium solve returns: flows, costs, the quality measures and a status.

Failures are data: a solve that stops at its iteration limit returns ``MAX_ITERATIONS`` with
the flows it reached and their gap. The relative gap is the field's standard
``(TSTT - SPTT) / TSTT`` on the generalized cost (MODELS.md §1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ptn.engines.traffic.graph import CompiledGraph
from ptn.engines.traffic.link_costs import LinkCosts
from ptn.engines.traffic.network import FloatArray
from ptn.engines.traffic.shortest_path import shortest_path_costs


class AssignmentStatus(StrEnum):
    CONVERGED = "converged"
    MAX_ITERATIONS = "max_iterations"
    TIME_LIMIT = "time_limit"
    NUMERICAL_ERROR = "numerical_error"


@dataclass(frozen=True)
class GapMeasures:
    """Total system travel cost, shortest-path total and the relative gap between them."""

    tstt: float
    sptt: float

    @property
    def relative_gap(self) -> float:
        """The gap; NaN when the totals are not finite (a blown-up solve never reads converged)."""
        if not (math.isfinite(self.tstt) and math.isfinite(self.sptt)):
            return math.nan
        return (self.tstt - self.sptt) / self.tstt if self.tstt > 0 else 0.0


def gap_measures(graph: CompiledGraph, links: LinkCosts, link_flow: FloatArray) -> GapMeasures:
    """TSTT = sum_a x_a c_a(x_a) and SPTT = sum_rs d_rs SP_rs, both at ``link_flow``."""
    link_cost = links.costs(link_flow)
    sptt, _ = shortest_path_costs(graph, link_cost)
    return GapMeasures(tstt=float(link_flow @ link_cost), sptt=sptt)


@dataclass(frozen=True)
class AssignmentResult:
    """An equilibrium (or the best point reached) with its quality measures."""

    status: AssignmentStatus
    algorithm: str
    link_flow: FloatArray
    link_cost: FloatArray
    objective: float
    relative_gap: float
    iterations: int
    seconds: float
    gap_history: tuple[float, ...] = ()
    warm_start: Any = field(default=None, repr=False, compare=False)
    extra: dict[str, float] = field(default_factory=dict)
    #: each OD pair's shortest-path cost at ``link_cost`` (the compiled graph's sorted OD
    #: order), when the solver measured it there: what the result's readers would recompute
    od_cost: FloatArray | None = field(default=None, repr=False, compare=False)

    @property
    def converged(self) -> bool:
        return self.status == AssignmentStatus.CONVERGED

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (status, objective, relative gap, iterations, seconds)."""
        return {
            "status": str(self.status),
            "algorithm": self.algorithm,
            "objective": self.objective,
            "relative_gap": self.relative_gap,
            "iterations": self.iterations,
            "seconds": self.seconds,
            **self.extra,
        }
