"""The DSO's dispatch of agreed station loads, seen whole: the studies' power-side tables and plots.

Why this module exists: seeds 002 and 003 report what happens inside the feeder. Their figures
show the power balance per source, the demand-response shift, storage, the SOC relaxation error
per bus and a bus-by-hour voltage heatmap. In a negotiation these are the DSO's private data.
A study (``ptn study``) is the experimenter's full-information view: it reads the DSO's table
and re-dispatches the loads the operators agreed on
(:meth:`ptn.services.dso.model.DsoModel.dispatch_fixed`) (MODELS.md §0: a reference for experiments
only). Tables are plain dicts of numpy arrays; figures use :mod:`ptn.figures`' style.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ptn.engines.power.result import OpfResult
from ptn.figures import new_figure, plot_voltage_heatmap, save_figure, tick_positions
from ptn.lab.studies.network_drawings import power_balance_figure
from ptn.services.dso.config import DsoConfig

FloatArray = NDArray[np.float64]


def power_balance_mw(config: DsoConfig, result: OpfResult) -> dict[str, FloatArray]:
    """Supply and demand per period (MW): upstream import, each DER kind, storage, EV charging,
    the base load after demand response, losses. Supply equals demand in every period."""
    case = config.case
    periods = case.periods
    zero = np.zeros(periods)

    def total(series: dict[str, FloatArray], names: list[str] | None = None) -> FloatArray:
        chosen = [np.asarray(v) for k, v in series.items() if names is None or k in names]
        return np.sum(chosen, axis=0) if chosen else zero.copy()

    kinds = {kind: [unit.name for unit in case.renewables if unit.kind == kind]
             for kind in sorted({unit.kind for unit in case.renewables})}
    balance: dict[str, FloatArray] = {
        "upstream_import": result.import_mw,
        "micro_turbines": total(result.micro_turbine_p_mw),
    }
    for kind, names in kinds.items():
        balance[kind] = total(result.renewable_p_mw, names)
    balance["storage_discharge"] = total(result.storage_discharge_mw)
    balance["storage_charge"] = total(result.storage_charge_mw)
    balance["ev_charging"] = total(result.charging_mw)
    balance["losses"] = np.sum([f.loss_mw for f in result.feeders], axis=0)
    balance["demand_response_shift"] = total(result.demand_response_shift_mw)
    supply = sum((balance[k] for k in ("upstream_import", "micro_turbines", *kinds,
                                       "storage_discharge")), zero.copy())
    balance["base_load_after_response"] = (supply - balance["storage_charge"]
                                           - balance["ev_charging"] - balance["losses"])
    return balance


def relaxation_error_by_bus(config: DsoConfig, result: OpfResult
                            ) -> tuple[list[str], FloatArray]:
    """Seed 002's eq. (23) per bus and period, ``|ℓ − (P² + Q²)/v|`` (p.u.²) of the branch
    feeding the bus (every bus but the slack has exactly one on a radial feeder), buses in
    ascending order per feeder."""
    labels: list[str] = []
    rows: list[FloatArray] = []
    for feeder, solved in zip(config.case.feeders, result.feeders, strict=True):
        gap = solved.relaxation.current_gap_pu2
        if gap is None:
            gap = np.zeros((feeder.num_branches, solved.voltage_pu.shape[1]))
        prefix = f"{feeder.name}:" if len(result.feeders) > 1 else ""
        order = np.argsort(feeder.bus_ids[feeder.branch_to], kind="stable")
        labels += [f"{prefix}{feeder.bus_ids[feeder.branch_to[k]]}" for k in order]
        rows.append(np.asarray(gap)[order])
    return labels, np.vstack(rows)


def voltage_by_bus(result: OpfResult) -> tuple[list[str], FloatArray]:
    """Bus × period voltage magnitudes (p.u.) over every feeder."""
    labels: list[str] = []
    rows: list[FloatArray] = []
    for feeder in result.feeders:
        prefix = f"{feeder.name}:" if len(result.feeders) > 1 else ""
        labels += [f"{prefix}{bus}" for bus in feeder.bus_ids]
        rows.append(np.asarray(feeder.voltage_pu))
    return labels, np.vstack(rows)


def _hours(periods: int, period_hours: float) -> FloatArray:
    return np.arange(periods, dtype=np.float64) * period_hours


def plot_power_balance(balance: dict[str, FloatArray], period_hours: float, path: Path) -> Path:
    """Supply per source and the demand it serves (load after response, EV charging, storage
    charging, losses) per period, two stacked bars of equal height (seed 002 Fig. 9)."""
    return save_figure(power_balance_figure(balance, period_hours,
                                            title="power balance per source"), path)


def plot_series(series: dict[str, FloatArray], period_hours: float, path: Path, *,
                ylabel: str, title: str, bars: bool = True) -> Path:
    """One bar group (or line) per named series over the periods."""
    figure, axes = new_figure()
    names = list(series)
    count = max(len(names), 1)
    periods = len(next(iter(series.values()))) if series else 0
    hours = _hours(periods, period_hours)
    width = 0.8 * period_hours / count
    for k, name in enumerate(names):
        if bars:
            axes.bar(hours + k * width, series[name], width=width, align="edge", label=name)
        else:
            axes.plot(hours + 0.5 * period_hours, series[name], marker="o", label=name)
    axes.axhline(0.0, color="grey", linewidth=0.6)
    axes.set_xlabel("hour")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    if names:
        axes.legend(fontsize=7)
    return save_figure(figure, path)


def plot_relaxation_error(labels: list[str], error_pu2: FloatArray, path: Path) -> Path:
    """The largest relaxation error of each bus over the periods, log scale (seed 002 Fig. 12)."""
    figure, axes = new_figure()
    worst = np.max(error_pu2, axis=1)
    axes.bar(np.arange(len(labels)), np.maximum(worst, 1e-18), color="teal")
    axes.set_yscale("log")
    ticks = tick_positions(len(labels), 20)
    axes.set_xticks(ticks, [labels[i] for i in ticks], fontsize=7)
    axes.set_xlabel("bus (receiving end of its branch)")
    axes.set_ylabel("max over periods of |ℓ − (P²+Q²)/v| (p.u.²)")
    axes.set_title(f"SOC relaxation error per bus (largest {worst.max():.1e})")
    return save_figure(figure, path)


def voltage_band_pu(config: DsoConfig) -> tuple[float, float]:
    """The widest voltage limits of the DSO's buses but the slacks (p.u.), whose voltage is
    fixed."""
    lows, highs = [], []
    for feeder in config.case.feeders:
        others = np.arange(feeder.num_buses) != feeder.slack_bus
        lows.append(float(np.min(feeder.v_min_pu[others])))
        highs.append(float(np.max(feeder.v_max_pu[others])))
    return min(lows), max(highs)


def slack_rows(config: DsoConfig) -> list[int]:
    """Rows of the slack buses in :func:`voltage_by_bus`'s matrix (their voltage is fixed)."""
    rows, offset = [], 0
    for feeder in config.case.feeders:
        rows.append(offset + int(feeder.slack_bus))
        offset += feeder.num_buses
    return rows


def plot_voltages(result: OpfResult, config: DsoConfig, path: Path, title: str) -> Path:
    """Bus × period voltage heatmap with the feeder's band (the slack buses not marked)."""
    labels, voltage = voltage_by_bus(result)
    v_min, v_max = voltage_band_pu(config)
    return plot_voltage_heatmap(voltage, labels, path, v_min_pu=v_min, v_max_pu=v_max,
                                title=title, exempt_rows=slack_rows(config))
