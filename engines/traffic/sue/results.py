"""What a logit SUE solve returns: the equilibrium, its quality measures and its warm start.

Why this module exists: the result types are shared by the solver
(:mod:`ptn.engines.traffic.sue.solver`), the per-period study
(:mod:`ptn.engines.traffic.sue_periods`) and the full-information references, and are plain
values (dataclasses with a status): a non-converged solve is data, not an exception.

The quality measures follow seed 002's stopping rule and the SUE fixed point ``f = y(c(f))``
(Sheffi 1985, *Urban Transportation Networks*, Prentice-Hall, ch. 12): the step
``max_k |f_k^{n+1} - f_k^n|`` and the residual ``max_k |f_k - y_k(c(f))|`` (veh/h), each also
divided by its route's OD demand (an error in choice probability). Fisk's objective (Fisk 1980,
Transportation Research B 14(3), 243–255) is the convex potential the SUE minimises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.network import FloatArray
from ptn.engines.traffic.path_sets import PathSet
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.result import AssignmentStatus


@dataclass(frozen=True)
class SueState:
    """Routes and route flows of a solve: the warm start for the next one.

    ``od_demand`` is the demand each OD of ``paths`` had (graph OD order), so a later solve with
    other demand rescales each OD's route flows; ``mode`` is how the routes were built
    (``"enumerated"``, ``"generated"`` or ``"given"``), which decides how a later solve extends
    them.
    """

    fingerprint: str
    paths: PathSet
    path_flow: FloatArray
    od_demand: FloatArray
    mode: str


@dataclass(frozen=True)
class OdPathFlows:
    """The routes of one OD pair with their flows, costs and choice probabilities."""

    od: int  # index into the problem's classes' concatenated OD lists
    class_name: str
    origin: str
    destination: str
    demand: float
    links: tuple[tuple[int, ...], ...]
    labels: tuple[str, ...]  # each route as its link labels joined by spaces
    flow: FloatArray
    cost: FloatArray

    @property
    def probability(self) -> FloatArray:
        return self.flow / self.demand if self.demand > 0 else np.zeros_like(self.flow)


@dataclass(frozen=True)
class SueResult:
    """A stochastic user equilibrium (or the best point reached) and its quality measures.

    ``residual`` is the SUE fixed-point residual ``max_k |f_k - y_k(c(f))|`` (veh/h) at the
    returned flows, ``relative_residual`` the same divided by each route's OD demand; ``step``
    and ``relative_step`` are the last iteration's ``max_k |f_k^{n+1} - f_k^n|`` and its
    relative form. Route-level data (``paths``, ``path_flow``, ``path_cost``) is in graph OD
    order; :meth:`od_path_flows` presents it per OD pair.
    """

    status: AssignmentStatus
    method: str
    theta: float
    link_flow: FloatArray
    link_cost: FloatArray
    paths: PathSet
    path_flow: FloatArray
    path_cost: FloatArray
    fisk_objective: float
    residual: float
    relative_residual: float
    step: float
    relative_step: float
    iterations: int
    loadings: int
    seconds: float
    path_set_mode: str
    criterion: str
    history: tuple[float, ...] = ()
    extra: dict[str, float] = field(default_factory=dict)
    warm_start: SueState | None = field(default=None, repr=False, compare=False)
    problem: AssignmentProblem | None = field(default=None, repr=False, compare=False)

    @property
    def converged(self) -> bool:
        return self.status == AssignmentStatus.CONVERGED

    @property
    def num_paths(self) -> int:
        return self.paths.num_paths

    def od_path_flows(self) -> list[OdPathFlows]:
        """Routes, flows, costs and probabilities of every OD pair with demand."""
        problem = self.problem
        if problem is None:
            raise InvalidInputError("this result does not carry its problem")
        class_first = np.cumsum([0] + [c.od_demand.size for c in problem.classes])
        out = []
        for od in range(self.paths.num_ods):
            key = int(self.paths.od_key[od])
            c = int(np.searchsorted(class_first, key, side="right") - 1)
            demand_class = problem.classes[c]
            local = key - int(class_first[c])
            begin, end = int(self.paths.od_first[od]), int(self.paths.od_first[od + 1])
            links = tuple(self.paths.links_of(p) for p in range(begin, end))
            out.append(OdPathFlows(
                od=key,
                class_name=demand_class.name,
                origin=demand_class.node_label(int(demand_class.od_origin[local])),
                destination=demand_class.node_label(int(demand_class.od_destination[local])),
                demand=float(demand_class.od_demand[local]),
                links=links,
                labels=tuple(" ".join(problem.link_label(a) for a in route) for route in links),
                flow=self.path_flow[begin:end].copy(),
                cost=self.path_cost[begin:end].copy(),
            ))
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary of the solve."""
        return {
            "status": str(self.status),
            "method": self.method,
            "theta": self.theta,
            "fisk_objective": self.fisk_objective,
            "residual": self.residual,
            "relative_residual": self.relative_residual,
            "step": self.step,
            "relative_step": self.relative_step,
            "criterion": self.criterion,
            "iterations": self.iterations,
            "loadings": self.loadings,
            "seconds": self.seconds,
            "paths": self.num_paths,
            "path_set": self.path_set_mode,
            "total_flow": float(np.sum(self.path_flow)),
            **self.extra,
        }
