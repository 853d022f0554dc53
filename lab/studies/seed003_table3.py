"""Seed 003's Table 3: the equilibrium flows and congestion factors on Sioux Falls at full demand.

Why this module exists: seed 003 (Sadhu et al. 2022, Table 3) lists, for twelve arcs of its
24-node network, the capacity, the equilibrium travel time, the equilibrium flow and the
congestion factor (flow / capacity). ptn's study runs Sioux Falls at half its TNTP demand; this
module computes the same table at the full TNTP demand, one period, with the study's stations and
EV share at the flat tariff (the uncoordinated traffic), for all road links, beside the TNTP
collection's best-known flows (an independent solution of the same network without EVs).

The paper's twelve rows cannot be matched to Sioux Falls' 76 links: its arc labels (L1–L2, ...,
L18–L30) name links of its own figure (L1–L30), three of its capacities (11,110.52, 8,229.91,
15,078.50) are not capacities of any Sioux Falls link, and two of its congestion factors are
not its own flow / capacity (L14–L26: 5,857.34 / 4,958.18 = 1.181, printed 0.9830; L18–L30:
13,679.45 / 17,110.52 = 0.7995, printed 0.7794). :func:`paper_rows` reproduces the paper's
rows with the factor recomputed and the Sioux Falls links of the same capacity.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.charging import ChargingNetworkSpec
from ptn.engines.traffic.multiperiod import (
    MultiPeriodResult,
    MultiPeriodSpec,
    build_multiperiod_problem,
)
from ptn.engines.traffic.network import FloatArray, hours_per_time_unit
from ptn.engines.traffic.tntp import find_tntp_files, read_tntp_flows

#: seed 003's Table 3 as printed: (arc, capacity, UE travel time, UE flow veh/h, congestion
#: factor)
PAPER_TABLE3: tuple[tuple[str, float, float, float, float], ...] = (
    ("L1–L2", 25900.20, 6.0, 4127.78, 0.1593),
    ("L2–L3", 23403.47, 4.0, 7742.51, 0.3308),
    ("L4–L22", 25900.20, 6.4, 4368.14, 0.1686),
    ("L14–L26", 4958.18, 4.0, 5857.34, 0.9830),
    ("L23–L24", 23403.47, 4.3, 7730.01, 0.3303),
    ("L18–L30", 17110.52, 2.3, 13679.45, 0.7794),
    ("L8–L16", 23403.47, 7.8, 10086.02, 0.4309),
    ("L7–L17", 11110.52, 10.20, 17463.84, 1.572),
    ("L15–L16", 8229.91, 18.08, 15096.87, 1.834),
    ("L9–L19", 23403.47, 4.23, 18448.87, 0.7883),
    ("L20–L21", 5000.0, 3.63, 4258.92, 0.8517),
    ("L5–L10", 15078.50, 4.25, 4908.82, 0.3255),
)
#: the paper's factors are printed to about 3 significant digits
FACTOR_TOLERANCE = 0.002


def full_demand_spec(spec: MultiPeriodSpec) -> MultiPeriodSpec:
    """One period at the road network's full OD demand, split into GVs and EVs in the study's
    overall EV share, with the same stations, energy and value of time; no departure shifting."""
    total = float(np.sum(spec.gv_demand_veh_per_h) + np.sum(spec.ev_demand_veh_per_h))
    if total <= 0:
        raise InvalidInputError("the traffic model has no demand")
    ev_share = float(np.sum(spec.ev_demand_veh_per_h)) / total
    charging = spec.charging
    demand = charging.network.od_demand[None, :].astype(np.float64)
    stations = tuple(replace(station, price_per_mwh=np.zeros(1))
                     for station in charging.stations)
    one_period = ChargingNetworkSpec(charging.network, stations, charging.energy_per_charge_mwh,
                                     charging.value_of_time_per_h)
    return MultiPeriodSpec(one_period, demand * (1.0 - ev_share), demand * ev_share,
                           max_shift_periods=0, price_sensitivity=0.0)


def full_demand_equilibrium(spec: MultiPeriodSpec, price_per_mwh: float, *, gap: float = 1e-8,
                            max_iterations: int = 5000) -> MultiPeriodResult:
    """The equilibrium of :func:`full_demand_spec` with every station at ``price_per_mwh``."""
    full = full_demand_spec(spec)
    problem = build_multiperiod_problem(full)
    prices = np.full((full.charging.num_stations, 1), float(price_per_mwh))
    return problem.solve(prices, gap=gap, max_iterations=max_iterations)


def best_known_flows(spec: MultiPeriodSpec) -> FloatArray | None:
    """The TNTP collection's best-known link flows of the road network, if its folder has a
    ``*_flow.tntp`` file (None otherwise)."""
    network = spec.charging.network
    if not network.source:
        return None
    flow_file = find_tntp_files(Path(network.source).parent).get("flow")
    if flow_file is None:
        return None
    return read_tntp_flows(flow_file, network).volume


def table3_rows(result: MultiPeriodResult) -> list[dict[str, Any]]:
    """Table 3 on every road link of the equilibrium (one period): capacity, free-flow and
    equilibrium travel time (in the network's time unit, minutes for TNTP), flow (veh/h, GVs and
    EVs), the EVs' flow, congestion factor = flow / capacity, and the TNTP best-known flow."""
    problem = result.problem
    charging = problem.spec.charging
    network = charging.network
    if problem.num_periods != 1:
        raise InvalidInputError(f"Table 3 is one period; the equilibrium has "
                                f"{problem.num_periods}")
    road = charging.num_road_links
    units = 1.0 / hours_per_time_unit(network)
    flow = np.asarray(result.assignment.link_flow, dtype=np.float64)
    time_h = problem.problem.links.times(flow)[:road]
    free_h = problem.problem.links.free_flow_time[:road]
    total = result.road_link_flow_veh_per_h[0]
    ev = result.class_road_link_flows()["EV"][0]
    best = best_known_flows(problem.spec)
    nodes = network.node_ids
    rows = []
    for link in range(road):
        rows.append({
            "link": f"{nodes[network.link_tail[link]]}→{nodes[network.link_head[link]]}",
            "capacity_veh_per_h": float(network.capacity[link]),
            "free_flow_time": float(free_h[link] * units),
            "ue_travel_time": float(time_h[link] * units),
            "ue_flow_veh_per_h": float(total[link]),
            "ev_flow_veh_per_h": float(ev[link]),
            "congestion_factor": float(total[link] / network.capacity[link]),
            "tntp_best_known_flow_veh_per_h": float(best[link]) if best is not None
            else float("nan"),
        })
    return rows


