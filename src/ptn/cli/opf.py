"""``ptn opf``: one feeder's multi-period DistFlow OPF with its DER, summary and result files.

Kept apart from the CLI parser so it can be called (and tested) as a function. Without a DER file
the case is the feeder alone over ``periods`` equal periods of a day, its loads following the
``rts-winter-weekday`` shape, power bought at the feeder's shipped cost; one period is the
shipped snapshot for one hour (MATPOWER's $/h OPF). A DER file (:mod:`ptn.engines.power.case_file`)
adds devices, tariff and load shape; a charging file sets the EV charging load of the DER file's
charging points (zero when not given); a bus load profile table gives buses load shapes of their
own (:mod:`ptn.engines.power.bus_load_profiles`).

A feeder whose case carries no cost for its supply point (pandapower's CIGRE and Kerber
benchmark feeders; a shipped cost of zero) has its purchases priced at the DER file's upstream
prices when it gives some, else at ``--tariff-per-mwh`` (default
:data:`ptn.engines.power.der.DEFAULT_TARIFF_PER_MWH`); the summary's ``notes`` say so. An
infeasible OPF is explained by an elastic re-solve (:mod:`ptn.engines.power.infeasibility`):
the summary's ``message`` names the limits that cannot be met, where, when and by how much, and
its ``infeasibility`` entry holds them as data; the command then exits with status 1 (0 for
``optimal`` and ``inexact``, 2 for invalid input).

``--out DIR`` writes ``summary.json`` and, when the OPF has a solution, three tables (periods
numbered from 0):

* ``buses.csv``: feeder, bus, period, voltage_pu, dlmp_per_mwh, net_load_mw, net_load_mvar;
* ``branches.csv``: feeder, branch, from_bus, to_bus, period, p_mw, q_mvar, loss_mw,
  loading_percent (empty when the branch has no rating);
* ``periods.csv``: period, upstream_price_per_mwh, import_mw, losses_mw, then per device
  ``<mt>_p_mw``; ``<storage>_p_mw`` (discharge − charge) and ``<storage>_soc`` (at the period's
  end); ``<pv|wind>_p_mw`` and ``<pv|wind>_curtailed_mw``; ``<dr>_shift_mw`` (load moved into
  the period, negative when moved out); ``<point>_charging_mw``.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ptn.cli.charging_file import read_charging_loads
from ptn.cli.feeder_buses import bus_rows as feeder_bus_rows
from ptn.coordinator.results.index_page import SUMMARY_FILE
from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeders
from ptn.engines.power.bus_load_profiles import read_bus_load_profiles
from ptn.engines.power.case_file import (
    default_load_shape,
    default_period_hours,
    read_dso_case_toml,
)
from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.exactness import check_with_ac_power_flow
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.profiles import HOURS, daily_profile
from ptn.engines.power.result import OpfResult
from ptn.lab.run_folder import OK, file_fingerprint, prepare_run_folder

TABLE_FILES = ("buses.csv", "branches.csv", "periods.csv")


def run_opf(
    *,
    feeder: str,
    periods: int = 24,
    der: Path | None = None,
    charging: Path | None = None,
    out: Path | None = None,
    ac_check: bool = False,
    tariff_per_mwh: float | None = None,
    force: bool = False,
    charging_column: str | None = None,
    bus_load_profiles: Path | None = None,
) -> dict[str, Any]:
    """Build and solve the OPF, optionally write the files; return the JSON summary.

    ``out`` is a safe results folder (:mod:`ptn.lab.run_folder`): checked before the solve, a
    non-empty one refused unless ``force``, a failed solve never replacing a good one, and a
    ``manifest.json`` beside the files. ``charging``: a wide file (``period,<point>,...``) or
    ``ptn run``'s long ``loads.csv`` (:mod:`ptn.cli.charging_file`; ``charging_column`` picks
    its load column).

    With ``ac_check`` the dispatch's injections are run through pandapower's AC power flow for
    every period and the deviations go to the summary's ``ac_check`` entry. ``tariff_per_mwh``
    prices the purchases of a feeder without cost data when the DER file sets no upstream
    prices (default :data:`~ptn.engines.power.der.DEFAULT_TARIFF_PER_MWH`).
    ``bus_load_profiles``: a table of per-bus load shapes
    (:mod:`ptn.engines.power.bus_load_profiles`) replacing the load profile at the buses it
    lists.

    The summary holds the status, objective, costs, losses, voltage range, relaxation gap and
    timings, and a ``warnings`` list when the solution deserves one (inexact relaxation,
    inaccurate solver status). Raises :class:`InvalidInputError` on invalid input.
    """
    if periods < 1:
        raise InvalidInputError(f"--periods must be at least 1, got {periods}")
    if der is None and HOURS % periods and periods % HOURS:
        raise InvalidInputError(
            f"--periods must divide 24 or be a multiple of 24 (e.g. 1, 6, 24, 96), got {periods}"
        )
    if tariff_per_mwh is not None and not (math.isfinite(tariff_per_mwh)
                                           and tariff_per_mwh > 0):
        raise InvalidInputError(
            f"--tariff-per-mwh must be a finite positive price, got {tariff_per_mwh:g}"
        )
    if out is None:
        return _solve(feeder, periods, der, charging, None, ac_check, tariff_per_mwh,
                      charging_column, bus_load_profiles=bus_load_profiles)
    inputs = opf_inputs(feeder, periods, der, charging)
    if bus_load_profiles is not None:
        inputs["bus_load_profiles"] = file_fingerprint(bus_load_profiles)
    folder = prepare_run_folder(out, force=force, inputs=inputs)
    with folder.running():
        summary = _solve(feeder, periods, der, charging, folder.working, ac_check,
                         tariff_per_mwh, charging_column, shown_out=out,
                         bus_load_profiles=bus_load_profiles)
        final = folder.finish(OK if summary["status"] in ("optimal", "inexact")
                              else str(summary["status"]), str(summary.get("message", "")))
    if final != out:
        summary["out"] = str(final)
        summary.setdefault("warnings", []).append(
            f"{out} holds a good result: this run's files are in {final}")
    return summary


def opf_inputs(feeder: str, periods: int, der: Path | None,
               charging: Path | None) -> dict[str, Any]:
    """What the manifest records of an OPF's inputs: the feeder, periods, and the files with
    their SHA-256."""
    return {"feeder": feeder, "periods": periods,
            "der": file_fingerprint(der) if der is not None else None,
            "charging": file_fingerprint(charging) if charging is not None else None}


def _solve(feeder: str, periods: int, der: Path | None, charging: Path | None,
           out: Path | None, ac_check: bool, tariff_per_mwh: float | None,
           charging_column: str | None, shown_out: Path | None = None,
           bus_load_profiles: Path | None = None) -> dict[str, Any]:
    models = load_feeders(feeder)
    case = _case(models, periods, der)
    if bus_load_profiles is not None:
        case = replace(case, bus_load_profiles=read_bus_load_profiles(
            bus_load_profiles, case.feeders, case.periods))
    if tariff_per_mwh is not None:
        case = replace(case, fallback_tariff_per_mwh=float(tariff_per_mwh))
    if charging is not None and not case.charging_points:
        raise InvalidInputError(
            f"--charging {charging}: the case has no charging points (declare [[charging_point]] "
            "tables in the --der file)"
        )
    opf = DistFlowOpf(case)
    if charging is not None:
        loads = read_charging_loads(
            charging, [p.name for p in case.charging_points], periods,
            max_mw=[p.max_mw for p in case.charging_points], column=charging_column,
        )
        opf.set_charging_load(loads)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = opf.solve()
    solver_status = str(opf.problem.status)
    notes = _warnings(result, solver_status, [str(w.message) for w in caught])
    summary: dict[str, Any] = {
        "feeder": ", ".join(m.name for m in models),
        "feeder_source": feeder,
        "periods": case.periods,
        "period_hours": case.period_hours,
        "der_file": None if der is None else str(der),
        "charging_file": None if charging is None else str(charging),
        "bus_load_profiles_file": None if bus_load_profiles is None else str(bus_load_profiles),
        "devices": {
            "micro_turbines": len(case.micro_turbines),
            "storage": len(case.storage),
            "renewables": len(case.renewables),
            "demand_response": len(case.demand_response),
            "charging_points": len(case.charging_points),
        },
        **result.summary(),
        "solver_status": solver_status,
        "build_seconds": opf.build_seconds,
    }
    if result.status.has_solution:
        dt = case.period_hours
        summary["losses_mwh"] = float(sum(f.loss_mw.sum() for f in result.feeders) * dt)
        summary["energy_imported_mwh"] = float(sum(f.slack_p_mw.sum() for f in result.feeders)
                                               * dt)
        if ac_check:
            summary["ac_check"] = check_with_ac_power_flow(opf, result).summary()
    if notes:
        summary["warnings"] = notes
    summary = _json_ready(summary)
    if out is not None:
        summary["out"] = str(shown_out or out)
        summary["files"] = [SUMMARY_FILE, *write_opf_tables(out, case, result)]
        (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def list_buses(*, feeder: str, periods: int = 24, der: Path | None = None
               ) -> list[dict[str, Any]]:
    """``--list-buses``: the feeder's buses with their nominal loads, voltage limits and the
    DER file's devices (:mod:`ptn.cli.feeder_buses`)."""
    return feeder_bus_rows(_case(load_feeders(feeder), periods, der))


