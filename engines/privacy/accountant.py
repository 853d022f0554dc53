"""The privacy an operator has spent over all rounds, by three composition theorems, and a budget.

Why this module exists: every noisy release of a datum spends privacy, and a negotiation
releases it every round. The accountant records each round's cost and states the total by

- basic composition (Dwork & Roth 2014, Thm 3.16): (Σε_i, Σδ_i);
- advanced composition (Dwork, Rothblum & Vadhan 2010; Dwork & Roth 2014, Thm 3.20), for a
  slack δ' > 0: ε = sqrt(2 ln(1/δ') Σε_i²) + Σε_i(e^ε_i − 1) at δ = Σδ_i + δ' (for k equal
  rounds, ε0·sqrt(2k ln(1/δ')) + kε0(e^ε0 − 1), the theorem as printed; unequal rounds use the
  same Azuma argument with per-round ranges);
- zCDP (Bun & Steinke 2016): ρ adds over rounds (Lemma 1.7); an ε-DP round is ε²/2-zCDP
  (Prop. 1.4), a Gaussian round Δ2²/(2σ²)-zCDP (Prop. 1.6); ρ-zCDP gives (ρ + 2 sqrt(ρ ln(1/δ)),
  δ)-DP for every δ > 0 (Prop. 1.3);
- Rényi DP (Mironov 2017): each round's curve ε(α) adds, converted at the best order
  (:mod:`ptn.engines.privacy.rdp`; tighter than zCDP for Laplace rounds).

The accountant is stated at a target δ (the budget's): the advanced bound spends the δ left
after the rounds' own δ_i on δ', the zCDP bound converts at the target δ, and the ε *spent* is
the least ε among the bounds whose δ is within the target. A budget refuses a round that would
take the best bound past it: a status, not an exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ptn.engines.errors import InvalidInputError
from ptn.engines.privacy.calibration import check_delta, check_epsilon
from ptn.engines.privacy.rdp import ORDERS, Curve, gaussian_rdp, laplace_rdp, pure_rdp, rdp_epsilon

#: relative slack on the budget's ε, so that a plan that spends exactly its budget is not
#: refused for a rounding error in the last digit
BUDGET_RELATIVE_SLACK = 1e-9

BoundName = Literal["basic", "advanced", "zcdp", "rdp"]


@dataclass(frozen=True)
class RoundCost:
    """One round's privacy cost: (ε, δ)-DP, ρ-zCDP (∞ when not known) and its Rényi curve at
    :data:`~ptn.engines.privacy.rdp.ORDERS` (None: the one ρ, or ε for δ = 0, implies)."""

    epsilon: float
    delta: float = 0.0
    rho: float = math.inf
    rdp: Curve | None = None

    def __post_init__(self) -> None:
        check_epsilon(self.epsilon, "epsilon")
        check_delta(self.delta, "delta", allow_zero=True)
        if isinstance(self.rho, bool) or not isinstance(self.rho, int | float) \
                or math.isnan(self.rho) or self.rho < 0:
            raise InvalidInputError(f"rho: expected a number >= 0 (or inf), got {self.rho!r}")

    @classmethod
    def pure(cls, epsilon: float) -> RoundCost:
        """An ε-DP round (e.g. Laplace): δ = 0 and ρ = ε²/2 (Bun & Steinke 2016, Prop. 1.4)."""
        return cls(epsilon=epsilon, delta=0.0, rho=float(epsilon) ** 2 / 2.0)

    @classmethod
    def laplace(cls, epsilon: float) -> RoundCost:
        """A Laplace round calibrated to ε: ε-DP with Laplace's own Rényi curve."""
        return cls(epsilon=epsilon, delta=0.0, rho=float(epsilon) ** 2 / 2.0,
                   rdp=laplace_rdp(float(epsilon)))

    def curve(self) -> Curve:
        """The Rényi curve charged for this round."""
        if self.rdp is not None:
            return self.rdp
        if self.delta == 0:
            return pure_rdp(self.epsilon, self.rho)
        return gaussian_rdp(self.rho)


