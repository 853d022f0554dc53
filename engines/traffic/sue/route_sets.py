"""The route sets a logit SUE is solved over, and how a warm start's routes carry over.

Why this module exists: the logit SUE is defined over a route set per OD pair, and which routes
are in it changes the answer; choosing, checking and re-keying route sets is its own job, apart
from the iterations that load them.

Route sets (the solver's ``path_set``):

* ``"enumerate"``: every acyclic route of every OD pair (:func:`~ptn.engines.traffic.path_sets.
  enumerate_paths`), the textbook logit SUE over all routes; Nguyen–Dupuis has 25 routes.
* ``"generate"``: column generation, for networks with too many acyclic routes: start from each
  OD's free-flow shortest route and, every iteration, add each OD's shortest route at the current
  costs if new (as the path-based UE does; Damberg, Lundgren & Patriksson 1996; Bekhor & Toledo
  2005). The result is the SUE over the generated routes, so it depends (slightly) on the
  routes the iterations happened to visit.
* ``"auto"`` (default): enumerate when no OD pair has more than ``max_paths_per_od`` acyclic
  routes and the search stays within its budget, else generate.
* a :class:`~ptn.engines.traffic.path_sets.PathSet`: exactly these routes.

A warm start (:class:`~ptn.engines.traffic.sue.results.SueState`) keeps its routes; each OD's
route flows are rescaled to the new demand (seed 002 warm-starts each period from the previous
one), and ODs new to the demand get routes as the state's mode would have built them.

References: R. Damberg, J. T. Lundgren & M. Patriksson (1996), "An algorithm for the stochastic
user equilibrium problem", Transportation Research B 30(2), 115–131. S. Bekhor & T. Toledo
(2005), "Investigating path-based solution algorithms to the stochastic user equilibrium
problem", Transportation Research B 39(3), 279–295.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.graph import CompiledGraph
from ptn.engines.traffic.network import FloatArray
from ptn.engines.traffic.path_sets import (
    PathSet,
    empty_path_set,
    enumerate_graph_paths,
    shortest_path_set,
)
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.sue.results import SueState

PATH_SET_MODES = ("auto", "enumerate", "generate")


def network_fingerprint(problem: AssignmentProblem, graph: CompiledGraph) -> str:
    """Identity of the network and OD list (not the demand) a state belongs to."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (graph.first_arc, graph.arc_head, graph.arc_link):
        digest.update(np.ascontiguousarray(array).tobytes())
    for demand_class in problem.classes:
        digest.update(np.ascontiguousarray(demand_class.od_origin).tobytes())
        digest.update(np.ascontiguousarray(demand_class.od_destination).tobytes())
    return f"{problem.num_links}:{graph.num_nodes}:{digest.hexdigest()}"


def _check_path_set(paths: PathSet, graph: CompiledGraph, num_links: int) -> None:
    if paths.od_key.shape != graph.od_order.shape or not np.array_equal(
        paths.od_key, graph.od_order
    ):
        raise InvalidInputError(
            "path set does not match the problem's OD pairs with demand (build it from the same "
            "problem, e.g. with enumerate_paths)"
        )
    counts = np.diff(paths.od_first)
    if counts.size and counts.min() < 1:
        raise InvalidInputError(
            f"path set has no route for OD pair {int(paths.od_key[int(np.argmin(counts))])}"
        )
    if paths.path_links.size and (
        paths.path_links.min() < 0 or paths.path_links.max() >= num_links
    ):
        raise InvalidInputError(f"path set uses a link outside 0..{num_links - 1}")


def initial_paths(
    graph: CompiledGraph,
    free_cost: FloatArray,
    spec: str | PathSet | None,
    max_paths_per_od: int,
    num_links: int,
) -> tuple[PathSet, str]:
    """The routes of a cold start for ``spec`` (see the module docstring) and their mode
    (``"given"``, ``"enumerated"`` or ``"generated"``)."""
    if isinstance(spec, PathSet):
        _check_path_set(spec, graph, num_links)
        return spec, "given"
    mode = "auto" if spec is None else str(spec).strip().lower()
    if mode not in PATH_SET_MODES:
        raise InvalidInputError(
            f"unknown path_set {spec!r} (choose from {', '.join(PATH_SET_MODES)} or a PathSet)"
        )
    if mode in ("auto", "enumerate"):
        paths = enumerate_graph_paths(graph, max_paths_per_od)
        if paths is not None:
            return paths, "enumerated"
        if mode == "enumerate":
            raise InvalidInputError(
                f"an OD pair has more than {max_paths_per_od} acyclic routes (or the search "
                "exceeded its budget); use path_set='generate' or raise max_paths_per_od"
            )
    return shortest_path_set(graph, free_cost), "generated"


def warm_paths(
    graph: CompiledGraph,
    state: SueState,
    free_cost: FloatArray,
    spec: str | PathSet | None,
    max_paths_per_od: int,
) -> tuple[PathSet, FloatArray, str]:
    """The warm start's routes and flows re-keyed to this graph's ODs, demand rescaled."""
    mode = state.mode
    if isinstance(spec, str) and spec.strip().lower() == "generate":
        mode = "generated"
    old_index = {int(key): od for od, key in enumerate(state.paths.od_key)}
    present = [od for od, key in enumerate(graph.od_order) if int(key) in old_index]
    missing = np.array(
        [od for od, key in enumerate(graph.od_order) if int(key) not in old_index], dtype=np.int64
    )
    present_arr = np.array(present, dtype=np.int64)
    old_ods = np.array([old_index[int(graph.od_order[od])] for od in present], dtype=np.int64)
    sub = state.paths.select_ods(old_ods)
    old_demand = state.od_demand[old_ods]
    scale = np.divide(graph.od_demand[present_arr], old_demand,
                      out=np.zeros(present_arr.size), where=old_demand > 0)
    sub_flow = state.path_flow[state.paths.paths_of_ods(old_ods)] * np.repeat(
        scale, sub.paths_per_od
    )
    # an OD whose old flows were all zero (or absent) starts from an even split
    new_od = present_arr[sub.path_od] if sub.num_paths else np.empty(0, dtype=np.int64)
    firsts = [sub.path_first]
    pools = [sub.path_links]
    ods = [new_od]
    flows = [sub_flow]
    if missing.size:
        if mode == "enumerated":
            full = enumerate_graph_paths(graph, max_paths_per_od)
            if full is None:
                full = shortest_path_set(graph, free_cost)
                mode = "generated"
        else:
            full = shortest_path_set(graph, free_cost)
        extra = full.select_ods(missing)
        firsts.append(extra.path_first[1:] + sub.path_links.size)
        pools.append(extra.path_links)
        ods.append(missing[extra.path_od])
        flows.append(np.repeat(graph.od_demand[missing] / extra.paths_per_od, extra.paths_per_od))
    merged, order = empty_path_set(graph.od_order).with_paths(
        np.concatenate(ods), np.concatenate(firsts), np.concatenate(pools)
    )
    flow = np.concatenate(flows)[order]
    # ODs whose rescaled flows vanished (old demand 0): even split
    totals = np.add.reduceat(flow, merged.od_first[:-1]) if flow.size else flow
    empty = np.flatnonzero(totals <= 0)
    for od in empty:
        begin, end = int(merged.od_first[od]), int(merged.od_first[od + 1])
        flow[begin:end] = graph.od_demand[od] / (end - begin)
    return merged, flow, mode
