"""pandapower nets into feeders: the conversion rules a pandapower user can check.

Why this exists: pandapower is where most distribution feeders (and its ``networks`` module's
test cases) already live. This module converts a pandapower net into the DSO engine's per-unit
feeders, one per supply point; :mod:`ptn.engines.power.ac_power_flow` (re-exported here) goes
the other way and runs pandapower's AC power flow, the independent referee of every DistFlow
answer.

Sources: pandapower's element documentation (``bus``, ``line``, ``trafo``, ``load``, ``sgen``,
``shunt``, ``ext_grid``, ``switch``, ``poly_cost``; L. Thurner et al., "pandapower — an
open-source Python tool for convenient modeling, analysis, and optimization of electric power
systems", IEEE Trans. Power Syst. 33(6), 2018) and its branch model in
``pandapower/build_branch.py`` for the transformer impedance on the system base; the DistFlow
per-unit current ``ℓ = |I|²`` of M. E. Baran and F. F. Wu, "Network reconfiguration in
distribution systems for loss reduction and load balancing", IEEE Trans. Power Deliv. 4(2), 1989.

How a net becomes a Feeder (:func:`feeder_from_pandapower`):

* buses are labelled by their pandapower index; out-of-service buses and every element on them
  are left out (as pandapower does);
* closed bus-bus switches merge their buses (the group keeps the smallest label; voltage limits
  are intersected); a closed bus-bus switch with ``z_ohm > 0`` is refused. Open line and trafo
  switches take their branch out of service;
* lines: ``r = r_ohm_per_km·length_km/parallel`` over ``Z_base = vn_kv²/sn_mva`` of their
  buses, likewise ``x``. Rating = ``√3·vn_kv·max_i_ka·df·parallel`` MVA, times
  ``max_loading_percent/100`` where given (pandapower's OPF limit); ``max_i_ka ≥ 9999`` means
  no limit (``inf``). Line charging (``c_nf_per_km``, ``g_us_per_km``) is kept exactly, by
  default, as bus shunts (``Feeder.shunt_g_pu``, ``shunt_b_pu``): half of each line's
  ``y = g + j·2π·f·C`` at each end, and a line open at one end (pandapower keeps it energized
  from the other) as the admittance it presents there. The OPF's balances hold them (linear in
  the squared voltage); on pandapower's MV nets leaving them out (``line_charging=False``, the
  feeder's ``notes`` then name it) shifts voltages by up to 4.5e-3 p.u. (CIGRE MV) and 1.5e-2
  p.u. (mv_oberrhein); docs/power.md has the measurements;
* two-winding transformers: ``z = vk_percent/100``, ``r = vkr_percent/100`` on the trafo's
  ``sn_mva``, converted to ``net.sn_mva`` and to the low-voltage bus's ``vn_kv`` as pandapower
  does; ``shift_degree`` is ignored (exact on a radial feeder: it only rotates the angles
  downstream) and so is the magnetizing branch (``pfe_kw``, ``i0_percent``; the feeder's
  ``notes`` say how much was left out). An off-nominal ratio (tap position off neutral, or rated
  voltages other than the buses') is folded into the slack voltage when the transformer is a
  supply transformer whose HV bus holds only the ext_grid (exact: the feeder's slack voltage
  is the voltage behind the tap, ``vm_pu/τ``), and refused naming the transformer elsewhere.
  Rating = ``sn_mva·parallel`` (times ``max_loading_percent/100`` where given);
* loads add ``p_mw·scaling``, ``q_mvar·scaling`` per bus (constant power only: a load with
  nonzero ``const_z_*``/``const_i_*`` percentages is refused); static generators are negative
  loads at their ``p_mw·scaling``, ``q_mvar·scaling`` (``controllable`` is ignored: flexible
  DERs belong to the DER layer); shunts add their power at 1 p.u. voltage
  (``p_mw·step``, ``q_mvar·step``, times ``(vn_bus/vn_shunt)²`` as pandapower does), the same
  constant-power stand-in as the MATPOWER loader uses;
* each in-service ``ext_grid`` is a supply point: ``vm_pu``, ``min/max_p_mw``,
  ``min/max_q_mvar`` (missing or NaN: unbounded) and its ``poly_cost`` row
  (``cp2_eur_per_mw2``, ``cp1_eur_per_mw``, ``cp0_eur``) as the upstream cost; without a
  ``poly_cost`` row (pandapower's benchmark feeders ship none) the feeder says it has no cost
  data (``UpstreamCost(has_cost_data=False)``). The net is cut into one radial feeder per
  supply point by :mod:`ptn.engines.power.supply_points` (:func:`feeders_from_pandapower`);
  :func:`feeder_from_pandapower` wants exactly one;
* bus voltage limits ``min_vm_pu``/``max_vm_pu`` where given, else 0.9/1.1 p.u. (pandapower's
  own fill values for a limit not given, 0.0 and 2.0, count as not given);
* elements a Feeder cannot hold (``gen``, ``trafo3w``, ``impedance``, ``dcline``, ``ward``,
  ``xward``, ``storage``, ...) are refused when in service, naming the element.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandapower as pp
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.ac_power_flow import (
    AC_TOLERANCE_MVA,
    UNLIMITED_KA,
    AcPowerFlowResult,
    pandapower_net,
    run_ac_power_flow,
)
from ptn.engines.power.feeder import Feeder, UpstreamCost
from ptn.engines.power.matpower_case import feeder_from_matpower
from ptn.engines.power.supply_points import BusBranchNetwork, SupplyPoint, radial_feeders

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: the AC power flow moved to :mod:`ptn.engines.power.ac_power_flow`; importers of this module
#: keep finding it here
__all__ = ["AC_TOLERANCE_MVA", "UNLIMITED_KA", "AcPowerFlowResult", "BusBranchNetwork",
           "feeder_from_file", "feeder_from_pandapower", "feeders_from_file",
           "feeders_from_pandapower", "network_from_pandapower", "pandapower_net",
           "run_ac_power_flow", "transformer_ratio"]

#: pandapower's convention for "no thermal limit" on a line (``max_i_ka`` at or above this)
NO_LIMIT_KA = 9999.0
DEFAULT_V_MIN_PU = 0.9
DEFAULT_V_MAX_PU = 1.1
#: what pandapower's ``create_bus`` writes for a limit that was not given (``default_val``)
PANDAPOWER_UNSET_V_MIN_PU = 0.0
PANDAPOWER_UNSET_V_MAX_PU = 2.0
#: a transformer whose ratio is this close to 1 is at nominal ratio
RATIO_TOLERANCE = 1e-9

#: element tables a Feeder cannot represent, refused when they have in-service rows
UNSUPPORTED_ELEMENTS: dict[str, str] = {
    "gen": "a Feeder has no voltage-controlling generators (use an sgen or the DER layer)",
    "trafo3w": "three-winding transformers are not supported",
    "impedance": "impedance elements are not supported",
    "dcline": "DC lines are not supported",
    "ward": "ward equivalents are not supported",
    "xward": "extended ward equivalents are not supported",
    "storage": "storage belongs to the DER layer, not the feeder data",
    "motor": "motors are not supported",
    "asymmetric_load": "unbalanced loads are not supported",
    "asymmetric_sgen": "unbalanced static generators are not supported",
    "svc": "SVCs are not supported",
    "tcsc": "TCSCs are not supported",
    "ssc": "SSCs are not supported",
    "vsc": "VSCs are not supported",
}


# --------------------------------------------------------------------------------------------
# pandapower -> Feeder


def feeder_from_pandapower(net: Any, name: str, *, line_charging: bool = True) -> Feeder:
    """Convert a pandapower net of one supply point into a validated :class:`Feeder`.

    A net with several supply points is refused naming them (:func:`feeders_from_pandapower`
    loads it as one feeder per supply point).
    """
    feeders = feeders_from_pandapower(net, name, line_charging=line_charging)
    if len(feeders) > 1:
        supplies = "; ".join(f"{f.name}: {f.source.rpartition(', ')[2]}" for f in feeders)
        raise InvalidInputError(
            f"pandapower net {name} has {len(feeders)} supply points, one radial feeder each "
            f"({supplies}); load them as several feeders of one DSO (load_feeders / "
            "feeders_from_pandapower)"
        )
    return feeders[0]


def feeders_from_pandapower(
    net: Any, name: str, *, line_charging: bool = True
) -> tuple[Feeder, ...]:
    """Convert a pandapower net into one validated :class:`Feeder` per supply point.

    Conversion rules in the module doc; cutting into feeders in
    :mod:`ptn.engines.power.supply_points`. ``line_charging=True`` (default) keeps the lines'
    shunt admittance as bus shunts (:attr:`Feeder.shunt_b_pu`), which the OPF holds exactly;
    ``False`` leaves it out and says so in the feeders' notes.
    """
    return radial_feeders(network_from_pandapower(net, name, line_charging=line_charging))


def network_from_pandapower(
    net: Any, name: str, *, line_charging: bool = True
) -> BusBranchNetwork:
    """The in-service bus-branch data of a pandapower net (rules in the module doc).

    ``line_charging=True``: each line's ``c_nf_per_km`` and ``g_us_per_km`` become bus shunts,
    half at each end (the π model), ``b = 2π·f_hz·C·Z_base`` p.u.; otherwise they are left out
    and the feeder's notes say so.
    """
    where = f"pandapower net {name}"
    _refuse_unsupported(net, where)
    bus_labels = net.bus.index.to_numpy(dtype=np.int64)
    num = bus_labels.size
    if num == 0:
        raise InvalidInputError(f"{where} has no buses")
    lookup = _Lookup(bus_labels, where)
    bus_on = net.bus["in_service"].to_numpy(dtype=bool)
    vn_kv = net.bus["vn_kv"].to_numpy(dtype=np.float64)
    v_min = _column(net.bus, "min_vm_pu", DEFAULT_V_MIN_PU)
    v_max = _column(net.bus, "max_vm_pu", DEFAULT_V_MAX_PU)
    # pandapower fills limits nobody gave with 0.0 and 2.0 ("unbounded"): not given here either
    v_min[v_min <= PANDAPOWER_UNSET_V_MIN_PU] = DEFAULT_V_MIN_PU
    v_max[v_max >= PANDAPOWER_UNSET_V_MAX_PU] = DEFAULT_V_MAX_PU
    sn_mva = float(net.sn_mva)

    switches = net.switch
    closed = switches["closed"].to_numpy(dtype=bool)
    kind = switches["et"].astype(str).to_numpy()
    element = switches["element"].to_numpy(dtype=np.int64)
    switch_bus = switches["bus"].to_numpy(dtype=np.int64)

    # merge buses joined by closed bus-bus switches
    bus_bus = np.flatnonzero((kind == "b") & closed)
    a = lookup(switch_bus[bus_bus], lambda k: f"switch {switches.index[bus_bus[k]]}")
    b = lookup(element[bus_bus], lambda k: f"switch {switches.index[bus_bus[k]]}")
    live = bus_on[a] & bus_on[b]
    z_ohm = _column(switches, "z_ohm", 0.0)[bus_bus]
    bad = np.flatnonzero(live & (z_ohm > 0))
    if bad.size:
        raise InvalidInputError(
            f"{where}: closed bus-bus switch {switches.index[bus_bus[bad[0]]]} has z_ohm "
            f"{z_ohm[bad[0]]:g}; model it as a line"
        )
    a, b = a[live], b[live]
    graph = coo_matrix((np.ones(a.size), (a, b)), shape=(num, num))
    _, group = connected_components(graph, directed=False)
    # representative of each group: its smallest label (positions of in-service buses only)
    candidates = np.flatnonzero(bus_on)
    by_label = candidates[np.lexsort((bus_labels[candidates], group[candidates]))]
    first = np.ones(by_label.size, dtype=bool)
    first[1:] = group[by_label[1:]] != group[by_label[:-1]]
    representative_of_group = np.full(num, -1, dtype=np.int64)
    representative_of_group[group[by_label[first]]] = by_label[first]
    representative = representative_of_group[group]
    merged = np.flatnonzero(bus_on & (representative != np.arange(num)))
    if merged.size:
        mismatch = merged[~np.isclose(vn_kv[merged], vn_kv[representative[merged]])]
        if mismatch.size:
            raise InvalidInputError(
                f"{where}: bus {bus_labels[mismatch[0]]} ({vn_kv[mismatch[0]]:g} kV) is switched "
                f"to bus {bus_labels[representative[mismatch[0]]]} "
                f"({vn_kv[representative[mismatch[0]]]:g} kV)"
            )
        np.maximum.at(v_min, representative[merged], v_min[merged])
        np.minimum.at(v_max, representative[merged], v_max[merged])
    kept = np.flatnonzero(bus_on & (representative == np.arange(num)))
    if kept.size == 0:
        raise InvalidInputError(f"{where} has no bus in service")
    position = np.full(num, -1, dtype=np.int64)
    position[kept] = np.arange(kept.size)
    feeder_position = np.where(bus_on, position[np.maximum(representative, 0)], -1)

    open_switch = ~closed

    def switched_off(et: str, index: IntArray) -> NDArray[np.bool_]:
        return np.isin(index, element[(kind == et) & open_switch])

    def in_service_branches(
        table: Any, end_a: str, end_b: str, label: str, switch_kind: str
    ) -> tuple[IntArray, IntArray, IntArray, Any]:
        """Bus positions of both ends, index and rows of the branches that are in service."""
        index = table.index.to_numpy(dtype=np.int64)
        a = lookup(table[end_a].to_numpy(dtype=np.int64), lambda k: f"{label} {index[k]}")
        b = lookup(table[end_b].to_numpy(dtype=np.int64), lambda k: f"{label} {index[k]}")
        on = (
            table["in_service"].to_numpy(dtype=bool)
            & bus_on[a]
            & bus_on[b]
            & ~switched_off(switch_kind, index)
        )
        return a[on], b[on], index[on], table[on]

    # lines
    lf, lt, line_index, lines = in_service_branches(net.line, "from_bus", "to_bus", "line", "l")
    off_voltage = np.flatnonzero(~np.isclose(vn_kv[lf], vn_kv[lt]))
    if off_voltage.size:
        k = off_voltage[0]
        raise InvalidInputError(
            f"{where}: line {line_index[k]} joins bus {bus_labels[lf[k]]} ({vn_kv[lf[k]]:g} kV) "
            f"and bus {bus_labels[lt[k]]} ({vn_kv[lt[k]]:g} kV)"
        )
    parallel = _column(lines, "parallel", 1.0)
    length = lines["length_km"].to_numpy(dtype=np.float64)
    z_base = vn_kv[lf] ** 2 / sn_mva
    line_r = lines["r_ohm_per_km"].to_numpy(dtype=np.float64) * length / parallel / z_base
    line_x = lines["x_ohm_per_km"].to_numpy(dtype=np.float64) * length / parallel / z_base
    max_i_ka = lines["max_i_ka"].to_numpy(dtype=np.float64)
    line_rating = (
        math.sqrt(3.0)
        * vn_kv[lf]
        * max_i_ka
        * _column(lines, "df", 1.0)
        * parallel
        * _column(lines, "max_loading_percent", 100.0)
        / 100.0
    )
    line_rating = np.where(max_i_ka >= NO_LIMIT_KA, np.inf, line_rating)
    shunt_g = shunt_b = None
    if line_charging:
        shunt_g, shunt_b = _line_shunts(net, lines, z_base, feeder_position[lf],
                                        feeder_position[lt], kept.size)
        _add_open_ended_lines(net, lookup, bus_on, vn_kv, sn_mva, feeder_position,
                              switch_bus[(kind == "l") & open_switch],
                              element[(kind == "l") & open_switch], shunt_g, shunt_b)

    # two-winding transformers
    th, tl, trafo_index, trafos = in_service_branches(net.trafo, "hv_bus", "lv_bus", "trafo", "t")
    trafo_sn = trafos["sn_mva"].to_numpy(dtype=np.float64)
    trafo_parallel = _column(trafos, "parallel", 1.0)
    to_system = (
        (trafos["vn_lv_kv"].to_numpy(dtype=np.float64) / vn_kv[tl]) ** 2 * sn_mva / trafo_sn
    )
    z_sc = trafos["vk_percent"].to_numpy(dtype=np.float64) / 100.0 * to_system
    r_sc = trafos["vkr_percent"].to_numpy(dtype=np.float64) / 100.0 * to_system
    trafo_r = r_sc / trafo_parallel
    trafo_x = np.sqrt(np.maximum(z_sc**2 - r_sc**2, 0.0)) / trafo_parallel
    trafo_rating = (
        trafo_sn * trafo_parallel * _column(trafos, "max_loading_percent", 100.0) / 100.0
    )

    # loads, static generators, shunts
    load_p = np.zeros(kept.size)
    load_q = np.zeros(kept.size)
    load = net.load
    load_bus = lookup(load["bus"].to_numpy(dtype=np.int64), lambda k: f"load {load.index[k]}")
    load_on = load["in_service"].to_numpy(dtype=bool) & bus_on[load_bus]
    for column in ("const_z_percent", "const_i_percent", "const_z_p_percent",
                   "const_i_p_percent", "const_z_q_percent", "const_i_q_percent"):
        voltage_dependent = np.flatnonzero(load_on & (_column(load, column, 0.0) != 0))
        if voltage_dependent.size:
            raise InvalidInputError(
                f"{where}: load {load.index[voltage_dependent[0]]} has {column} "
                f"{_column(load, column, 0.0)[voltage_dependent[0]]:g}; a Feeder holds "
                "constant-power loads only"
            )
    scaling = _column(load, "scaling", 1.0)
    np.add.at(load_p, feeder_position[load_bus[load_on]],
              (load["p_mw"].to_numpy(dtype=np.float64) * scaling)[load_on])
    np.add.at(load_q, feeder_position[load_bus[load_on]],
              (load["q_mvar"].to_numpy(dtype=np.float64) * scaling)[load_on])
    sgen = net.sgen
    sgen_bus = lookup(sgen["bus"].to_numpy(dtype=np.int64), lambda k: f"sgen {sgen.index[k]}")
    sgen_on = sgen["in_service"].to_numpy(dtype=bool) & bus_on[sgen_bus]
    sgen_scaling = _column(sgen, "scaling", 1.0)
    np.subtract.at(load_p, feeder_position[sgen_bus[sgen_on]],
                   (sgen["p_mw"].to_numpy(dtype=np.float64) * sgen_scaling)[sgen_on])
    np.subtract.at(load_q, feeder_position[sgen_bus[sgen_on]],
                   (_column(sgen, "q_mvar", 0.0) * sgen_scaling)[sgen_on])
    shunt = net.shunt
    shunt_bus = lookup(shunt["bus"].to_numpy(dtype=np.int64), lambda k: f"shunt {shunt.index[k]}")
    shunt_on = shunt["in_service"].to_numpy(dtype=bool) & bus_on[shunt_bus]
    shunt_factor = _column(shunt, "step", 1.0) * (
        vn_kv[shunt_bus] / _column(shunt, "vn_kv", 1.0, fallback=vn_kv[shunt_bus])
    ) ** 2
    np.add.at(load_p, feeder_position[shunt_bus[shunt_on]],
              (_column(shunt, "p_mw", 0.0) * shunt_factor)[shunt_on])
    np.add.at(load_q, feeder_position[shunt_bus[shunt_on]],
              (_column(shunt, "q_mvar", 0.0) * shunt_factor)[shunt_on])

    from_bus = np.concatenate([feeder_position[lf], feeder_position[th]])
    to_bus = np.concatenate([feeder_position[lt], feeder_position[tl]])
    supplies = _supply_points(net, lookup, bus_on, feeder_position, where)
    supplies = _fold_supply_taps(
        trafos, trafo_index, feeder_position[th], vn_kv[th], vn_kv[tl], supplies,
        from_bus, to_bus, load_p, load_q, bus_labels[th], where,
    )
    branch_ids = tuple(
        [f"line {i}" for i in line_index.tolist()] + [f"trafo {i}" for i in trafo_index.tolist()]
    )
    return BusBranchNetwork(
        name=name,
        source=where,
        base_mva=sn_mva,
        bus_ids=bus_labels[kept],
        bus_kv=vn_kv[kept],
        from_bus=from_bus,
        to_bus=to_bus,
        branch_ids=branch_ids,
        r_pu=np.concatenate([line_r, trafo_r]),
        x_pu=np.concatenate([line_x, trafo_x]),
        branch_rating_mva=np.concatenate([line_rating, trafo_rating]),
        load_p_mw=load_p,
        load_q_mvar=load_q,
        v_min_pu=v_min[kept],
        v_max_pu=v_max[kept],
        supply_points=supplies,
        notes=_left_out(lines if not line_charging else lines.iloc[:0], trafos),
        shunt_g_pu=shunt_g,
        shunt_b_pu=shunt_b,
    )


def _line_shunts(
    net: Any, lines: Any, z_base: FloatArray, from_position: IntArray, to_position: IntArray,
    num_buses: int,
) -> tuple[FloatArray, FloatArray]:
    """Bus shunt conductance and susceptance (p.u.) of the lines' π model, half at each end."""
    length = lines["length_km"].to_numpy(dtype=np.float64) * _column(lines, "parallel", 1.0)
    omega = 2.0 * math.pi * float(getattr(net, "f_hz", 50.0))
    half_b = omega * _column(lines, "c_nf_per_km", 0.0) * 1e-9 * length * z_base / 2.0
    half_g = _column(lines, "g_us_per_km", 0.0) * 1e-6 * length * z_base / 2.0
    shunt_g = np.zeros(num_buses)
    shunt_b = np.zeros(num_buses)
    for end in (from_position, to_position):
        np.add.at(shunt_g, end, half_g)
        np.add.at(shunt_b, end, half_b)
    return shunt_g, shunt_b


