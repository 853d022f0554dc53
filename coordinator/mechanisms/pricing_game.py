"""The pricing-game experiment of seed 001: variants, ε-Nash certificate, revenue matrix.

Why this module exists: the issue's report for Game A (MODELS.md §3) needs, on any backend,

* the **non-cooperative** game (``nash``): the DSO and every CNO by best-response dynamics
  (:mod:`ptn.coordinator.mechanisms.best_response`), then the **ε-Nash certificate**: each CNO's
  exact best response (derivative-free, no linearization) against the others' final prices;
  the game's ε is the largest gain;
* the **cooperative** game: the same with every CNO merged into one (the scenario's derived
  operator ``cno-alliance``), the DSO pricing against the alliance;
* the **revenue matrix** around the equilibrium: with the DSO's prices fixed at the Nash
  outcome, each CNO plays either its Nash prices or its share of the alliance's prices; the
  revenues of every profile (2^K of them, one batch of load responses) show whether the Nash
  equilibrium is dominated — seed 001's prisoner's dilemma (its Table 4).

Each variant is its own negotiation (its own id, so the DSO starts a fresh response history);
its transcript and checkpoint go to ``<out>/<variant>/``. Revenues are $ over the horizon:
each CNO's ``Σ Δt·(α − λ)·P`` computed from the messages, the DSO's profit on charging as the
DSO reports it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ptn.coordinator.mechanisms.best_response import (
    BestResponseMechanism,
    CertificateEntry,
    PriceGameParties,
    certificate_exchange,
    load_responses_exchange,
)
from ptn.coordinator.mechanisms.joint_coordination import driver_settings
from ptn.coordinator.outcome import FloatArray, NegotiationOutcome, NegotiationStatus, RoundRecord
from ptn.coordinator.runtime.driver import Driver, Exchange, NegotiationFailedError
from ptn.coordinator.runtime.metrics import CoordinatorMetrics
from ptn.coordinator.runtime.transports import Endpoint
from ptn.engines.errors import InvalidInputError
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import ALLIANCE_ID, Scenario


@dataclass(frozen=True)
class VariantResult:
    """One variant of the game: its negotiation and where it ended.

    ``cnos``: each CNO's stations in that variant (the alliance holds every station in the
    cooperative one); ``revenue_usd`` by party at the end, the alliance's split by its
    members' stations (``member_revenue_usd``); ``start_revenue_usd`` at the last trial round
    (seed 001's "iteration 0"), or the first round without trials.
    """

    variant: str
    outcome: NegotiationOutcome
    cnos: dict[str, tuple[str, ...]]
    dso_price_per_mwh: FloatArray
    charging_price_per_mwh: FloatArray
    load_mw: FloatArray
    revenue_usd: dict[str, float]
    start_revenue_usd: dict[str, float]
    member_revenue_usd: dict[str, float]
    certificate: dict[str, CertificateEntry] = field(default_factory=dict)

    @property
    def epsilon_usd(self) -> float:
        """The ε of the ε-Nash certificate ($): the largest gain of an exact best response."""
        if not self.certificate:
            return float("nan")
        return max(entry.gain_usd for entry in self.certificate.values())


@dataclass(frozen=True)
class RevenueMatrix:
    """Revenues of every CNO for every profile of {Nash, cooperative} prices (DSO prices fixed
    at the Nash outcome). ``revenue_usd[profile][cno]``; a profile is one choice per CNO in
    ``cnos`` order."""

    cnos: tuple[str, ...]
    profiles: tuple[tuple[str, ...], ...]
    revenue_usd: dict[tuple[str, ...], dict[str, float]]

    def _at(self, profile: tuple[str, ...]) -> dict[str, float]:
        return self.revenue_usd[profile]

    def _someone_gains_by_leaving(self, choice: str, other: str) -> bool:
        """Whether some CNO earns more by switching alone from the profile where every CNO
        plays ``choice`` to its ``other`` prices."""
        everyone = (choice,) * len(self.cnos)
        for k, cno in enumerate(self.cnos):
            deviation = (*everyone[:k], other, *everyone[k + 1:])
            if self._at(deviation)[cno] > self._at(everyone)[cno] + 1e-6:
                return True
        return False

    @property
    def nash_is_stable(self) -> bool:
        """No CNO gains by switching alone from its Nash to its cooperative prices."""
        return not self._someone_gains_by_leaving("nash", "cooperative")

    @property
    def cooperation_dominates(self) -> bool:
        """Every CNO earns more when all play cooperative prices than at the Nash profile."""
        nash, coop = ("nash",) * len(self.cnos), ("cooperative",) * len(self.cnos)
        return all(self._at(coop)[c] > self._at(nash)[c] for c in self.cnos)

    @property
    def cooperation_is_unstable(self) -> bool:
        """Some CNO gains by leaving the cooperative profile alone (for its Nash prices)."""
        return self._someone_gains_by_leaving("cooperative", "nash")

    @property
    def prisoners_dilemma(self) -> bool:
        """Seed 001's Table 4: the stable Nash profile is dominated by an unstable one."""
        return self.nash_is_stable and self.cooperation_dominates and self.cooperation_is_unstable


@dataclass(frozen=True)
class PricingGameOutcome:
    """The whole experiment: the variants played, the revenue matrix, timings."""

    scenario: str
    stations: tuple[str, ...]
    periods: int
    period_hours: float
    variants: dict[str, VariantResult]
    revenue_matrix: RevenueMatrix | None
    seconds: float
    status: NegotiationStatus
    message: str = ""

    @property
    def converged(self) -> bool:
        return self.status == NegotiationStatus.CONVERGED


def _parties(scenario: Scenario, variant: str,
             infos: dict[str, common_pb2.OperatorInfo]) -> PriceGameParties:
    cnos = [ALLIANCE_ID] if variant == "cooperative" else [
        o for o in scenario.operators_of("cno") if o != ALLIANCE_ID]
    owned = {cno: tuple(infos[cno].stations) for cno in cnos}
    listed = [s for stations in owned.values() for s in stations]
    public = scenario.public
    if sorted(listed) != sorted(public.stations):
        raise NegotiationFailedError(
            f"the CNOs of the {variant} game price stations {sorted(listed)}, the scenario has "
            f"{sorted(public.stations)}: each station needs exactly one CNO")
    return PriceGameParties(public.stations, public.periods, public.period_hours, owned)


def _check_descriptions(scenario: Scenario, infos: dict[str, common_pb2.OperatorInfo]) -> None:
    public = scenario.public
    for operator_id, info in infos.items():
        if info.role != "cno" and tuple(info.stations) != public.stations:
            raise NegotiationFailedError(
                f"operator {operator_id} uses stations {list(info.stations)}, the scenario "
                f"{list(public.stations)}")
        if info.periods != public.periods or abs(info.period_hours - public.period_hours) > 1e-9:
            raise NegotiationFailedError(
                f"operator {operator_id} has {info.periods} periods of {info.period_hours:g} h, "
                f"the scenario {public.periods} of {public.period_hours:g} h")


def _variant_result(variant: str, parties: PriceGameParties, mechanism: BestResponseMechanism,
                    outcome: NegotiationOutcome, member_cnos: dict[str, tuple[str, ...]],
                    certificate: dict[str, CertificateEntry]) -> VariantResult:
    assert mechanism.load is not None
    rounds = outcome.rounds
    trials = [r for r in rounds if r.values.get("trial", 0.0)]
    start = trials[-1] if trials else rounds[0]
    names = [*parties.cnos, parties.dso]
    revenue = {name: rounds[-1].values[f"revenue_{name}_usd"] for name in names}
    start_revenue = {name: start.values[f"revenue_{name}_usd"] for name in names}
    members = {cno: parties.revenue_of(stations, mechanism.price, mechanism.purchase,
                                       mechanism.load)
               for cno, stations in member_cnos.items()}
    return VariantResult(
        variant=variant, outcome=outcome, cnos=dict(parties.cnos),
        dso_price_per_mwh=mechanism.purchase.copy(), charging_price_per_mwh=mechanism.price.copy(),
        load_mw=mechanism.load.copy(), revenue_usd=revenue, start_revenue_usd=start_revenue,
        member_revenue_usd=members, certificate=certificate)


def revenue_matrix_exchange(parties: PriceGameParties, nash: VariantResult,
                            cooperative: VariantResult) -> Exchange[RevenueMatrix]:
    """The revenue matrix's exchange: one batch of load responses for every profile."""
    cnos = tuple(parties.cnos)
    profiles = tuple(itertools.product(("nash", "cooperative"), repeat=len(cnos)))
    prices = []
    for profile in profiles:
        price = nash.charging_price_per_mwh.copy()
        for cno, choice in zip(cnos, profile, strict=True):
            if choice == "cooperative":
                rows = parties.rows(cno)
                price[rows] = cooperative.charging_price_per_mwh[rows]
        prices.append(price)
    loads = yield from load_responses_exchange(parties, prices)
    revenue = {profile: parties.revenues(price, nash.dso_price_per_mwh, load)
               for profile, price, load in zip(profiles, prices, loads, strict=True)}
    return RevenueMatrix(cnos, profiles, revenue)


def run_pricing_game(
    scenario: Scenario,
    endpoints: dict[str, Endpoint],
    *,
    out: Path | None = None,
    metrics: CoordinatorMetrics | None = None,
    progress: Callable[[RoundRecord], None] | None = None,
    max_rounds: int | None = None,
    crash_after_round: int | None = None,
) -> PricingGameOutcome:
    """Every variant the scenario asks for, its certificate, and the revenue matrix."""
    started = time.perf_counter()
    settings = scenario.coordinator
    public = scenario.public
    for role in ("dso", "traffic"):
        if role not in endpoints:
            raise InvalidInputError(f"the pricing game needs an endpoint for {role!r}")
    results: dict[str, VariantResult] = {}
    matrix: RevenueMatrix | None = None
    status, message = NegotiationStatus.CONVERGED, ""
    nash_cnos = {o: () for o in scenario.operators_of("cno") if o != ALLIANCE_ID}
    for variant in settings.variants:
        folder = out / variant if out is not None else None
        driver = Driver(endpoints, driver_settings(settings, folder, max_rounds=max_rounds,
                                                   crash_after_round=crash_after_round),
                        metrics, progress=progress)
        try:
            infos = driver.describe_all()
            _check_descriptions(scenario, infos)
            parties = _parties(scenario, variant, infos)
            mechanism = BestResponseMechanism(
                parties,
                initial_price_per_mwh=np.array(settings.initial_charging_price_per_mwh),
                tolerance=settings.tolerance)
            outcome = driver.run(mechanism)
            if outcome.status == NegotiationStatus.FAILED or not outcome.rounds:
                status, message = NegotiationStatus.FAILED, f"{variant}: {outcome.message}"
                break
            if not outcome.converged:
                status = NegotiationStatus.NOT_CONVERGED
                message = "; ".join(m for m in (message, f"{variant}: {outcome.message}") if m)
            assert mechanism.load is not None
            certificate = driver.run_exchange(certificate_exchange(
                parties, purchase=mechanism.purchase, price=mechanism.price,
                load=mechanism.load), len(outcome.rounds) + 1) if settings.certificate else {}
            members = {cno: tuple(infos[cno].stations) for cno in nash_cnos}
            results[variant] = _variant_result(variant, parties, mechanism, outcome, members,
                                               certificate)
            if variant == settings.variants[-1] and settings.revenue_matrix \
                    and {"nash", "cooperative"} <= set(results):
                nash_parties = _parties(scenario, "nash", infos)
                matrix = driver.run_exchange(revenue_matrix_exchange(
                    nash_parties, results["nash"], results["cooperative"]),
                    len(outcome.rounds) + 2)
        except NegotiationFailedError as error:
            status, message = NegotiationStatus.FAILED, f"{variant}: {error}"
            break
        except InvalidInputError as error:
            status, message = NegotiationStatus.FAILED, f"{variant}: invalid reply: {error}"
            break
        finally:
            driver.close(endpoints=False)
    return PricingGameOutcome(
        scenario=public.name, stations=public.stations, periods=public.periods,
        period_hours=public.period_hours, variants=results, revenue_matrix=matrix,
        seconds=time.perf_counter() - started, status=status, message=message)
