"""A distribution network with several supply points, cut into one radial feeder per supply.

Why this exists: real distribution data often holds several radial networks in one file, each
fed from its own substation: pandapower's ``mv_oberrhein`` is two MV rings operated as radial
halves behind two HV/MV transformers (two ``ext_grid``\\ s), ``lv_schutterwald`` fourteen LV
networks behind fourteen MV/LV transformers. A pandapower user loads such a net and runs one
power flow over it; the DSO engine solves DistFlow per radial feeder, so the net becomes several
:class:`~ptn.engines.power.feeder.Feeder`\\ s of one DSO (:class:`~ptn.engines.power.der.DsoCase`
holds several feeders; :class:`~ptn.engines.power.distflow.DistFlowOpf` solves them together).

Rules (:func:`radial_feeders`), on the in-service bus-branch graph a loader produced:

* each connected component holding exactly one supply point is a feeder, oriented from it and
  checked for loops (:func:`~ptn.engines.power.feeder.orient_radial` names a loop's branches);
* a component holding several supply points is refused, naming them: they are connected, so
  the net is meshed between substations (open a switch between them);
* a component without a supply point is dropped when nothing on it draws or injects power (a
  dead-end bus behind an open switch: no flow anywhere depends on it), and refused naming its
  buses and load otherwise (pandapower would leave that load unsupplied without a word);
* feeders come in supply-point order; with one feeder it keeps the net's name, with several
  they are named ``<name>/<k>`` (``k`` counts supply points from 0 in the loader's order, e.g.
  pandapower's ``ext_grid`` index order), and each one's ``source`` names its supply point.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.feeder import Feeder, UpstreamCost, build_feeder

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: buses listed at most in an error message
MAX_LISTED_BUSES = 10


@dataclass(frozen=True)
class SupplyPoint:
    """Where a network is fed from upstream (a pandapower ``ext_grid``), with its limits."""

    label: str
    bus: int
    voltage_pu: float
    p_min_mw: float = -np.inf
    p_max_mw: float = np.inf
    q_min_mvar: float = -np.inf
    q_max_mvar: float = np.inf
    cost: UpstreamCost = field(default_factory=lambda: UpstreamCost(has_cost_data=False))
    #: what the loader folded into this supply point (a transformer's tap), one line each
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class BusBranchNetwork:
    """A converted network before it is cut into feeders: per-unit on ``base_mva`` and each
    bus's own ``bus_kv`` (as :class:`Feeder`), buses by position, branches unoriented."""

    name: str
    source: str
    base_mva: float
    bus_ids: IntArray
    bus_kv: FloatArray
    from_bus: IntArray
    to_bus: IntArray
    branch_ids: tuple[str, ...]
    r_pu: FloatArray
    x_pu: FloatArray
    branch_rating_mva: FloatArray
    load_p_mw: FloatArray
    load_q_mvar: FloatArray
    v_min_pu: FloatArray
    v_max_pu: FloatArray
    supply_points: tuple[SupplyPoint, ...]
    notes: tuple[str, ...] = ()
    #: admittance to ground per bus (p.u.), or None (see :class:`Feeder`)
    shunt_g_pu: FloatArray | None = None
    shunt_b_pu: FloatArray | None = None


def radial_feeders(network: BusBranchNetwork) -> tuple[Feeder, ...]:
    """One validated feeder per supply point of ``network`` (rules in the module doc)."""
    name = network.name
    where = network.source or f"network {name}"
    num = network.bus_ids.size
    if not network.supply_points:
        raise InvalidInputError(f"{where} has no supply point (a pandapower ext_grid)")
    graph = coo_matrix(
        (np.ones(network.from_bus.size), (network.from_bus, network.to_bus)), shape=(num, num)
    )
    _, component = connected_components(graph, directed=False)
    supplies_of: dict[int, list[SupplyPoint]] = {}
    for supply in network.supply_points:
        supplies_of.setdefault(int(component[supply.bus]), []).append(supply)
    for supplies in supplies_of.values():
        if len(supplies) > 1:
            listed = ", ".join(
                f"{s.label} (bus {network.bus_ids[s.bus]})" for s in supplies
            )
            raise InvalidInputError(
                f"{where}: supply points {listed} are connected to each other; a radial feeder "
                "is supplied from exactly one: open a switch or line between them"
            )
    unsupplied = ~np.isin(component, list(supplies_of))
    if unsupplied.any():
        _refuse_loaded_islands(network, component, unsupplied, where)
    several = len(network.supply_points) > 1
    feeders = []
    for k, supply in enumerate(network.supply_points):
        buses = np.flatnonzero(component == component[supply.bus])
        feeders.append(_feeder(network, f"{name}/{k}" if several else name, supply, buses))
    return tuple(feeders)


