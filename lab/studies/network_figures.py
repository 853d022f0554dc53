"""The traffic side and the feeder at the agreed operating point: link flows on a road map, the
feeder's one-line diagram, DLMPs by bus and period, the power balance.

Why this module exists: the coordinator sees prices and station loads only (MODELS.md §0); link
flows are the traffic department's private data and bus voltages and DLMPs the DSO's, and
neither operator reports them (the traffic department writes no private report; the DSO's
report, ``operators/<id>/voltages.png``, holds voltages only). A researcher still wants to see
them, so this takes the experimenter's full-information view, as the centralized reference and
``ptn study`` do: it reads the operators' tables of the scenario and re-solves each operator's
own model at what was agreed (the traffic department's equilibrium at the agreed charging
prices, :meth:`~ptn.engines.traffic.multiperiod.MultiPeriodProblem.solve`; the DSO's dispatch of
the agreed station loads, :meth:`~ptn.services.dso.model.DsoModel.dispatch_fixed`). At an exact
agreement the traffic equilibrium at the agreed prices gives the agreed station loads; the map's
title says how far apart they are. Everything goes to ``<results>/full_information/`` with an
``about.md`` saying where it comes from, apart from what the coordinator saw:

* ``link_flows.csv``: period, link, from_node, to_node, flow_veh_per_h, capacity_veh_per_h,
  volume_capacity_ratio (UE traffic only; a logit-SUE department is not re-solved here);
* ``road_flows.png``: the period of the largest total flow on the road map
  (:func:`~ptn.lab.studies.network_drawings.road_map_figure`);
* ``feeder[-<name>].png``: each feeder's one-line diagram, buses coloured by their voltage in
  the period of the feeder's lowest voltage, the stations' buses marked;
* ``bus_dlmps.png``: DLMPs by bus and period ($/MWh), every feeder's buses;
* ``power_balance.png``: supply and demand per period with losses and storage
  (:func:`~ptn.lab.studies.network_drawings.power_balance_figure`);
* ``voltage_difference.png``: the agreed dispatch's voltages minus those of the dispatch without
  coordination (the baseline's station loads, profit sharing's prescheduled plan), by bus and
  period, in % of nominal (:mod:`ptn.lab.studies.seed003_figures`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ptn.coordinator.mechanisms.pricing_game import PricingGameOutcome
from ptn.coordinator.mechanisms.profit_sharing import ProfitSharingOutcome
from ptn.coordinator.outcome import NegotiationOutcome
from ptn.coordinator.results.formatting import write_csv
from ptn.engines.coupling import CouplingSide, CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.power.result import OpfResult
from ptn.engines.traffic.multiperiod import MultiPeriodResult, build_multiperiod_problem
from ptn.figures import save_figure
from ptn.lab.studies.dispatch import power_balance_mw, voltage_by_bus
from ptn.lab.studies.network_drawings import (
    FloatArray,
    feeder_figure,
    heatmap_figure,
    power_balance_figure,
    road_layout,
    road_map_figure,
    tree_layout,
)
from ptn.lab.studies.seed003_figures import plot_voltage_difference, voltage_difference_pu
from ptn.scenario.document import Scenario
from ptn.services.dso.config import DsoConfig, dso_config_from_part
from ptn.services.dso.model import DsoModel
from ptn.services.traffic.config import TrafficConfig, traffic_config_from_part

FOLDER = "full_information"
#: the penalty (ρ, $/MW²h) that holds the DSO's nearest dispatch to slightly infeasible agreed
#: loads (:func:`nearest_dispatch`): stiff against charging prices of ~100 $/MWh, so a load
#: moves only as far as the feeder's limits make it
NEAREST_PENALTY_PER_MW2H = 1e4
LINK_FLOW_COLUMNS = ("period", "link", "from_node", "to_node", "flow_veh_per_h",
                     "capacity_veh_per_h", "volume_capacity_ratio")


@dataclass(frozen=True)
class AgreedPoint:
    """What the operators agreed on: prices (None: no traffic-facing price, e.g. the profit
    sharing TNO plans its fleet itself) and station loads, (stations, periods)."""

    description: str
    price_per_mwh: FloatArray | None
    station_load_mw: FloatArray
    #: the loads without coordination (the baseline, the prescheduled plan), when known
    before_description: str = ""
    before_load_mw: FloatArray | None = None


def agreed_point(outcome: Any) -> AgreedPoint | None:
    """The agreed point of any mechanism's outcome, None when nothing was agreed."""
    if isinstance(outcome, NegotiationOutcome):
        if outcome.agreed is None:
            return None
        baseline = outcome.baseline
        return AgreedPoint("the agreed prices",
                           np.asarray(outcome.agreed.price_per_mwh, dtype=float),
                           np.asarray(outcome.agreed.station_load_mw, dtype=float),
                           "the uncoordinated baseline",
                           None if baseline is None
                           else np.asarray(baseline.station_load_mw, dtype=float))
    if isinstance(outcome, PricingGameOutcome):
        if not outcome.variants:
            return None
        name = "nash" if "nash" in outcome.variants else next(iter(outcome.variants))
        variant = outcome.variants[name]
        label = "Nash" if name == "nash" else name
        return AgreedPoint(f"the {label} equilibrium's prices",
                           np.asarray(variant.charging_price_per_mwh, dtype=float),
                           np.asarray(variant.load_mw, dtype=float))
    if isinstance(outcome, ProfitSharingOutcome):
        if not outcome.evaluations:
            return None
        return AgreedPoint(f"the plan at ρ* = {outcome.best_share:.4f}", None,
                           np.asarray(outcome.best.load_mw, dtype=float),
                           "the prescheduled plan",
                           np.asarray(outcome.preschedule_load_mw, dtype=float))
    return None


