"""Compiled form of an assignment problem: one forward-star graph over all demand classes.

Classes have disjoint node sets, so their graphs are stacked into one (node ids offset per
class) and every origin is a (class, node) pair. The solvers' numba kernels read only the plain
arrays of :class:`CompiledGraph`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ptn.engines.traffic.fan_out import FanOut, fan_out_of
from ptn.engines.traffic.network import FloatArray, IntArray
from ptn.engines.traffic.problem import AssignmentProblem


@dataclass(frozen=True)
class CompiledGraph:
    """Forward star of the stacked class graphs, and the OD pairs grouped by origin."""

    num_nodes: int
    first_arc: IntArray  # arcs leaving node n: first_arc[n] .. first_arc[n + 1]
    arc_tail: IntArray
    arc_head: IntArray
    arc_link: IntArray
    no_through: np.ndarray
    origins: IntArray  # distinct origin nodes (stacked numbering)
    origin_first_od: IntArray  # ODs of origins[k]: origin_first_od[k] .. origin_first_od[k + 1]
    od_destination: IntArray  # per OD, sorted by origin
    od_demand: FloatArray  # per OD, sorted by origin
    od_order: IntArray  # position of each sorted OD in the problem's concatenated OD list
    class_first_od: IntArray  # problem ODs of class c: class_first_od[c] .. [c + 1]
    #: one tree per period copy of an origin (time-expanded graphs; None: search every origin)
    fan_out: FanOut | None = None

    @property
    def num_ods(self) -> int:
        return int(self.od_destination.size)


def compile_graph(problem: AssignmentProblem) -> CompiledGraph:
    """Stack the problem's class graphs and group its OD pairs (positive demand only) by origin."""
    tails, heads, links, no_through = [], [], [], []
    od_origin, od_destination, od_demand = [], [], []
    offset = 0
    class_first_od = [0]
    blocks: list[IntArray] | None = []
    block_offset = 0
    for demand_class in problem.classes:
        if blocks is not None and demand_class.node_block is not None:
            labels = np.asarray(demand_class.node_block, dtype=np.int64)
            blocks.append(np.where(labels >= 0, labels + block_offset, -1))
            block_offset += int(labels.max(initial=-1)) + 1
        else:
            blocks = None  # every class needs its labels
        tails.append(demand_class.arc_tail + offset)
        heads.append(demand_class.arc_head + offset)
        links.append(demand_class.arc_link)
        no_through.append(demand_class.no_through)
        od_origin.append(demand_class.od_origin + offset)
        od_destination.append(demand_class.od_destination + offset)
        od_demand.append(demand_class.od_demand)
        offset += demand_class.num_nodes
        class_first_od.append(class_first_od[-1] + demand_class.od_demand.size)
    tail = np.concatenate(tails).astype(np.int64)
    node_block = None if blocks is None else np.concatenate(blocks)
    order = np.argsort(tail, kind="stable")
    origin = np.concatenate(od_origin).astype(np.int64)
    demand = np.concatenate(od_demand).astype(np.float64)
    positive = np.flatnonzero(demand > 0)
    od_order = positive[np.argsort(origin[positive], kind="stable")]
    sorted_origin = origin[od_order]
    origins, first = np.unique(sorted_origin, return_index=True)
    first_arc = np.searchsorted(tail[order], np.arange(offset + 1)).astype(np.int64)
    arc_head = np.concatenate(heads).astype(np.int64)[order]
    blocked = np.concatenate(no_through).astype(np.bool_)
    origins = origins.astype(np.int64)
    return CompiledGraph(
        num_nodes=offset,
        first_arc=first_arc,
        arc_tail=tail[order],
        arc_head=arc_head,
        arc_link=np.concatenate(links).astype(np.int64)[order],
        no_through=blocked,
        origins=origins,
        origin_first_od=np.append(first, od_order.size).astype(np.int64),
        od_destination=np.concatenate(od_destination).astype(np.int64)[od_order],
        od_demand=demand[od_order],
        od_order=od_order.astype(np.int64),
        class_first_od=np.asarray(class_first_od, dtype=np.int64),
        fan_out=None if node_block is None else fan_out_of(
            node_block, first_arc, tail[order], arc_head, blocked, origins),
    )
