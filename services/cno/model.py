"""A charging network operator's model: its stations' prices in seed 001's price game.

Why this module exists: a CNO holds its stations, its price bounds and what it pays the DSO, and
tells the coordinator only its prices (and, for the ε-Nash certificate, its own revenue);
it never sees the road network (MODELS.md §0, §3). This is its pure model (numpy and the games
engine; no grpc, no ray), built from its own ``[cno.<id>]`` table.

A best response is an exchange (:class:`ptn.protocol.v1.games_pb2.PriceGameTurn`): the CNO
answers a turn with *probes* (prices of its stations whose equilibrium loads it needs), the
coordinator has the traffic department answer them (completing each probe with the other CNOs'
prices in force) and sends the turn again with the loads, until the CNO answers with its prices.
The search itself is :mod:`ptn.engines.games.cno_response`: the elasticity-matrix approximation
(AEM, seed 001 eqs. 28–31) or the exact derivative-free search. The derived operator
``cno-alliance`` (every CNO merged, the cooperative game) is the same model over its members'
stations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response import (
    BestResponse,
    BestResponseSearch,
    CnoPricing,
    aem_best_response,
    exact_best_response,
)
from ptn.protocol.codec import describe_reply, from_series, reply_header, to_series
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.scenario.document import ScenarioPart, require_integer, require_number

CNO_KEYS = ("stations", "price_min_per_mwh", "price_max_per_mwh", "best_response", "elasticity",
            "aem_steps", "probe_step_per_mwh", "trust_region_per_mwh", "exact_min_step_per_mwh")
METHODS = ("aem", "exact")
ELASTICITIES = ("per-period", "full")
_METHOD_OF_REQUEST = {games_pb2.BEST_RESPONSE_METHOD_AEM: "aem",
                      games_pb2.BEST_RESPONSE_METHOD_EXACT: "exact"}


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
    )


@dataclass
class _Turn:
    """A best-response search in progress and the probes it is waiting for."""

    search: BestResponseSearch
    waiting_for: int


class CnoModel:
    """A CNO behind the ``CnoOperator`` service (pure model)."""

    role = "cno"

    def __init__(self, config: CnoConfig) -> None:
        self.config = config
        self.operator_id = config.operator_id
        self._turn: _Turn | None = None
        self.last_response: BestResponse | None = None

    @classmethod
    def from_part(cls, part: ScenarioPart, private_output_dir: Path | None = None) -> CnoModel:
        """Its model from its scenario part (it writes no private report)."""
        return cls(cno_config_from_part(part))

    @property
    def stations(self) -> tuple[str, ...]:
        return self.config.stations

    @property
    def periods(self) -> int:
        return self.config.periods

    # ------------------------------------------------------------------ service methods
    def describe(self, request: common_pb2.DescribeRequest) -> common_pb2.DescribeReply:
        """Its own stations (the ones it prices), the horizon."""
        return describe_reply(request, role=self.role, operator_id=self.operator_id,
                              stations=self.stations, periods=self.periods,
                              period_hours=self.config.pricing.period_hours)

    def best_respond(self, request: games_pb2.PriceGameTurn) -> games_pb2.PriceGameMove:
        """One step of its turn: start a search, or feed it the probes' loads."""
        started = time.perf_counter()
        if not request.probe_load_mw:
            self._turn = None  # a new turn drops any unfinished one, even if this one is invalid
            self._turn = _Turn(self._start(request), 0)
            batch = next(self._turn.search)
            return self._ask(request.header, batch, started)
        turn = self._turn
        if turn is None:
            raise InvalidInputError("probe_load_mw: no turn of this CNO is in progress")
        if len(request.probe_load_mw) != turn.waiting_for:
            raise InvalidInputError(f"probe_load_mw: {len(request.probe_load_mw)} responses, "
                                    f"but {turn.waiting_for} probes were asked")
        loads = [from_series(series, self.stations, self.periods, f"probe_load_mw[{k}]")
                 for k, series in enumerate(request.probe_load_mw)]
        try:
            batch = turn.search.send(loads)
        except StopIteration as finished:
            self._turn = None
            response: BestResponse = finished.value
            self.last_response = response
            header = reply_header(request.header, self.operator_id,
                                  seconds=time.perf_counter() - started)
            return games_pb2.PriceGameMove(
                header=header, price_per_mwh=to_series(self.stations, response.price_per_mwh),
                revenue=response.revenue_usd, start_revenue=response.start_revenue_usd,
                probes=response.probes)
        return self._ask(request.header, batch, started)

    # ------------------------------------------------------------------ helpers
    def _start(self, request: games_pb2.PriceGameTurn) -> BestResponseSearch:
        config = self.config
        purchase = from_series(request.purchase_price_per_mwh, self.stations, self.periods,
                               "purchase_price_per_mwh")
        start = from_series(request.current_price_per_mwh, self.stations, self.periods,
                            "current_price_per_mwh")
        start = np.clip(start, config.pricing.price_min_per_mwh,
                        config.pricing.price_max_per_mwh)
        method = _METHOD_OF_REQUEST.get(request.method, config.method)
        if method == "exact":
            return exact_best_response(config.pricing, purchase, start,
                                       min_step_per_mwh=config.exact_min_step_per_mwh)
        return aem_best_response(
            config.pricing, purchase, start, elasticity=config.elasticity,  # type: ignore[arg-type]
            probe_step_per_mwh=config.probe_step_per_mwh, max_steps=config.aem_steps,
            trust_region_per_mwh=config.trust_region_per_mwh)

    def _ask(self, header: common_pb2.RequestHeader, batch: list[np.ndarray],
             started: float) -> games_pb2.PriceGameMove:
        assert self._turn is not None
        self._turn.waiting_for = len(batch)
        reply = reply_header(header, self.operator_id, seconds=time.perf_counter() - started)
        return games_pb2.PriceGameMove(
            header=reply, probe_price_per_mwh=[to_series(self.stations, p) for p in batch])
