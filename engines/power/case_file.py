"""A DSO's horizon as data: the DER case file (TOML) and the EV charging-load file (CSV).

The DER file describes everything a :class:`~ptn.engines.power.der.DsoCase` holds besides the
feeders (which come from the command line): the horizon, the upstream tariff and the devices.
Its keys mirror the dataclasses of :mod:`ptn.engines.power.der` field for field, in the same units
(MW, MVAr, MWh, currency/MWh, hours)::

    [horizon]
    period_hours = 1.0                    # default 24 / periods (1 for one period)
    load_profile = "rts-winter-weekday"   # built-in name, or a list (24 hourly or one per period)

    [upstream]
    tariff = "seed002-tou"                # or "shipped" (the feeder's own cost; default)
    # prices_per_mwh = [ ... ]            # instead of tariff: 24 hourly or one per period
    loss_price_per_mwh = 0.0

    [[micro_turbine]]                     # also [[storage]], [[pv]], [[wind]],
    name = "mt14"                         # [[demand_response]], [[charging_point]]
    bus = 14
    p_max_mw = 0.5

A scenario's ``[dso]`` table adds a voltage band, ``voltage_min_pu`` and ``voltage_max_pu``
(:func:`voltage_band_from_mapping`): the operator's planning band, e.g. 0.95–1.05 p.u. in seed
002 and 0.91–1.05 in seed 003. It replaces the per-bus limits that the feeder's source file
carries (case33bw ships 0.9–1.1) at every bus but the slack (whose voltage is fixed); either
key alone replaces only that side. Both must be finite and positive, and the lower below the
upper (:meth:`~ptn.engines.power.feeder.Feeder.with_voltage_band`).

Every problem is reported as one :class:`~ptn.engines.errors.InvalidInputError` naming the file and
the key path, e.g. ``der.toml: micro_turbine[2].p_max_mw: expected a number, got "x"`` (tables
of an array are counted from 1 in file order); TOML syntax errors name ``file:line:column``.
After the file is read, :func:`~ptn.engines.power.der.validate_case` checks bounds and references,
and its messages are prefixed with the file name.

Defaults that depend on the horizon (:func:`default_period_hours`, :func:`default_load_shape`):
several periods split one day (``period_hours = 24 / periods``) and the loads follow
``rts-winter-weekday``; one period is the feeder's shipped snapshot costed for one hour
(``period_hours = 1``, ``flat`` loads), MATPOWER's $/h OPF. A PV unit's ``profile`` defaults to
``solar`` and a wind unit's to ``wind``. Built-in daily shapes are time-averaged to the horizon
(see :mod:`ptn.engines.power.profiles`; for one period, their daily mean).

The charging-load file (:func:`read_charging_csv`) is a wide CSV: a header ``period,<point>,...``
naming every charging point of the case once, then one row per period ``0 … periods−1``
(any order), each value the point's charging load in MW during that period.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.der import (
    ChargingPoint,
    DemandResponse,
    DsoCase,
    MicroTurbine,
    Renewable,
    Storage,
    validate_case,
)
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.profiles import HOURS, seed002_time_of_use
from ptn.engines.toml_keys import KeyReader, read_toml_document, show_value

FloatArray = NDArray[np.float64]

#: upstream tariffs a file may name
TARIFFS = ("seed002-tou", "shipped")

#: array-of-tables name → (dataclass, renewable kind or None)
DEVICE_TABLES: dict[str, tuple[type[Any], str | None]] = {
    "micro_turbine": (MicroTurbine, None),
    "storage": (Storage, None),
    "pv": (Renewable, "pv"),
    "wind": (Renewable, "wind"),
    "demand_response": (DemandResponse, None),
    "charging_point": (ChargingPoint, None),
}

HORIZON_KEYS = ("period_hours", "load_profile")
UPSTREAM_KEYS = ("tariff", "prices_per_mwh", "loss_price_per_mwh")
TOP_LEVEL_KEYS = ("horizon", "upstream", *DEVICE_TABLES)
#: keys of the voltage band (:func:`voltage_band_from_mapping`)
VOLTAGE_BAND_KEYS = ("voltage_min_pu", "voltage_max_pu")

#: device fields that are not plain numbers; every other field is a float
_TEXT_FIELDS = frozenset({"name", "feeder"})
_INTEGER_FIELDS = frozenset({"bus"})
_BOOLEAN_FIELDS = frozenset({"curtailable", "reactive_support"})
_PROFILE_FIELDS = frozenset({"profile"})
#: fields the table name fixes (a [[pv]] table is a Renewable of kind "pv")
_IMPLIED_FIELDS = frozenset({"kind"})

_DEFAULT_RENEWABLE_PROFILE = {"pv": "solar", "wind": "wind"}


def device_keys(table: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(allowed keys, required keys) of a device table, taken from its dataclass's fields."""
    cls, _ = DEVICE_TABLES[table]
    fields = [f for f in dataclasses.fields(cls) if f.name not in _IMPLIED_FIELDS]
    allowed = tuple(f.name for f in fields)
    required = tuple(
        f.name for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        and f.name not in _PROFILE_FIELDS
    )
    return allowed, required


