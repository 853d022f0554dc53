"""The DSO's configuration: its ``[dso]`` table of a scenario, read and validated.

Why this module exists: the DSO's private set-up (feeders, voltage band, DER, charging points,
the pricing game's settings, the OPF's formulation) is read in one place, naming the key of any
bad value, both by the operator's model (:mod:`ptn.services.dso.model`) and by the up-front
check of a scenario (:func:`ptn.services.hosting.check_part`), and by the experimenter's
full-information references (:mod:`ptn.lab`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import get_args

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeders
from ptn.engines.power.bus_load_profiles import read_bus_load_profiles
from ptn.engines.power.case_file import (
    VOLTAGE_BAND_KEYS,
    dso_case_from_mapping,
    voltage_band_from_mapping,
)
from ptn.engines.power.der import DsoCase, validate_case
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.pricing import PriceLimits, TrialDraw
from ptn.engines.tables import resample_periods
from ptn.scenario.document import ScenarioPart
from ptn.scenario.keys import default_of
from ptn.scenario.operator_tables import DsoPricing, DsoTable, FeederItem
from ptn.scenario.validation import validate_table

#: the keys of ``[dso]`` and its tables, their types, bounds and defaults:
#: ptn.scenario.operator_tables (the DER keys mirror ptn.engines.power.case_file)
DSO_KEYS = tuple(DsoTable.model_fields)
FORMULATIONS: tuple[str, ...] = get_args(DsoTable.model_fields["formulation"].annotation)
PRICING_KEYS = tuple(DsoPricing.model_fields)
#: what one DSO price covers: every station at one bus (seed 001's λ_j,t of node j), or each
#: station on its own
PRICE_PER: tuple[str, ...] = get_args(DsoPricing.model_fields["price_per"].annotation)
FEEDER_KEYS = tuple(FeederItem.model_fields)


@dataclass(frozen=True)
class PricingSettings:
    """``[dso.pricing]``: seed 001's MUL-DSO settings (§4.1 of the paper).

    ``trial_draw``: the range of the random trial prices (``trial_price_min_per_mwh``,
    ``trial_price_max_per_mwh``; by default from the lower bound to the mean cap, below the cap
    as the paper's Figure 6 implies: :class:`TrialDraw`'s default). ``price_per``: ``"bus"``
    (one price shared by the stations at a bus, the mean cap on it; the paper) or
    ``"station"``.
    """

    limits: PriceLimits
    proximal_weight: float = default_of(DsoPricing, "proximal_weight")
    trial_rounds: int = default_of(DsoPricing, "trial_rounds")
    seed: int = default_of(DsoPricing, "seed")
    trial_draw: TrialDraw = field(default_factory=TrialDraw)
    price_per: str = default_of(DsoPricing, "price_per")


@dataclass(frozen=True)
class DsoConfig:
    """The DSO's private set-up, validated: its case and the stations' charging points."""

    operator_id: str
    case: DsoCase
    stations: tuple[str, ...]
    pricing: PricingSettings | None = None
    #: the OPF's equations: the SOC relaxation of DistFlow, or lossless LinDistFlow (the model a
    #: KKT-reformulated bilevel reference can hold; ptn.engines.power.distflow)
    formulation: str = default_of(DsoTable, "formulation")
    #: ``[dso] feeder_workers``: threads solving its feeders' OPFs at once in a dispatch or an
    #: ADMM step (each feeder is its own problem: ptn.engines.power.feeder_blocks); 1 solves
    #: them in turn. Answers do not depend on it.
    feeder_workers: int = default_of(DsoTable, "feeder_workers")

    @property
    def point_order(self) -> list[int]:
        """Position in ``case.charging_points`` of each public station, in station order."""
        names = [point.name for point in self.case.charging_points]
        return [names.index(station) for station in self.stations]

    @property
    def price_groups(self) -> tuple[tuple[int, ...], ...]:
        """The DSO's price groups as charging-point positions (``case.charging_points``), in
        the order of their first point: the points at one bus of one feeder share a price when
        ``price_per = "bus"``, else each point is its own group."""
        points = self.case.charging_points
        if self.pricing is None or self.pricing.price_per == "station":
            return tuple((k,) for k in range(len(points)))
        groups: dict[tuple[str | None, int], list[int]] = {}
        for k, point in enumerate(points):
            groups.setdefault((point.feeder, point.bus), []).append(k)
        return tuple(tuple(members) for members in groups.values())


def dso_config_from_part(part: ScenarioPart) -> DsoConfig:
    """Validate the ``[dso]`` table: ``feeder``, the voltage band (``voltage_min_pu``,
    ``voltage_max_pu``), the DER case keys (ptn.engines.power.case_file) and the per-bus load
    shapes (``bus_load_profiles``, ptn.engines.power.bus_load_profiles)."""
    reader, table, where = part.reader, dict(part.data), part.role
    checked = validate_table(DsoTable, table, part.source, where)
    spec = checked.feeder
    pricing = None if checked.pricing is None else _pricing_settings(part, checked.pricing)
    for key in ("feeder", "pricing", "formulation", "feeder_workers", "bus_load_profiles"):
        table.pop(key, None)
    specs = spec if isinstance(spec, list) else [spec]
    feeders: list[Feeder] = []
    for position, item in enumerate(specs):
        at = f"{where}.feeder" + (f"[{position}]" if isinstance(spec, list) else "")
        name = None
        if isinstance(item, dict):  # {name = "north", case = "case18"}: a named copy
            named = validate_table(FeederItem, item, part.source, at)
            name, item = named.name, named.case
        if not isinstance(item, str) or not item.strip():
            reader.fail(at, f"expected a feeder name or path, or a table {{name, case}}, "
                            f"got {item!r}")
        candidate = part.resolve(item)
        try:
            loaded = load_feeders(str(candidate) if candidate.exists() else item)
        except InvalidInputError as error:
            reader.fail(at, str(error))
        if name is not None:  # a net with several supply points: one feeder each, name/k
            loaded = tuple(replace(feeder, name=name if len(loaded) == 1 else f"{name}/{k}")
                           for k, feeder in enumerate(loaded))
        feeders.extend(loaded)
    band = {key: table.pop(key) for key in VOLTAGE_BAND_KEYS if key in table}
    feeders = list(voltage_band_from_mapping(reader, band, where, tuple(feeders)))
    horizon = dict(table.get("horizon", {})) if isinstance(table.get("horizon"), dict) else None
    if horizon is not None:
        given = horizon.get("period_hours")
        if given is not None and given != part.public.period_hours:
            reader.fail(f"{where}.horizon.period_hours",
                        f"{given!r} differs from scenario.period_hours "
                        f"({part.public.period_hours:g})")
        horizon["period_hours"] = part.public.period_hours
        table["horizon"] = horizon
    case = dso_case_from_mapping(table, tuple(feeders), part.public.periods,
                                 label=f"{part.source}: {where}")
    if checked.bus_load_profiles is not None:
        case = _with_bus_load_profiles(part, case, checked.bus_load_profiles)
    names = [point.name for point in case.charging_points]
    for station in part.public.stations:
        if station not in names:
            reader.fail(f"{where}.charging_point",
                        f"no [[{where}.charging_point]] named {station!r} (listed in "
                        "scenario.stations)")
    for name in names:
        if name not in part.public.stations:
            reader.fail(f"{where}.charging_point",
                        f"charging point {name!r} is not in scenario.stations")
    return DsoConfig(part.operator_id, case, part.public.stations, pricing, checked.formulation,
                     checked.feeder_workers)


def _with_bus_load_profiles(part: ScenarioPart, case: DsoCase, value: str) -> DsoCase:
    """The case with ``[dso] bus_load_profiles``' per-bus load shapes (the table's path is
    relative to the scenario file; its errors name the key, the file, the line and the bus)."""
    at = f"{part.role}.bus_load_profiles"
    path = part.resolve(value, at)
    # the table's periods are the scenario file's; --periods resamples them like a profile
    file_periods = part.public.file_periods or case.periods
    try:
        profiles = read_bus_load_profiles(path, case.feeders, file_periods)
        if file_periods != case.periods:
            profiles = tuple(replace(profile, multipliers=resample_periods(
                profile.multipliers, case.periods, "a bus load profile table"))
                for profile in profiles)
        shaped = replace(case, bus_load_profiles=profiles)
        validate_case(shaped)
    except InvalidInputError as error:
        part.reader.fail(at, str(error))
    return shaped


def _pricing_settings(part: ScenarioPart, table: DsoPricing) -> PricingSettings:
    """``[dso.pricing]`` (the schema checked each key) with the checks relating its keys."""
    reader, where = part.reader, f"{part.role}.pricing"
    try:
        limits = PriceLimits(table.price_min_per_mwh, table.price_max_per_mwh,
                             table.mean_cap_per_mwh)
    except InvalidInputError as error:
        reader.fail(where, str(error))
    bounds = (limits.price_min_per_mwh, limits.price_max_per_mwh)
    draw_range = {
        "trial_price_min_per_mwh": limits.price_min_per_mwh
        if table.trial_price_min_per_mwh is None else table.trial_price_min_per_mwh,
        "trial_price_max_per_mwh": limits.mean_cap_per_mwh
        if table.trial_price_max_per_mwh is None else table.trial_price_max_per_mwh}
    for key, value in draw_range.items():
        if not bounds[0] <= value <= bounds[1]:
            reader.fail(f"{where}.{key}", f"{value:g} is outside the price bounds "
                                          f"[price_min_per_mwh, price_max_per_mwh] = "
                                          f"[{bounds[0]:g}, {bounds[1]:g}]")
    if draw_range["trial_price_min_per_mwh"] > draw_range["trial_price_max_per_mwh"]:
        reader.fail(f"{where}.trial_price_min_per_mwh",
                    f"{draw_range['trial_price_min_per_mwh']:g} exceeds "
                    f"trial_price_max_per_mwh ({draw_range['trial_price_max_per_mwh']:g})")
    draw = TrialDraw(draw_range["trial_price_min_per_mwh"], draw_range["trial_price_max_per_mwh"])
    return PricingSettings(limits=limits, proximal_weight=table.proximal_weight,
                           trial_rounds=table.trial_rounds, seed=table.seed, trial_draw=draw,
                           price_per=table.price_per)