@dataclass(frozen=True)
class Bound:
    """A composition theorem's statement: the rounds together are (epsilon, delta)-DP."""

    name: BoundName
    epsilon: float
    delta: float


@dataclass(frozen=True)
class PrivacySpent:
    """The privacy spent by ``rounds`` rounds, by each theorem that applies, at ``target_delta``.

    ``best`` is the least ε among the bounds whose δ is within the target (the basic bound if
    none is, e.g. Gaussian rounds whose δ_i add up past the target)."""

    rounds: int
    target_delta: float
    rho: float
    bounds: tuple[Bound, ...]

    @property
    def best(self) -> Bound:
        within = [b for b in self.bounds if b.delta <= self.target_delta * (1 + 1e-12)]
        return min(within or self.bounds[:1], key=lambda b: b.epsilon)

    @property
    def epsilon(self) -> float:
        """The ε spent so far: the best bound's."""
        return self.best.epsilon

    def bound(self, name: BoundName) -> Bound | None:
        """The named theorem's bound, or None where it does not apply."""
        return next((b for b in self.bounds if b.name == name), None)

    def record(self) -> dict[str, float | int | str]:
        """Flat fields for a results folder or a metrics endpoint (issue 20 item 3): the
        rounds, the ε spent and its δ, the best bound's name, ρ, and each applicable bound's ε
        as ``epsilon_<name>``."""
        best = self.best
        fields: dict[str, float | int | str] = {
            "rounds": self.rounds, "epsilon": best.epsilon, "delta": best.delta,
            "bound": best.name, "rho": self.rho}
        fields.update({f"epsilon_{b.name}": b.epsilon for b in self.bounds})
        return fields


@dataclass(frozen=True)
class PrivacyBudget:
    """At most (epsilon, delta)-DP over the whole run; ε = ∞ is no limit. ``delta`` is also
    the target δ the accountant states its bounds at (0: the basic bound only)."""

    epsilon: float
    delta: float = 0.0

    def __post_init__(self) -> None:
        check_epsilon(self.epsilon, "epsilon")
        check_delta(self.delta, "delta", allow_zero=True)

    def allows(self, spent: PrivacySpent) -> bool:
        """Whether the best bound of ``spent`` is within the budget (always, at ε = ∞)."""
        if math.isinf(self.epsilon):
            return True
        best = spent.best
        return best.delta <= self.delta * (1 + 1e-12) \
            and best.epsilon <= self.epsilon * (1 + BUDGET_RELATIVE_SLACK)


@dataclass(frozen=True)
class Admission:
    """The answer to a round asking to spend: ``admitted`` (recorded) or ``refused`` (not
    recorded, with the reason); ``spent`` is the total after the answer."""

    status: Literal["admitted", "refused"]
    spent: PrivacySpent
    reason: str = ""


