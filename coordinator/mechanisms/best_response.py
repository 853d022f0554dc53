"""DSO pricing and the CNOs' price game by best-response dynamics (seed 001, Algorithm 1).

Why this module exists: seed 001 (Lu, Yang, Cui, Du, Tian & Hu 2024, Front. Energy Res.
11:1343311, Algorithm 1; MODELS.md §3) finds the DSO's prices and an ε-Nash equilibrium of the
CNOs' prices by iterating, per round:

1. the DSO quotes its selling prices λ at the stations (random trial prices in its first
   N_DSO quotes, then its fitted-response OPF; it refits from the loads observed at its last
   quote, which this round's request carries) — ``QuotePrices``;
2. each CNO in turn best-responds to λ and the others' prices in force (``BestRespond``), asking
   the traffic department for load responses to its probes on the way (``ProbeResponses``; the
   coordinator completes each probe with the other CNOs' prices, so no CNO sees the network);
   or, with the ``simultaneous`` order (Jacobi), every CNO best-responds at once to the prices
   in force at the start of the round, their probes merged into one batch per phase
   (:mod:`ptn.coordinator.mechanisms.together`);
3. the traffic department reports the station loads at all prices (``RespondToPrices``);
4. the DSO reports its revenue at those loads (``Dispatch``).

It stops when, after the trial rounds, the relative changes of λ and α are both below ε
(``‖x_k − x_{k−1}‖ / ‖x_{k−1}‖``, Euclidean over stations × periods), or after N_max rounds.
Revenues: each CNO's ``Σ Δt·(α − λ)·P`` over its stations, computed here from the messages
(all three are in them); the DSO's as it reports it. :func:`certificate_exchange` is the ε-Nash
certificate at the end: each CNO's exact best response against the others' final prices, one
CNO after another or all at once (their probes in one batch per phase: the entries do not
depend on each other).
:class:`BestResponseDynamics` is one game (one variant) round by round, a component of the
pricing-game mechanism (:mod:`ptn.coordinator.mechanisms.pricing_game`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ptn.coordinator.mechanisms.game_settings import ORDERS
from ptn.coordinator.mechanisms.together import run_together
from ptn.coordinator.outcome import FloatArray, RoundRecord
from ptn.coordinator.runtime.mechanism import Call, Exchange, RoundGauge
from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response.pricing import cno_revenue_usd
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2, games_pb2


def relative_change(new: FloatArray, old: FloatArray | None) -> float:
    """``‖new − old‖ / ‖old‖`` (inf without an old value)."""
    if old is None:
        return float("inf")
    return float(np.linalg.norm(new - old)) / max(float(np.linalg.norm(old)), 1e-12)


@dataclass(frozen=True)
class TurnResult:
    """A CNO's answer at the end of its turn, with the probes it took."""

    price_per_mwh: FloatArray
    revenue_usd: float
    start_revenue_usd: float
    probes: int
    batches: int


class PrivacyBudgetSpentError(Exception):
    """The traffic department's ``[privacy]`` budget cannot cover the load answers asked next:
    the game stops there (a status, not a failure)."""


@dataclass
class AnswerBudget:
    """The load answers (price responses and probe answers) the traffic department's
    ``[privacy]`` budget is planned for (``planned``, the scenario's public ``rounds``; None
    without noise: no limit) and those asked so far. The department's accountant admits exactly
    the planned answers (``PrivacySettings.plan``), so the coordinator stops the game before a
    batch it would refuse (docs/privacy-mechanisms.md, "The pricing game")."""

    planned: int | None = None
    used: int = 0
    #: the department's own account after its latest noisy answer (``LoadReply.privacy`` or
    #: ``LoadResponses.privacy``:
    #: ε, δ, releases, bound, exhausted); None before one (or without noise)
    reported: dict[str, Any] | None = None

    def take(self, count: int) -> None:
        """Count ``count`` answers about to be asked, or raise
        :class:`PrivacyBudgetSpentError` when the budget cannot cover them."""
        if self.planned is not None and self.used + count > self.planned:
            raise PrivacyBudgetSpentError(
                f"privacy budget spent after {self.used} load answers (traffic; "
                f"{self.planned} planned, {count} more asked)")
        self.used += count

    def record(self, answer: Any) -> None:
        """Keep the department's account that a reply carries (``privacy``): replies come in
        turn, so the latest is the one to report."""
        if not answer.HasField("privacy"):
            return
        spent = answer.privacy
        self.reported = {"epsilon": spent.epsilon, "delta": spent.delta,
                         "releases": spent.releases, "bound": spent.bound,
                         "exhausted": spent.exhausted}


