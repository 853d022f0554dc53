"""Scenarios as data: one TOML file, split into the parts each party may read.

Why this module exists: a scenario describes a whole coordination experiment (both networks,
the coupling, the mechanism's parameters), but no operator may see another's data. The file is
therefore read into a :class:`Scenario` whose :meth:`Scenario.part` hands each operator only its
own table plus the public facts, and whose :attr:`Scenario.coordinator` holds only the
mechanism's parameters. Every problem is one :class:`~ptn.engines.errors.InvalidInputError` naming
the file and the key path (``my.toml: traffic.station[2].node: ...``). The keys, their types,
defaults and bounds are declared once in the schema (:mod:`ptn.scenario.schema`, whose
reference is docs/scenarios.md); this module validates the shared tables against it and adds
the checks across keys, and each operator's reader validates its own table.

Layout (the default, ``scenarios/nguyen-dupuis-ieee33.toml``, is the example)::

    [scenario]      name, description, periods, period_hours, stations (public names)
    [coordinator]   mechanism and its parameters, call deadlines (call_timeout_s: seconds, or
                    unset or "auto": ptn.coordinator.runtime.deadlines) and retries
    [traffic]       the traffic department's private data (ptn.services.traffic.model)
    [dso]           the DSO's private data (ptn.services.dso.model)
    [cno.<id>]      one table per charging network operator <id> (ptn.services.cno.model)
    [privacy]       differentially private releases (ptn.engines.privacy.settings): public,
                    every part carries it, and the owner of a protected datum adds the noise

Roles with one operator (``dso``, ``traffic``, ``tno``) have one table whose operator id is the
role's name; a role with many (``cno``) has one sub-table per operator, named by its id. When
the pricing game's ``cooperative`` variant is asked for, the scenario also holds the derived
operator :data:`ALLIANCE_ID`: all CNOs merged into one (seed 001's cooperative game), whose
table lists its members' tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, get_args

from ptn import scenarios
from ptn.engines.errors import InvalidInputError
from ptn.engines.privacy.settings import PrivacySettings, parse_privacy
from ptn.engines.toml_keys import KeyReader, parse_toml_text, show_value
from ptn.scenario.placement import Placement, parse_placement
from ptn.scenario.schema import (
    AUTO,
    BestResponseOrder,
    CoordinatorTable,
    GameVariant,
    PublicTable,
    ReferenceTable,
    ScenarioFile,
)
from ptn.scenario.validation import validate_table

DEFAULT_SCENARIO = scenarios.DEFAULT

#: operator roles a scenario may hold, in the order they are started: one per service of the
#: schema (ptn.protocol.schema.SERVICE_OF_ROLE; tests/test_architecture.py checks that they
#: agree; ptn.services.hosting holds each role's code)
ROLES = ("dso", "traffic", "tno", "cno")
#: roles with one sub-table per operator (``[cno.<id>]``)
MULTI_OPERATOR_ROLES = ("cno",)
#: the derived operator of the cooperative pricing game: every CNO merged into one
ALLIANCE_ID = "cno-alliance"
#: the mechanisms a scenario may name (``coordinator.mechanism``; each a plug-in of
#: ptn.coordinator.mechanisms.registry) and the operator roles each needs
MECHANISM_ROLES = {
    "admm": ("dso", "traffic"),
    "best-response": ("dso", "traffic", "cno"),
    "profit-sharing": ("dso", "tno"),
}
#: variants of the pricing game (MODELS.md §3): CNOs compete (Nash) or merge (cooperative)
GAME_VARIANTS: tuple[str, ...] = get_args(GameVariant)

SCENARIO_KEYS = tuple(PublicTable.model_fields)
COORDINATOR_KEYS = tuple(CoordinatorTable.model_fields)
#: the orders in which the pricing game's CNOs best-respond (ptn.coordinator.mechanisms.
#: game_settings takes them, and its defaults, from here)
BEST_RESPONSE_ORDERS: tuple[str, ...] = get_args(BestResponseOrder)
#: ``[study]`` is read only by ``ptn study`` (ptn.lab.studies.study), the experimenter's
#: full-information side; no operator sees it
#: ``[placement]`` says where operators run on a Ray cluster (ptn.scenario.placement)
#: ``[reference]`` bounds the full-information reference set beside the outcome
#: (ptn.lab.references.by_mechanism: ``time_limit_s``, then it is reported skipped)
TOP_LEVEL_KEYS = tuple(ScenarioFile.model_fields)
#: the reference's time limit when ``[reference] time_limit_s`` is not set (s; agrees with
#: ptn.lab.references.by_mechanism.DEFAULT_TIME_LIMIT_S)
DEFAULT_REFERENCE_TIME_LIMIT_S: float = ReferenceTable().time_limit_s

#: ``$NAME`` or ``${NAME}`` in a path of a scenario file
_VARIABLE = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})")
#: what the environment variables scenario files use should point to (for the unset error)
VARIABLE_HINTS = {"PTN_TNTP_DIR": "the directory of the TNTP networks"}


@dataclass(frozen=True)
class PublicInfo:
    """What every party of a scenario may know."""

    name: str
    description: str
    periods: int
    period_hours: float
    stations: tuple[str, ...]
    #: the periods the scenario file states, when ``--periods`` resampled its day (data given
    #: per period of the file, e.g. a trip table, are resampled from them); None otherwise
    file_periods: int | None = None


#: the defaults of every coordinator key, as the schema declares them
_COORDINATOR = CoordinatorTable()


@dataclass(frozen=True)
class CoordinatorSettings:
    """The coordinator's part: the mechanism and how it talks to operators (the keys, their
    defaults and meanings: ptn.scenario.schema.CoordinatorTable)."""

    mechanism: str = _COORDINATOR.mechanism
    max_rounds: int = _COORDINATOR.max_rounds
    tolerance: float = _COORDINATOR.tolerance
    initial_penalty_per_mw2h: float = _COORDINATOR.initial_penalty_per_mw2h
    residual_balancing: bool = _COORDINATOR.residual_balancing
    baseline_tariff_per_mwh: float = _COORDINATOR.baseline_tariff_per_mwh
    #: every call's deadline (s); None (the key unset or ``"auto"``): one that fits the
    #: operators, generous for first calls (ptn.coordinator.runtime.deadlines)
    call_timeout_s: float | None = None
    retries: int = _COORDINATOR.retries
    #: how long the coordinator waits for an unreachable operator to come back (s)
    operator_wait_s: float = _COORDINATOR.operator_wait_s
    #: the pricing game: which variants to play, and the reports at its end
    variants: tuple[str, ...] = tuple(_COORDINATOR.variants)
    certificate: bool = _COORDINATOR.certificate
    revenue_matrix: bool = _COORDINATOR.revenue_matrix
    #: the CNOs' prices in force when the game starts (public: posted prices)
    initial_charging_price_per_mwh: float = _COORDINATOR.initial_charging_price_per_mwh
    #: the pricing game at scale (ptn.coordinator.mechanisms.game_settings): the CNOs'
    #: order, the most probes a merged message carries, the revenue matrix's profiles
    best_response_order: str = _COORDINATOR.best_response_order
    certificate_together: bool = _COORDINATOR.certificate_together
    probe_batch_max: int | None = _COORDINATOR.probe_batch_max
    matrix_full_max_cnos: int = _COORDINATOR.matrix_full_max_cnos
    matrix_samples: int = _COORDINATOR.matrix_samples
    matrix_seed: int = _COORDINATOR.matrix_seed
    matrix_batch_probes: int = _COORDINATOR.matrix_batch_probes
    #: profit sharing: the shares ρ the DNO sweeps, then refines to this tolerance
    shares: tuple[float, ...] = tuple(_COORDINATOR.shares)
    refine_tolerance: float = _COORDINATOR.refine_tolerance


@dataclass(frozen=True)
class ScenarioPart:
    """One operator's view of a scenario: the public facts and its own table, nothing else."""

    role: str
    operator_id: str
    public: PublicInfo
    data: dict[str, Any]
    source: str  # the file (or built-in name) the part came from, for error messages
    base_directory: Path  # relative paths in the part are resolved against this
    #: the ``[privacy]`` table (public: every owner of a protected datum adds its noise)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    #: the coordinator's mechanism (public): which of an owner's answers its noise applies to
    #: (the traffic department's ADMM steps, or every load answer of the pricing game)
    mechanism: str = ""

    @property
    def reader(self) -> KeyReader:
        return KeyReader(self.source)

    def resolve(self, value: str, key: str | None = None) -> Path:
        """A path written in the part, relative to the scenario file's directory.

        ``~`` and environment variables (``$NAME``, ``${NAME}``) are expanded, so a scenario
        can point to data its users keep elsewhere (``$PTN_TNTP_DIR/SiouxFalls``); an unset (or
        empty) variable is an error naming the file, ``key`` (default: the part's role) and the
        variable.
        """

        def expand(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            if os.environ.get(name):
                return os.environ[name]
            hint = VARIABLE_HINTS.get(name)
            self.reader.fail(key or self.role, f"${name} is not set"
                                               + (f" (point it to {hint})" if hint else ""))
            return ""  # unreachable: fail raises

        path = Path(_VARIABLE.sub(expand, value)).expanduser()
        return path if path.is_absolute() else self.base_directory / path


@dataclass(frozen=True)
class Scenario:
    """A validated scenario file: public facts, coordinator settings and operator parts."""

    public: PublicInfo
    coordinator: CoordinatorSettings
    parts: dict[str, ScenarioPart]
    source: str
    text: str
    #: the number of periods the file's day was resampled to (``load_scenario(periods=...)``),
    #: None when the file's own periods apply; operators started as processes get it too
    resampled_periods: int | None = None
    #: the ``[study]`` table as written (validated by ``ptn study``), empty when absent
    study: dict[str, Any] = field(default_factory=dict)
    #: the ``[placement]`` table (where operators run on Ray), None when absent
    placement: Placement | None = None
    #: ``[reference] time_limit_s``: how long the full-information reference may take (s)
    reference_time_limit_s: float = DEFAULT_REFERENCE_TIME_LIMIT_S
    #: ``[privacy]``: the operators' differentially private releases (default: no noise)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)

    @property
    def operator_ids(self) -> tuple[str, ...]:
        return tuple(self.parts)

    @cached_property
    def fingerprint(self) -> str:
        """A digest of what the scenario says (its parsed tables, key order and comments aside,
        and the periods it was resampled to): checkpoints carry it, so a negotiation is never
        resumed under another scenario. ``[placement]`` is left out: where the operators run
        does not change the negotiation, so it may resume on another cluster layout; nor is
        ``[reference]`` (how long the reference beside it may take)."""
        document = tomllib.loads(self.text)
        document.pop("placement", None)
        document.pop("reference", None)
        canonical = json.dumps([document, self.resampled_periods], sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def operators_of(self, role: str) -> tuple[str, ...]:
        """Operator ids of one role, in file order (the derived alliance last)."""
        return tuple(i for i, part in self.parts.items() if part.role == role)

    def part(self, operator_id: str) -> ScenarioPart:
        if operator_id not in self.parts:
            raise InvalidInputError(
                f"{self.source}: no operator {operator_id!r} (has: {', '.join(self.parts)})"
            )
        return self.parts[operator_id]


def builtin_scenario_text(name: str) -> str:
    """The TOML text of a built-in scenario (:mod:`ptn.scenarios`)."""
    path = scenarios.path(name)
    if path is None:
        raise InvalidInputError(
            f"unknown scenario {name!r} (built-in: {', '.join(scenarios.names())}; or a path)"
        )
    return path.read_text("utf-8")


def load_scenario(spec: str | Path | None = None, *, periods: int | None = None) -> Scenario:
    """Read a scenario from a path or a built-in name (default: :data:`DEFAULT_SCENARIO`).

    ``periods`` resamples the scenario's horizon to that many periods of equal length (a
    reduced horizon: the same span in fewer, longer periods, e.g. a day of 24 hourly periods
    as 4 of 6 h). Every per-period list written with 24 hourly values (demand, load and price
    profiles, tariffs) and every built-in profile is resampled by its reader; a list with one
    value per original period of another count is then an error naming its key.
    """
    spec = DEFAULT_SCENARIO if spec is None else spec
    if isinstance(spec, str) and spec in scenarios.names():
        text = builtin_scenario_text(spec)
        return scenario_from_text(text, source=spec, base_directory=Path.cwd(), periods=periods)
    path = Path(spec)
    if not path.exists() and not str(spec).endswith(".toml") and "/" not in str(spec):
        builtin_scenario_text(str(spec))  # raises naming the built-in scenarios
    try:
        raw = path.read_bytes()
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise InvalidInputError(f"cannot read scenario {path}: {reason}") from error
    text = raw.decode("utf-8", errors="replace")
    parse_toml_text(raw, str(path))  # UTF-8 and syntax errors name file:line
    return scenario_from_text(text, source=str(path), base_directory=path.resolve().parent,
                              periods=periods)


def scenario_from_text(text: str, *, source: str, base_directory: Path,
                       periods: int | None = None) -> Scenario:
    """Parse and validate scenario TOML text read from ``source`` (``periods``: see
    :func:`load_scenario`)."""
    document = parse_toml_text(text.encode("utf-8"), source)
    reader = KeyReader(source)
    # the operators' tables are validated by their readers (ptn.services.<role>.config), each
    # against its schema (ptn.scenario.operator_tables), when the part is checked or used;
    # [study] by ptn study (ptn.lab.studies.study) when it runs
    shared = validate_table(ScenarioFile, {name: value for name, value in document.items()
                                           if name not in (*ROLES, "study")}, source, "")
    public = _public(reader, shared.scenario)
    if periods is not None:
        if isinstance(periods, bool) or int(periods) != periods or periods < 1:
            raise InvalidInputError(f"--periods must be a positive integer, got {periods!r}")
        span_hours = public.periods * public.period_hours
        public = replace(public, periods=int(periods), period_hours=span_hours / int(periods),
                         file_periods=public.periods)
    coordinator = _coordinator(reader, shared.coordinator)
    # the pricing game's releases are its load answers, not bounded by its rounds
    privacy = PrivacySettings() if shared.privacy is None else parse_privacy(
        shared.privacy.model_dump(exclude_unset=True),
        None if coordinator.mechanism in ANSWER_PLANNED else coordinator.max_rounds, source)
    _check_privacy_wired(reader, privacy, coordinator.mechanism)
    if privacy.rounds is None:  # the budget is split over the rounds the coordinator runs
        privacy = replace(privacy, rounds=coordinator.max_rounds)
    check_tables_used(reader, document, coordinator.mechanism)
    parts: dict[str, ScenarioPart] = {}
    for role in ROLES:
        if role not in document:
            continue
        data = reader.table(document, role)
        if role not in MULTI_OPERATOR_ROLES:
            parts[role] = ScenarioPart(role, role, public, data, source, base_directory, privacy,
                                         coordinator.mechanism)
            continue
        if not data:
            reader.fail(role, f"no operators: write one [{role}.<id>] table per operator")
        for operator_id, table in data.items():
            where = f"{role}.{operator_id}"
            if not isinstance(table, dict):
                reader.fail(where, f"expected a table [{where}] per operator, got "
                                   f"{show_value(table)}")
            if operator_id in ROLES or operator_id == ALLIANCE_ID \
                    or not operator_id.replace("-", "").replace("_", "").isalnum():
                reader.fail(where, f"operator id {operator_id!r} is reserved or not made of "
                                   "letters, digits, '-' and '_'")
            parts[operator_id] = ScenarioPart(role, operator_id, public, table, source,
                                              base_directory, privacy, coordinator.mechanism)
    if not parts:
        reader.fail("", f"no operator tables (expected some of: {', '.join(ROLES)})")
    for needed in MECHANISM_ROLES[coordinator.mechanism]:
        if not any(part.role == needed for part in parts.values()):
            reader.fail("", f"mechanism {coordinator.mechanism!r} needs a [{needed}] table")
    cnos = [part for part in parts.values() if part.role == "cno"]
    if coordinator.mechanism == "best-response" and "cooperative" in coordinator.variants:
        if len(cnos) < 2:
            reader.fail("coordinator.variants", "the cooperative variant needs at least two "
                                                "CNOs to merge")
        members = {part.operator_id: part.data for part in cnos}
        parts[ALLIANCE_ID] = ScenarioPart("cno", ALLIANCE_ID, public, {"members": members},
                                          source, base_directory, privacy,
                                          coordinator.mechanism)
    study = reader.table(document, "study") if "study" in document else {}
    placement = None if shared.placement is None else \
        parse_placement(reader, shared.placement, tuple(parts))
    return Scenario(public, coordinator, parts, source, text,
                    resampled_periods=None if periods is None else public.periods, study=study,
                    placement=placement, reference_time_limit_s=shared.reference.time_limit_s,
                    privacy=privacy)


#: the data each mechanism releases with differentially private noise (issue 20): ADMM's
#: traffic department its station loads (each step's), the pricing game's its station loads
#: (every price response and probe answer); the other mechanisms none yet
PRIVATE_DATA = {"admm": ("station_loads",), "best-response": ("station_loads",)}
#: the mechanisms whose ``[privacy] rounds`` counts load answers, not coordinator rounds (no
#: default: the game's answers per round vary, its rounds do not bound them)
ANSWER_PLANNED = ("best-response",)


def _check_privacy_wired(reader: KeyReader, privacy: PrivacySettings, mechanism: str) -> None:
    """Refuse a ``[privacy]`` table that protects a datum the mechanism does not noise: it
    would read as a guarantee the run does not give; the pricing game's budget needs its
    ``rounds`` (load answers) stated."""
    if privacy.mechanism == "none":
        return
    wired = PRIVATE_DATA.get(mechanism, ())
    for datum in privacy.protected:
        if datum.name not in wired:
            reader.fail("privacy.protect",
                        f"mechanism {mechanism!r} does not noise {datum.name} yet (noised: "
                        f"{', '.join(wired) or 'nothing'}; docs/privacy-mechanisms.md)")
    if mechanism in ANSWER_PLANNED and privacy.protected and privacy.rounds is None:
        reader.fail("privacy.rounds",
                    f"mechanism {mechanism!r} splits the budget over load answers (price "
                    "responses and probe answers, not rounds): state how many "
                    "(docs/privacy-mechanisms.md, \"The pricing game\")")


#: tables of an operator's table that only some mechanisms read: (role, key) -> mechanisms
MECHANISM_SUBTABLES = {("dso", "pricing"): ("best-response",)}


def check_tables_used(reader: KeyReader, document: dict[str, Any], mechanism: str) -> None:
    """Refuse a table that the scenario's mechanism does not read (a ``[cno.<id>]`` table in
    an ADMM scenario, ``[tno]`` in a pricing game, ``[dso.pricing]`` outside the pricing
    game): it would be silently ignored, or fail at run time."""
    roles = MECHANISM_ROLES[mechanism]
    for role in ROLES:
        if role in document and role not in roles:
            users = [name for name, needed in MECHANISM_ROLES.items() if role in needed]
            written = f"[{role}.<id>]" if role in MULTI_OPERATOR_ROLES else f"[{role}]"
            reader.fail(role, f"table {written} is not used by mechanism {mechanism!r} (it uses "
                              f"{', '.join(f'[{r}]' for r in roles)}; {written} is read by "
                              f"{', '.join(users)}): remove it or change "
                              "coordinator.mechanism")
    for (role, name), readers in MECHANISM_SUBTABLES.items():
        data = document.get(role)
        if isinstance(data, dict) and name in data and mechanism not in readers:
            reader.fail(f"{role}.{name}", f"table [{role}.{name}] is not used by mechanism "
                                          f"{mechanism!r} (only by {', '.join(readers)}): remove "
                                          "it or change coordinator.mechanism")


def _public(reader: KeyReader, table: PublicTable) -> PublicInfo:
    """The ``[scenario]`` table (validated by the schema) with its cross-key checks."""
    period_hours = 24.0 / table.periods if table.period_hours is None else table.period_hours
    seen: set[str] = set()
    for position, station in enumerate(table.stations):
        if not isinstance(station, str) or not station.strip():
            reader.fail(f"scenario.stations[{position}]",
                        f"expected a station name, got {show_value(station)}")
        if station in seen:
            reader.fail(f"scenario.stations[{position}]", f"station {station!r} is listed twice")
        seen.add(station)
    return PublicInfo(table.name, table.description, table.periods, period_hours,
                      tuple(table.stations))


def _coordinator(reader: KeyReader, table: CoordinatorTable) -> CoordinatorSettings:
    """The ``[coordinator]`` table (validated by the schema) as settings; the keys of several
    shapes are checked here."""
    where = "coordinator"
    timeout = table.call_timeout_s
    if timeout != AUTO and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                            or not timeout > 0 or timeout == float("inf")):
        reader.fail(f"{where}.call_timeout_s",
                    f"expected seconds or \"{AUTO}\", got {show_value(timeout)}"
                    if not isinstance(timeout, int | float) or isinstance(timeout, bool)
                    else f"must be positive, got {show_value(timeout)}")
    if not table.variants or len(set(table.variants)) < len(table.variants):
        reader.fail(f"{where}.variants", f"expected a list of distinct variants among "
                                         f"{', '.join(GAME_VARIANTS)}, got "
                                         f"{show_value(table.variants)}")
    shares = table.shares
    if not isinstance(shares, list) or not shares or any(
            isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1
            for v in shares):
        reader.fail(f"{where}.shares", f"expected a list of shares in [0, 1], got "
                                       f"{show_value(shares)}")
    values = table.model_dump(exclude={"call_timeout_s", "variants", "shares"})
    return CoordinatorSettings(
        **values, call_timeout_s=None if timeout == AUTO else float(timeout),
        variants=tuple(table.variants), shares=tuple(sorted({float(v) for v in shares})))