def write_network_figures(scenario: Scenario, outcome: Any, folder: Path) -> list[Path]:
    """Write ``folder/full_information/`` (see the module docstring); the files written (none
    when nothing was agreed). What could not be re-solved (prices the traffic department
    refuses, a dispatch without a solution) is said in ``about.md``, not raised: the run's own
    results are written already."""
    point = agreed_point(outcome)
    if point is None:
        return []
    out = Path(folder) / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    notes: list[str] = []
    traffic_ids = scenario.operators_of("traffic")
    if traffic_ids and point.price_per_mwh is not None:
        config = traffic_config_from_part(scenario.part(traffic_ids[0]))
        if config.sue is None:
            try:
                result = traffic_equilibrium(config, point.price_per_mwh)
            except InvalidInputError as error:  # prices the department refuses (negative)
                notes.append(f"Traffic: not re-solved at {point.description}: {error}.")
            else:
                written += write_traffic_figures(config, result, point, out)
                notes.append(f"Traffic: the traffic department's user equilibrium at "
                             f"{point.description}, re-solved from its table of the scenario "
                             f"({result.status}, relative gap {result.relative_gap:.1e}).")
        else:
            notes.append("Traffic: a logit-SUE department; its link flows are not re-solved "
                         "here (`ptn study` draws seed 002's).")
    dso_ids = scenario.operators_of("dso")
    if dso_ids:
        config_dso = dso_config_from_part(scenario.part(dso_ids[0]))
        model = DsoModel(config_dso)
        dispatch = model.dispatch_fixed(point.station_load_mw)
        drawn = "the agreed station loads"
        if not dispatch.status.has_solution and point.price_per_mwh is not None:
            nearest = nearest_dispatch(model, point, scenario.public.period_hours)
            if nearest is not None:
                moved = float(np.max(np.abs(nearest[0] - point.station_load_mw), initial=0.0))
                notes.append(f"Feeders: the agreed station loads exceed the feeder's limits by "
                             f"the negotiation's tolerance ({dispatch.message}); drawn instead: "
                             f"the DSO's own side of the agreement, its dispatch at the agreed "
                             f"prices held to the agreed loads by a {NEAREST_PENALTY_PER_MW2H:g} "
                             f"$/MW²h penalty (loads at most {moved:.3g} MW from the agreed).")
                dispatch, drawn = nearest[1], "its own side of the agreement"
        if dispatch.status.has_solution:
            written += write_feeder_figures(config_dso, dispatch, out)
            notes.append(f"Feeders: the DSO's dispatch of {drawn}, re-solved from its table of "
                         "the scenario.")
            if point.before_load_mw is not None:
                before = model.dispatch_fixed(point.before_load_mw)
                if before.status.has_solution:
                    written.append(write_voltage_difference(dispatch, before, point, out))
                    notes.append(f"Voltage difference: the same dispatch of "
                                 f"{point.before_description}'s station loads, subtracted.")
                else:
                    notes.append(f"Voltage difference: the dispatch of "
                                 f"{point.before_description}'s station loads has no solution "
                                 f"({before.status}: {before.message}).")
        else:
            notes.append(f"Feeders: the DSO's dispatch of the agreed station loads has no "
                         f"solution ({dispatch.status}: {dispatch.message}).")
    about = out / "about.md"
    about.write_text("# Full-information figures\n\nComputed by the experimenter from the "
                     "operators' tables of the scenario (private data the coordinator never "
                     "sees), at what the operators agreed on.\n\n"
                     + "\n".join(f"* {note}" for note in notes) + "\n", encoding="utf-8")
    return [*written, about]