@dataclass(frozen=True)
class PriceGameParties:
    """Who plays: the DSO, the traffic department, and each CNO with its stations (in turn
    order); ``stations`` the public station order of every (stations, periods) array;
    ``scope`` the part of the run their game is (its calls' negotiation id, e.g. ``nash``)."""

    stations: tuple[str, ...]
    periods: int
    period_hours: float
    cnos: dict[str, tuple[str, ...]]
    dso: str = "dso"
    traffic: str = "traffic"
    scope: str = ""
    #: the load answers the traffic department's privacy budget covers (shared by every part)
    budget: AnswerBudget = field(default_factory=AnswerBudget, compare=False)

    def rows(self, cno: str) -> list[int]:
        """Rows of a CNO's stations in the public order."""
        return [self.stations.index(s) for s in self.cnos[cno]]

    def revenue_of(self, stations: tuple[str, ...], price: FloatArray, purchase: FloatArray,
                   load: FloatArray) -> float:
        """The revenue Σ Δt·(α − λ)·P of a set of stations ($)."""
        rows = [self.stations.index(s) for s in stations]
        return cno_revenue_usd(price[rows], purchase[rows], load[rows], self.period_hours)

    def revenues(self, price: FloatArray, purchase: FloatArray, load: FloatArray
                 ) -> dict[str, float]:
        """Each CNO's revenue over its stations ($)."""
        return {cno: self.revenue_of(own, price, purchase, load)
                for cno, own in self.cnos.items()}


def cno_turn(parties: PriceGameParties, cno: str, *, purchase: FloatArray, price: FloatArray,
             observed_load: FloatArray | None,
             method: games_pb2.BestResponseMethod = games_pb2.BEST_RESPONSE_METHOD_UNSPECIFIED,
             ) -> Exchange[TurnResult]:
    """One CNO's turn: its probes answered by the traffic department until it decides.

    ``price`` (all stations) holds the prices in force; probes replace the CNO's rows only.
    """
    rows = parties.rows(cno)
    own = parties.cnos[cno]
    turn = games_pb2.PriceGameTurn(
        purchase_price_per_mwh=to_series(own, purchase[rows]),
        current_price_per_mwh=to_series(own, price[rows]), method=method)
    if observed_load is not None:
        turn.observed_load_mw.CopyFrom(to_series(own, observed_load[rows]))
    batches = 0
    while True:
        move: Any = (yield [Call(cno, "BestRespond", turn, parties.scope)])[cno]
        if not move.probe_price_per_mwh:
            return TurnResult(
                price_per_mwh=from_series(move.price_per_mwh, own, parties.periods,
                                          "price_per_mwh"),
                revenue_usd=float(move.revenue), start_revenue_usd=float(move.start_revenue),
                probes=int(move.probes), batches=batches)
        probes = []
        for k, series in enumerate(move.probe_price_per_mwh):
            full = price.copy()
            full[rows] = from_series(series, own, parties.periods, f"probe_price_per_mwh[{k}]")
            probes.append(to_series(parties.stations, full))
        parties.budget.take(len(probes))
        answer: Any = (yield [Call(parties.traffic, "ProbeResponses",
                                   games_pb2.PriceProbes(price_per_mwh=probes),
                                   parties.scope)])[parties.traffic]
        if len(answer.load_mw) != len(probes):
            raise InvalidInputError(f"the traffic department answered {len(answer.load_mw)} "
                                        f"of {len(probes)} probes")
        parties.budget.record(answer)
        batches += 1
        loads = [from_series(series, parties.stations, parties.periods, f"load_mw[{k}]")[rows]
                 for k, series in enumerate(answer.load_mw)]
        del turn.probe_load_mw[:]
        turn.probe_load_mw.extend(to_series(own, load) for load in loads)


