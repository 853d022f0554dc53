"""Fan-out structure of a time-expanded graph: one shortest-path tree per period copy, not per
generation node.

Why this module exists: the multi-period equilibrium (:mod:`ptn.engines.traffic.multiperiod`)
solves one static assignment on a time-expanded graph whose origins are *generation* nodes
(origin, generation period ti), each with one shift arc into the origin of every period copy tj
it may depart in (``|ti - tj| <= M``); the copies are disjoint except for the super-sinks, which
are dead ends. A Dijkstra from a generation node therefore searches 2M + 1 whole copies, and the
same copy of the same origin is searched again from every generation period within reach: on
Chicago Sketch over 4 periods (M = 1) every gap measurement searched 2.5 copies per origin, 80 %
of a warm re-solve's time. Since the distances from a generation node into copy tj are the shift
arc's cost plus the distances from the copy's origin within the copy, one tree per (origin,
copy) serves every generation node that reaches it
(:func:`~ptn.engines.traffic.shortest_path.shortest_path_costs` assembles their trees).

:func:`fan_out_of` derives the structure from each class's ``node_block`` labels and checks
that it holds (else None, and the kernels search from every origin as before):

* an arc leaving a block node ends in the same block, or at a dead end (no arc leaves it)
  outside every block;
* every node outside the blocks is a source (no arc enters it) or a dead end;
* every origin lies outside every block and each of its arcs enters a different block at a
  node that may be passed through (not ``no_through``).

Origins that share roots (the generation periods of one origin and class) form a *group*: its
roots' trees are computed once, then each origin's tree is assembled from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ptn.engines.traffic.network import IntArray


@dataclass(frozen=True)
class FanOut:
    """The groups of origins and the roots their arcs fan out to (stacked node numbering).

    ``group_root_first``/``group_roots``: each group's roots (nodes); ``group_origin_first``/
    ``group_origins``: its origins (positions in the graph's ``origins``);
    ``arc_root``: per arc (compiled order) leaving an origin, the position of its head among
    its group's roots (-1 for every other arc); ``root_block``: per group root (in
    ``group_roots`` order) its block;
    ``block_first``/``block_nodes``: the nodes of each block; ``block_dead_first``/
    ``block_dead_ends``: the dead ends outside the blocks that each block's arcs reach.
    """

    group_root_first: IntArray
    group_roots: IntArray
    group_origin_first: IntArray
    group_origins: IntArray
    arc_root: IntArray
    root_block: IntArray
    block_first: IntArray
    block_nodes: IntArray
    block_dead_first: IntArray
    block_dead_ends: IntArray

    @property
    def num_groups(self) -> int:
        return int(self.group_root_first.size - 1)

    @property
    def max_roots(self) -> int:
        """The most roots of one group (scratch trees a kernel thread holds)."""
        return int(np.diff(self.group_root_first).max(initial=0))


def _csr(keys: IntArray, values: IntArray, size: int) -> tuple[IntArray, IntArray]:
    """``values`` grouped by ``keys`` (0 .. size - 1): first index per key and the values."""
    order = np.argsort(keys, kind="stable")
    first = np.searchsorted(keys[order], np.arange(size + 1)).astype(np.int64)
    return first, values[order].astype(np.int64)


def _components(size: int, first: IntArray, second: IntArray) -> IntArray:
    """Connected components of ``size`` items joined pairwise (union–find; a few thousand
    pairs, and ``ptn assign`` starts without scipy.sparse)."""
    parent = list(range(size))

    def root(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for a, b in zip(first.tolist(), second.tolist(), strict=True):
        parent[root(a)] = root(b)
    return np.array([root(item) for item in range(size)], dtype=np.int64)


def fan_out_of(node_block: IntArray, first_arc: IntArray, arc_tail: IntArray,
               arc_head: IntArray, no_through: np.ndarray, origins: IntArray) -> FanOut | None:
    """The fan-out structure of a compiled graph (module docstring), or None where the labels
    do not describe one (the kernels then search from every origin)."""
    num_nodes = first_arc.size - 1
    if node_block.shape != (num_nodes,) or origins.size == 0:
        return None
    out_degree = np.diff(first_arc)
    in_degree = np.bincount(arc_head, minlength=num_nodes)
    dead_end = out_degree == 0
    in_block = node_block >= 0
    tail_block, head_block = node_block[arc_tail], node_block[arc_head]
    from_block = tail_block >= 0
    if not np.all((head_block[from_block] == tail_block[from_block])
                  | (~in_block[arc_head[from_block]] & dead_end[arc_head[from_block]])):
        return None
    # outside the blocks: sources (no arc enters: the origins among them) and dead ends
    if np.any(~in_block & (in_degree > 0) & ~dead_end) or np.any(in_block[origins]):
        return None
    is_origin = np.zeros(num_nodes, dtype=np.bool_)
    is_origin[origins] = True
    fan = np.flatnonzero(is_origin[arc_tail])  # the arcs leaving origins
    if np.any(~in_block[arc_head[fan]]) or np.any(no_through[arc_head[fan]]):
        return None
    pairs = np.unique(np.stack([arc_tail[fan], head_block[fan]]), axis=1)
    if pairs.shape[1] != fan.size:  # two arcs of one origin into the same block
        return None
    roots, root_of_arc = np.unique(arc_head[fan], return_inverse=True)
    origin_position = np.searchsorted(origins, arc_tail[fan])
    # groups: origins joined by the roots they share
    component = _components(origins.size + roots.size, origin_position,
                            origins.size + root_of_arc)
    labels, group = np.unique(component, return_inverse=True)
    group_origin_first, group_origins = _csr(group[:origins.size],
                                             np.arange(origins.size), labels.size)
    group_root_first, group_root_index = _csr(group[origins.size:], np.arange(roots.size),
                                              labels.size)
    group_roots = roots[group_root_index]
    # each fan arc's head: its position among its group's roots
    position_in_group = np.empty(roots.size, dtype=np.int64)
    position_in_group[group_root_index] = (np.arange(roots.size)
                                           - group_root_first[group[origins.size:]
                                                              [group_root_index]])
    blocks = int(node_block.max()) + 1
    block_first, block_nodes = _csr(node_block[in_block], np.flatnonzero(in_block), blocks)
    reach = np.flatnonzero(from_block & ~in_block[arc_head])
    dead = np.unique(np.stack([tail_block[reach], arc_head[reach]]), axis=1)
    block_dead_first, block_dead_ends = _csr(dead[0], dead[1], blocks)
    arc_root = np.full(arc_head.size, -1, dtype=np.int64)
    arc_root[fan] = position_in_group[root_of_arc]
    return FanOut(
        group_root_first=group_root_first, group_roots=group_roots.astype(np.int64),
        group_origin_first=group_origin_first, group_origins=group_origins,
        arc_root=arc_root,
        root_block=node_block[group_roots].astype(np.int64),
        block_first=block_first, block_nodes=block_nodes,
        block_dead_first=block_dead_first, block_dead_ends=block_dead_ends)