def nearest_dispatch(model: DsoModel, point: AgreedPoint, period_hours: float
                     ) -> tuple[FloatArray, OpfResult] | None:
    """The DSO's dispatch nearest the agreed point: its ADMM step at the agreed prices with
    the agreed loads as target under a stiff penalty (an agreement is within the negotiation's
    tolerance of what the feeder serves, not exactly on it), and the fixed-load dispatch of
    the loads it chose; None when either has no solution."""
    assert point.price_per_mwh is not None
    terms = CouplingTerms(price_per_mwh=point.price_per_mwh,
                          penalty_per_mw2h=NEAREST_PENALTY_PER_MW2H,
                          target_load_mw=point.station_load_mw, period_hours=period_hours,
                          side=CouplingSide.SUPPLIER, stations=model.stations)
    loads = model.consensus_step(terms)
    if loads.load_mw is None:
        return None
    dispatch = model.dispatch_fixed(loads.load_mw)
    return (np.asarray(loads.load_mw, dtype=float), dispatch) \
        if dispatch.status.has_solution else None


def traffic_equilibrium(config: TrafficConfig, price_per_mwh: FloatArray) -> MultiPeriodResult:
    """The traffic department's UE at the given station prices, at its own gap and limit."""
    problem = build_multiperiod_problem(config.spec)
    return problem.solve(price_per_mwh, gap=config.equilibrium_gap,
                         max_iterations=config.max_iterations)


