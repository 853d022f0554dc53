"""``ptn opf --list-buses``: a feeder's buses with their loads, DER and voltage limits.

Why this module exists: to place demand response, a charging point or a PV unit a user needs
the buses that carry load (and how much) and the voltage band, before any OPF; reading
``buses.csv`` after a run was the only way. The loads are the case's nominal ones (MW, MVAr:
the peak before a load shape scales them); DER are the ``--der`` file's devices at each bus.
"""

from __future__ import annotations

import math
from typing import Any

from ptn.engines.power.der import DsoCase


def bus_rows(case: DsoCase) -> list[dict[str, Any]]:
    """One row per feeder and bus: nominal load, voltage limits, the DER file's devices."""
    devices: dict[tuple[str | None, int], list[str]] = {}
    groups: list[tuple[str, Any]] = [
        ("micro-turbine", case.micro_turbines), ("storage", case.storage),
        ("renewable", case.renewables), ("demand response", case.demand_response),
        ("charging point", case.charging_points)]
    single = case.feeders[0].name if len(case.feeders) == 1 else None
    for kind, group in groups:
        for device in group:
            label = getattr(device, "kind", kind) if kind == "renewable" else kind
            feeder = device.feeder if device.feeder is not None else single
            devices.setdefault((feeder, int(device.bus)), []).append(
                f"{device.name} ({label})")
    rows: list[dict[str, Any]] = []
    for feeder in case.feeders:
        for index, bus in enumerate(feeder.bus_ids.tolist()):
            rows.append({
                "feeder": feeder.name, "bus": int(bus),
                "slack": index == feeder.slack_bus,
                "load_mw": float(feeder.load_p_mw[index]),
                "load_mvar": float(feeder.load_q_mvar[index]),
                "v_min_pu": _finite(feeder.v_min_pu[index]),
                "v_max_pu": _finite(feeder.v_max_pu[index]),
                "der": devices.get((feeder.name, int(bus)), []),
            })
    return rows


def _finite(value: float) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def format_bus_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table (loads in MW and MVAr, limits in p.u.)."""
    header = ("feeder", "bus", "load MW", "load MVAr", "v min pu", "v max pu", "DER")
    cells = [header] + [
        (row["feeder"], f"{row['bus']}{' (slack)' if row['slack'] else ''}",
         f"{row['load_mw']:.4f}", f"{row['load_mvar']:.4f}", _limit(row["v_min_pu"]),
         _limit(row["v_max_pu"]), ", ".join(row["der"]))
        for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) if i in (0, 6) else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(line, widths, strict=True))
                       ).rstrip() for line in cells]
    loaded = sum(1 for row in rows if row["load_mw"] or row["load_mvar"])
    total_mw = sum(row["load_mw"] for row in rows)
    total_mvar = sum(row["load_mvar"] for row in rows)
    lines.append(f"{len(rows)} buses, {loaded} with load: {total_mw:.4f} MW, "
                 f"{total_mvar:.4f} MVAr (nominal, before the load shape)")
    return "\n".join(lines)


def _limit(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