def default_period_hours(periods: int) -> float:
    """Period length when none is given: one day split in ``periods``; one period lasts 1 h."""
    return 1.0 if periods == 1 else HOURS / periods


def default_load_shape(periods: int) -> str:
    """Built-in load shape when none is given: the daily RTS shape, flat for one period."""
    return "flat" if periods == 1 else "rts-winter-weekday"


def read_dso_case_toml(path: str | Path, feeders: tuple[Feeder, ...], periods: int) -> DsoCase:
    """Read a DER case file into a validated :class:`DsoCase` over ``feeders`` and ``periods``.

    Raises :class:`InvalidInputError` naming the file and the key path (or line) at fault.
    """
    document = read_toml_document(path, "DER file")
    return dso_case_from_mapping(document, feeders, periods, label=str(path))


def dso_case_from_mapping(
    document: dict[str, Any], feeders: tuple[Feeder, ...], periods: int, *, label: str
) -> DsoCase:
    """Build and validate a :class:`DsoCase` from a parsed DER document; ``label`` names it."""
    if periods < 1:
        raise InvalidInputError(f"periods must be at least 1, got {periods}")
    reader = KeyReader(label)
    reader.check_keys(document, "", TOP_LEVEL_KEYS)
    horizon = reader.table(document, "horizon")
    reader.check_keys(horizon, "horizon", HORIZON_KEYS)
    upstream = reader.table(document, "upstream")
    reader.check_keys(upstream, "upstream", UPSTREAM_KEYS)

    period_hours = reader.number(horizon, "horizon", "period_hours",
                                 default=default_period_hours(periods))
    if not period_hours > 0:
        reader.fail("horizon.period_hours", f"must be positive, got {show_value(period_hours)}")
    load_profile = reader.profile(horizon, "horizon", "load_profile", periods,
                                  default_load_shape(periods), nonnegative=True)

    prices = _upstream_prices(reader, upstream, periods)
    loss_price = reader.number(upstream, "upstream", "loss_price_per_mwh", default=0.0)

    shell = DsoCase(feeders=feeders, periods=periods, period_hours=period_hours,
                    load_profile=load_profile)
    devices: dict[str, list[Any]] = {table: [] for table in DEVICE_TABLES}
    for table in DEVICE_TABLES:
        for index, entry in enumerate(reader.array_of_tables(document, table), start=1):
            devices[table].append(_device(reader, shell, table, index, entry, periods))

    case = DsoCase(
        feeders=feeders,
        periods=periods,
        period_hours=period_hours,
        load_profile=load_profile,
        micro_turbines=tuple(devices["micro_turbine"]),
        storage=tuple(devices["storage"]),
        renewables=(*devices["pv"], *devices["wind"]),
        demand_response=tuple(devices["demand_response"]),
        charging_points=tuple(devices["charging_point"]),
        upstream_price_per_mwh=prices,
        loss_price_per_mwh=loss_price,
    )
    try:
        validate_case(case)
    except InvalidInputError as error:
        raise InvalidInputError(f"{label}: {error}") from error
    return case


