"""A radial distribution feeder, as the DSO holds it, in per unit on the feeder's own base.

Every loader (pandapower nets, MATPOWER case files, the built-in cases) produces a
:class:`Feeder`; every formulation (DistFlow-SOC, LinDistFlow, the AC power-flow check) reads
one. Keeping the data apart from the formulations is PowerModels.jl's parse / problem /
formulation split.

Conventions:

* buses keep their external labels (``bus_ids``: MATPOWER ``bus_i``, or the pandapower bus
  index); arrays index buses by position;
* branches are oriented away from the slack (``branch_from`` is the parent) and sorted so that a
  parent branch comes before its children (breadth-first order), which lets recursions along
  the tree run as one pass over the arrays;
* impedances and loads are per unit on ``base_mva`` and the slack bus's ``base_kv``; branch
  ratings are in MVA at nominal voltage (``inf`` when the source has none), so the DistFlow
  current limit is ``ℓ ≤ (rating / base_mva)²``;
* the slack's upstream cost is the shipped polynomial ``c2·P² + c1·P + c0`` in $/h with P in MW.

:func:`validate_feeder` checks everything the formulations rely on and raises
:class:`~ptn.engines.errors.InvalidInputError` naming the bad branch or bus.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: below this linearized voltage magnitude (p.u.) the loads or impedances are taken for a unit
#: mix-up (kW read as MW, ohm read as p.u.) rather than a heavily loaded feeder
ABSURD_VOLTAGE_PU = 0.5


@dataclass(frozen=True)
class UpstreamCost:
    """Cost of power bought at the slack: ``c2·P² + c1·P + c0`` in $/h, P in MW."""

    quadratic_per_mw2h: float = 0.0
    linear_per_mwh: float = 0.0
    constant_per_h: float = 0.0
    #: False when the case carries no cost data for its supply point (pandapower's benchmark
    #: feeders, MATPOWER cases without gencost); the OPF then prices purchases with a tariff
    #: it names in its summary instead of solving a zero objective
    has_cost_data: bool = True


@dataclass(frozen=True, eq=False)
class Feeder:
    """Topology, impedances, loads and limits of one radial feeder (per unit, see module doc)."""

    name: str
    base_mva: float
    base_kv: float
    bus_ids: IntArray
    slack_bus: int
    slack_voltage_pu: float
    branch_from: IntArray
    branch_to: IntArray
    branch_ids: tuple[str, ...]
    r_pu: FloatArray
    x_pu: FloatArray
    branch_rating_mva: FloatArray
    load_p_mw: FloatArray
    load_q_mvar: FloatArray
    v_min_pu: FloatArray
    v_max_pu: FloatArray
    upstream_p_min_mw: float = -np.inf
    upstream_p_max_mw: float = np.inf
    upstream_q_min_mvar: float = -np.inf
    upstream_q_max_mvar: float = np.inf
    upstream_cost: UpstreamCost = field(default_factory=UpstreamCost)
    source: str = ""
    #: what the loader approximated or folded when converting the source (line charging left
    #: out, a supply transformer's tap folded into the slack voltage, ...), one line each
    notes: tuple[str, ...] = ()
    #: admittance to ground per bus (p.u. on ``base_mva``), or None for none: the bus draws
    #: ``g·v`` and injects ``b·v`` (``v = |V|²``), e.g. half of each line's charging at each
    #: end (pandapower's ``c_nf_per_km``). Linear in DistFlow's ``v``, so exact in the model;
    #: the OPF holds it in its balances; pandapower nets fill it by default (``line_charging``)
    shunt_g_pu: FloatArray | None = None
    shunt_b_pu: FloatArray | None = None

    @property
    def num_buses(self) -> int:
        return int(self.bus_ids.size)

    @property
    def num_branches(self) -> int:
        return int(self.branch_from.size)

    @property
    def total_load_mw(self) -> float:
        return float(self.load_p_mw.sum())

    @property
    def total_load_mvar(self) -> float:
        return float(self.load_q_mvar.sum())

    def bus_index(self, label: int) -> int:
        """Position of the bus with external label ``label``."""
        matches = np.flatnonzero(self.bus_ids == label)
        if matches.size == 0:
            raise InvalidInputError(f"feeder {self.name}: unknown bus {label}")
        return int(matches[0])

    def branch_into(self) -> IntArray:
        """For every bus, the branch that feeds it (``-1`` at the slack)."""
        into = np.full(self.num_buses, -1, dtype=np.int64)
        into[self.branch_to] = np.arange(self.num_branches)
        return into

    def shunt_draw(self, v_pu2: FloatArray) -> tuple[FloatArray, FloatArray]:
        """What the bus shunts draw at squared voltages ``v_pu2`` (``[bus, ...]``): MW ``g·v``
        and MVAr ``−b·v`` (zeros without shunts). The OPF's balances carry them as loads; a
        result's net load leaves them out because the AC check models the shunts itself."""
        v = np.asarray(v_pu2, dtype=np.float64)
        shape = (-1,) + (1,) * (v.ndim - 1)
        g = np.zeros(self.num_buses) if self.shunt_g_pu is None else self.shunt_g_pu
        b = np.zeros(self.num_buses) if self.shunt_b_pu is None else self.shunt_b_pu
        return (g.reshape(shape) * v * self.base_mva, -b.reshape(shape) * v * self.base_mva)

    @property
    def has_shunts(self) -> bool:
        """Whether any bus has a shunt admittance (line charging kept)."""
        return any(s is not None and bool(np.any(s)) for s in (self.shunt_g_pu, self.shunt_b_pu))

    def with_voltage_band(
        self, v_min_pu: float | None = None, v_max_pu: float | None = None
    ) -> Feeder:
        """The same feeder with one voltage band at every bus but the slack (p.u.).

        Utilities state a planning band for the whole feeder (ANSI C84.1 Range A is 0.95–1.05;
        seed 003 studies 0.91–1.05), while case files carry per-bus limits of their own
        (MATPOWER's case33bw: 0.9–1.1). The slack bus keeps its own limits: its voltage is fixed
        at ``slack_voltage_pu`` (case33bw's are [1, 1]). ``None`` keeps that side's per-bus
        limits. Raises :class:`InvalidInputError` for a bound that is not finite and positive,
        or a band whose lower limit is not below its upper one at some bus.
        """
        low = self.v_min_pu.copy()
        high = self.v_max_pu.copy()
        others = np.arange(self.num_buses) != self.slack_bus
        if v_min_pu is not None:
            low[others] = _band_value(self.name, "v_min_pu", v_min_pu)
        if v_max_pu is not None:
            high[others] = _band_value(self.name, "v_max_pu", v_max_pu)
        bad = np.flatnonzero(others & (low >= high))
        if bad.size:
            bus = int(bad[0])
            raise InvalidInputError(
                f"feeder {self.name}: voltage band [{low[bus]:g}, {high[bus]:g}] p.u. at bus "
                f"{self.bus_ids[bus]}: the lower limit v_min_pu must be below v_max_pu"
            )
        return replace(self, v_min_pu=low, v_max_pu=high)

    def with_loads(self, load_p_mw: FloatArray, load_q_mvar: FloatArray) -> Feeder:
        """The same feeder with other bus loads (MW, MVAr)."""
        return replace(
            self,
            load_p_mw=np.asarray(load_p_mw, dtype=np.float64),
            load_q_mvar=np.asarray(load_q_mvar, dtype=np.float64),
        )


