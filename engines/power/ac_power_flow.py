"""A Feeder back into pandapower, and the AC power flow that referees every DistFlow answer.

Why this exists: pandapower's Newton–Raphson power flow is the independent check of an OPF
dispatch (relaxation exactness, losses, voltages; :mod:`ptn.engines.power.exactness`) and the
way a feeder is written back to a pandapower file. The net it builds reproduces the feeder's
model exactly: one line per branch at the feeder's per-unit impedance, one load per bus, the
feeder's bus shunts (line charging kept by ``line_charging=True``) as pandapower shunts.
Split from :mod:`ptn.engines.power.pandapower_io` (pandapower → Feeder), which re-exports it.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandapower as pp
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.feeder import Feeder

FloatArray = NDArray[np.float64]

#: what :func:`pandapower_net` writes for a branch without a rating
UNLIMITED_KA = 99999.0
#: tolerance of the AC power flow on the power mismatch, MVA
AC_TOLERANCE_MVA = 1e-10


@dataclass(frozen=True)
class AcPowerFlowResult:
    """An AC (Newton–Raphson) power flow on a Feeder; arrays are NaN when not converged.

    Bus arrays follow the feeder's bus positions, branch arrays its branch order; ``p_from`` and
    ``q_from`` are the flows leaving the parent bus; ``branch_current_pu_squared`` is DistFlow's
    ``ℓ = (|I|/I_base)²`` at the parent end with ``I_base = base_mva/(√3·base_kv)`` kA.
    """

    converged: bool
    vm_pu: FloatArray
    slack_p_mw: float
    slack_q_mvar: float
    branch_loss_mw: FloatArray
    branch_p_from_mw: FloatArray
    branch_q_from_mvar: FloatArray
    branch_current_pu_squared: FloatArray
    total_loss_mw: float

    @property
    def min_vm_pu(self) -> float:
        return float(np.min(self.vm_pu))


def pandapower_net(feeder: Feeder, load_p_mw: FloatArray, load_q_mvar: FloatArray) -> Any:
    """A pandapower net reproducing ``feeder`` with the given net loads (MW, MVAr per bus).

    Buses are indexed by the feeder's labels, all at ``base_kv``, with the feeder's voltage
    limits; one 1-km line per branch (in branch order, from the parent) whose ohmic ``r``, ``x``
    reproduce the per-unit values on ``base_mva``, without shunt capacitance, and ``max_i_ka``
    from the rating (99999 kA when unlimited); one ext_grid at the slack with the slack voltage,
    the upstream bounds (NaN when infinite) and the upstream cost as ``poly_cost`` (none when the
    feeder has no cost data, so a round trip keeps that); one load per bus (negative values are
    injections); one shunt per bus with a nonzero :attr:`Feeder.shunt_g_pu`/``shunt_b_pu``.
    """
    n = feeder.num_buses
    load_p = _bus_vector(load_p_mw, n, "load_p_mw", feeder.name)
    load_q = _bus_vector(load_q_mvar, n, "load_q_mvar", feeder.name)
    net = pp.create_empty_network(name=feeder.name, sn_mva=feeder.base_mva)
    labels = feeder.bus_ids
    pp.create_buses(
        net,
        n,
        vn_kv=feeder.base_kv,
        index=labels,
        name=[str(label) for label in labels.tolist()],
        min_vm_pu=feeder.v_min_pu,
        max_vm_pu=feeder.v_max_pu,
    )
    z_base = feeder.base_kv**2 / feeder.base_mva
    rating = feeder.branch_rating_mva
    max_i_ka = np.where(
        np.isfinite(rating), rating / (math.sqrt(3.0) * feeder.base_kv), UNLIMITED_KA
    )
    if feeder.num_branches:
        pp.create_lines_from_parameters(
            net,
            from_buses=labels[feeder.branch_from],
            to_buses=labels[feeder.branch_to],
            length_km=1.0,
            r_ohm_per_km=feeder.r_pu * z_base,
            x_ohm_per_km=feeder.x_pu * z_base,
            c_nf_per_km=0.0,
            max_i_ka=max_i_ka,
            name=list(feeder.branch_ids),
            index=np.arange(feeder.num_branches),
        )
    pp.create_loads(net, buses=labels, p_mw=load_p, q_mvar=load_q, index=np.arange(n))
    if feeder.shunt_g_pu is not None or feeder.shunt_b_pu is not None:
        zeros = np.zeros(n)
        g = feeder.shunt_g_pu if feeder.shunt_g_pu is not None else zeros
        b = feeder.shunt_b_pu if feeder.shunt_b_pu is not None else zeros
        for bus in np.flatnonzero((g != 0) | (b != 0)).tolist():
            # pandapower's shunt: consumption at 1 p.u., scaling with |V|²
            pp.create_shunt(net, int(labels[bus]), q_mvar=-float(b[bus]) * feeder.base_mva,
                            p_mw=float(g[bus]) * feeder.base_mva, vn_kv=feeder.base_kv)

    def finite_or_nan(value: float) -> float:
        return value if math.isfinite(value) else math.nan

    ext_grid = pp.create_ext_grid(
        net,
        bus=int(labels[feeder.slack_bus]),
        vm_pu=feeder.slack_voltage_pu,
        min_p_mw=finite_or_nan(feeder.upstream_p_min_mw),
        max_p_mw=finite_or_nan(feeder.upstream_p_max_mw),
        min_q_mvar=finite_or_nan(feeder.upstream_q_min_mvar),
        max_q_mvar=finite_or_nan(feeder.upstream_q_max_mvar),
    )
    cost = feeder.upstream_cost
    if cost.has_cost_data:
        pp.create_poly_cost(
            net,
            ext_grid,
            "ext_grid",
            cp1_eur_per_mw=cost.linear_per_mwh,
            cp0_eur=cost.constant_per_h,
            cp2_eur_per_mw2=cost.quadratic_per_mw2h,
        )
    return net


def run_ac_power_flow(
    feeder: Feeder, net_load_p_mw: FloatArray, net_load_q_mvar: FloatArray
) -> AcPowerFlowResult:
    """Newton–Raphson AC power flow (pandapower, flat start, 1e-10 MVA) with the given net loads.

    Non-convergence is a result (``converged=False``, NaN arrays), not an exception. The
    pandapower net of a feeder is built once and kept (for the last few feeder objects; a
    Feeder is treated as immutable) since building it costs ten times the solve; pandapower
    runs without numba, whose compilation costs seconds per process for millisecond gains here.
    """
    load_p = _bus_vector(net_load_p_mw, feeder.num_buses, "net_load_p_mw", feeder.name)
    load_q = _bus_vector(net_load_q_mvar, feeder.num_buses, "net_load_q_mvar", feeder.name)
    with _NET_LOCK:
        net = _cached_net(feeder)
        net.load["p_mw"] = load_p
        net.load["q_mvar"] = load_q
        try:
            pp.runpp(
                net,
                algorithm="nr",
                tolerance_mva=AC_TOLERANCE_MVA,
                init="flat",
                calculate_voltage_angles=True,
                max_iteration=50,
                numba=False,
            )
        except pp.LoadflowNotConverged:
            return _not_converged(feeder)
        return _ac_result(feeder, net)


_NET_CACHE: OrderedDict[int, tuple[weakref.ref[Feeder], Any]] = OrderedDict()
_NET_CACHE_SIZE = 8
_NET_LOCK = threading.Lock()


def _cached_net(feeder: Feeder) -> Any:
    key = id(feeder)
    entry = _NET_CACHE.get(key)
    if entry is not None and entry[0]() is feeder:
        _NET_CACHE.move_to_end(key)
        return entry[1]
    net = pandapower_net(feeder, feeder.load_p_mw, feeder.load_q_mvar)
    _NET_CACHE[key] = (weakref.ref(feeder), net)
    while len(_NET_CACHE) > _NET_CACHE_SIZE:
        _NET_CACHE.popitem(last=False)
    return net


def _not_converged(feeder: Feeder) -> AcPowerFlowResult:
    nan_buses = np.full(feeder.num_buses, np.nan)
    nan_branches = np.full(feeder.num_branches, np.nan)
    return AcPowerFlowResult(
        converged=False,
        vm_pu=nan_buses,
        slack_p_mw=math.nan,
        slack_q_mvar=math.nan,
        branch_loss_mw=nan_branches,
        branch_p_from_mw=nan_branches.copy(),
        branch_q_from_mvar=nan_branches.copy(),
        branch_current_pu_squared=nan_branches.copy(),
        total_loss_mw=math.nan,
    )


def _ac_result(feeder: Feeder, net: Any) -> AcPowerFlowResult:
    lines = net.res_line.loc[np.arange(feeder.num_branches)]
    i_base_ka = feeder.base_mva / (math.sqrt(3.0) * feeder.base_kv)
    loss = lines["pl_mw"].to_numpy(dtype=np.float64)
    return AcPowerFlowResult(
        converged=True,
        vm_pu=net.res_bus["vm_pu"].loc[feeder.bus_ids].to_numpy(dtype=np.float64),
        slack_p_mw=float(net.res_ext_grid["p_mw"].iloc[0]),
        slack_q_mvar=float(net.res_ext_grid["q_mvar"].iloc[0]),
        branch_loss_mw=loss,
        branch_p_from_mw=lines["p_from_mw"].to_numpy(dtype=np.float64),
        branch_q_from_mvar=lines["q_from_mvar"].to_numpy(dtype=np.float64),
        branch_current_pu_squared=(lines["i_from_ka"].to_numpy(dtype=np.float64) / i_base_ka)
        ** 2,
        total_loss_mw=float(loss.sum()),
    )


def _bus_vector(values: FloatArray, n: int, label: str, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n,):
        raise InvalidInputError(f"feeder {name}: {label} has shape {array.shape}, not ({n},)")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise InvalidInputError(f"feeder {name}: {label} at bus position {bad[0]} is not finite")
    return array
