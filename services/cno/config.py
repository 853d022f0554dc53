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
from typing import Any, get_args

import numpy as np

from ptn.engines.games.cno_response import CnoPricing
from ptn.scenario.document import ScenarioPart
from ptn.scenario.keys import default_of
from ptn.scenario.operator_tables import CnoTable
from ptn.scenario.validation import validate_table

#: the keys of ``[cno.<id>]``, their types, bounds and defaults: ptn.scenario.operator_tables
CNO_KEYS = tuple(CnoTable.model_fields)
METHODS: tuple[str, ...] = get_args(CnoTable.model_fields["best_response"].annotation)
ELASTICITIES: tuple[str, ...] = get_args(CnoTable.model_fields["elasticity"].annotation)
#: the certificate's best response: the exact compass search, or the model-guided search whose
#: candidates are verified (ptn.engines.games.cno_response.verified)
CERTIFICATE_SEARCHES: tuple[str, ...] = get_args(
    CnoTable.model_fields["certificate_search"].annotation)

@dataclass(frozen=True)
class CnoConfig:
    """A CNO's private set-up, validated. Arrays are (own stations, periods)."""

    operator_id: str
    pricing: CnoPricing
    periods: int
    method: str = default_of(CnoTable, "best_response")
    elasticity: str = default_of(CnoTable, "elasticity")
    aem_steps: int = default_of(CnoTable, "aem_steps")
    probe_step_per_mwh: float = default_of(CnoTable, "probe_step_per_mwh")
    trust_region_per_mwh: float | None = default_of(CnoTable, "trust_region_per_mwh")
    trust_region_shrink: float | None = default_of(CnoTable, "trust_region_shrink")
    exact_min_step_per_mwh: float = default_of(CnoTable, "exact_min_step_per_mwh")
    aem_measure_final: bool = default_of(CnoTable, "aem_measure_final")
    certificate_search: str = default_of(CnoTable, "certificate_search")
    certificate_poll_step_per_mwh: float | None = default_of(CnoTable,
                                                             "certificate_poll_step_per_mwh")

    @property
    def stations(self) -> tuple[str, ...]:
        return self.pricing.station_names


def _per_station(part: ScenarioPart, value: Any, where: str, key: str,
                 stations: list[str]) -> np.ndarray:
    """A price given once for every station or as one value per station, broadcast over
    periods: (stations, periods)."""
    reader, periods = part.reader, part.public.periods
    values = value if isinstance(value, list) else [value] * len(stations)
    if len(values) != len(stations):
        reader.fail(f"{where}.{key}", f"expected one number or one per station "
                                      f"({len(stations)}), got {len(values)} values")
    checked = [reader.number({key: v}, where, key) for v in values]
    return np.repeat(np.asarray(checked, dtype=np.float64)[:, None], periods, axis=1)


def _member(part: ScenarioPart, table: dict[str, Any], where: str) -> dict[str, Any]:
    """One CNO table, validated: its stations, bounds, start prices and method settings."""
    reader = part.reader
    checked = validate_table(CnoTable, table, part.source, where)
    if not all(isinstance(s, str) for s in checked.stations):
        reader.fail(f"{where}.stations", "expected a non-empty list of station names")
    stations: list[str] = list(checked.stations)
    for station in stations:
        if station not in part.public.stations:
            reader.fail(f"{where}.stations", f"station {station!r} is not in scenario.stations "
                                             f"({', '.join(part.public.stations)})")
    if len(set(stations)) != len(stations):
        reader.fail(f"{where}.stations", "a station is listed twice")
    low = _per_station(part, checked.price_min_per_mwh, where, "price_min_per_mwh", stations)
    high = _per_station(part, checked.price_max_per_mwh, where, "price_max_per_mwh", stations)
    if checked.trust_region_shrink is not None and checked.trust_region_per_mwh is None:
        reader.fail(f"{where}.trust_region_shrink", "needs trust_region_per_mwh (the radius "
                                                    "it shrinks)")
    bad = np.flatnonzero(low[:, 0] > high[:, 0])
    if bad.size:
        reader.fail(f"{where}.price_min_per_mwh", f"station {stations[bad[0]]}: minimum "
                                                  f"{low[bad[0], 0]:g} exceeds maximum "
                                                  f"{high[bad[0], 0]:g}")
    return {
        "stations": stations, "low": low, "high": high, "method": checked.best_response,
        "elasticity": checked.elasticity, "aem_steps": checked.aem_steps,
        "probe_step_per_mwh": checked.probe_step_per_mwh,
        "trust_region_per_mwh": checked.trust_region_per_mwh,
        "trust_region_shrink": checked.trust_region_shrink,
        "exact_min_step_per_mwh": checked.exact_min_step_per_mwh,
        "aem_measure_final": checked.aem_measure_final,
        "certificate_search": checked.certificate_search,
        "certificate_poll_step_per_mwh": checked.certificate_poll_step_per_mwh,
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
        trust_region_shrink=first["trust_region_shrink"],
        exact_min_step_per_mwh=first["exact_min_step_per_mwh"],
        aem_measure_final=first["aem_measure_final"],
        certificate_search=first["certificate_search"],
        certificate_poll_step_per_mwh=first["certificate_poll_step_per_mwh"],
    )
