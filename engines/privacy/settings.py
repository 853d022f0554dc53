"""The ``[privacy]`` scenario table, validated, and its budget split over the rounds.

Why this module exists: a differentially private run is stated by a few numbers that must be
checked before any operator starts (issue 20 item 2), and the per-round noise follows from them
by one rule that the accountant then verifies. The table:

.. code-block:: toml

    [privacy]
    mechanism = "laplace"        # none | laplace | gaussian
    epsilon = 1.0                # TOTAL over the run, per protected datum (inf: no noise)
    delta = 1e-6                 # the budget's δ (gaussian: required > 0; laplace: 0 allowed)
    rounds = 50                  # releases the budget is split across (default: max_rounds)
    seed = 7                     # the noise streams' seed
    protect = ["station_loads"]  # station_loads (traffic department) and/or prices (DSO, CNOs)
    adjacency = "one_period"     # one row changed in one period | one_profile: in every period
    load_mw = 0.5                # per-datum bound of a neighbour: one station's load, MW
    price_per_mwh = 5.0          # per-datum bound of a neighbour: one price, $/MWh

``epsilon`` is the total over the run, not per round, because the total is what a result must
report and compare across ε grids. The split (:meth:`PrivacySettings.plan`): Laplace rounds
get the largest equal ε0 whose composition over ``rounds`` rounds is within (epsilon, delta) by
the best of basic, advanced, zCDP and RDP composition (ε/rounds at δ = 0); Gaussian rounds get
the smaller σ of an equal zCDP split (ρ = (sqrt(L + ε) − sqrt(L))²/rounds, L = ln(1/δ)) and
an equal basic split (analytic σ at (ε/rounds, δ/rounds)). Each protected datum, and each
operator that owns one, has its own budget: one operator's noise does not spend another's.
Every bad value raises :class:`~ptn.engines.errors.InvalidInputError` naming ``privacy.<key>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ptn.engines.errors import InvalidInputError
from ptn.engines.privacy.accountant import PrivacyBudget, RoundCost, Totals, zcdp_rho_for
from ptn.engines.privacy.noise import GaussianMechanism, LaplaceMechanism
from ptn.engines.privacy.sensitivity import ADJACENCY_SCOPES, Adjacency, AdjacencyScope

MechanismName = Literal["none", "laplace", "gaussian"]
MECHANISMS: tuple[MechanismName, ...] = ("none", "laplace", "gaussian")
DatumName = Literal["station_loads", "prices"]

#: a protected datum: its owners (the roles that add the noise), its bound's key and unit
DATA: dict[DatumName, tuple[tuple[str, ...], str, str]] = {
    "station_loads": (("traffic",), "load_mw", "MW"),
    "prices": (("dso", "cno"), "price_per_mwh", "$/MWh"),
}
PRIVACY_KEYS = ("mechanism", "epsilon", "delta", "rounds", "seed", "protect", "adjacency",
                "load_mw", "price_per_mwh")
WHERE = "privacy"
#: bisection steps for the Laplace split (each halves the bracket: 2^-200 is below any ulp)
SPLIT_STEPS = 200


@dataclass(frozen=True)
class ProtectedDatum:
    """A datum released every round under noise: its name, the roles that own it, and what a
    neighbouring dataset is for it."""

    name: DatumName
    owners: tuple[str, ...]
    adjacency: Adjacency


@dataclass(frozen=True)
class RoundPlan:
    """The noise of every round of one datum, the budget it is within, and the rounds."""

    mechanism: LaplaceMechanism | GaussianMechanism | None
    budget: PrivacyBudget
    rounds: int

    @property
    def cost(self) -> RoundCost | None:
        return None if self.mechanism is None else self.mechanism.cost


@dataclass(frozen=True)
class PrivacySettings:
    """The validated ``[privacy]`` table (defaults: no noise)."""

    mechanism: MechanismName = "none"
    epsilon: float = math.inf
    delta: float = 0.0
    rounds: int | None = None
    seed: int = 0
    protected: tuple[ProtectedDatum, ...] = ()

    @property
    def active(self) -> bool:
        """Whether any noise is added (a mechanism, a finite ε and something protected)."""
        return self.mechanism != "none" and math.isfinite(self.epsilon) and bool(self.protected)

    def datum(self, name: DatumName) -> ProtectedDatum | None:
        return next((d for d in self.protected if d.name == name), None)

    def plan(self, name: DatumName, periods: int, default_rounds: int) -> RoundPlan:
        """Each round's mechanism for datum ``name`` over (rows × ``periods``) releases, the
        budget split over ``rounds`` (or ``default_rounds``) rounds (module docstring)."""
        rounds = self.rounds if self.rounds is not None else default_rounds
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise InvalidInputError(f"{WHERE}.rounds: expected an integer >= 1, got {rounds!r}")
        budget = PrivacyBudget(self.epsilon, self.delta)
        datum = self.datum(name)
        if self.mechanism == "none" or datum is None:
            return RoundPlan(None, PrivacyBudget(math.inf, self.delta), rounds)
        sensitivity = datum.adjacency.sensitivity(periods)
        if self.mechanism == "laplace":
            return RoundPlan(LaplaceMechanism(sensitivity, laplace_round_epsilon(
                self.epsilon, self.delta, rounds)), budget, rounds)
        rho = zcdp_rho_for(self.epsilon, self.delta) / rounds
        by_rho = GaussianMechanism.for_rho(sensitivity, rho, self.delta / rounds)
        by_basic = GaussianMechanism.calibrated(sensitivity, self.epsilon / rounds,
                                                self.delta / rounds)
        return RoundPlan(min(by_rho, by_basic, key=lambda m: m.sigma), budget, rounds)

    def stream(self, operator_id: str, name: DatumName) -> str:
        """The noise stream's name for an operator's datum (one stream each)."""
        return f"{operator_id}/{name}"


def laplace_round_epsilon(epsilon: float, delta: float, rounds: int) -> float:
    """The largest equal per-round ε0 whose ``rounds``-fold composition is within (ε, δ) by the
    best bound (bisection keeping the feasible end; ε/rounds is always feasible)."""
    if math.isinf(epsilon):
        return math.inf

    def within(per_round: float) -> bool:
        spent = Totals().plus(RoundCost.laplace(per_round), times=rounds).spent(delta)
        return spent.best.epsilon <= epsilon

    low = epsilon / rounds
    high = 2.0 * epsilon
    if within(high):  # pragma: no cover - needs δ near 1
        return high
    for _ in range(SPLIT_STEPS):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        low, high = (middle, high) if within(middle) else (low, middle)
    return low


def parse_privacy(table: Mapping[str, Any], default_rounds: int | None = None,
                  source: str = "") -> PrivacySettings:
    """The ``[privacy]`` table read and validated; errors name ``privacy.<key>`` (after
    ``source``, e.g. the scenario file, when given: ``file: privacy.key: message``, as the
    scenario reader's errors do).

    ``default_rounds`` ([coordinator] max_rounds) bounds ``rounds``: a split over more rounds
    than can run wastes budget, and is refused."""
    try:
        return _read_table(table, default_rounds)
    except InvalidInputError as error:
        if not source:
            raise
        raise InvalidInputError(f"{source}: {error}") from error


def _read_table(table: Mapping[str, Any], default_rounds: int | None) -> PrivacySettings:
    if not isinstance(table, Mapping):
        _fail("", f"expected a table [{WHERE}], got {type(table).__name__}")
    for key in table:
        if key not in PRIVACY_KEYS:
            _fail(key, f"unknown key (allowed: {', '.join(PRIVACY_KEYS)})")
    mechanism = table.get("mechanism", "none")
    if mechanism not in MECHANISMS:
        _fail("mechanism", f"expected one of {', '.join(MECHANISMS)}, got {mechanism!r}")
    epsilon = _number(table, "epsilon", math.inf if mechanism == "none" else None)
    if not epsilon > 0:
        _fail("epsilon", f"expected a number > 0 (inf: no noise), got {epsilon!r}")
    delta = _number(table, "delta", 0.0)
    if not 0 <= delta < 1:
        _fail("delta", f"expected a number in [0, 1), got {delta!r}")
    if mechanism == "gaussian" and delta == 0:
        _fail("delta", "the gaussian mechanism needs delta > 0 (e.g. 1e-6)")
    rounds = _integer(table, "rounds", None, minimum=1)
    if rounds is not None and default_rounds is not None and rounds > default_rounds:
        _fail("rounds", f"{rounds} rounds is more than the {default_rounds} the coordinator "
                        "runs (coordinator.max_rounds)")
    seed = _integer(table, "seed", 0, minimum=0)
    protect = table.get("protect", [] if mechanism == "none" else None)
    if protect is None:
        _fail("protect", f"missing: name the protected data among {', '.join(DATA)}")
    if not isinstance(protect, list) or any(p not in DATA for p in protect) \
            or len(set(protect)) < len(protect):
        _fail("protect", f"expected a list of distinct data among {', '.join(DATA)}, got "
                         f"{protect!r}")
    scope = table.get("adjacency", "one_period")
    if scope not in ADJACENCY_SCOPES:
        _fail("adjacency", f"expected one of {', '.join(ADJACENCY_SCOPES)}, got {scope!r}")
    protected = tuple(_protected(table, name, scope) for name in protect)
    for name, (_, key, _) in DATA.items():
        if key in table and name not in protect:
            _fail(key, f"bounds {name}, which protect does not list")
    return PrivacySettings(mechanism, epsilon, delta, rounds, seed or 0, protected)


def _protected(table: Mapping[str, Any], name: DatumName, scope: AdjacencyScope
               ) -> ProtectedDatum:
    owners, key, unit = DATA[name]
    bound = _number(table, key, None, why=f"the neighbour's bound for {name}, in {unit}")
    if not (math.isfinite(bound) and bound > 0):
        _fail(key, f"expected a finite number > 0 ({unit}), got {bound!r}")
    return ProtectedDatum(name, owners, Adjacency(scope, bound, unit))


def _fail(key: str, message: str) -> None:
    raise InvalidInputError(f"{WHERE}.{key}: {message}" if key else f"{WHERE}: {message}")


def _number(table: Mapping[str, Any], key: str, default: float | None, *, why: str = ""
            ) -> float:
    if key not in table:
        if default is None:
            _fail(key, "missing" + (f" ({why})" if why else ""))
        return float(default)  # type: ignore[arg-type]
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        _fail(key, f"expected a number, got {value!r}")
    return float(value)


def _integer(table: Mapping[str, Any], key: str, default: int | None, *, minimum: int
             ) -> int | None:
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(key, f"expected an integer >= {minimum}, got {value!r}")
    return int(value)