def _band_value(name: str, what: str, value: float) -> float:
    """A voltage limit (p.u.) checked to be a finite positive number."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise InvalidInputError(f"feeder {name}: {what} must be a number, got {value!r}")
    number = float(value)
    if not (np.isfinite(number) and number > 0):
        raise InvalidInputError(
            f"feeder {name}: {what} must be a finite positive voltage in p.u., got {value!r}"
        )
    return number


def orient_radial(
    name: str,
    bus_ids: IntArray,
    slack_bus: int,
    from_bus: IntArray,
    to_bus: IntArray,
    branch_ids: tuple[str, ...],
) -> tuple[IntArray, IntArray, IntArray]:
    """Orient branches away from the slack in breadth-first order.

    Returns ``(order, parent, child)``: ``order`` permutes the input branches, ``parent`` and
    ``child`` are the oriented bus positions. Raises naming the branch that closes a loop or the
    bus that is islanded.
    """
    num_buses = bus_ids.size
    adjacency: list[list[tuple[int, int]]] = [[] for _ in range(num_buses)]
    for branch, (a, b) in enumerate(zip(from_bus.tolist(), to_bus.tolist(), strict=True)):
        if a == b:
            raise InvalidInputError(
                f"feeder {name}: branch {branch_ids[branch]} connects bus {bus_ids[a]} to itself"
            )
        adjacency[a].append((b, branch))
        adjacency[b].append((a, branch))
    seen = np.zeros(num_buses, dtype=bool)
    used = np.zeros(from_bus.size, dtype=bool)
    tree_parent = np.full(num_buses, -1, dtype=np.int64)
    tree_branch = np.full(num_buses, -1, dtype=np.int64)
    seen[slack_bus] = True
    queue: deque[int] = deque([slack_bus])
    order: list[int] = []
    parent: list[int] = []
    child: list[int] = []
    while queue:
        bus = queue.popleft()
        for neighbour, branch in adjacency[bus]:
            if used[branch]:
                continue
            used[branch] = True
            if seen[neighbour]:
                cycle = _cycle_branches(bus, neighbour, branch, tree_parent, tree_branch)
                listed = ", ".join(
                    f"{branch_ids[b]} ({bus_ids[from_bus[b]]}-{bus_ids[to_bus[b]]})"
                    for b in cycle
                )
                raise InvalidInputError(
                    f"feeder {name} is not radial: branches {listed} form a loop; open one of "
                    "them (set it out of service) or pick another feeder"
                )
            seen[neighbour] = True
            tree_parent[neighbour] = bus
            tree_branch[neighbour] = branch
            order.append(branch)
            parent.append(bus)
            child.append(neighbour)
            queue.append(neighbour)
    if not seen.all():
        islanded = bus_ids[~seen]
        listed = ", ".join(str(b) for b in islanded[:10]) + (" ..." if islanded.size > 10 else "")
        raise InvalidInputError(
            f"feeder {name}: bus {islanded[0]} is islanded (not connected to the slack bus "
            f"{bus_ids[slack_bus]}); islanded buses: {listed}"
        )
    return (
        np.asarray(order, dtype=np.int64),
        np.asarray(parent, dtype=np.int64),
        np.asarray(child, dtype=np.int64),
    )


def _cycle_branches(
    a: int, b: int, closing: int, tree_parent: IntArray, tree_branch: IntArray
) -> list[int]:
    """Branches of the loop that ``closing`` (between tree buses a and b) closes."""
    ancestors_a: list[int] = [a]
    while tree_parent[ancestors_a[-1]] >= 0:
        ancestors_a.append(int(tree_parent[ancestors_a[-1]]))
    on_path_a = {bus: depth for depth, bus in enumerate(ancestors_a)}
    path_b: list[int] = []
    bus = b
    while bus not in on_path_a:
        path_b.append(int(tree_branch[bus]))
        bus = int(tree_parent[bus])
    path_a = [int(tree_branch[x]) for x in ancestors_a[: on_path_a[bus]]]
    return sorted({*path_a, *path_b, closing})


def build_feeder(
    *,
    name: str,
    base_mva: float,
    base_kv: float,
    bus_ids: IntArray,
    slack_buses: IntArray,
    slack_voltage_pu: float,
    from_bus: IntArray,
    to_bus: IntArray,
    branch_ids: tuple[str, ...],
    r_pu: FloatArray,
    x_pu: FloatArray,
    branch_rating_mva: FloatArray,
    load_p_mw: FloatArray,
    load_q_mvar: FloatArray,
    v_min_pu: FloatArray,
    v_max_pu: FloatArray,
    upstream_p_min_mw: float = -np.inf,
    upstream_p_max_mw: float = np.inf,
    upstream_q_min_mvar: float = -np.inf,
    upstream_q_max_mvar: float = np.inf,
    upstream_cost: UpstreamCost | None = None,
    source: str = "",
    notes: tuple[str, ...] = (),
    shunt_g_pu: FloatArray | None = None,
    shunt_b_pu: FloatArray | None = None,
) -> Feeder:
    """Assemble and validate a :class:`Feeder` from unoriented branch data (bus positions)."""
    bus_ids = np.asarray(bus_ids, dtype=np.int64)
    slack_buses = np.asarray(slack_buses, dtype=np.int64)
    if slack_buses.size == 0:
        raise InvalidInputError(
            f"feeder {name} has no slack bus (MATPOWER bus type 3, or a pandapower ext_grid)"
        )
    if slack_buses.size > 1:
        labels = ", ".join(str(bus_ids[b]) for b in slack_buses)
        raise InvalidInputError(
            f"feeder {name} has {slack_buses.size} slack buses ({labels}); a radial feeder "
            "is supplied from exactly one"
        )
    if np.unique(bus_ids).size != bus_ids.size:
        values, counts = np.unique(bus_ids, return_counts=True)
        raise InvalidInputError(f"feeder {name}: bus {values[counts > 1][0]} is defined twice")
    slack_bus = int(slack_buses[0])
    from_bus = np.asarray(from_bus, dtype=np.int64)
    to_bus = np.asarray(to_bus, dtype=np.int64)
    r_pu = np.asarray(r_pu, dtype=np.float64)
    x_pu = np.asarray(x_pu, dtype=np.float64)
    branch_rating_mva = np.asarray(branch_rating_mva, dtype=np.float64)
    _check_impedances(name, branch_ids, r_pu, x_pu, branch_rating_mva)
    if not len(branch_ids) == from_bus.size == to_bus.size == r_pu.size == x_pu.size:
        raise InvalidInputError(f"feeder {name}: branch arrays have different lengths")
    order, parent, child = orient_radial(name, bus_ids, slack_bus, from_bus, to_bus, branch_ids)
    feeder = Feeder(
        name=name,
        base_mva=float(base_mva),
        base_kv=float(base_kv),
        bus_ids=bus_ids,
        slack_bus=slack_bus,
        slack_voltage_pu=float(slack_voltage_pu),
        branch_from=parent,
        branch_to=child,
        branch_ids=tuple(branch_ids[b] for b in order.tolist()),
        r_pu=r_pu[order],
        x_pu=x_pu[order],
        branch_rating_mva=branch_rating_mva[order],
        load_p_mw=np.asarray(load_p_mw, dtype=np.float64),
        load_q_mvar=np.asarray(load_q_mvar, dtype=np.float64),
        v_min_pu=np.asarray(v_min_pu, dtype=np.float64),
        v_max_pu=np.asarray(v_max_pu, dtype=np.float64),
        upstream_p_min_mw=float(upstream_p_min_mw),
        upstream_p_max_mw=float(upstream_p_max_mw),
        upstream_q_min_mvar=float(upstream_q_min_mvar),
        upstream_q_max_mvar=float(upstream_q_max_mvar),
        upstream_cost=upstream_cost or UpstreamCost(),
        source=source,
        notes=tuple(notes),
        shunt_g_pu=None if shunt_g_pu is None else np.asarray(shunt_g_pu, dtype=np.float64),
        shunt_b_pu=None if shunt_b_pu is None else np.asarray(shunt_b_pu, dtype=np.float64),
    )
    validate_feeder(feeder)
    return feeder


def _check_impedances(
    name: str,
    branch_ids: tuple[str, ...],
    r_pu: FloatArray,
    x_pu: FloatArray,
    rating_mva: FloatArray,
) -> None:
    for values, label in ((r_pu, "resistance"), (x_pu, "reactance")):
        bad = np.flatnonzero(~np.isfinite(values) | (values <= 0.0))
        if bad.size:
            raise InvalidInputError(
                f"feeder {name}: branch {branch_ids[bad[0]]} has non-positive or non-finite "
                f"{label} {float(values[bad[0]]):g} p.u. (DistFlow needs r > 0 and x > 0)"
            )
    bad = np.flatnonzero(np.isnan(rating_mva) | (rating_mva <= 0.0))
    if bad.size:
        raise InvalidInputError(
            f"feeder {name}: branch {branch_ids[bad[0]]} has rating "
            f"{float(rating_mva[bad[0]]):g} MVA (use inf for no limit)"
        )


def linearized_voltage_pu(feeder: Feeder) -> FloatArray:
    """Voltage magnitudes by LinDistFlow with the feeder's loads and no losses (Baran–Wu 1989).

    ``v_j = v_i − 2(r·P + x·Q)`` with ``P``, ``Q`` the downstream load of the branch; returns
    ``sqrt(max(v, 0))``. Used to catch unit mix-ups and as a cheap first guess.
    """
    p_pu = feeder.load_p_mw / feeder.base_mva
    q_pu = feeder.load_q_mvar / feeder.base_mva
    downstream_p = p_pu.copy()
    downstream_q = q_pu.copy()
    for branch in range(feeder.num_branches - 1, -1, -1):
        child, parent = feeder.branch_to[branch], feeder.branch_from[branch]
        downstream_p[parent] += downstream_p[child]
        downstream_q[parent] += downstream_q[child]
    v_squared = np.empty(feeder.num_buses)
    v_squared[feeder.slack_bus] = feeder.slack_voltage_pu**2
    for branch in range(feeder.num_branches):
        child, parent = feeder.branch_to[branch], feeder.branch_from[branch]
        v_squared[child] = v_squared[parent] - 2.0 * (
            feeder.r_pu[branch] * downstream_p[child] + feeder.x_pu[branch] * downstream_q[child]
        )
    return np.sqrt(np.maximum(v_squared, 0.0))


def validate_feeder(feeder: Feeder) -> None:
    """Check a feeder's arrays, limits and plausibility; raise naming the bad bus or branch."""
    n = feeder.num_buses
    name = feeder.name
    if feeder.num_branches != n - 1:
        raise InvalidInputError(
            f"feeder {name} is not radial: {feeder.num_branches} branches for {n} buses"
        )
    if not (np.isfinite(feeder.base_mva) and feeder.base_mva > 0):
        raise InvalidInputError(f"feeder {name}: base MVA must be positive, got {feeder.base_mva}")
    if not (np.isfinite(feeder.base_kv) and feeder.base_kv > 0):
        raise InvalidInputError(f"feeder {name}: base kV must be positive, got {feeder.base_kv}")
    if np.unique(feeder.bus_ids).size != n:
        raise InvalidInputError(f"feeder {name}: bus labels are not unique")
    m = feeder.num_branches
    for label, array in (("branch_to", feeder.branch_to), ("r_pu", feeder.r_pu),
                         ("x_pu", feeder.x_pu), ("branch_rating_mva", feeder.branch_rating_mva)):
        if array.shape != (m,):
            raise InvalidInputError(f"feeder {name}: {label} has shape {array.shape}, not ({m},)")
    if len(feeder.branch_ids) != m:
        raise InvalidInputError(f"feeder {name}: {len(feeder.branch_ids)} branch ids for {m} "
                                "branches")
    _check_impedances(name, feeder.branch_ids, feeder.r_pu, feeder.x_pu,
                      feeder.branch_rating_mva)
    shunts = tuple((label, values) for label, values in (
        ("shunt_g_pu", feeder.shunt_g_pu), ("shunt_b_pu", feeder.shunt_b_pu))
        if values is not None)
    for label, values in (
        ("load_p_mw", feeder.load_p_mw),
        ("load_q_mvar", feeder.load_q_mvar),
        ("v_min_pu", feeder.v_min_pu),
        ("v_max_pu", feeder.v_max_pu),
        *shunts,
    ):
        if values.shape != (n,):
            raise InvalidInputError(f"feeder {name}: {label} has shape {values.shape}, not ({n},)")
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise InvalidInputError(
                f"feeder {name}: bus {feeder.bus_ids[bad[0]]} has non-finite {label}"
            )
    bad = np.flatnonzero((feeder.v_min_pu <= 0) | (feeder.v_min_pu > feeder.v_max_pu))
    if bad.size:
        bus = bad[0]
        raise InvalidInputError(
            f"feeder {name}: bus {feeder.bus_ids[bus]} has voltage limits "
            f"[{feeder.v_min_pu[bus]}, {feeder.v_max_pu[bus]}] p.u."
        )
    if not 0.5 <= feeder.slack_voltage_pu <= 1.5:
        raise InvalidInputError(
            f"feeder {name}: slack bus {feeder.bus_ids[feeder.slack_bus]} voltage "
            f"{feeder.slack_voltage_pu} p.u. is implausible"
        )
    voltage = linearized_voltage_pu(feeder)
    worst = int(np.argmin(voltage))
    if voltage[worst] < ABSURD_VOLTAGE_PU:
        raise InvalidInputError(
            f"feeder {name}: loads or impedances look like a unit mix-up: total load "
            f"{feeder.total_load_mw:.6g} MW on a {feeder.base_kv:g} kV feeder "
            f"(base {feeder.base_mva:g} MVA) would pull bus {feeder.bus_ids[worst]} below "
            f"{ABSURD_VOLTAGE_PU} p.u. even without losses; were loads given in kW, or "
            "impedances in ohm, where MW and p.u. are expected?"
        )
