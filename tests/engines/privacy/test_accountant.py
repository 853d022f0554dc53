"""The privacy accountant (ptn.engines.privacy.accountant) against closed forms written here.

k rounds of ε0 compose to kε0 (basic); to ε0 sqrt(2k ln(1/δ')) + kε0(e^ε0 − 1) (Dwork & Roth
2014, Thm 3.20, written out); ρ adds and converts to ρ + 2 sqrt(ρ ln(1/δ)). The zCDP bound of k
Gaussian rounds is checked to be a true upper bound of, and close to, the exact ε of their
composition (k Gaussian rounds of σ are one Gaussian of σ/sqrt(k)), found by a bisection on the
exact privacy profile here. The budget refuses a round as a status and records nothing.
"""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from ptn.engines.errors import InvalidInputError
from ptn.engines.privacy.accountant import (
    PrivacyAccountant,
    PrivacyBudget,
    RoundCost,
    compose,
    zcdp_rho_for,
)


def dwork_roth_advanced(epsilon0: float, rounds: int, slack: float) -> float:
    return epsilon0 * math.sqrt(2 * rounds * math.log(1 / slack)) \
        + rounds * epsilon0 * (math.exp(epsilon0) - 1)


def exact_gaussian_epsilon(sensitivity: float, sigma: float, delta: float) -> float:
    def profile(epsilon: float) -> float:
        a, b = sensitivity / (2 * sigma), epsilon * sigma / sensitivity
        return float(norm.cdf(a - b) - math.exp(epsilon) * norm.cdf(-a - b))

    low, high = 0.0, 1.0
    while profile(high) > delta:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if profile(middle) > delta else (low, middle)
    return high


@pytest.mark.parametrize(("epsilon0", "rounds"), [(0.1, 1), (0.1, 50), (0.5, 7), (1.0, 200)])
def test_basic_composition_adds(epsilon0: float, rounds: int) -> None:
    accountant = PrivacyAccountant()
    for _ in range(rounds):
        assert accountant.charge(RoundCost.pure(epsilon0)).status == "admitted"
    spent = accountant.spent()
    assert spent.rounds == rounds
    assert spent.bound("basic") is not None
    assert spent.epsilon == pytest.approx(rounds * epsilon0, rel=1e-14)
    assert spent.bound("advanced") is None and spent.bound("zcdp") is None  # δ target 0


def test_basic_composition_adds_deltas_too() -> None:
    costs = (RoundCost(0.3, 1e-7), RoundCost(0.2, 2e-7), RoundCost(0.5))
    basic = compose(costs, 0.0).bound("basic")
    assert basic is not None
    assert (basic.epsilon, basic.delta) == (pytest.approx(1.0), pytest.approx(3e-7))


@pytest.mark.parametrize(("epsilon0", "rounds", "target"), [
    (0.01, 1000, 1e-6), (0.05, 400, 1e-5), (0.2, 30, 1e-3)])
def test_advanced_composition_is_dwork_roth_theorem_3_20(epsilon0: float, rounds: int,
                                                         target: float) -> None:
    spent = compose((RoundCost.pure(epsilon0),) * rounds, target)
    advanced = spent.bound("advanced")
    assert advanced is not None
    assert advanced.epsilon == pytest.approx(dwork_roth_advanced(epsilon0, rounds, target),
                                             rel=1e-12)
    assert advanced.delta == target


def test_advanced_composition_spends_the_delta_left_after_the_rounds() -> None:
    costs = (RoundCost(0.1, 1e-6),) * 100
    spent = compose(costs, 1e-3)
    advanced = spent.bound("advanced")
    assert advanced is not None
    assert advanced.epsilon == pytest.approx(dwork_roth_advanced(0.1, 100, 1e-3 - 100 * 1e-6),
                                             rel=1e-12)
    assert compose(costs, 5e-5).bound("advanced") is None  # no δ left for δ'


def test_unequal_rounds_charged_one_by_one_compose_like_the_formula() -> None:
    epsilons = [0.05 * (1 + (i % 7)) for i in range(300)]
    accountant = PrivacyAccountant(PrivacyBudget(math.inf, 1e-6))
    for epsilon in epsilons:
        accountant.charge(RoundCost.pure(epsilon))
    advanced = accountant.spent().bound("advanced")
    assert advanced is not None
    expected = math.sqrt(2 * math.log(1e6) * sum(e * e for e in epsilons)) \
        + sum(e * (math.exp(e) - 1) for e in epsilons)
    assert advanced.epsilon == pytest.approx(expected, rel=1e-12)
    basic = accountant.spent().bound("basic")
    assert basic is not None and basic.epsilon == pytest.approx(sum(epsilons), rel=1e-12)


def test_zcdp_adds_rho_and_converts() -> None:
    costs = (RoundCost(1.0, 1e-6, rho=0.02),) * 10 + (RoundCost.pure(0.1),) * 4
    rho = 10 * 0.02 + 4 * 0.1**2 / 2
    spent = compose(costs, 1e-6)
    zcdp = spent.bound("zcdp")
    assert spent.rho == pytest.approx(rho, rel=1e-14)
    assert zcdp is not None
    assert zcdp.epsilon == pytest.approx(rho + 2 * math.sqrt(rho * math.log(1e6)), rel=1e-14)
    assert zcdp_rho_for(zcdp.epsilon, 1e-6) == pytest.approx(rho, rel=1e-12)