def _refuse_loaded_islands(
    network: BusBranchNetwork, component: IntArray, unsupplied: NDArray[np.bool_], where: str
) -> None:
    """Refuse the first island (component without supply) that draws or injects power."""
    loaded = unsupplied & ((network.load_p_mw != 0) | (network.load_q_mvar != 0))
    if not loaded.any():
        return
    first = int(np.flatnonzero(loaded)[0])
    island = np.flatnonzero(component == component[first])
    labels = network.bus_ids[island]
    listed = ", ".join(str(b) for b in labels[:MAX_LISTED_BUSES])
    if labels.size > MAX_LISTED_BUSES:
        listed += " ..."
    raise InvalidInputError(
        f"{where}: bus {network.bus_ids[first]} (load {network.load_p_mw[first]:g} MW, "
        f"{network.load_q_mvar[first]:g} MVAr) is islanded: no supply point feeds its "
        f"buses {listed}; close a switch to a supplied bus, or set them out of service"
    )


def _feeder(
    network: BusBranchNetwork, name: str, supply: SupplyPoint, buses: IntArray
) -> Feeder:
    position = np.full(network.bus_ids.size, -1, dtype=np.int64)
    position[buses] = np.arange(buses.size)
    inside = np.flatnonzero(position[network.from_bus] >= 0)
    v_min = network.v_min_pu[buses].copy()
    v_max = network.v_max_pu[buses].copy()
    slack = int(position[supply.bus])
    # the slack's voltage is fixed; its limits must not contradict it (a tap folded into it)
    v_min[slack] = min(v_min[slack], supply.voltage_pu)
    v_max[slack] = max(v_max[slack], supply.voltage_pu)
    source = network.source
    if len(network.supply_points) > 1:
        source = (f"{network.source}, the radial part fed by {supply.label} at bus "
                  f"{network.bus_ids[supply.bus]}")
    return build_feeder(
        name=name,
        base_mva=network.base_mva,
        base_kv=float(network.bus_kv[supply.bus]),
        bus_ids=network.bus_ids[buses],
        slack_buses=np.asarray([slack], dtype=np.int64),
        slack_voltage_pu=supply.voltage_pu,
        from_bus=position[network.from_bus[inside]],
        to_bus=position[network.to_bus[inside]],
        branch_ids=tuple(network.branch_ids[b] for b in inside.tolist()),
        r_pu=network.r_pu[inside],
        x_pu=network.x_pu[inside],
        branch_rating_mva=network.branch_rating_mva[inside],
        load_p_mw=network.load_p_mw[buses],
        load_q_mvar=network.load_q_mvar[buses],
        v_min_pu=v_min,
        v_max_pu=v_max,
        upstream_p_min_mw=supply.p_min_mw,
        upstream_p_max_mw=supply.p_max_mw,
        upstream_q_min_mvar=supply.q_min_mvar,
        upstream_q_max_mvar=supply.q_max_mvar,
        upstream_cost=supply.cost,
        source=source,
        notes=supply.notes + network.notes,
        shunt_g_pu=None if network.shunt_g_pu is None else network.shunt_g_pu[buses],
        shunt_b_pu=None if network.shunt_b_pu is None else network.shunt_b_pu[buses],
    )