def write_traffic_figures(config: TrafficConfig, result: MultiPeriodResult, point: AgreedPoint,
                          out: Path) -> list[Path]:
    """``link_flows.csv`` and ``road_flows.png`` (the period of the largest total flow)."""
    charging = config.spec.charging
    network = charging.network
    flows = np.asarray(result.road_link_flow_veh_per_h, dtype=float)  # (periods, links)
    capacity = np.asarray(network.capacity, dtype=float)
    labels = network.node_ids
    rows = [[period, link, int(labels[network.link_tail[link]]),
             int(labels[network.link_head[link]]), flows[period, link], capacity[link],
             flows[period, link] / capacity[link] if capacity[link] > 0 else math.nan]
            for period in range(flows.shape[0]) for link in range(flows.shape[1])]
    written = [write_csv(out / "link_flows.csv", LINK_FLOW_COLUMNS, rows)]
    peak = int(np.argmax(flows.sum(axis=1))) if flows.size else 0
    x, y, layout = road_layout(network.num_nodes, network.link_tail, network.link_head,
                               network.node_x, network.node_y)
    stations = dict(zip(charging.station_names, charging.station_node_positions().tolist(),
                        strict=True))
    difference = float(np.max(np.abs(np.asarray(result.station_load_mw).T
                                     - point.station_load_mw), initial=0.0))
    start_h = peak * config.period_hours
    figure = road_map_figure(
        x, y, network.link_tail, network.link_head, flows[peak] if flows.size else flows,
        capacity, stations, node_labels=[str(label) for label in labels]
        if network.num_nodes <= 60 else (),
        title=f"{network.name}: link flows in period {peak} ({start_h:g}–"
              f"{start_h + config.period_hours:g} h, the busiest)\nuser equilibrium at "
              f"{point.description}",
        layout_note=f"{layout}\nthis equilibrium's station loads are within "
                    f"{difference:.2g} MW of the agreed ones")
    written.append(save_figure(figure, out / "road_flows.png"))
    return written


def write_voltage_difference(after: OpfResult, before: OpfResult, point: AgreedPoint,
                             out: Path) -> Path:
    """``voltage_difference.png``: agreed minus uncoordinated voltage by bus and period (% of
    nominal; two heatmaps of voltages near 1 p.u. hide a shift of a few thousandths)."""
    labels, after_pu = voltage_by_bus(after)
    _, before_pu = voltage_by_bus(before)
    return plot_voltage_difference(
        voltage_difference_pu(before_pu, after_pu), labels, out / "voltage_difference.png",
        title=f"Voltage change: agreement minus {point.before_description}")


def write_feeder_figures(config: DsoConfig, dispatch: OpfResult, out: Path) -> list[Path]:
    """Each feeder's one-line diagram, the DLMPs by bus and period, the power balance."""
    case = config.case
    written: list[Path] = []
    labels: list[str] = []
    dlmps: list[FloatArray] = []
    order = config.point_order
    for feeder, solved in zip(case.feeders, dispatch.feeders, strict=True):
        stations: dict[str, int] = {}
        for s, station in enumerate(config.stations):
            point = case.charging_points[order[s]]
            position, bus = case.locate(point.feeder, point.bus, f"station {station!r}")
            if case.feeders[position].name == feeder.name:
                stations[station] = bus
        voltage = np.asarray(solved.voltage_pu, dtype=float)
        stressed = int(np.argmin(voltage.min(axis=0))) if voltage.size else 0
        x, y = tree_layout(feeder.num_buses, feeder.branch_from, feeder.branch_to,
                           feeder.slack_bus)
        bus_labels = [str(bus) for bus in feeder.bus_ids]
        figure = feeder_figure(
            x, y, feeder.branch_from, feeder.branch_to, voltage[:, stressed],
            "voltage magnitude (p.u.)", bus_labels, stations, feeder.slack_bus,
            title=f"{feeder.name}: bus voltages in period {stressed} (the lowest voltage, "
                  f"{voltage[:, stressed].min():.4f} p.u.)")
        suffix = "" if len(case.feeders) == 1 else f"-{feeder.name}"
        written.append(save_figure(figure, out / f"feeder{suffix}.png"))
        prefix = "" if len(case.feeders) == 1 else f"{feeder.name}:"
        labels += [f"{prefix}{bus}" for bus in bus_labels]
        dlmps.append(np.asarray(solved.dlmp_per_mwh, dtype=float))
    written.append(save_figure(heatmap_figure(
        np.vstack(dlmps), labels, row_axis="bus", colour_label="DLMP ($/MWh)",
        title="DLMPs by bus and period at the agreed station loads"), out / "bus_dlmps.png"))
    balance = power_balance_mw(config, dispatch)
    written.append(save_figure(power_balance_figure(
        balance, case.period_hours,
        title="Power balance at the agreed station loads (all feeders)"),
        out / "power_balance.png"))
    return written
