"""A CNO's configuration: its ``[cno.<id>]`` table (or the alliance's merged members), validated.

Why this module exists: a charging network operator's private set-up (its stations, price
bounds, best-response method and its settings) is read in one place, naming the key of any bad
value, by its model (:mod:`ptn.services.cno.model`), the up-front check of a scenario
(:func:`ptn.services.hosting.check_part`) and the experimenter's references (:mod:`ptn.lab`).
The derived operator ``cno-alliance`` (every CNO merged, the cooperative game) is the same
configuration over its members' stations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ptn.engines.games.cno_response import CnoPricing
from ptn.scenario.document import ScenarioPart, require_integer, require_number

CNO_KEYS = ("stations", "price_min_per_mwh", "price_max_per_mwh", "best_response", "elasticity",
            "aem_steps", "probe_step_per_mwh", "trust_region_per_mwh", "exact_min_step_per_mwh",
            "aem_measure_final", "certificate_search", "certificate_poll_step_per_mwh")
METHODS = ("aem", "exact")
#: the certificate's best response: the exact compass search, or the model-guided search whose
#: candidates are verified (ptn.engines.games.cno_response.verified)
CERTIFICATE_SEARCHES = ("compass", "verified")
ELASTICITIES = ("per-period", "full")

@dataclass(frozen=True)
class CnoConfig:
    """A CNO's private set-up, validated. Arrays are (own stations, periods)."""

    operator_id: str
    pricing: CnoPricing
    periods: int
    method: str = "aem"
    elasticity: str = "per-period"
    aem_steps: int = 1
    probe_step_per_mwh: float = 1.0
    trust_region_per_mwh: float | None = None
    exact_min_step_per_mwh: float = 0.01
    aem_measure_final: bool = True
    certificate_search: str = "compass"
    certificate_poll_step_per_mwh: float | None = None

    @property
    def stations(self) -> tuple[str, ...]:
        return self.pricing.station_names


def _per_station(part: ScenarioPart, table: dict[str, Any], where: str, key: str,
                 stations: list[str], default: float | None) -> np.ndarray:
    """A price given once for every station or as one value per station, broadcast over
    periods: (stations, periods)."""
    reader, periods = part.reader, part.public.periods
    value = table.get(key, default)
    if value is None:
        reader.fail(where, f"missing required key '{key}'")
    values = value if isinstance(value, list) else [value] * len(stations)
    if len(values) != len(stations):
        reader.fail(f"{where}.{key}", f"expected one number or one per station "
                                      f"({len(stations)}), got {len(values)} values")
    checked = [require_number(reader, {key: v}, where, key) for v in values]
    return np.repeat(np.asarray(checked, dtype=np.float64)[:, None], periods, axis=1)


def _member(part: ScenarioPart, table: dict[str, Any], where: str) -> dict[str, Any]:
    """One CNO table, validated: its stations, bounds, start prices and method settings."""
    reader = part.reader
    reader.check_keys(table, where, CNO_KEYS)
    listed = table.get("stations")
    if not isinstance(listed, list) or not listed \
            or not all(isinstance(s, str) for s in listed):
        reader.fail(f"{where}.stations", "expected a non-empty list of station names")
    stations: list[str] = list(listed)  # type: ignore[arg-type]
    for station in stations:
        if station not in part.public.stations:
            reader.fail(f"{where}.stations", f"station {station!r} is not in scenario.stations "
                                             f"({', '.join(part.public.stations)})")
    if len(set(stations)) != len(stations):
        reader.fail(f"{where}.stations", "a station is listed twice")
    low = _per_station(part, table, where, "price_min_per_mwh", stations, None)
    high = _per_station(part, table, where, "price_max_per_mwh", stations, None)
    bad = np.flatnonzero(low[:, 0] > high[:, 0])
    if bad.size:
        reader.fail(f"{where}.price_min_per_mwh", f"station {stations[bad[0]]}: minimum "
                                                  f"{low[bad[0], 0]:g} exceeds maximum "
                                                  f"{high[bad[0], 0]:g}")
    method = reader.text(table, where, "best_response", default="aem")
    if method not in METHODS:
        reader.fail(f"{where}.best_response", f"unknown method {method!r} (allowed: "
                                              f"{', '.join(METHODS)})")
    elasticity = reader.text(table, where, "elasticity", default="per-period")
    if elasticity not in ELASTICITIES:
        reader.fail(f"{where}.elasticity", f"unknown elasticity {elasticity!r} (allowed: "
                                           f"{', '.join(ELASTICITIES)})")
    trust = table.get("trust_region_per_mwh")
    certificate = reader.text(table, where, "certificate_search", default="compass")
    if certificate not in CERTIFICATE_SEARCHES:
        reader.fail(f"{where}.certificate_search", f"unknown search {certificate!r} (allowed: "
                                                   f"{', '.join(CERTIFICATE_SEARCHES)})")
    poll = table.get("certificate_poll_step_per_mwh")
    return {
        "stations": stations, "low": low, "high": high, "method": method,
        "elasticity": elasticity,
        "aem_steps": require_integer(reader, table, where, "aem_steps", default=1, minimum=1),
        "probe_step_per_mwh": require_number(reader, table, where, "probe_step_per_mwh",
                                             default=1.0, strictly_positive=True),
        "trust_region_per_mwh": None if trust is None else require_number(
            reader, table, where, "trust_region_per_mwh", strictly_positive=True),
        "exact_min_step_per_mwh": require_number(reader, table, where,
                                                 "exact_min_step_per_mwh", default=0.01,
                                                 strictly_positive=True),
        "aem_measure_final": ("aem_measure_final" not in table
                              or reader.boolean(table, where, "aem_measure_final")),
        "certificate_search": certificate,
        "certificate_poll_step_per_mwh": None if poll is None else require_number(
            reader, table, where, "certificate_poll_step_per_mwh", strictly_positive=True),
    }


def cno_config_from_part(part: ScenarioPart) -> CnoConfig:
    """Validate a ``[cno.<id>]`` table (errors name the key), or merge the alliance's members
    (their stations and bounds; the first member's method settings)."""
    if "members" in part.data:
        members = [_member(part, table, f"cno.{member_id}")
                   for member_id, table in part.data["members"].items()]
        stations = [s for m in members for s in m["stations"]]
        if len(set(stations)) != len(stations):
            part.reader.fail("cno", "two CNOs list the same station")
    else:
        members = [_member(part, part.data, f"cno.{part.operator_id}")]
    first = members[0]
    pricing = CnoPricing(
        station_names=tuple(s for m in members for s in m["stations"]),
        price_min_per_mwh=np.concatenate([m["low"] for m in members]),
        price_max_per_mwh=np.concatenate([m["high"] for m in members]),
        period_hours=part.public.period_hours,
    )
    return CnoConfig(
        operator_id=part.operator_id, pricing=pricing, periods=part.public.periods,
        method=first["method"], elasticity=first["elasticity"], aem_steps=first["aem_steps"],
        probe_step_per_mwh=first["probe_step_per_mwh"],
        trust_region_per_mwh=first["trust_region_per_mwh"],
        exact_min_step_per_mwh=first["exact_min_step_per_mwh"],
        aem_measure_final=first["aem_measure_final"],
        certificate_search=first["certificate_search"],
        certificate_poll_step_per_mwh=first["certificate_poll_step_per_mwh"],
    )
