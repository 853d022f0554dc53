"""Converting between protobuf messages and the numpy values the models compute with.

Why this module exists: the schema (``protos/negotiation/v1``) is the privacy boundary, and both
sides of it (operators' hosts and the coordinator) turn :class:`StationSeries` into arrays and
back. Doing it in one place keeps the station-name checks (a series naming an unknown station,
missing one, or with the wrong number of values is refused naming the station) identical
everywhere. An ADMM step decodes into the engines' one statement of the coupling,
:class:`ptn.engines.coupling.CouplingTerms`, whose bounds refuse hostile magnitudes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ptn.engines.coupling import CouplingSide, CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.protocol.v1 import common_pb2

FloatArray = NDArray[np.float64]
SCHEMA = "negotiation.v1"


def to_series(stations: Sequence[str], values: ArrayLike) -> common_pb2.StationSeries:
    """A (stations, periods) array as a :class:`StationSeries` (row-major)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != len(stations):
        raise InvalidInputError(
            f"a station series needs shape ({len(stations)}, periods), got {array.shape}"
        )
    return common_pb2.StationSeries(stations=list(stations), periods=array.shape[1],
                                    values=array.ravel().tolist())


def from_series(series: common_pb2.StationSeries, stations: Sequence[str], periods: int,
                what: str, bound: float | None = None, unit: str = "") -> FloatArray:
    """A :class:`StationSeries` as a (stations, periods) array in the order of ``stations``.

    Refuses (naming the station) series that miss a station, name an unknown one or twice,
    have another number of periods, non-finite values, or (given ``bound``, in ``unit``)
    values beyond ``±bound`` (a message from the network is hostile until validated: a finite
    1e300 overflows an engine as surely as an infinity).
    """
    if len(series.stations) > len(stations):
        raise InvalidInputError(f"{what}: {len(series.stations)} stations, expected "
                                f"{len(stations)}")
    names = list(series.stations)
    if series.periods != periods:
        raise InvalidInputError(f"{what}: {series.periods} periods, expected {periods}")
    if len(series.values) != len(names) * periods:
        raise InvalidInputError(
            f"{what}: {len(series.values)} values for {len(names)} stations x {periods} periods"
        )
    position = {}
    for index, name in enumerate(names):
        if name in position:
            raise InvalidInputError(f"{what}: station {name} appears twice")
        if name not in stations:
            raise InvalidInputError(f"{what}: unknown station {name}")
        position[name] = index
    missing = [name for name in stations if name not in position]
    if missing:
        raise InvalidInputError(f"{what}: station {missing[0]} is missing")
    matrix = np.asarray(series.values, dtype=np.float64).reshape(len(names), periods)
    ordered = matrix[[position[name] for name in stations]]
    bad = np.argwhere(~np.isfinite(ordered))
    if bad.size:
        s, t = (int(v) for v in bad[0])
        raise InvalidInputError(f"{what}: value for station {stations[s]} in period {t} is "
                                "not finite")
    if bound is not None:
        beyond = np.argwhere(np.abs(ordered) > bound)
        if beyond.size:
            s, t = (int(v) for v in beyond[0])
            units = f" {unit}" if unit else ""
            raise InvalidInputError(f"{what}: value for station {stations[s]} in period {t} is "
                                    f"{ordered[s, t]:g}{units}, beyond ±{bound:g}{units}")
    return ordered


def reply_header(request_header: common_pb2.RequestHeader, operator_id: str,
                 status: common_pb2.Status = common_pb2.STATUS_OK, message: str = "",
                 seconds: float = 0.0) -> common_pb2.ReplyHeader:
    """The header of a reply to a request with ``request_header``."""
    return common_pb2.ReplyHeader(request_id=request_header.request_id, operator_id=operator_id,
                                  status=status, message=message, solve_seconds=seconds)


def operator_info(*, role: str, operator_id: str, stations: Sequence[str], periods: int,
                  period_hours: float) -> common_pb2.OperatorInfo:
    """An operator's public description (the body of the reply to ``Describe``)."""
    return common_pb2.OperatorInfo(role=role, operator_id=operator_id, stations=list(stations),
                                   periods=periods, period_hours=period_hours, schema=SCHEMA)


def coupling_terms(request: common_pb2.ConsensusStep, stations: Sequence[str], periods: int, *,
                   period_hours: float, side: CouplingSide) -> CouplingTerms:
    """An ADMM step's (λ, ρ, z) as ``side``'s coupling terms over the operator's ``stations``
    (rows in that order) and periods of ``period_hours``; malformed series, a negative or
    non-finite penalty and magnitudes beyond the terms' bounds are refused naming the field."""
    price = from_series(request.price_per_mwh, stations, periods, "price_per_mwh")
    target = from_series(request.target_load_mw, stations, periods, "target_load_mw")
    return CouplingTerms(price, float(request.penalty_per_mw2h), target, period_hours, side,
                         tuple(stations))
