"""The scenario schema: every table and key of a scenario file, declared once.

Why this module exists: the keys of a scenario (their types, defaults, bounds, units and
meanings) are written here as pydantic models, and everything else reads them: the validation
of a file (:mod:`ptn.scenario.validation`), the settings' defaults
(:class:`ptn.scenario.document.CoordinatorSettings`), ``ptn scenario keys`` and
docs/scenarios.md (:mod:`ptn.scenario.reference`). The operators' tables are in
:mod:`ptn.scenario.operator_tables`; this module holds the public and coordinator tables and the
file as a whole (:class:`ScenarioFile`). Checks that need other keys or the operators' data (a
station listed twice, a node of the road network) stay with the code that reads the values.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from ptn.scenario.keys import REQUIRED, NameList, Shaped, Table, key
from ptn.scenario.operator_tables import CnoTable, DsoTable, TnoTable, TrafficTable

#: the mechanisms a scenario may name (their roles: ptn.scenario.document.MECHANISM_ROLES)
Mechanism = Literal["admm", "best-response", "profit-sharing"]
MECHANISMS: tuple[str, ...] = get_args(Mechanism)
#: the pricing game's CNOs best-respond one after another or all at once
BestResponseOrder = Literal["in-turn", "simultaneous"]
#: the pricing game's variants (MODELS.md §3): CNOs compete (Nash) or merge (cooperative)
GameVariant = Literal["nash", "cooperative"]
#: ``[coordinator] call_timeout_s = "auto"`` (as when unset): deadlines that fit the operators
AUTO = "auto"


class PublicTable(Table):
    """``[scenario]``: what every party may know."""

    name: str = key(REQUIRED, "the scenario's name")
    description: str = key("", "one line saying what the scenario is")
    periods: int = key(REQUIRED, "number of periods of the horizon", ge=1)
    period_hours: float | None = key(None, "length of a period", gt=0, unit="h",
                                     default_text="24 / periods")
    stations: NameList = key(REQUIRED, "public names of the charging stations, which the "
                                        "operators use in their messages",
                             type_name="list of station names")


class CoordinatorTable(Table):
    """``[coordinator]``: the mechanism, its parameters and how the coordinator calls the
    operators."""

    mechanism: Mechanism = key("admm", "the negotiation: ADMM to the joint minimum cost, the "
                                       "pricing game's best responses, or profit sharing",
                               choice="mechanism")
    max_rounds: int = key(200, "most rounds of the mechanism", ge=1)
    tolerance: float = key(1e-4, "ADMM stops when the relative primal and dual residuals are "
                                 "both below this", gt=0)
    initial_penalty_per_mw2h: float = key(50.0, "ADMM's initial penalty rho", gt=0,
                                          unit="$/MW²h")
    residual_balancing: bool = key(True, "residual balancing (Boyd et al. 2011, §3.4.1): rho "
                                         "x/÷ 2 when one residual exceeds 10x the other")
    baseline_tariff_per_mwh: float = key(85.0, "the uncoordinated baseline: traffic charges at "
                                               "this flat tariff, the DSO dispatches the result",
                                         ge=0, unit="$/MWh")
    call_timeout_s: Shaped = key(AUTO, 'every call\'s deadline, or "auto": one that fits the '
                                       "operators, generous for first calls", unit="s",
                                 type_name='number > 0 or "auto"')
    retries: int = key(2, "retries of calls that did not arrive", ge=0)
    operator_wait_s: float = key(300.0, "how long the coordinator waits for an unreachable "
                                        "operator to come back", gt=0, unit="s")
    variants: list[GameVariant] = key(["nash"], "pricing game: the variants to play, distinct "
                                                "(nash, cooperative)",
                                      type_name="list of nash, cooperative")
    certificate: bool = key(True, "pricing game: report the equilibrium certificate at its end")
    revenue_matrix: bool = key(True, "pricing game: report the revenue matrix at its end")
    initial_charging_price_per_mwh: float = key(200.0, "pricing game: the CNOs' posted prices "
                                                       "when it starts", gt=0, unit="$/MWh")
    best_response_order: BestResponseOrder = key("in-turn", "pricing game: the CNOs "
                                                            "best-respond one after another or "
                                                            "all at once")
    certificate_together: bool = key(False, "pricing game: the certificate's CNOs respond "
                                             "together (else one after another)")
    probe_batch_max: int | None = key(None, "pricing game: most probes one merged message "
                                            "carries; unset: no limit", ge=1)
    matrix_full_max_cnos: int = key(8, "pricing game: the revenue matrix holds every profile up "
                                       "to this many CNOs, else samples", ge=1)
    matrix_samples: int = key(16, "pricing game: sampled profiles of the revenue matrix", ge=0)
    matrix_seed: int = key(0, "pricing game: seed of the sampled profiles", ge=0)
    matrix_batch_probes: int = key(64, "pricing game: the revenue matrix's probes per message",
                                   ge=1)
    shares: Shaped = key([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
                         "profit sharing: the shares rho the DNO sweeps", unit="fraction",
                         type_name="list of numbers in [0, 1]")
    refine_tolerance: float = key(1e-3, "profit sharing: the share is refined to this", gt=0)


class ReferenceTable(Table):
    """``[reference]``: bounds the full-information reference beside the outcome."""

    time_limit_s: float = key(600.0, "how long the reference may take, then it is reported "
                                     "skipped", gt=0, unit="s")


class PrivacyTable(Table):
    """``[privacy]``: differentially private releases by the operators that own a datum
    (ptn.engines.privacy.settings.parse_privacy checks the keys together when the scenario is
    read; docs/privacy-mechanisms.md)."""

    mechanism: Literal["none", "laplace", "gaussian"] = key(
        "none", "the noise the owners add to their releases: none, laplace (epsilon-DP) or "
                "gaussian ((epsilon, delta)-DP)")
    epsilon: float | None = key(None, "the TOTAL privacy budget over the run, per protected "
                                      "datum and owner (inf: no noise)", gt=0,
                                allow_infinite=True,
                                default_text="inf with mechanism none, else required")
    delta: float = key(0.0, "the budget's delta (gaussian: required > 0, e.g. 1e-6)", ge=0,
                       lt=1)
    rounds: int | None = key(None, "the releases the budget is split across; past them the "
                                   "owner refuses. ADMM: rounds (at most "
                                   "coordinator.max_rounds); the pricing game: the traffic "
                                   "department's load answers (price responses and probe "
                                   "answers), required", ge=1,
                             default_text="coordinator.max_rounds (admm); required "
                                          "(best-response)")
    seed: int = key(0, "the seed of the owners' noise streams (one stream per operator and "
                       "datum)", ge=0)
    protect: list[Literal["station_loads", "prices"]] | None = key(
        None, "the protected data: station_loads (the traffic department adds the noise) "
              "and/or prices (the DSO, the CNOs)",
        type_name="list of station_loads, prices",
        default_text="[] with mechanism none, else required")
    adjacency: Literal["one_period", "one_profile"] = key(
        "one_period", "neighbouring data: one row (a station's load, a price) changed by up to "
                      "its bound in one period, or in every period")
    load_mw: float | None = key(None, "the bound of a neighbour's station load change (required "
                                      "when station_loads is protected)", gt=0, unit="MW")
    price_per_mwh: float | None = key(None, "the bound of a neighbour's price change (required "
                                            "when prices is protected)", gt=0, unit="$/MWh")


class OperatorPin(Table):
    """``[placement.operators.<id>]``: where one operator may run on a Ray cluster."""

    resources: dict[str, Any] = key({}, "custom resources its node must have (amount reserved)",
                                    type_name="table of positive numbers")
    resource: str = key("", "shorthand: a token amount (0.001) of one custom resource")
    node_id: str | None = key(None, "a node by its Ray node id (not with a placement group)")
    labels: dict[str, Any] = key({}, "a node whose Ray labels match",
                                 type_name="table of strings")
    cpus: float = key(0.0, "CPUs the operator reserves", ge=0,
                      message="expected a number of CPUs (0 or more)",
                      type_message="expected a number of CPUs (0 or more)")


class PlacementTable(Table):
    """``[placement]``: where operators run on a Ray cluster (ptn.scenario.placement)."""

    strategy: Literal["spread", "pack"] | None = key(
        None, "the operators as one placement group, spread over nodes or packed onto few")
    group: bool | None = key(None, "a placement group without a strategy (packed)",
                             default_text="true with a strategy, else false")
    ready_timeout_s: float = key(60.0, "how long the pinned operators may take to be placed",
                                 gt=0, unit="s")
    operators: dict[str, OperatorPin] = key({}, "one table per pinned operator id")


class StudyTable(Table):
    """``[study]``: read only by ``ptn study`` (ptn.lab.studies.study), which checks it when the
    study runs (loading a scenario leaves it as written; ``ptn scenario check`` checks it)."""

    kind: Literal["sue-der", "hosting"] = key(
        REQUIRED, "the study: seed 002's stochastic equilibrium with DER, or seed 003's cost "
                  "saving and EV hosting capacity")
    paper: str = key("", "the paper the study reproduces, for its report (e.g. \"seed 002\")")
    msa_tolerance: float = key(1e-2, "seed 002's MSA stopping tolerance of max_k |f_k^(n+1) − "
                                     "f_k^n|", gt=0, unit="veh/h")
    tariff_sigma: float = key(0.2, "seed 002's eq. 22: the flat band's half-width sigma, a "
                                   "fraction of the equivalent load's peak-to-valley "
                                   "difference", ge=0, le=0.5, unit="fraction")
    hosting_tolerance: float = key(1e-2, "hosting capacity: bisection to this relative width of "
                                         "the EV demand scale", gt=0, lt=1)
    hosting_max_scale: float = key(50.0, "hosting capacity: the largest EV demand scale "
                                         "searched", gt=0)


class ScenarioFile(Table):
    """A scenario file: the public table, the coordinator's, the operators' and the lab's."""

    scenario: PublicTable = key(REQUIRED, "what every party may know")
    coordinator: CoordinatorTable = key(CoordinatorTable(), "the mechanism and its parameters")
    study: StudyTable | None = key(None, "the study's settings (ptn study)", type_name="table")
    placement: PlacementTable | None = key(None, "where operators run on Ray", type_name="table")
    reference: ReferenceTable = key(ReferenceTable(), "the full-information reference")
    privacy: PrivacyTable | None = key(None, "differentially private releases (none: no noise)",
                                       type_name="table")
    dso: DsoTable | None = key(None, "the DSO's private data", type_name="table")
    traffic: TrafficTable | None = key(None, "the traffic department's private data",
                                       type_name="table")
    tno: TnoTable | None = key(None, "the transit network operator's private data",
                               type_name="table")
    cno: dict[str, CnoTable] = key({}, "one table per charging network operator <id>",
                                   type_name="tables [cno.<id>]")