def _add_open_ended_lines(
    net: Any, lookup: _Lookup, bus_on: NDArray[np.bool_], vn_kv: FloatArray, sn_mva: float,
    feeder_position: IntArray, open_bus: IntArray, open_line: IntArray,
    shunt_g: FloatArray, shunt_b: FloatArray,
) -> None:
    """A line open at one end still charges from the other: pandapower keeps it energized.

    Seen from its connected bus it is the admittance ``y/2 + (y/2)/(1 + z·y/2)`` (series ``z``,
    shunt ``y/2`` at each end), a constant admittance, so a bus shunt there is exact.
    """
    lines = net.line
    for line in np.unique(open_line).tolist():
        ends = set(open_bus[open_line == line].tolist())
        row = lines.loc[line]
        a, b = int(row["from_bus"]), int(row["to_bus"])
        connected = [bus for bus in (a, b) if bus not in ends]
        if len(connected) != 1 or not bool(row["in_service"]):
            continue
        position = lookup(np.asarray(connected, dtype=np.int64),
                          lambda _, name=f"line {line}": name)[0]
        if not bus_on[position]:
            continue
        parallel = float(row.get("parallel", 1.0) or 1.0)
        length = float(row["length_km"])
        z_base = vn_kv[position] ** 2 / sn_mva
        z = complex(float(row["r_ohm_per_km"]), float(row["x_ohm_per_km"])) * length \
            / parallel / z_base
        omega = 2.0 * math.pi * float(getattr(net, "f_hz", 50.0))
        g_us = float(row.get("g_us_per_km", 0.0) or 0.0)
        half_y = complex(g_us * 1e-6, omega * float(row["c_nf_per_km"]) * 1e-9) * length \
            * parallel * z_base / 2.0
        seen = half_y + half_y / (1.0 + z * half_y)
        shunt_g[feeder_position[position]] += seen.real
        shunt_b[feeder_position[position]] += seen.imag