@pytest.mark.parametrize(("sigma", "rounds", "delta"), [(5.0, 20, 1e-6), (20.0, 500, 1e-5),
                                                        (1.0, 3, 1e-3)])
def test_zcdp_of_gaussian_rounds_bounds_their_exact_composition(sigma: float, rounds: int,
                                                                delta: float) -> None:
    sensitivity = 1.5
    cost = RoundCost(math.inf, 0.0, rho=sensitivity**2 / (2 * sigma**2))
    zcdp = compose((cost,) * rounds, delta).bound("zcdp")
    assert zcdp is not None
    exact = exact_gaussian_epsilon(sensitivity, sigma / math.sqrt(rounds), delta)
    assert exact <= zcdp.epsilon <= 1.6 * exact


def test_the_best_bound_is_the_least_epsilon_within_the_target_delta() -> None:
    few = compose((RoundCost.pure(0.5),) * 2, 1e-6)
    assert few.best.name == "basic" and few.epsilon == pytest.approx(1.0)
    many = compose((RoundCost.pure(0.01),) * 2000, 1e-6)
    epsilons = {b.name: b.epsilon for b in many.bounds}
    assert many.best.name == min(epsilons, key=lambda name: epsilons[name])
    assert many.epsilon < 2000 * 0.01 / 2  # far below basic composition's 20
    # Gaussian rounds whose δ_i exceed the target: basic does not count, zCDP does
    gaussian = compose((RoundCost(0.5, 1e-5, rho=0.01),) * 10, 1e-6)
    assert gaussian.best.name == "zcdp"
    assert gaussian.epsilon == pytest.approx(0.1 + 2 * math.sqrt(0.1 * math.log(1e6)))


def test_a_budget_refuses_the_round_that_would_exceed_it() -> None:
    accountant = PrivacyAccountant(PrivacyBudget(epsilon=1.0, delta=0.0))
    answers = [accountant.charge(RoundCost.pure(0.3)) for _ in range(4)]
    assert [a.status for a in answers] == ["admitted", "admitted", "admitted", "refused"]
    refused = answers[-1]
    assert "past the budget of epsilon 1" in refused.reason and "round 4" in refused.reason
    assert refused.spent.rounds == 3 and refused.spent.epsilon == pytest.approx(0.9)
    assert len(accountant.costs) == 3  # nothing recorded
    assert accountant.charge(RoundCost.pure(0.1)).status == "admitted"  # exactly 1.0 fits


def test_a_budget_with_zero_delta_refuses_gaussian_rounds() -> None:
    accountant = PrivacyAccountant(PrivacyBudget(epsilon=100.0, delta=0.0))
    assert accountant.charge(RoundCost(0.1, 1e-9, rho=0.001)).status == "refused"


def test_an_infinite_budget_admits_everything() -> None:
    accountant = PrivacyAccountant()
    assert accountant.charge(RoundCost(math.inf)).status == "admitted"
    assert accountant.charge(RoundCost(0.5, 0.1, 0.2)).status == "admitted"
    assert accountant.spent().epsilon == math.inf


def test_the_record_lists_every_bound_flat() -> None:
    record = compose((RoundCost.pure(0.2),) * 3, 1e-6).record()
    assert record["rounds"] == 3 and record["bound"] == "basic"
    assert record["epsilon"] == pytest.approx(0.6) and record["delta"] == 0.0
    assert record["epsilon_basic"] == pytest.approx(0.6)
    assert record["epsilon_advanced"] == pytest.approx(dwork_roth_advanced(0.2, 3, 1e-6))
    assert record["rho"] == pytest.approx(3 * 0.2**2 / 2)
    assert set(record) == {"rounds", "epsilon", "delta", "bound", "rho", "epsilon_basic",
                           "epsilon_advanced", "epsilon_zcdp", "epsilon_rdp"}
    assert "epsilon_advanced" not in compose((RoundCost.pure(0.2),), 0.0).record()


def test_no_rounds_spend_nothing() -> None:
    spent = PrivacyAccountant(PrivacyBudget(1.0, 1e-6)).spent()
    assert spent.rounds == 0 and spent.epsilon == 0.0 and spent.rho == 0.0


@pytest.mark.parametrize(("build", "named"), [
    (lambda: RoundCost(0.0), "epsilon"), (lambda: RoundCost(1.0, 1.0), "delta"),
    (lambda: RoundCost(1.0, -0.1), "delta"), (lambda: RoundCost(1.0, 0.0, -1.0), "rho"),
    (lambda: PrivacyBudget(-1.0), "epsilon"), (lambda: PrivacyBudget(1.0, 2.0), "delta"),
    (lambda: compose((), 1.5), "target_delta"),
])
def test_bad_costs_and_budgets_are_refused_by_name(build: object, named: str) -> None:
    assert callable(build)
    with pytest.raises(InvalidInputError, match=named):
        build()
