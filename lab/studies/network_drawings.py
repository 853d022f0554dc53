"""Drawings of the two networks: the road map with link flows, the feeder's one-line diagram,
a bus-by-period heatmap, and the feeder's power balance per period.

Why this module exists: a researcher who knows AequilibraE expects link flows and
volume/capacity on a map of the road network; one who knows pandapower expects the feeder drawn
as a one-line diagram with the bus values on it, and a power balance whose bars add up. These
functions draw from plain arrays (no solver, no scenario), so a test can hand them numbers it
knows; :mod:`ptn.lab.studies.network_figures` feeds them the experimenter's full-information
results. Each returns a :class:`matplotlib.figure.Figure` on the Agg canvas (no pyplot state).

Layouts: the road map uses the network's node coordinates (TNTP ``_node`` file) where every node
has them, else a Kamada–Kawai layout of the undirected road graph (networkx, deterministic); the
feeder is drawn as a tree from its slack bus (depth to the right, leaves stacked, a parent
centred on its children), the layout of a one-line diagram.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike, NDArray

from ptn.engines.errors import InvalidInputError
from ptn.figures import DPI, new_figure, tick_positions

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
#: line widths of the road map (points): the least and the most loaded link
MIN_WIDTH_PT, MAX_WIDTH_PT = 0.6, 7.0
#: each direction of a two-way road is drawn beside the other, offset by this share of the map
DIRECTION_OFFSET = 0.008


def road_layout(num_nodes: int, tail: ArrayLike, head: ArrayLike,
                node_x: ArrayLike | None = None, node_y: ArrayLike | None = None
                ) -> tuple[FloatArray, FloatArray, str]:
    """(x, y, source) of every node: the given coordinates when all are finite ("coordinates
    from the network's node file"), else a Kamada–Kawai layout ("Kamada–Kawai layout")."""
    if node_x is not None and node_y is not None:
        x, y = np.asarray(node_x, dtype=float), np.asarray(node_y, dtype=float)
        if x.shape == y.shape == (num_nodes,) and np.isfinite(x).all() and np.isfinite(y).all():
            return x, y, "coordinates from the network's node file"
    graph = nx.Graph()
    graph.add_nodes_from(range(num_nodes))
    graph.add_edges_from(zip(np.asarray(tail).tolist(), np.asarray(head).tolist(), strict=True))
    position = nx.kamada_kawai_layout(graph)
    x = np.array([position[node][0] for node in range(num_nodes)], dtype=float)
    y = np.array([position[node][1] for node in range(num_nodes)], dtype=float)
    return x, y, "Kamada–Kawai layout (the network has no node coordinates)"


def road_map_figure(x: ArrayLike, y: ArrayLike, tail: ArrayLike, head: ArrayLike,
                    flow_veh_per_h: ArrayLike, capacity_veh_per_h: ArrayLike,
                    stations: Mapping[str, int], *, node_labels: Sequence[str] = (),
                    title: str = "", layout_note: str = "") -> Figure:
    """Links as segments (the two directions of a road side by side): width proportional to
    the flow (veh/h), colour the volume/capacity ratio; stations (name → node position) as
    stars with their names; a width legend in veh/h and a colour bar."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    tails, heads = np.asarray(tail, dtype=np.int64), np.asarray(head, dtype=np.int64)
    flow = np.asarray(flow_veh_per_h, dtype=float)
    capacity = np.asarray(capacity_veh_per_h, dtype=float)
    if not (flow.shape == capacity.shape == tails.shape == heads.shape):
        raise InvalidInputError(f"road map: {tails.size} links but {flow.size} flows and "
                                f"{capacity.size} capacities")
    ratio = np.divide(flow, capacity, out=np.full_like(flow, np.nan), where=capacity > 0)
    start = np.column_stack([xs[tails], ys[tails]])
    end = np.column_stack([xs[heads], ys[heads]])
    direction = end - start
    length = np.hypot(direction[:, 0], direction[:, 1])
    span = max(float(np.ptp(xs)), float(np.ptp(ys)), 1e-9)
    normal = np.column_stack([direction[:, 1], -direction[:, 0]]) / np.maximum(length, 1e-12)[
        :, None] * DIRECTION_OFFSET * span
    segments = np.stack([start + normal, end + normal], axis=1)
    largest = float(np.nanmax(flow)) if flow.size and np.nanmax(flow) > 0 else 1.0
    widths = MIN_WIDTH_PT + (MAX_WIDTH_PT - MIN_WIDTH_PT) * np.clip(flow / largest, 0, 1)
    figure, axes = new_figure()
    figure.set_size_inches(7.5, 6.0)
    high = max(1.0, float(np.nanmax(ratio)) if np.isfinite(ratio).any() else 1.0)
    lines = LineCollection(segments.tolist(), linewidths=widths.tolist(), cmap="RdYlGn_r",
                           capstyle="round")
    lines.set_array(np.nan_to_num(ratio))
    lines.set_clim(0.0, high)
    axes.add_collection(lines)
    figure.colorbar(lines, ax=axes, shrink=0.8).set_label("volume / capacity (–)")
    axes.plot(xs, ys, linestyle="none", marker="o", markersize=3, color="0.35", zorder=3)
    for index, label in enumerate(node_labels):
        axes.annotate(label, (xs[index], ys[index]), fontsize=6, color="0.3",
                      textcoords="offset points", xytext=(2, 2))
    handles: list[Line2D] = []
    for name, node in stations.items():
        axes.plot(xs[node], ys[node], linestyle="none", marker="*", markersize=14,
                  color="tab:blue", markeredgecolor="black", zorder=4)
        axes.annotate(name, (xs[node], ys[node]), fontsize="small", fontweight="bold",
                      textcoords="offset points", xytext=(6, -10), zorder=5)
    if stations:
        handles.append(Line2D([], [], linestyle="none", marker="*", markersize=12,
                              color="tab:blue", markeredgecolor="black",
                              label="charging station"))
    for share in (0.25, 0.5, 1.0):
        handles.append(Line2D([], [], color="0.4",
                              linewidth=MIN_WIDTH_PT + (MAX_WIDTH_PT - MIN_WIDTH_PT) * share,
                              label=f"{share * largest:,.0f} veh/h"))
    figure.legend(handles=handles, title="link flow", loc="outside lower center",
                  ncols=len(handles), fontsize="small", title_fontsize="small", frameon=False)
    axes.set_aspect("equal", adjustable="datalim")
    axes.autoscale_view()
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title or "Road network: link flows", fontsize="medium")
    if layout_note:
        axes.set_xlabel(layout_note, fontsize="small", color="0.4")
    return figure


def tree_layout(num_buses: int, branch_from: ArrayLike, branch_to: ArrayLike, root: int
                ) -> tuple[FloatArray, FloatArray]:
    """(x, y) of a radial feeder's buses: x the number of branches from ``root``, y the
    leaves in depth-first order with each parent centred on its children."""
    graph = nx.Graph()
    graph.add_nodes_from(range(num_buses))
    graph.add_edges_from(zip(np.asarray(branch_from).tolist(), np.asarray(branch_to).tolist(),
                             strict=True))
    if not nx.is_tree(graph):
        raise InvalidInputError(f"feeder diagram: the {num_buses} buses and "
                                f"{graph.number_of_edges()} branches are not a radial tree")
    depth = nx.single_source_shortest_path_length(graph, root)
    children = {node: sorted(child for child in graph[node] if depth[child] > depth[node])
                for node in graph}
    x = np.array([float(depth[node]) for node in range(num_buses)])
    y = np.zeros(num_buses)
    next_leaf = 0.0
    stack: list[tuple[int, bool]] = [(root, False)]
    while stack:  # post-order: a node after its children, children in bus order
        node, expanded = stack.pop()
        if not expanded:
            stack.append((node, True))
            stack += [(child, False) for child in reversed(children[node])]
        elif children[node]:
            y[node] = float(np.mean(y[children[node]]))
        else:
            y[node], next_leaf = next_leaf, next_leaf + 1.0
    return x, -y


def feeder_figure(x: ArrayLike, y: ArrayLike, branch_from: ArrayLike, branch_to: ArrayLike,
                  bus_value: ArrayLike, value_label: str, bus_labels: Sequence[str],
                  stations: Mapping[str, int], slack: int, *, title: str = "") -> Figure:
    """The one-line diagram: branches as lines, buses coloured by ``bus_value`` (its unit in
    ``value_label``), the slack bus (the substation) as a triangle, each station's bus as a
    square with the station's name."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    values = np.asarray(bus_value, dtype=float)
    frm, to = np.asarray(branch_from, dtype=np.int64), np.asarray(branch_to, dtype=np.int64)
    figure = Figure(figsize=(8.0, max(4.0, 0.16 * (np.ptp(ys) + 1) + 1.5)), dpi=DPI,
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for a, b in zip(frm, to, strict=True):
        axes.plot([xs[a], xs[a], xs[b]], [ys[a], ys[b], ys[b]], color="0.5", linewidth=1,
                  zorder=1)
    points = axes.scatter(xs, ys, c=np.nan_to_num(values, nan=float(np.nanmean(values))),
                          cmap="viridis", s=46, edgecolors="black", linewidths=0.4, zorder=3)
    figure.colorbar(points, ax=axes, shrink=0.8).set_label(value_label)
    for index, label in enumerate(bus_labels):
        axes.annotate(label, (xs[index], ys[index]), fontsize=6, textcoords="offset points",
                      xytext=(0, 5), ha="center", color="0.25")
    axes.plot(xs[slack], ys[slack], linestyle="none", marker="^", markersize=13,
              color="black", zorder=2)
    for name, bus in stations.items():
        axes.plot(xs[bus], ys[bus], linestyle="none", marker="s", markersize=12,
                  markerfacecolor="none", markeredgecolor="tab:red", markeredgewidth=2, zorder=4)
        axes.annotate(name, (xs[bus], ys[bus]), fontsize="small", color="tab:red",
                      fontweight="bold", textcoords="offset points", xytext=(6, -12))
    handles = [Line2D([], [], linestyle="none", marker="^", color="black", markersize=9,
                      label="substation (slack bus)"),
               Line2D([], [], linestyle="none", marker="s", markerfacecolor="none",
                      markeredgecolor="tab:red", markeredgewidth=2, markersize=9,
                      label="charging station's bus")]
    figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small",
                  frameon=False)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_xlabel("branches from the substation", fontsize="small", color="0.4")
    axes.set_title(title or "Feeder one-line diagram", fontsize="medium")
    return figure


def heatmap_figure(values: ArrayLike, row_labels: Sequence[str], *, row_axis: str,
                   colour_label: str, title: str, cmap: str = "magma") -> Figure:
    """Row × period heatmap (e.g. DLMPs by bus and period, $/MWh)."""
    matrix = np.asarray(values, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != len(row_labels):
        raise InvalidInputError(f"heatmap: {len(row_labels)} row labels for values of shape "
                                f"{matrix.shape}")
    rows, periods = matrix.shape
    figure, axes = new_figure()
    image = axes.imshow(np.ma.masked_invalid(matrix), aspect="auto", origin="upper",
                        interpolation="nearest", cmap=cmap,
                        extent=(-0.5, periods - 0.5, rows - 0.5, -0.5))
    figure.colorbar(image, ax=axes).set_label(colour_label)
    ticks = tick_positions(rows, 25)
    axes.set_yticks(ticks, [row_labels[i] for i in ticks], fontsize="small")
    axes.set_xticks(tick_positions(periods, 24))
    axes.set_xlabel("period")
    axes.set_ylabel(row_axis)
    axes.set_title(title)
    return figure


#: the sources (supply) and sinks (demand) of :func:`power_balance_figure`, in stacking order
SUPPLY_SIDE = ("upstream_import", "micro_turbines", "storage_discharge")
DEMAND_SIDE = ("base_load_after_response", "ev_charging", "storage_charge", "losses")


def power_balance_figure(balance: Mapping[str, ArrayLike], period_hours: float, *,
                         title: str = "") -> Figure:
    """Per period two stacked bars of equal height: the supply (upstream import, micro
    turbines, each renewable kind, storage discharging) and what it serves (the base load
    after demand response, EV charging, storage charging, losses), in MW.

    ``balance`` is :func:`ptn.lab.studies.dispatch.power_balance_mw`'s dict: every key that is
    neither a demand-side key nor ``demand_response_shift`` is a supply. A negative import
    (export upstream) is drawn on the demand side.
    """
    series = {key: np.asarray(value, dtype=float) for key, value in balance.items()}
    supply_keys = [key for key in series if key not in DEMAND_SIDE
                   and key != "demand_response_shift"]
    supply = {key: np.maximum(series[key], 0.0) for key in supply_keys}
    demand = {key: np.maximum(series[key], 0.0) for key in DEMAND_SIDE if key in series}
    export = np.maximum(-series.get("upstream_import", np.zeros(0)), 0.0)
    if export.size and export.any():
        demand["export_upstream"] = export
    periods = len(next(iter(series.values()))) if series else 0
    hours = np.arange(periods, dtype=float) * period_hours
    width = 0.4 * period_hours
    figure, axes = new_figure()
    figure.set_size_inches(8.0, 4.8)
    colours = iter(f"C{k}" for k in range(20))
    for offset, side, hatch in ((0.0, supply, ""), (width, demand, "//")):
        bottom = np.zeros(periods)
        for key, values in side.items():
            axes.bar(hours + offset, values, width=width, bottom=bottom, align="edge",
                     color=next(colours), hatch=hatch, edgecolor="white", linewidth=0.3,
                     label=("supply: " if not hatch else "demand: ") + key.replace("_", " "))
            bottom = bottom + values
    axes.set_xlim(0, periods * period_hours)
    axes.set_xlabel("period start (h); left bar supply, right bar demand")
    axes.set_ylabel("power (MW)")
    axes.set_title(title or "Power balance per period")
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(fontsize="x-small", ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                frameon=False)
    return figure
