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
  revenues of every profile (2^K of them in batches of load responses; for many CNOs the 2K + 2
  profiles its verdicts read and a seeded random sample, :mod:`~ptn.coordinator.mechanisms.
  revenue_profiles`) show whether the Nash equilibrium is dominated — seed 001's prisoner's
  dilemma (its Table 4).

How it scales (:mod:`~ptn.coordinator.mechanisms.game_settings`): the CNOs best-respond in turn
or simultaneously, and the certificate's entries run at once, their probes merged into one
batch per phase.

It is one mechanism over the one driver (:class:`PricingGame`): its driver rounds are the rounds
of each variant, then (one driver round each) the variant's certificate, and at the end the
revenue matrix; each is checkpointed, so the whole experiment resumes after a crash. Each
variant is its own part of the run (negotiation id ``<id>/<variant>``), so the DSO starts a
fresh response history per variant. Revenues are $ over the horizon: each CNO's
``Σ Δt·(α − λ)·P`` computed from the messages, the DSO's profit on charging as the DSO reports
it.

Differential privacy (``[privacy]`` protecting ``station_loads``): the traffic department noises
every load answer (:mod:`ptn.services.traffic.model`); ``rounds`` counts those answers over the
whole experiment. The coordinator counts the answers it asks for (:class:`~ptn.coordinator.
mechanisms.best_response.AnswerBudget`) and, when the next batch does not fit, ends the game at
its last whole round (status ``not_converged``, "privacy budget spent after N load answers"),
skipping the stages left (a certificate or matrix it cannot finish is reported skipped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ptn.coordinator.mechanisms.best_response import (
    ROUND_FIELDS,
    ROUND_GAUGES,
    AnswerBudget,
    BestResponseDynamics,
    CertificateEntry,
    PriceGameParties,
    PrivacyBudgetSpentError,
    certificate_exchange,
    load_responses_exchange,
)
from ptn.coordinator.mechanisms.game_settings import GameSettings, game_settings
from ptn.coordinator.mechanisms.joint_coordination import check_descriptions, privacy_block
from ptn.coordinator.mechanisms.revenue_profiles import ALL_PROFILES, matrix_profiles
from ptn.coordinator.outcome import FloatArray, NegotiationOutcome, NegotiationStatus, RoundRecord
from ptn.coordinator.runtime.driver import NegotiationFailedError
from ptn.coordinator.runtime.mechanism import Exchange, Mechanism, RunSummary
from ptn.scenario.document import ALLIANCE_ID, Scenario

if TYPE_CHECKING:
    from ptn.coordinator.runtime.driver import Driver


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
    """Revenues of every CNO for profiles of {Nash, cooperative} prices (DSO prices fixed at
    the Nash outcome). ``revenue_usd[profile][cno]``; a profile is one choice per CNO in
    ``cnos`` order. ``selection`` says which profiles were evaluated (``all`` of them, or the
    sample of :func:`~ptn.coordinator.mechanisms.revenue_profiles.matrix_profiles`: every
    profile the verdicts below read is always there)."""

    cnos: tuple[str, ...]
    profiles: tuple[tuple[str, ...], ...]
    revenue_usd: dict[tuple[str, ...], dict[str, float]]
    selection: str = ALL_PROFILES

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
    negotiation_id: str = ""
    #: what operators said beside their usable replies, one line per operator and RPC
    warnings: tuple[str, ...] = ()
    #: differential privacy ([privacy]): the settings and the ε the traffic department's
    #: noisy load answers spent (:func:`game_privacy_block`); empty without a mechanism
    privacy: dict[str, Any] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        return self.status == NegotiationStatus.CONVERGED


def revenue_matrix_exchange(parties: PriceGameParties, nash: VariantResult,
                            cooperative: VariantResult, settings: GameSettings | None = None
                            ) -> Exchange[RevenueMatrix]:
    """The revenue matrix's exchange: the load responses of its profiles
    (:func:`~ptn.coordinator.mechanisms.revenue_profiles.matrix_profiles`), in batches of at
    most ``settings.matrix_batch_probes``."""
    settings = settings if settings is not None else GameSettings()
    cnos = tuple(parties.cnos)
    profiles, selection = matrix_profiles(cnos, settings)
    prices = []
    for profile in profiles:
        price = nash.charging_price_per_mwh.copy()
        for cno, choice in zip(cnos, profile, strict=True):
            if choice == "cooperative":
                rows = parties.rows(cno)
                price[rows] = cooperative.charging_price_per_mwh[rows]
        prices.append(price)
    loads: list[FloatArray] = []
    size = settings.matrix_batch_probes
    for start in range(0, len(prices), size):
        loads += yield from load_responses_exchange(parties, prices[start:start + size])
    revenue = {profile: parties.revenues(price, nash.dso_price_per_mwh, load)
               for profile, price, load in zip(profiles, prices, loads, strict=True)}
    return RevenueMatrix(cnos, profiles, revenue, selection)


class PricingGame(Mechanism[PricingGameOutcome]):
    """The ``best-response`` mechanism: every variant the scenario asks for, each with its
    ε-Nash certificate, then the revenue matrix (see the module docstring).

    Stages, one after another: ``("play", variant)`` (a driver round per round of the game),
    ``("certificate", variant)`` and ``("matrix", "")`` (a driver round each).
    """

    name = "best-response"
    round_fields = ROUND_FIELDS
    round_gauges = ROUND_GAUGES

    def __init__(self, scenario: Scenario, game: GameSettings | None = None) -> None:
        super().__init__(scenario)
        settings = scenario.coordinator
        #: how the game scales: turn order, probe batches, the revenue matrix's profiles
        self.settings = game if game is not None else game_settings(settings)
        self.stages: list[tuple[str, str]] = []
        for variant in settings.variants:
            self.stages.append(("play", variant))
            if settings.certificate:
                self.stages.append(("certificate", variant))
        if settings.revenue_matrix and {"nash", "cooperative"} <= set(settings.variants):
            self.stages.append(("matrix", ""))
        self.stage = 0
        #: each operator's public description: its role and stations
        self.described: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.game: BestResponseDynamics | None = None
        #: the finished games' final states, their certificates, the revenue matrix
        self.final_states: dict[str, dict[str, Any]] = {}
        self.certificates: dict[str, dict[str, CertificateEntry]] = {}
        self.matrix: RevenueMatrix | None = None
        #: the load answers the traffic department's [privacy] budget covers, over every part
        self.budget = AnswerBudget(answers_planned(scenario))
        #: where the game stopped on the privacy budget: (stage kind, variant, why); None
        self.privacy_stop: tuple[str, str, str] | None = None

    # ------------------------------------------------------------------ who plays
    def parties(self, variant: str) -> PriceGameParties:
        """The players of a variant: the alliance alone in the cooperative one, else every
        CNO; each with the stations it described."""
        cnos = [ALLIANCE_ID] if variant == "cooperative" else [
            o for o in self.scenario.operators_of("cno") if o != ALLIANCE_ID]
        owned = {cno: self.described[cno][1] for cno in cnos}
        listed = [s for stations in owned.values() for s in stations]
        public = self.scenario.public
        if sorted(listed) != sorted(public.stations):
            raise NegotiationFailedError(
                f"the CNOs of the {variant} game price stations {sorted(listed)}, the scenario "
                f"has {sorted(public.stations)}: each station needs exactly one CNO")
        return PriceGameParties(public.stations, public.periods, public.period_hours, owned,
                                scope=variant, budget=self.budget)

    def _game(self, variant: str) -> BestResponseDynamics:
        settings = self.scenario.coordinator
        return BestResponseDynamics(
            self.parties(variant),
            initial_price_per_mwh=np.array(settings.initial_charging_price_per_mwh),
            tolerance=settings.tolerance, max_rounds=settings.max_rounds,
            order=self.settings.best_response_order,
            max_probes=self.settings.probe_batch_max)

    def _final(self, variant: str) -> BestResponseDynamics:
        """A finished variant's game at its final state."""
        game = self._game(variant)
        game.restore(self.final_states[variant])
        return game

    # ------------------------------------------------------------------ hooks
    def begin(self, driver: Driver) -> None:
        infos = driver.describe_all()
        check_descriptions(self.scenario, infos, own_stations_roles=("cno",))
        self.described = {o: (info.role, tuple(info.stations)) for o, info in infos.items()}
        self._enter_stage()

    def _enter_stage(self) -> None:
        if self.stage < len(self.stages) and self.stages[self.stage][0] == "play":
            self.game = self._game(self.stages[self.stage][1])

    def finished(self) -> bool:
        return self.stage >= len(self.stages)

    def round_exchange(self, driver_round: int) -> Exchange[RoundRecord | None]:
        kind, variant = self.stages[self.stage]
        start = None if self.game is None or kind != "play" else self.game.state()
        try:
            return (yield from self._stage_exchange(kind, variant))
        except PrivacyBudgetSpentError as spent:
            # the round or stage in progress is dropped; the game ends at its last whole round
            if start is not None and self.game is not None:
                self.game.restore(start)
                if self.game.load is not None:
                    self.final_states[variant] = self.game.state()
            self.privacy_stop = (kind, variant, str(spent))
            self.stage = len(self.stages)
            self.game = None
            return None

    def _stage_exchange(self, kind: str, variant: str) -> Exchange[RoundRecord | None]:
        record: RoundRecord | None = None
        if kind == "play":
            assert self.game is not None
            record = yield from self.game.round_exchange()
            if not self.game.finished():
                return record
            self.final_states[variant] = self.game.state()
        elif kind == "certificate":
            game = self._final(variant)
            assert game.load is not None
            self.certificates[variant] = yield from certificate_exchange(
                game.parties, purchase=game.purchase, price=game.price, load=game.load,
                together=self.settings.certificate_together,
                max_probes=self.settings.probe_batch_max)
        else:
            self.matrix = yield from revenue_matrix_exchange(
                self.parties("nash"), self._variant("nash", ()), self._variant("cooperative", ()),
                self.settings)
        self.stage += 1
        self._enter_stage()
        return record

    def state(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "described": {o: [role, list(stations)] for o, (role, stations)
                          in self.described.items()},
            "game": None if self.game is None else self.game.state(),
            "final_states": self.final_states,
            "certificates": {variant: {cno: [e.revenue_usd, e.best_revenue_usd, e.probes,
                                             e.batches] for cno, e in entries.items()}
                             for variant, entries in self.certificates.items()},
            "matrix": None if self.matrix is None else {
                "cnos": list(self.matrix.cnos), "selection": self.matrix.selection,
                "revenue_usd": [[list(profile), revenues]
                                for profile, revenues in self.matrix.revenue_usd.items()]},
            "answers": self.budget.used, "reported": self.budget.reported,
            "privacy_stop": None if self.privacy_stop is None else list(self.privacy_stop),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.stage = int(state["stage"])
        self.described = {o: (str(role), tuple(stations))
                          for o, (role, stations) in state["described"].items()}
        self.final_states = dict(state["final_states"])
        self.certificates = {
            variant: {cno: CertificateEntry(float(a), float(b), int(c), int(d))
                      for cno, (a, b, c, d) in entries.items()}
            for variant, entries in state["certificates"].items()}
        matrix = state["matrix"]
        if matrix is not None:
            revenue = {tuple(profile): {k: float(v) for k, v in revenues.items()}
                       for profile, revenues in matrix["revenue_usd"]}
            self.matrix = RevenueMatrix(tuple(matrix["cnos"]), tuple(revenue), revenue,
                                        str(matrix.get("selection", ALL_PROFILES)))
        self.budget.used = int(state.get("answers", 0))
        reported = state.get("reported")
        self.budget.reported = None if reported is None else dict(reported)
        stop = state.get("privacy_stop")
        self.privacy_stop = None if stop is None else (str(stop[0]), str(stop[1]), str(stop[2]))
        self.game = None
        if state["game"] is not None:
            self._enter_stage()
            assert self.game is not None
            self.game.restore(state["game"])

    def conclude(self, driver: Driver, run: RunSummary) -> PricingGameOutcome:
        variants = {v: self._variant(v, run.rounds, run.negotiation_id)
                    for v in self.scenario.coordinator.variants if v in self.final_states}
        late = [f"{v}: {result.outcome.message}" for v, result in variants.items()
                if not result.outcome.converged]
        if self.privacy_stop is not None:
            kind, variant, why = self.privacy_stop
            index = self.stages.index((kind, variant))
            rest = self.stages[index + 1:] if kind == "play" else self.stages[index:]
            skipped = ", ".join(f"{k} {v}".strip() for k, v in rest) or "nothing"
            late = [m for m in late if not m.startswith(f"{variant}: ")]
            late.insert(0, f"{variant or kind}: {why}; skipped: {skipped}")
        status = NegotiationStatus.NOT_CONVERGED if late else NegotiationStatus.CONVERGED
        return self._outcome(run, variants, status, "; ".join(late))

    def failed(self, run: RunSummary) -> PricingGameOutcome:
        complete = [v for v in self.scenario.coordinator.variants if v in self.final_states
                    and (v in self.certificates or not self.scenario.coordinator.certificate)]
        variant = self.stages[min(self.stage, len(self.stages) - 1)][1] if self.stages else ""
        variants = {v: self._variant(v, run.rounds, run.negotiation_id) for v in complete}
        return self._outcome(run, variants, NegotiationStatus.FAILED,
                             f"{variant}: {run.failure}" if variant else run.failure)

    # ------------------------------------------------------------------ results
    def _variant(self, variant: str, records: tuple[RoundRecord, ...],
                 negotiation_id: str = "") -> VariantResult:
        """A finished variant's result from its final state and its rounds' records (those of
        the run ``negotiation_id``)."""
        game = self._final(variant)
        assert game.load is not None
        parties = game.parties
        rounds = tuple(r for r in records if r.stage == variant)
        converged = game.converged()
        public = self.scenario.public
        outcome = NegotiationOutcome(
            negotiation_id=f"{negotiation_id}/{variant}", mechanism=self.name,
            status=NegotiationStatus.CONVERGED if converged
            else NegotiationStatus.NOT_CONVERGED,
            message="" if converged else self._stopped_message(variant, game.max_rounds),
            stations=public.stations, periods=public.periods, period_hours=public.period_hours,
            rounds=rounds, seconds=float(sum(r.seconds for r in rounds)))
        final = game.record()
        trials = [r for r in rounds if r.values.get("trial", 0.0)]
        start = trials[-1] if trials else (rounds[0] if rounds else final)
        names = [*parties.cnos, parties.dso]
        members = {cno: self.described[cno][1] for cno in self.scenario.operators_of("cno")
                   if cno != ALLIANCE_ID}
        return VariantResult(
            variant=variant, outcome=outcome, cnos=dict(parties.cnos),
            dso_price_per_mwh=game.purchase.copy(), charging_price_per_mwh=game.price.copy(),
            load_mw=game.load.copy(),
            revenue_usd={name: final.values[f"revenue_{name}_usd"] for name in names},
            start_revenue_usd={name: start.values[f"revenue_{name}_usd"] for name in names},
            member_revenue_usd={cno: parties.revenue_of(stations, game.price, game.purchase,
                                                        game.load)
                                for cno, stations in members.items()},
            certificate=self.certificates.get(variant, {}))

    def _stopped_message(self, variant: str, max_rounds: int) -> str:
        """Why a variant's game ended before converging."""
        if self.privacy_stop is not None and self.privacy_stop[:2] == ("play", variant):
            return self.privacy_stop[2]
        return f"not converged after {max_rounds} rounds"

    def _outcome(self, run: RunSummary, variants: dict[str, VariantResult],
                 status: NegotiationStatus, message: str) -> PricingGameOutcome:
        public = self.scenario.public
        return PricingGameOutcome(
            scenario=public.name, stations=public.stations, periods=public.periods,
            period_hours=public.period_hours, variants=variants, revenue_matrix=self.matrix,
            seconds=run.seconds, status=status, message=message,
            negotiation_id=run.negotiation_id, warnings=run.warnings,
            privacy=game_privacy_block(self.scenario, self.budget,
                                       stopped=self.privacy_stop is not None))


def answers_planned(scenario: Scenario) -> int | None:
    """The load answers the traffic department's privacy budget is split over (``[privacy]
    rounds``), or None when its answers are not noised."""
    settings = scenario.privacy
    if not settings.active or settings.datum("station_loads") is None:
        return None
    return settings.rounds


def game_privacy_block(scenario: Scenario, budget: AnswerBudget, *, stopped: bool = False
                       ) -> dict[str, Any]:
    """The results' ``privacy`` block for the game (that of ADMM,
    :func:`~ptn.coordinator.mechanisms.joint_coordination.privacy_block`, with ``rounds``
    counting load answers): ``load_answers`` the coordinator asked for over the whole
    experiment, and per operator the account the traffic department reported with its latest
    noisy answer (``LoadReply.privacy`` or ``LoadResponses.privacy``: its ε, δ, releases,
    bound, every answer counted, the certificate's and the matrix's probes too);
    ``budget_spent`` when the game stopped on it (``stopped``: the next batch did not fit) or
    used it all; empty without a ``[privacy]`` mechanism."""
    block = privacy_block(scenario, None)
    if not block:
        return block
    block["rounds_counts"] = "load answers (price responses and probe answers)"
    block["load_answers"] = budget.used
    if budget.planned is None:
        return block
    block["budget_spent"] = stopped or budget.used >= budget.planned
    if budget.reported is not None:
        block["operators"] = {"traffic": dict(budget.reported)}
    return block