def _case(feeders: tuple[Feeder, ...], periods: int, der: Path | None) -> DsoCase:
    """The DER file's case, or the feeders alone (one per supply point of the net) with the
    default load shape and shipped cost."""
    if der is not None:
        return read_dso_case_toml(der, feeders, periods)
    return DsoCase(
        feeders=feeders,
        periods=periods,
        period_hours=default_period_hours(periods),
        load_profile=daily_profile(default_load_shape(periods), periods),
    )


def _warnings(result: OpfResult, solver_status: str, caught: Sequence[str]) -> list[str]:
    notes: list[str] = []
    if str(result.status) == "inexact":
        notes.append(result.message)
    if solver_status.endswith("_inaccurate"):
        notes.append(
            f"the solver stopped at reduced accuracy (cvxpy status {solver_status}); the "
            "result is reported as it stands"
        )
    for message in dict.fromkeys(caught):
        if "may be inaccurate" not in message:
            notes.append(message)
    return notes


def describe_opf(summary: dict[str, Any]) -> str:
    """A short human summary (two lines when solved, one otherwise), then one line per note
    (e.g. the tariff that prices a feeder without cost data)."""
    notes = "".join(f"\n  note: {note}" for note in summary.get("notes", []))
    return _describe_status(summary) + notes


def _describe_status(summary: dict[str, Any]) -> str:
    periods, hours = summary["periods"], summary["period_hours"]
    head = f"{summary['feeder']}, {periods} period{'s' if periods != 1 else ''} of {hours:g} h"
    timing = (f"built in {summary['build_seconds']:.3f} s, solved in {summary['seconds']:.3f} s "
              f"(solver {summary['solver_seconds']:.3f} s)")
    status = summary["status"]
    if status not in ("optimal", "inexact"):
        message = summary.get("message", "")
        return f"{head}: {status}{f' ({message})' if message else ''}; {timing}"
    costs = ", ".join(f"{name} {value:.6g}" for name, value in summary["cost_breakdown"].items())
    vmin = min(f["voltage_min_pu"] for f in summary["feeders"])
    vmax = max(f["voltage_max_pu"] for f in summary["feeders"])
    gap, raw = summary["relaxation_gap_weighted_mw"], summary["relaxation_gap_raw_pu2"]
    return (
        f"{head}: {status}, objective {summary['objective']:.10g} ({costs})\n"
        f"  losses {summary['losses_mwh']:.6g} MWh, imported "
        f"{summary['energy_imported_mwh']:.6g} MWh, voltage {vmin:.4f}-{vmax:.4f} p.u., "
        f"relaxation gap {gap:.2e} MW (raw {raw:.2e} p.u.²); {timing}"
    )


