"""Differentially private pricing game (issue 20 item 2, seed 001): the traffic department
noises every load answer (price responses and probe answers).

Seed 001's game reduced to its non-cooperative variant, a few rounds and no revenue matrix (a
second or two a run): at ε = ∞ the game is the non-private one exactly; a finite ε adds seeded
Laplace noise whose spent ε is the closed form of basic composition (δ = 0: each answer costs
ε/R for R planned answers); the game stops with a status when the budget cannot cover the next
batch; a table protecting prices is refused naming its key.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from ptn import api
from ptn.engines.errors import InvalidInputError
from ptn.services.contract import OperatorStatus
from ptn.services.traffic.model import TrafficDepartmentModel

BOUND_MW = 0.1
#: the reduced game: the Nash variant, 4 rounds, its certificate, no revenue matrix
REDUCED = {"coordinator.variants": ["nash"], "coordinator.revenue_matrix": False,
           "coordinator.max_rounds": 4}


def private(epsilon: float, rounds: int = 100_000, **more: Any) -> dict[str, Any]:
    """Overrides for a ``[privacy]`` table protecting the station loads."""
    return {"privacy.mechanism": "laplace", "privacy.epsilon": epsilon,
            "privacy.rounds": rounds, "privacy.protect": ["station_loads"],
            "privacy.load_mw": BOUND_MW, **{f"privacy.{k}": v for k, v in more.items()}}


@pytest.fixture(scope="module")
def base() -> api.Scenario:
    return api.Scenario.load("pricing-seed001").with_overrides(REDUCED)


@pytest.fixture(scope="module")
def plain(base: api.Scenario) -> api.RunResult:
    return api.run(base, reference=False)


def nash(result: api.RunResult) -> dict[str, Any]:
    variant: dict[str, Any] = result.summary["variants"]["nash"]
    return variant


def test_infinite_epsilon_is_the_non_private_game_exactly(base: api.Scenario,
                                                          plain: api.RunResult) -> None:
    dp = api.run(base.with_overrides(private(math.inf)), reference=False)
    assert dp.summary["status"] == plain.summary["status"]
    # every number of the variant (prices, revenues, certificate) bit for bit
    for key in ("rounds", "final", "revenue_usd", "certificate", "member_revenue_usd"):
        assert nash(dp)[key] == nash(plain)[key], key
    assert dp.summary["privacy"]["active"] is False
    assert dp.summary["privacy"]["operators"] == {}
    assert dp.summary["privacy"]["load_answers"] > 100  # the answers were counted all the same
    assert "privacy" not in plain.summary


def test_finite_epsilon_noises_the_answers_seeded_and_accounted(base: api.Scenario,
                                                                plain: api.RunResult) -> None:
    epsilon, rounds = 5000.0, 4000
    one = api.run(base.with_overrides(private(epsilon, rounds, seed=1)), reference=False)
    again = api.run(base.with_overrides(private(epsilon, rounds, seed=1)), reference=False)
    other = api.run(base.with_overrides(private(epsilon, rounds, seed=2)), reference=False)
    assert nash(one)["revenue_usd"] == nash(again)["revenue_usd"]  # same seed, same game
    assert nash(one)["revenue_usd"] != nash(other)["revenue_usd"]
    assert nash(one)["revenue_usd"] != nash(plain)["revenue_usd"]
    block = one.summary["privacy"]
    spent = block["operators"]["traffic"]  # as of the department's last price response
    # δ = 0: basic composition, each answer costs ε/R
    assert spent["bound"] == "basic"
    assert spent["epsilon"] == pytest.approx(spent["releases"] * epsilon / rounds, rel=1e-12)
    # the certificate's probes came after the last price response
    # every answer asked (price responses and probes) is one release, in the reported account
    assert 4 < spent["releases"] == block["load_answers"] <= rounds
    assert block["budget_spent"] is False and spent["exhausted"] is False


def test_the_department_noises_each_probe_and_charges_its_accountant(base: api.Scenario
                                                                     ) -> None:
    scenario = base.with_overrides(private(10.0, 3))
    model = TrafficDepartmentModel.from_part(scenario.document.part("traffic"))
    exact = TrafficDepartmentModel.from_part(base.document.part("traffic"))
    price = np.full((len(model.stations), model.periods), 200.0)
    noisy = model.probe_responses([price, price])
    truth = exact.probe_responses([price, price])
    assert noisy.status == OperatorStatus.OK and len(noisy.load_mw) == 2
    assert not np.array_equal(noisy.load_mw[0], noisy.load_mw[1])  # two releases, two draws
    assert (noisy.load_mw[0] >= 0).all()  # clipped at zero
    assert not np.allclose(noisy.load_mw[0], truth.load_mw[0])
    assert model.privacy.releases == 2
    refused = model.probe_responses([price, price])  # 2 more do not fit in 3
    assert refused.status == OperatorStatus.INVALID_REQUEST
    assert "privacy budget spent after 2 load answers" in refused.message
    assert model.privacy.releases == 2
    last = model.respond_to_prices(price)  # the third fits
    assert last.privacy is not None and last.privacy.exhausted
    assert last.privacy.epsilon == pytest.approx(10.0)


# 20 answers run out in the third round (the game ends at its second), 60 in the certificate
@pytest.mark.parametrize(("rounds", "in_play"), [(20, True), (60, False)])
def test_budget_spent_ends_the_game_with_a_status(base: api.Scenario, plain: api.RunResult,
                                                  rounds: int, in_play: bool) -> None:
    result = api.run(base.with_overrides(private(1e4, rounds)), reference=False)
    summary = result.summary
    assert summary["status"] == "not_converged"
    assert "privacy budget spent after" in summary["message"]
    assert "skipped: certificate nash" in summary["message"]
    variant = nash(result)
    assert (variant["rounds"] < nash(plain)["rounds"]) is in_play
    assert variant["message"].startswith("privacy budget spent after") is in_play
    assert variant["rounds"] >= 1 and variant["certificate"]["epsilon_usd"] is None
    block = summary["privacy"]
    assert block["budget_spent"] is True
    assert block["load_answers"] <= rounds
    assert block["operators"]["traffic"]["epsilon"] <= 1e4 * (1 + 1e-9)
    assert block["operators"]["traffic"]["releases"] <= block["load_answers"]


def test_protecting_prices_in_the_game_is_refused(base: api.Scenario) -> None:
    with pytest.raises(InvalidInputError, match=r"privacy\.protect"):
        _ = base.with_overrides({"privacy.mechanism": "laplace", "privacy.epsilon": 1.0,
                                 "privacy.rounds": 100, "privacy.protect": ["prices"],
                                 "privacy.price_per_mwh": 5.0}).document
    with pytest.raises(InvalidInputError, match=r"privacy\.rounds"):
        without = private(1.0)
        del without["privacy.rounds"]
        _ = base.with_overrides(without).document
