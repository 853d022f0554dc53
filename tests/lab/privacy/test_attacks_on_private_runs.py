"""The attack battery on differentially private runs: the DSO's reconstruction of the traffic
department's hourly demand from the ADMM messages degrades as the department's ε falls.

The runs are real private negotiations (the department's own Laplace noise on its station loads,
``[privacy]``), on the default scenario over 4 periods; the attack sees exactly the messages.
"""

from __future__ import annotations

import math

import ptn
from ptn.lab.privacy.audit import admm_attacks
from ptn.lab.privacy.response_fit import ATTACK


def demand_error(epsilon: float, seed: int) -> float:
    scenario = ptn.Scenario.load(None, periods=4)
    if math.isfinite(epsilon):
        scenario = scenario.with_overrides({
            "privacy.mechanism": "laplace", "privacy.epsilon": epsilon, "privacy.delta": 1e-6,
            "privacy.rounds": 20, "privacy.seed": seed, "privacy.protect": ["station_loads"],
            "privacy.load_mw": 0.1, "coordinator.max_rounds": 20})
    outcome = ptn.run(scenario, reference=False).outcome
    attack = next(a for a in admm_attacks(scenario.document, outcome) if a.attack == ATTACK)
    assert attack.ok, attack.message
    return attack.error


def test_the_demand_attack_degrades_as_epsilon_falls() -> None:
    exact = demand_error(math.inf, 0)
    weak = sum(demand_error(100.0, seed) for seed in range(2)) / 2
    strong = sum(demand_error(1.0, seed) for seed in range(2)) / 2
    assert exact < 0.01  # without noise: within 1 % (measured 0.17 %)
    assert exact < weak < strong
    assert strong > 10 * exact