def _supply_points(
    net: Any, lookup: _Lookup, bus_on: NDArray[np.bool_], feeder_position: IntArray, where: str
) -> tuple[SupplyPoint, ...]:
    """Every in-service ext_grid on an in-service bus, in index order."""
    ext_grid = net.ext_grid
    eg_bus = lookup(ext_grid["bus"].to_numpy(dtype=np.int64),
                    lambda k: f"ext_grid {ext_grid.index[k]}")
    eg_on = np.flatnonzero(ext_grid["in_service"].to_numpy(dtype=bool) & bus_on[eg_bus])
    bounds = [_column(ext_grid, column, default) for column, default in (
        ("min_p_mw", -np.inf), ("max_p_mw", np.inf), ("min_q_mvar", -np.inf),
        ("max_q_mvar", np.inf))]
    vm_pu = _column(ext_grid, "vm_pu", 1.0)
    return tuple(
        SupplyPoint(
            label=f"ext_grid {ext_grid.index[k]}",
            bus=int(feeder_position[eg_bus[k]]),
            voltage_pu=float(vm_pu[k]),
            p_min_mw=float(bounds[0][k]),
            p_max_mw=float(bounds[1][k]),
            q_min_mvar=float(bounds[2][k]),
            q_max_mvar=float(bounds[3][k]),
            cost=_ext_grid_cost(net, int(ext_grid.index[k]), where),
        )
        for k in eg_on.tolist()
    )