def paper_rows(network_capacity: FloatArray, link_names: list[str]) -> list[dict[str, Any]]:
    """The paper's Table 3 with its congestion factor recomputed (flow / capacity), whether the
    printed one agrees, and the links of ``network_capacity`` with its capacity (to 0.01)."""
    rows = []
    for arc, capacity, time, flow, factor in PAPER_TABLE3:
        same = [name for name, value in zip(link_names, network_capacity, strict=True)
                if abs(value - capacity) < 0.01]
        recomputed = flow / capacity
        rows.append({
            "arc": arc, "capacity": capacity, "ue_travel_time": time, "ue_flow_veh_per_h": flow,
            "congestion_factor_printed": factor, "congestion_factor_recomputed": recomputed,
            "printed_factor_agrees": abs(recomputed - factor) <= FACTOR_TOLERANCE,
            "links_with_this_capacity": " ".join(same),
        })
    return rows


def table3_markdown(rows: list[dict[str, Any]], most: int = 12) -> list[str]:
    """The ``most`` most congested links of :func:`table3_rows` as a Markdown table."""
    shown = sorted(rows, key=lambda row: -row["congestion_factor"])[:most]
    lines = ["| link | capacity (veh/h) | free-flow time (min) | UE travel time (min) | "
             "UE flow (veh/h) | congestion factor | TNTP best-known flow |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {row['link']} | {row['capacity_veh_per_h']:,.2f} | "
              f"{row['free_flow_time']:.2f} | {row['ue_travel_time']:.2f} | "
              f"{row['ue_flow_veh_per_h']:,.2f} | {row['congestion_factor']:.4f} | "
              f"{row['tntp_best_known_flow_veh_per_h']:,.2f} |" for row in shown]
    return lines