#: the round fields of a best-response round (the record's ``values``; revenues by party too)
ROUND_FIELDS = ("trial", "dso_price_change", "charging_price_change", "load_change", "probes")
#: ... and their gauges
ROUND_GAUGES = (
    RoundGauge("charging_price_change", "ptn_pricing_game_charging_price_change",
               "Pricing game: relative change of the CNOs' prices in the last round."),
    RoundGauge("dso_price_change", "ptn_pricing_game_dso_price_change",
               "Pricing game: relative change of the DSO's prices in the last round."),
    RoundGauge("load_change", "ptn_pricing_game_load_change",
               "Pricing game: relative change of the station loads in the last round."),
    RoundGauge("probes", "ptn_pricing_game_probes",
               "Pricing game: load responses the CNOs asked for in the last round."),
)


class BestResponseDynamics:
    """Algorithm 1 of seed 001 between a DSO, CNOs and the traffic department, round by round;
    finished once converged or after ``max_rounds`` rounds. ``order``: the CNOs best-respond
    ``in-turn`` (Algorithm 1) or ``simultaneous`` (Jacobi; ``max_probes`` bounds a merged probe
    message)."""

    def __init__(self, parties: PriceGameParties, *, initial_price_per_mwh: FloatArray,
                 tolerance: float = 0.005, max_rounds: int = 200, order: str = "in-turn",
                 max_probes: int | None = None) -> None:
        if order not in ORDERS:
            raise InvalidInputError(f"order: expected one of {', '.join(ORDERS)}, got "
                                    f"{order!r}")
        self.parties = parties
        self.order = order
        self.max_probes = max_probes
        self.stations = parties.stations
        self.tolerance = tolerance
        self.max_rounds = max_rounds
        shape = (len(parties.stations), parties.periods)
        self.price = np.broadcast_to(np.asarray(initial_price_per_mwh, dtype=np.float64),
                                     shape).copy()
        self.purchase = np.full(shape, np.nan)
        self.load: FloatArray | None = None
        self.dso_revenue = float("nan")
        self.trial = True
        self.price_change = float("inf")
        self.purchase_change = float("inf")
        self.load_change = float("inf")
        self.probes = 0
        self.rounds = 0

    def converged(self) -> bool:
        return (not self.trial and self.price_change < self.tolerance
                and self.purchase_change < self.tolerance)

    def finished(self) -> bool:
        return self.converged() or self.rounds >= self.max_rounds

    def round_exchange(self) -> Exchange[RoundRecord]:
        parties = self.parties
        signal = common_pb2.LoadSignal()
        if self.load is not None:
            signal.load_mw.CopyFrom(to_series(parties.stations, self.load))
        quote: Any = (yield [Call(parties.dso, "QuotePrices", signal, parties.scope)]
                      )[parties.dso]
        purchase = from_series(quote.price_per_mwh, parties.stations, parties.periods,
                               "price_per_mwh")
        previous_purchase = None if np.isnan(self.purchase).any() else self.purchase
        self.purchase_change = relative_change(purchase, previous_purchase)
        self.purchase, self.trial = purchase, bool(quote.trial)
        previous_price = self.price.copy()
        self.probes = 0
        # each group answers the prices in force when it starts: all CNOs at once
        # (simultaneous), or one after another, each after its predecessors' moves (in turn)
        for group in cno_groups(parties.cnos, together=self.order == "simultaneous"):
            in_force = self.price.copy()
            results = yield from run_together(
                {cno: cno_turn(parties, cno, purchase=self.purchase, price=in_force,
                               observed_load=self.load) for cno in group},
                max_probes=self.max_probes)
            for cno, result in results.items():
                self.price[parties.rows(cno)] = result.price_per_mwh
                self.probes += result.probes
        self.price_change = relative_change(self.price, previous_price)
        parties.budget.take(1)
        answer: Any = (yield [Call(parties.traffic, "RespondToPrices", common_pb2.PriceSignal(
            price_per_mwh=to_series(parties.stations, self.price)), parties.scope)]
                       )[parties.traffic]
        parties.budget.record(answer)
        load = from_series(answer.load_mw, parties.stations, parties.periods, "load_mw")
        self.load_change = relative_change(load, self.load)
        self.load = load
        dispatch: Any = (yield [Call(parties.dso, "Dispatch", common_pb2.LoadSignal(
            load_mw=to_series(parties.stations, load)), parties.scope)])[parties.dso]
        self.dso_revenue = float(dispatch.revenue)
        self.rounds += 1
        return self.record()

    def record(self) -> RoundRecord:
        """The last round as it is reported."""
        assert self.load is not None
        revenues = self.parties.revenues(self.price, self.purchase, self.load)
        values = {f"revenue_{cno}_usd": value for cno, value in revenues.items()}
        values.update({
            f"revenue_{self.parties.dso}_usd": self.dso_revenue,
            "trial": float(self.trial), "charging_price_change": self.price_change,
            "dso_price_change": self.purchase_change, "load_change": self.load_change,
            "probes": float(self.probes),
        })
        return RoundRecord(
            round=self.rounds, seconds=0.0, stage=self.parties.scope, values=values,
            price_per_mwh=self.price.copy(), load_mw={self.parties.traffic: self.load.copy()},
            series={"dso_price_per_mwh": self.purchase.copy()},
        )

    def state(self) -> dict[str, Any]:
        return {
            "price_per_mwh": self.price.tolist(), "purchase_price_per_mwh": self.purchase.tolist(),
            "load_mw": None if self.load is None else self.load.tolist(),
            "dso_revenue": self.dso_revenue, "trial": self.trial,
            "changes": [self.price_change, self.purchase_change, self.load_change],
            "probes": self.probes, "rounds": self.rounds,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.price = np.asarray(state["price_per_mwh"], dtype=np.float64)
        self.purchase = np.asarray(state["purchase_price_per_mwh"], dtype=np.float64)
        self.load = None if state["load_mw"] is None else np.asarray(state["load_mw"],
                                                                     dtype=np.float64)
        self.dso_revenue = float(state["dso_revenue"])
        self.trial = bool(state["trial"])
        self.price_change, self.purchase_change, self.load_change = (
            float(v) for v in state["changes"])
        self.probes = int(state["probes"])
        self.rounds = int(state["rounds"])


@dataclass(frozen=True)
class CertificateEntry:
    """A CNO's exact best response against the others' final prices."""

    revenue_usd: float  # at the final prices
    best_revenue_usd: float  # at its exact best response
    probes: int
    batches: int

    @property
    def gain_usd(self) -> float:
        return max(0.0, self.best_revenue_usd - self.revenue_usd)


def cno_groups(cnos: Iterable[str], *, together: bool) -> list[tuple[str, ...]]:
    """The CNOs in groups that play at once: all in one (``together``), else one by one."""
    return [tuple(cnos)] if together else [(cno,) for cno in cnos]


def certificate_exchange(parties: PriceGameParties, *, purchase: FloatArray, price: FloatArray,
                         load: FloatArray, together: bool = False, max_probes: int | None = None
                         ) -> Exchange[dict[str, CertificateEntry]]:
    """The ε-Nash certificate: each CNO's gain from its exact best response (no linearization)
    against λ and the others' final prices; the game's ε is the largest gain.

    The entries do not depend on each other: ``together`` runs every CNO's search at once,
    their probes merged into one batch per phase (of at most ``max_probes`` probes a message);
    otherwise (the default, as ``[coordinator] certificate_together``) one CNO after another
    (the same entries, as many phases as probe batches of all CNOs)."""
    results: dict[str, TurnResult] = {}
    for group in cno_groups(parties.cnos, together=together):
        results.update((yield from run_together(
            {cno: cno_turn(parties, cno, purchase=purchase, price=price, observed_load=load,
                           method=games_pb2.BEST_RESPONSE_METHOD_EXACT) for cno in group},
            max_probes=max_probes)))
    return {cno: CertificateEntry(result.start_revenue_usd, result.revenue_usd, result.probes,
                                  result.batches) for cno, result in results.items()}


def load_responses_exchange(parties: PriceGameParties, prices: list[FloatArray]
                            ) -> Exchange[list[FloatArray]]:
    """The station loads at each of ``prices`` (all stations), in one probe batch."""
    parties.budget.take(len(prices))
    answer: Any = (yield [Call(parties.traffic, "ProbeResponses", games_pb2.PriceProbes(
        price_per_mwh=[to_series(parties.stations, p) for p in prices]), parties.scope)]
                   )[parties.traffic]
    if len(answer.load_mw) != len(prices):
        raise InvalidInputError(f"the traffic department answered {len(answer.load_mw)} "
                                    f"of {len(prices)} probes")
    parties.budget.record(answer)
    return [from_series(series, parties.stations, parties.periods, f"load_mw[{k}]")
            for k, series in enumerate(answer.load_mw)]