def transformer_ratio(trafos: Any, hv_bus_kv: FloatArray, lv_bus_kv: FloatArray) -> FloatArray:
    """Off-nominal ratio of two-winding transformers, as pandapower's branch model has it.

    ``τ = (vn_hv_kv·(1 + s_hv)/vn_hv_bus) / (vn_lv_kv·(1 + s_lv)/vn_lv_bus)`` with the tap
    changer's ``s = (tap_pos − tap_neutral)·tap_step_percent/100`` on its ``tap_side`` (no tap
    data: 0); 1 for a transformer at nominal ratio and neutral tap.
    """
    steps = _column(trafos, "tap_pos", 0.0) - _column(trafos, "tap_neutral", 0.0)
    change = steps * _column(trafos, "tap_step_percent", 0.0) / 100.0
    side = trafos["tap_side"].astype(str).to_numpy() if "tap_side" in trafos.columns \
        else np.full(len(trafos), "")
    hv = trafos["vn_hv_kv"].to_numpy(dtype=np.float64) * (1.0 + np.where(side == "hv", change, 0))
    lv = trafos["vn_lv_kv"].to_numpy(dtype=np.float64) * (1.0 + np.where(side == "lv", change, 0))
    return np.asarray((hv / hv_bus_kv) / (lv / lv_bus_kv), dtype=np.float64)


