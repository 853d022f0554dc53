"""A charging network operator's model: its stations' prices in seed 001's price game.

Why this module exists: a CNO holds its stations, its price bounds and what it pays the DSO, and
tells the coordinator only its prices (and, for the ε-Nash certificate, its own revenue);
it never sees the road network (MODELS.md §0, §3). This is its pure model (numpy and the games
engine; no protobuf, grpc or ray), built from its own ``[cno.<id>]`` table
(:mod:`ptn.services.cno.config`); it implements :class:`ptn.services.cno.contract.CnoOperator`.

A best response is an exchange: the CNO answers a turn with *probes* (prices of its stations
whose equilibrium loads it needs), the coordinator has the traffic department answer them
(completing each probe with the other CNOs' prices in force) and sends the loads back, until the
CNO answers with its prices. The search itself is :mod:`ptn.engines.games.cno_response`: the
elasticity-matrix approximation (AEM, seed 001 eqs. 28–31) or the exact derivative-free search;
the certificate's search (the coordinator's ``exact`` method) is the compass search or, with
``certificate_search = "verified"``, the model-guided search whose candidates are each verified
by the traffic department (:mod:`ptn.engines.games.cno_response.verified`).
The derived operator ``cno-alliance`` (every CNO merged, the cooperative game) is the same
model over its members' stations.

State (:meth:`CnoModel.snapshot`): its turn in progress as its start and the probe answers it
was given (the search is deterministic, so :meth:`CnoModel.restore` replays them), and its last
best response.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response import (
    BestResponse,
    BestResponseSearch,
    aem_best_response,
    exact_best_response,
    verified_best_response,
)
from ptn.engines.games.cno_response.trust_region import AdaptiveTrustRegion
from ptn.scenario.document import ScenarioPart
from ptn.services.cno.config import METHODS, CnoConfig, cno_config_from_part
from ptn.services.cno.contract import GameMove, TurnStart
from ptn.services.contract import FloatArray, OperatorDescription
from ptn.services.observations import check_station_loads
from ptn.services.snapshot import float_matrices, float_matrix, require_keys

#: the arrays of a :class:`BestResponse`, and its other fields, in its snapshot
_RESPONSE_ARRAYS = ("price_per_mwh", "load_mw")


@dataclass
class _Turn:
    """A best-response search in progress, how it started, and the probe answers it got."""

    start: TurnStart
    search: BestResponseSearch
    waiting_for: int
    answers: list[list[FloatArray]] = field(default_factory=list)


class CnoModel:
    """A CNO's pure model (implements :class:`ptn.services.cno.contract.CnoOperator`)."""

    role = "cno"

    def __init__(self, config: CnoConfig) -> None:
        self.config = config
        self.operator_id = config.operator_id
        self._turn: _Turn | None = None
        self.last_response: BestResponse | None = None
        #: the AEM's radius per price, adapted from round to round (trust_region_shrink)
        self.trust_region = None if config.trust_region_shrink is None or \
            config.trust_region_per_mwh is None else AdaptiveTrustRegion(
                config.trust_region_per_mwh, config.trust_region_shrink,
                (len(config.stations), config.periods))

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

    # ------------------------------------------------------------------ the service
    def describe(self) -> OperatorDescription:
        """Its own stations (the ones it prices), the horizon."""
        return OperatorDescription(self.role, self.operator_id, self.stations, self.periods,
                                   self.config.pricing.period_hours)

    def start_turn(self, turn: TurnStart) -> GameMove:
        """Start a search from its current prices (clipped to its bounds): its first probes."""
        pricing = self.config.pricing
        method = self.config.method if turn.method is None else turn.method
        if method not in METHODS:
            raise InvalidInputError(f"method: unknown best-response method {method!r} "
                                    f"(allowed: {', '.join(METHODS)})")
        start = TurnStart(np.array(turn.purchase_price_per_mwh, dtype=np.float64),
                          np.clip(turn.current_price_per_mwh, pricing.price_min_per_mwh,
                                  pricing.price_max_per_mwh), method)
        search = self._search(start)
        try:
            batch = next(search)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
            raise InvalidInputError(f"purchase_price_per_mwh: no search starts from these "
                                    f"prices ({type(error).__name__}: {error})") from None
        self._turn = _Turn(start, search, len(batch))
        return GameMove(probe_price_per_mwh=tuple(batch))

    def expect_probes(self, count: int) -> None:
        if self._turn is None:
            raise InvalidInputError("probe_load_mw: no turn of this CNO is in progress")
        if count != self._turn.waiting_for:
            raise InvalidInputError(f"probe_load_mw: {count} responses, but "
                                    f"{self._turn.waiting_for} probes were asked")

    def answer_probes(self, load_mw: Sequence[FloatArray]) -> GameMove:
        """Feed its search the probes' loads: its next probes, or its best response."""
        self.expect_probes(len(load_mw))
        turn = self._turn
        assert turn is not None
        loads = [np.array(load, dtype=np.float64) for load in load_mw]
        for k, load in enumerate(loads):
            check_station_loads(load, self.stations, f"probe_load_mw[{k}]")
        try:
            batch = turn.search.send(loads)
        except StopIteration as finished:
            response: BestResponse | None = finished.value
            if response is None or not _finite_response(response):
                self._replay(turn)
                raise InvalidInputError("probe_load_mw: these loads give no finite best "
                                        "response") from None
            self._turn = None
            self.last_response = response
            if self.trust_region is not None and turn.start.method != "exact":
                self.trust_region.record(response.price_per_mwh
                                         - turn.start.current_price_per_mwh)
            return GameMove(price_per_mwh=response.price_per_mwh,
                            revenue_usd=response.revenue_usd,
                            start_revenue_usd=response.start_revenue_usd,
                            probes=response.probes)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
            # the search died on these loads: the turn goes on from before them
            self._replay(turn)
            raise InvalidInputError(f"probe_load_mw: the search cannot use these loads "
                                    f"({type(error).__name__}: {error})") from None
        turn.answers.append(loads)
        turn.waiting_for = len(batch)
        return GameMove(probe_price_per_mwh=tuple(batch))

    def _replay(self, turn: _Turn) -> None:
        """Rebuild a turn's search from its start and the answers it had taken (a search
        generator that raised cannot go on)."""
        self.start_turn(turn.start)
        for answers in turn.answers:
            self.answer_probes(answers)

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        turn = None
        if self._turn is not None:
            start = self._turn.start
            turn = {"purchase_price_per_mwh": start.purchase_price_per_mwh.tolist(),
                    "current_price_per_mwh": start.current_price_per_mwh.tolist(),
                    "method": start.method,
                    "answers": [[load.tolist() for load in batch]
                                for batch in self._turn.answers]}
        response = None
        if self.last_response is not None:
            response = {key: value.tolist() if key in _RESPONSE_ARRAYS else value
                        for key, value in asdict(self.last_response).items()}
        return {"turn": turn, "last_response": response,
                "trust_region": None if self.trust_region is None
                else self.trust_region.state()}

    def restore(self, state: dict[str, Any]) -> None:
        require_keys(state, ("turn", "last_response"), "CNO state")
        shape = (len(self.stations), self.periods)
        self._turn, self.last_response = None, None
        if self.trust_region is not None and state.get("trust_region") is not None:
            self.trust_region.restore(state["trust_region"])
        if state["last_response"] is not None:
            self.last_response = _response_from_json(state["last_response"], shape)
        turn = state["turn"]
        if turn is None:
            return
        require_keys(turn, ("purchase_price_per_mwh", "current_price_per_mwh", "method",
                            "answers"), "turn")
        start = TurnStart(float_matrix(turn["purchase_price_per_mwh"], shape,
                                       "turn.purchase_price_per_mwh"),
                          float_matrix(turn["current_price_per_mwh"], shape,
                                       "turn.current_price_per_mwh"),
                          turn["method"] if isinstance(turn["method"], str) else None)
        answers = turn["answers"]
        if not isinstance(answers, list):
            raise InvalidInputError("turn.answers: expected a list")
        self.start_turn(start)
        for k, batch in enumerate(answers):
            self.answer_probes(float_matrices(batch, shape, f"turn.answers[{k}]"))
            if self._turn is None:
                raise InvalidInputError("turn.answers: the search ended before its answers")

    # ------------------------------------------------------------------ helpers
    def _search(self, start: TurnStart) -> BestResponseSearch:
        config = self.config
        if start.method == "exact" and config.certificate_search == "verified":
            return verified_best_response(
                config.pricing, start.purchase_price_per_mwh, start.current_price_per_mwh,
                probe_step_per_mwh=config.probe_step_per_mwh,
                min_step_per_mwh=config.exact_min_step_per_mwh,
                poll_step_per_mwh=config.certificate_poll_step_per_mwh)
        if start.method == "exact":
            return exact_best_response(config.pricing, start.purchase_price_per_mwh,
                                       start.current_price_per_mwh,
                                       min_step_per_mwh=config.exact_min_step_per_mwh)
        return aem_best_response(
            config.pricing, start.purchase_price_per_mwh, start.current_price_per_mwh,
            elasticity=config.elasticity,  # type: ignore[arg-type]
            probe_step_per_mwh=config.probe_step_per_mwh, max_steps=config.aem_steps,
            trust_region_per_mwh=config.trust_region_per_mwh if self.trust_region is None
            else self.trust_region.radius.copy(),
            measure_final=config.aem_measure_final)


def _finite_response(response: BestResponse) -> bool:
    return bool(np.isfinite(response.price_per_mwh).all()
                and np.isfinite([response.revenue_usd, response.start_revenue_usd]).all())


def _response_from_json(data: Any, shape: tuple[int, int]) -> BestResponse:
    """The :class:`BestResponse` of a snapshot."""
    require_keys(data, list(BestResponse.__dataclass_fields__), "last_response")
    try:
        return BestResponse(
            method=str(data["method"]), status=str(data["status"]),
            price_per_mwh=float_matrix(data["price_per_mwh"], shape,
                                       "last_response.price_per_mwh"),
            revenue_usd=float(data["revenue_usd"]),
            start_revenue_usd=float(data["start_revenue_usd"]),
            predicted_revenue_usd=float(data["predicted_revenue_usd"]),
            load_mw=float_matrix(data["load_mw"], shape, "last_response.load_mw"),
            probes=int(data["probes"]), batches=int(data["batches"]), steps=int(data["steps"]),
            message=str(data["message"]))
    except (TypeError, ValueError) as error:
        if isinstance(error, InvalidInputError):
            raise
        raise InvalidInputError(f"last_response: {error}") from None