# ---------------------------------------------------------------------------- files
def write_opf_tables(out: Path, case: DsoCase, result: OpfResult) -> list[str]:
    """Create ``out`` and write the three tables when there is a solution; return their names.

    Without a solution, tables an earlier run left in ``out`` are removed, so the directory never
    pairs this run's summary with another run's dispatch.
    """
    out.mkdir(parents=True, exist_ok=True)
    if not result.status.has_solution:
        for name in TABLE_FILES:
            (out / name).unlink(missing_ok=True)
        return []
    _write_csv(out / "buses.csv", BUS_COLUMNS, bus_rows(result))
    _write_csv(out / "branches.csv", BRANCH_COLUMNS, branch_rows(case, result))
    columns, rows = period_table(case, result)
    _write_csv(out / "periods.csv", columns, rows)
    return list(TABLE_FILES)


BUS_COLUMNS = ("feeder", "bus", "period", "voltage_pu", "dlmp_per_mwh", "net_load_mw",
               "net_load_mvar")
BRANCH_COLUMNS = ("feeder", "branch", "from_bus", "to_bus", "period", "p_mw", "q_mvar",
                  "loss_mw", "loading_percent")


def bus_rows(result: OpfResult) -> Iterable[tuple[Any, ...]]:
    """One row per feeder, bus and period (bus-major, in the feeder's bus order)."""
    for f in result.feeders:
        for b, bus in enumerate(f.bus_ids.tolist()):
            for t in range(f.voltage_pu.shape[1]):
                yield (f.name, bus, t, f.voltage_pu[b, t], f.dlmp_per_mwh[b, t],
                       f.net_load_p_mw[b, t], f.net_load_q_mvar[b, t])