def _fold_supply_taps(
    trafos: Any,
    trafo_index: IntArray,
    hv_position: IntArray,
    hv_bus_kv: FloatArray,
    lv_bus_kv: FloatArray,
    supplies: tuple[SupplyPoint, ...],
    from_bus: IntArray,
    to_bus: IntArray,
    load_p: FloatArray,
    load_q: FloatArray,
    hv_labels: IntArray,
    where: str,
) -> tuple[SupplyPoint, ...]:
    """Fold an off-nominal supply transformer's ratio into its supply point's voltage.

    pandapower (like MATPOWER) puts the ideal transformer of ratio τ at the HV end, ahead of the
    series impedance, so when the HV bus holds only the ext_grid and this transformer, the
    feeder below sees a source of ``vm_pu/τ`` behind the impedance: exact for every bus but the
    HV bus itself, whose feeder voltage is that voltage behind the tap. Any other off-nominal
    transformer (or a tap on the LV side, where pandapower also changes the impedance) is
    refused naming it: DistFlow has no transformer ratios.
    """
    ratio = transformer_ratio(trafos, hv_bus_kv, lv_bus_kv)
    kind = trafos["tap_changer_type"].astype(str).to_numpy() \
        if "tap_changer_type" in trafos.columns else np.full(len(trafos), "Ratio")
    side = trafos["tap_side"].astype(str).to_numpy() if "tap_side" in trafos.columns \
        else np.full(len(trafos), "")
    by_bus = {supply.bus: k for k, supply in enumerate(supplies)}
    folded = list(supplies)
    for k in np.flatnonzero(np.abs(ratio - 1.0) > RATIO_TOLERANCE).tolist():
        hv = int(hv_position[k])
        tap = f"trafo {trafo_index[k]} (HV bus {hv_labels[k]}) has the off-nominal ratio " \
            f"{ratio[k]:.6g}"
        incident = int(np.count_nonzero(from_bus == hv) + np.count_nonzero(to_bus == hv))
        foldable = (hv in by_bus and incident == 1 and load_p[hv] == 0 and load_q[hv] == 0
                    and side[k] != "lv" and kind[k] in ("Ratio", "nan", "None"))
        if not foldable:
            raise InvalidInputError(
                f"{where}: {tap} (tap position or rated voltages); a Feeder has no transformer "
                "ratios except at a supply transformer whose HV bus holds only the ext_grid "
                "(tap on the HV side): set tap_pos to tap_neutral, or vn_hv_kv/vn_lv_kv to "
                "the buses' vn_kv"
            )
        supply = folded[by_bus[hv]]
        voltage = supply.voltage_pu / float(ratio[k])
        note = (f"{tap}: folded into the slack voltage, {supply.voltage_pu:.6g} p.u. at the "
                f"ext_grid is {voltage:.6g} p.u. behind the tap")
        folded[by_bus[hv]] = replace(supply, voltage_pu=voltage, notes=(*supply.notes, note))
    return tuple(folded)


