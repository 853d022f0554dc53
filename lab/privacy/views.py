"""What each adversary saw: the messages of a negotiation, arranged for an attack.

Why this module exists: an honest-but-curious operator attacks with what crossed the boundary
to it, nothing more. The coordinator records every round's messages (the consensus prices,
both sides' loads and the penalty of ADMM; the prices posted and quoted in the pricing game:
:class:`ptn.coordinator.outcome.RoundRecord`); this module cuts from that record what one
operator received, so that an attack cannot use a datum its attacker never saw.

ADMM (:mod:`ptn.coordinator.mechanisms.admm`), round k: the traffic department receives
``(λ^{k−1}, P_b^{k−1}, ρ^k)`` and replies ``P_a^k``; the DSO receives ``(λ^{k−1}, P_a^k, ρ^k)``
and replies ``P_b^k``; the coordinator sets ``λ^k = λ^{k−1} + ρ^k (P_a^k − P_b^k)``. The DSO
holds its own ``P_b^{k−1}``, so it sees everything the traffic department's step answered, and
can compute the *effective* price of that step, ``π^k = λ^{k−1} + ρ^k (P_a^k − P_b^{k−1})``:
the step's optimality condition ``∇f_a(P_a) + Δt·[λ + ρ (P_a − P_b)] = 0`` is the one of the
plain price response at ``π^k``, so every round is one point of the traffic department's
private load response (exactly, for its convex equilibrium model).

Pricing game (:mod:`ptn.coordinator.mechanisms.best_response`): the prices a CNO posts are
posted to the drivers, so every other CNO sees them; a CNO sees its own purchase prices from
the DSO (its turn's message).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ptn.coordinator.outcome import FloatArray, NegotiationOutcome, RoundRecord
from ptn.engines.errors import InvalidInputError


class NoObservationsError(InvalidInputError):
    """A negotiation without the rounds an attack needs."""


@dataclass(frozen=True)
class AdmmView:
    """The ADMM rounds as the DSO (and the coordinator) saw them; arrays (rounds, stations,
    periods) unless said otherwise.

    ``price_sent``: λ^{k−1}, the price both sides received in round k; ``target_sent``:
    P_b^{k−1}, the DSO's previous loads (the traffic department's target); ``consumer_load``:
    P_a^k, the traffic department's reply; ``penalty``: ρ^k (rounds,); ``final_price``: λ^K
    (stations, periods); ``baseline_price`` / ``baseline_load``: the flat tariff and the
    traffic department's answer to it before round 1 (None when the run has no baseline).
    """

    stations: tuple[str, ...]
    periods: int
    price_sent: FloatArray
    target_sent: FloatArray
    consumer_load: FloatArray
    penalty: FloatArray
    final_price: FloatArray
    baseline_price: FloatArray | None = None
    baseline_load: FloatArray | None = None

    @property
    def rounds(self) -> int:
        return int(self.consumer_load.shape[0])

    @property
    def effective_price(self) -> FloatArray:
        """π^k = λ^{k−1} + ρ^k (P_a^k − P_b^{k−1}): the price the traffic department's step
        answered (module docstring)."""
        return self.price_sent + self.penalty[:, None, None] * (
            self.consumer_load - self.target_sent)

    def response_points(self, *, with_baseline: bool = True) -> tuple[FloatArray, FloatArray]:
        """(prices, loads), (observations, stations, periods): every point of the traffic
        department's load response the DSO saw (the baseline's first, when there is one)."""
        prices, loads = self.effective_price, self.consumer_load
        if with_baseline and self.baseline_price is not None and self.baseline_load is not None:
            prices = np.concatenate([self.baseline_price[None], prices])
            loads = np.concatenate([self.baseline_load[None], loads])
        return prices, loads

    @property
    def last_price_received(self) -> FloatArray:
        """The last consensus price the traffic department received (λ^{K−1})."""
        return np.asarray(self.price_sent[-1])


def admm_view(outcome: NegotiationOutcome, *, consumer: str = "traffic",
              supplier: str = "dso", stage: str = "") -> AdmmView:
    """The ADMM rounds of ``outcome`` (those of ``stage``) as the DSO saw them.

    The first round's inputs are the baseline's (the run starts from its loads); without a
    baseline the first round is dropped (its target is unknown)."""
    records = [r for r in outcome.rounds if r.stage == stage and consumer in r.load_mw
               and supplier in r.load_mw]
    if len(records) < 2:
        raise NoObservationsError(f"{outcome.mechanism}: {len(records)} ADMM round(s) between "
                                  f"{consumer} and {supplier}: an attack needs at least 2")
    penalty = np.array([r.value("penalty_per_mw2h") for r in records])
    consumer_load = np.stack([r.load_mw[consumer] for r in records])
    supplier_load = np.stack([r.load_mw[supplier] for r in records])
    price_after = np.stack([r.price_per_mwh for r in records])
    # λ^0 from the first update: λ^1 = λ^0 + ρ^1 (P_a^1 − P_b^1)
    first = price_after[0] - penalty[0] * (consumer_load[0] - supplier_load[0])
    price_sent = np.concatenate([first[None], price_after[:-1]])
    baseline = outcome.baseline
    has_baseline = baseline is not None and bool(np.all(np.isfinite(baseline.station_load_mw)))
    if has_baseline:
        assert baseline is not None
        target_sent = np.concatenate([baseline.station_load_mw[None], supplier_load[:-1]])
        keep = slice(0, None)
    else:
        target_sent = np.concatenate([supplier_load[:1], supplier_load[:-1]])
        keep = slice(1, None)
    return AdmmView(
        stations=outcome.stations, periods=outcome.periods, price_sent=price_sent[keep],
        target_sent=target_sent[keep], consumer_load=consumer_load[keep], penalty=penalty[keep],
        final_price=price_after[-1],
        baseline_price=baseline.price_per_mwh.copy() if has_baseline and baseline else None,
        baseline_load=baseline.station_load_mw.copy() if has_baseline and baseline else None)


@dataclass(frozen=True)
class GameView:
    """The pricing game as one CNO (``attacker``) saw it, about another (``target``).

    ``posted``: the target's posted prices, (rounds, its stations, periods) — posted to the
    drivers, so public; ``own_purchase``: the DSO's prices the attacker paid at its own
    stations, (rounds, its stations, periods).
    """

    attacker: str
    target: str
    target_stations: tuple[str, ...]
    attacker_stations: tuple[str, ...]
    posted: FloatArray
    own_purchase: FloatArray


def game_view(records: tuple[RoundRecord, ...] | list[RoundRecord],
              stations: tuple[str, ...], attacker_stations: tuple[str, ...],
              target_stations: tuple[str, ...], *, attacker: str, target: str) -> GameView:
    """The rounds of one game (records of one variant) as ``attacker`` saw them."""
    rows = [r for r in records if "dso_price_per_mwh" in r.series]
    if not rows:
        raise NoObservationsError(f"{attacker} about {target}: no pricing-game rounds")
    mine = [stations.index(s) for s in attacker_stations]
    theirs = [stations.index(s) for s in target_stations]
    return GameView(
        attacker=attacker, target=target, target_stations=target_stations,
        attacker_stations=attacker_stations,
        posted=np.stack([r.price_per_mwh[theirs] for r in rows]),
        own_purchase=np.stack([r.series["dso_price_per_mwh"][mine] for r in rows]))