def branch_rows(case: DsoCase, result: OpfResult) -> Iterable[tuple[Any, ...]]:
    """One row per feeder, branch and period (branches oriented away from the slack)."""
    for model, f in zip(case.feeders, result.feeders, strict=True):
        from_bus = model.bus_ids[model.branch_from].tolist()
        to_bus = model.bus_ids[model.branch_to].tolist()
        for k, branch in enumerate(f.branch_ids):
            for t in range(f.branch_p_mw.shape[1]):
                yield (f.name, branch, from_bus[k], to_bus[k], t, f.branch_p_mw[k, t],
                       f.branch_q_mvar[k, t], f.branch_loss_mw[k, t],
                       f.branch_loading_percent[k, t])


def period_table(case: DsoCase, result: OpfResult) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Columns and rows of ``periods.csv``: prices, totals and every device's dispatch."""
    T = case.periods
    price = case.upstream_prices()[0][0]
    series: dict[str, Any] = {
        "period": np.arange(T),
        "upstream_price_per_mwh": price,
        "import_mw": result.import_mw,
        "losses_mw": sum(f.loss_mw for f in result.feeders),
    }
    for name, p in result.micro_turbine_p_mw.items():
        series[f"{name}_p_mw"] = p
    for name, discharge in result.storage_discharge_mw.items():
        series[f"{name}_p_mw"] = discharge - result.storage_charge_mw[name]
        series[f"{name}_soc"] = result.storage_soc[name][1:]
    for name, p in result.renewable_p_mw.items():
        series[f"{name}_p_mw"] = p
        series[f"{name}_curtailed_mw"] = result.renewable_curtailed_mw[name]
    for name, shift in result.demand_response_shift_mw.items():
        series[f"{name}_shift_mw"] = shift
    for name, load in result.charging_mw.items():
        series[f"{name}_charging_mw"] = load
    columns = list(series)
    rows = [tuple(series[c][t] for c in columns) for t in range(T)]
    return columns, rows


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(value) for value in row])


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | np.integer):
        return str(int(value))
    number = float(value)
    return repr(number) if math.isfinite(number) else ""


def _json_ready(value: Any) -> Any:
    """Replace NaN and infinities by None (null), so the summary is strict JSON."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