def _left_out(lines: Any, trafos: Any) -> tuple[str, ...]:
    """What the conversion leaves out, with its size: line charging and magnetizing losses."""
    notes = []
    capacitance = _column(lines, "c_nf_per_km", 0.0) * lines["length_km"].to_numpy(
        dtype=np.float64) * _column(lines, "parallel", 1.0)
    if np.any(capacitance > 0):
        notes.append(f"line charging left out: {np.count_nonzero(capacitance > 0)} lines have "
                     f"c_nf_per_km > 0 ({capacitance.sum():.6g} nF in all)")
    iron = _column(trafos, "pfe_kw", 0.0)
    magnetizing = _column(trafos, "i0_percent", 0.0)
    if np.any((iron > 0) | (magnetizing > 0)):
        notes.append(f"transformer magnetizing branch left out: pfe_kw {iron.sum():.6g} kW in "
                     f"all, i0_percent up to {magnetizing.max():.6g}")
    return tuple(notes)


def feeder_from_file(path: str | Path) -> Feeder:
    """Load a feeder from a file of one supply point (:func:`feeders_from_file`)."""
    feeders = feeders_from_file(path)
    if len(feeders) > 1:
        names = ", ".join(f.name for f in feeders)
        raise InvalidInputError(
            f"{path}: the net has {len(feeders)} supply points, one radial feeder each "
            f"({names}); load it as several feeders of one DSO (load_feeders)"
        )
    return feeders[0]