def voltage_band_from_mapping(
    reader: KeyReader, mapping: dict[str, Any], where: str, feeders: tuple[Feeder, ...]
) -> tuple[Feeder, ...]:
    """The feeders with the voltage band of ``mapping`` (keys :data:`VOLTAGE_BAND_KEYS`, p.u.;
    absent keys keep the feeders' own limits). Errors name ``where.key``."""
    band: dict[str, float] = {}
    for name in VOLTAGE_BAND_KEYS:
        if name not in mapping:
            continue
        key = f"{where}.{name}" if where else name
        value = mapping[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            reader.fail(key, f"expected a voltage in p.u., got {show_value(value)}")
        if not (math.isfinite(value) and value > 0):
            reader.fail(key, f"must be a finite positive voltage in p.u., got {show_value(value)}")
        band[name] = float(value)
    if not band:
        return feeders
    low, high = band.get("voltage_min_pu"), band.get("voltage_max_pu")
    prefix = f"{where}." if where else ""
    if low is not None and high is not None and not low < high:
        reader.fail(f"{prefix}voltage_min_pu",
                    f"{low:g} p.u. must be below voltage_max_pu ({high:g} p.u.)")
    banded = []
    for feeder in feeders:
        try:
            banded.append(feeder.with_voltage_band(low, high))
        except InvalidInputError as error:  # one side given, crossing the feeder's other side
            key = "voltage_min_pu" if low is not None else "voltage_max_pu"
            reader.fail(f"{prefix}{key}", f"{error} (the other side is the feeder's own limit)")
    return tuple(banded)


def _upstream_prices(
    reader: KeyReader, upstream: dict[str, Any], periods: int
) -> FloatArray | None:
    if "tariff" in upstream and "prices_per_mwh" in upstream:
        reader.fail("upstream", "give either 'tariff' or 'prices_per_mwh', not both")
    if "prices_per_mwh" in upstream:
        if not isinstance(upstream["prices_per_mwh"], list):
            reader.fail("upstream.prices_per_mwh", "expected a list of prices (24 hourly or one "
                        f"per period), got {show_value(upstream['prices_per_mwh'])}")
        return reader.profile(upstream, "upstream", "prices_per_mwh", periods, None,
                              nonnegative=False)
    tariff = reader.text(upstream, "upstream", "tariff", default="shipped")
    if tariff == "shipped":
        return None
    if tariff == "seed002-tou":
        try:
            return seed002_time_of_use(periods)
        except InvalidInputError as error:
            reader.fail("upstream.tariff", str(error))
    reader.fail("upstream.tariff",
                f"unknown tariff {tariff!r} (allowed: {', '.join(TARIFFS)}; or give "
                "prices_per_mwh)")
    raise AssertionError("unreachable")  # pragma: no cover


def _device(
    reader: KeyReader, shell: DsoCase, table: str, index: int, entry: dict[str, Any], periods: int
) -> Any:
    """One device from its table, with types checked and its feeder and bus located."""
    cls, kind = DEVICE_TABLES[table]
    where = f"{table}[{index}]"
    allowed, required = device_keys(table)
    reader.check_keys(entry, where, allowed)
    for key in required:
        if key not in entry:
            reader.fail(where, f"missing required key '{key}'")
    values: dict[str, Any] = {}
    for key in entry:
        if key in _TEXT_FIELDS:
            values[key] = reader.text(entry, where, key)
            if not values[key].strip():
                reader.fail(f"{where}.{key}", "must not be empty")
        elif key in _INTEGER_FIELDS:
            values[key] = reader.integer(entry, where, key)
        elif key in _BOOLEAN_FIELDS:
            values[key] = reader.boolean(entry, where, key)
        elif key not in _PROFILE_FIELDS:
            default = next(f.default for f in dataclasses.fields(cls) if f.name == key)
            may_be_infinite = isinstance(default, float) and math.isinf(default)
            values[key] = reader.number(entry, where, key, allow_infinite=may_be_infinite)
    if kind is not None:
        values["kind"] = kind
        values["profile"] = reader.profile(entry, where, "profile", periods,
                                           _DEFAULT_RENEWABLE_PROFILE[kind], nonnegative=True)
    # locate the device now, so an unknown feeder or bus names its key
    try:
        feeder_position = shell.feeder_position(
            values.get("feeder"), f"{where}.feeder" if "feeder" in values else where
        )
    except InvalidInputError as error:
        raise InvalidInputError(f"{reader.label}: {error}") from error
    feeder = shell.feeders[feeder_position]
    bus = values["bus"]
    try:
        _, bus_position = shell.locate(values.get("feeder"), bus, f"{where}.bus")
    except InvalidInputError as error:
        raise InvalidInputError(f"{reader.label}: {error}") from error
    if table == "demand_response" and not feeder.load_p_mw[bus_position] > 0:
        reader.fail(f"{where}.bus", f"bus {bus} of feeder {feeder.name} has no load to shift")
    return cls(**values)


def read_charging_csv(
    path: str | Path,
    point_names: Sequence[str],
    periods: int,
    *,
    max_mw: Sequence[float] | None = None,
) -> FloatArray:
    """EV charging loads (MW) from a wide CSV, as an array ``[point, period]``.

    Header ``period,<point name>,...`` with every name of ``point_names`` exactly once (any
    order); then one row per period ``0 … periods−1`` (any order, each once), values finite and
    non-negative and, when ``max_mw`` (one per point) is given, at most the point's limit.
    Blank lines are skipped. Errors name ``file:line`` and the column.
    """
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        reason = error.strerror or str(error)
        raise InvalidInputError(f"cannot read charging file {label}: {reason.lower()}") from error
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{label}: not UTF-8 text") from error
    loads = np.full((len(point_names), periods), np.nan)
    seen_at: dict[int, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    columns: list[int] = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            if header is None:
                header = cells
                columns = _charging_header(label, line, header, point_names)
                continue
            if len(cells) != len(header):
                raise InvalidInputError(
                    f"{label}:{line}: expected {len(header)} fields, got {len(cells)}"
                )
            period = _period_cell(label, line, cells[0], periods)
            if period in seen_at:
                raise InvalidInputError(
                    f"{label}:{line}: period {period} already given on line {seen_at[period]}"
                )
            seen_at[period] = line
            for cell_index, point in enumerate(columns, start=1):
                value = _load_cell(label, line, header[cell_index], cells[cell_index])
                if max_mw is not None and value > max_mw[point]:
                    raise InvalidInputError(
                        f"{label}:{line}: column {header[cell_index]!r}: {cells[cell_index]} MW "
                        f"exceeds the charging point's max_mw {max_mw[point]:g}"
                    )
                loads[point, period] = value
    except csv.Error as error:
        raise InvalidInputError(f"{label}:{reader.line_num}: {error}") from error
    if header is None:
        raise InvalidInputError(f"{label}: empty file; expected a header period,"
                                f"{','.join(point_names)}")
    missing = [t for t in range(periods) if t not in seen_at]
    if missing:
        shown = ", ".join(str(t) for t in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InvalidInputError(
            f"{label}: no row for period {shown} (need periods 0 to {periods - 1})"
        )
    return loads


def _charging_header(
    label: str, line: int, header: list[str], point_names: Sequence[str]
) -> list[int]:
    """Position in ``point_names`` of each column after ``period``."""
    if not header or header[0] != "period":
        first = header[0] if header else ""
        raise InvalidInputError(
            f"{label}:{line}: the first column must be 'period', got {first!r}"
        )
    columns: list[int] = []
    for name in header[1:]:
        if name not in point_names:
            known = ", ".join(point_names) if point_names else "none"
            raise InvalidInputError(
                f"{label}:{line}: column {name!r} is not a charging point (points: {known})"
            )
        if point_names.index(name) in columns:
            raise InvalidInputError(f"{label}:{line}: column {name!r} appears twice")
        columns.append(point_names.index(name))
    absent = [name for k, name in enumerate(point_names) if k not in columns]
    if absent:
        raise InvalidInputError(
            f"{label}:{line}: no column for charging point {absent[0]!r}"
        )
    return columns


def _period_cell(label: str, line: int, cell: str, periods: int) -> int:
    try:
        period = int(cell)
    except ValueError:
        raise InvalidInputError(
            f"{label}:{line}: column 'period': expected an integer, got {cell!r}"
        ) from None
    if not 0 <= period < periods:
        raise InvalidInputError(
            f"{label}:{line}: column 'period': {period} is outside 0 to {periods - 1}"
        )
    return period


def _load_cell(label: str, line: int, column: str, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise InvalidInputError(
            f"{label}:{line}: column {column!r}: expected a load in MW, got {cell!r}"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise InvalidInputError(
            f"{label}:{line}: column {column!r}: the load must be finite and >= 0, got {cell}"
        )
    return value