@dataclass(frozen=True)
class Totals:
    """The sums the bounds are made of, kept as rounds are added (a run of many rounds costs
    one addition per round, not a recomposition of all of them)."""

    rounds: int = 0
    epsilon: float = 0.0
    delta: float = 0.0
    epsilon_squared: float = 0.0
    drift: float = 0.0  # Σ ε_i(e^ε_i − 1), advanced composition's mean privacy loss
    rho: float = 0.0
    curve: Curve = (0.0,) * len(ORDERS)

    def plus(self, cost: RoundCost, times: int = 1) -> Totals:
        """These totals and ``times`` more rounds of ``cost``."""
        e = cost.epsilon
        drift = e * math.expm1(e) if e < 700 else math.inf
        return Totals(self.rounds + times, self.epsilon + times * e,
                      self.delta + times * cost.delta, self.epsilon_squared + times * e * e,
                      self.drift + times * drift, self.rho + times * cost.rho,
                      tuple(a + times * b for a, b in zip(self.curve, cost.curve(),
                                                          strict=True)))

    def spent(self, target_delta: float) -> PrivacySpent:
        """The bounds of these rounds, stated at ``target_delta``."""
        target_delta = check_delta(target_delta, "target_delta", allow_zero=True)
        bounds = [Bound("basic", self.epsilon, self.delta)]
        slack = target_delta - self.delta
        if slack > 0:
            bounds.append(Bound("advanced", advanced_epsilon(self.epsilon_squared, self.drift,
                                                             slack), target_delta))
        if target_delta > 0:
            bounds.append(Bound("zcdp", zcdp_epsilon(self.rho, target_delta), target_delta))
            bounds.append(Bound("rdp", rdp_epsilon(self.curve, target_delta), target_delta))
        return PrivacySpent(self.rounds, target_delta, self.rho, tuple(bounds))


def compose(costs: tuple[RoundCost, ...], target_delta: float) -> PrivacySpent:
    """The bounds of the rounds ``costs`` composed, stated at ``target_delta``."""
    totals = Totals()
    for cost in costs:
        totals = totals.plus(cost)
    return totals.spent(target_delta)


def advanced_epsilon(epsilon_squared: float, drift: float, slack_delta: float) -> float:
    """ε of advanced composition: sqrt(2 ln(1/δ') Σε_i²) + Σε_i(e^ε_i − 1), from the sums."""
    if math.isinf(epsilon_squared) or math.isinf(drift):
        return math.inf
    return math.sqrt(2.0 * math.log(1.0 / slack_delta) * epsilon_squared) + drift


def zcdp_epsilon(rho: float, delta: float) -> float:
    """ε of ρ-zCDP at δ > 0: ρ + 2 sqrt(ρ ln(1/δ)) (Bun & Steinke 2016, Prop. 1.3)."""
    if math.isinf(rho):
        return math.inf
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))


def zcdp_rho_for(epsilon: float, delta: float) -> float:
    """The largest ρ whose conversion at δ is within ε: (sqrt(L + ε) − sqrt(L))², L = ln(1/δ)
    (the inverse of :func:`zcdp_epsilon`)."""
    if math.isinf(epsilon):
        return math.inf
    log_term = math.log(1.0 / delta)
    return (math.sqrt(log_term + epsilon) - math.sqrt(log_term)) ** 2


@dataclass
class PrivacyAccountant:
    """The rounds one operator's datum has been released in, and the privacy spent on them,
    against an optional budget (its δ is the target δ of the bounds)."""

    budget: PrivacyBudget = field(default_factory=lambda: PrivacyBudget(math.inf, 0.0))
    costs: list[RoundCost] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)

    def __post_init__(self) -> None:
        for cost in self.costs:
            self.totals = self.totals.plus(cost)

    def spent(self) -> PrivacySpent:
        """The privacy spent so far."""
        return self.totals.spent(self.budget.delta)

    def would_spend(self, cost: RoundCost) -> PrivacySpent:
        """The privacy spent if one more round of ``cost`` were admitted."""
        return self.totals.plus(cost).spent(self.budget.delta)

    def charge(self, cost: RoundCost) -> Admission:
        """Record a round if the budget allows it, or refuse it (nothing recorded)."""
        after = self.totals.plus(cost)
        spent = after.spent(self.budget.delta)
        if not self.budget.allows(spent):
            best = spent.best
            return Admission("refused", self.spent(),
                             f"round {spent.rounds} would spend epsilon {best.epsilon:.6g} at "
                             f"delta {best.delta:.3g} ({best.name} composition), past the "
                             f"budget of epsilon {self.budget.epsilon:.6g} at delta "
                             f"{self.budget.delta:.3g}")
        self.costs.append(cost)
        self.totals = after
        return Admission("admitted", spent)