def feeders_from_file(path: str | Path) -> tuple[Feeder, ...]:
    """Load the feeders of a file, by suffix: one per supply point.

    ``.m``: MATPOWER case (:func:`~ptn.engines.power.matpower_case.feeder_from_matpower`);
    ``.json``, ``.p``/``.pkl``, ``.xlsx``: a pandapower net (``from_json``, ``from_pickle``,
    ``from_excel``). Feeders are named after the file's stem (``<stem>/<k>`` for several).
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix == ".m":
        return (feeder_from_matpower(file),)
    readers = {".json": pp.from_json, ".p": pp.from_pickle, ".pkl": pp.from_pickle,
               ".xlsx": pp.from_excel}
    if suffix not in readers:
        raise InvalidInputError(
            f"{file}: unknown feeder file type {suffix!r} (expected .m, .json, .p, .pkl or .xlsx)"
        )
    if not file.is_file():
        raise InvalidInputError(f"{file}: no such file")
    try:
        net = readers[suffix](str(file))
    except Exception as error:  # pandapower raises many types for a malformed file
        raise InvalidInputError(f"{file}: pandapower cannot read it: {error}") from error
    return feeders_from_pandapower(net, file.stem)


class _Lookup:
    """Positions of pandapower bus labels, refusing labels that are not buses."""

    def __init__(self, labels: IntArray, where: str) -> None:
        self.order = np.argsort(labels, kind="stable")
        self.sorted = labels[self.order]
        self.where = where

    def __call__(self, labels: IntArray, what: Any) -> IntArray:
        if labels.size == 0:
            return np.zeros(0, dtype=np.int64)
        slot = np.clip(np.searchsorted(self.sorted, labels), 0, self.sorted.size - 1)
        missing = np.flatnonzero(self.sorted[slot] != labels)
        if missing.size:
            raise InvalidInputError(
                f"{self.where}: {what(int(missing[0]))} refers to bus {labels[missing[0]]}, "
                "which does not exist"
            )
        return np.asarray(self.order[slot], dtype=np.int64)


def _column(
    table: Any, name: str, default: float, *, fallback: FloatArray | None = None
) -> FloatArray:
    """A numeric column as floats, NaN and missing entries replaced by a default."""
    if name not in table.columns:
        values = np.full(len(table), default, dtype=np.float64)
    else:
        values = table[name].to_numpy(dtype=np.float64, na_value=np.nan).copy()
    missing = np.isnan(values)
    if fallback is not None:
        values[missing] = fallback[missing]
    else:
        values[missing] = default
    return values


def _refuse_unsupported(net: Any, where: str) -> None:
    for table_name, reason in UNSUPPORTED_ELEMENTS.items():
        if table_name not in net:
            continue
        table = net[table_name]
        if len(table) == 0 or "in_service" not in table.columns:
            continue
        on = np.flatnonzero(table["in_service"].to_numpy(dtype=bool))
        if on.size:
            bus = table["bus"].iloc[on[0]] if "bus" in table.columns else "?"
            raise InvalidInputError(
                f"{where}: {table_name} {table.index[on[0]]} (bus {bus}) is in service; {reason}"
            )


def _ext_grid_cost(net: Any, ext_grid: int, where: str) -> UpstreamCost:
    if "pwl_cost" in net and len(net.pwl_cost):
        pwl = net.pwl_cost
        if np.any((pwl["et"].astype(str) == "ext_grid") & (pwl["element"] == ext_grid)):
            raise InvalidInputError(
                f"{where}: ext_grid {ext_grid} has a piecewise-linear cost; only poly_cost is "
                "supported"
            )
    if "poly_cost" not in net or len(net.poly_cost) == 0:
        return UpstreamCost(has_cost_data=False)
    poly = net.poly_cost
    rows = poly[(poly["et"].astype(str) == "ext_grid") & (poly["element"] == ext_grid)]
    if len(rows) == 0:
        return UpstreamCost(has_cost_data=False)
    if len(rows) > 1:
        raise InvalidInputError(f"{where}: ext_grid {ext_grid} has {len(rows)} poly_cost rows")
    return UpstreamCost(
        quadratic_per_mw2h=float(_column(rows, "cp2_eur_per_mw2", 0.0)[0]),
        linear_per_mwh=float(_column(rows, "cp1_eur_per_mw", 0.0)[0]),
        constant_per_h=float(_column(rows, "cp0_eur", 0.0)[0]),
    )
