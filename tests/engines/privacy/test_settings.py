"""The ``[privacy]`` table (ptn.engines.privacy.settings): validation and the budget's split.

Every bad value raises InvalidInputError naming ``privacy.<key>``. The split is checked by the
accountant and by closed forms written here: the planned rounds spend at most the budget (and
one more round is refused), the Laplace split is at least ε/rounds and the Gaussian zCDP split
is σ = Δ2/sqrt(2ρ/rounds) with ρ = (sqrt(L + ε) − sqrt(L))², L = ln(1/δ). The package is pure:
importing it loads no grpc, ray or protobuf.
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.privacy.accountant import PrivacyAccountant
from ptn.engines.privacy.noise import GaussianMechanism, LaplaceMechanism, noise_generator
from ptn.engines.privacy.settings import RoundPlan, parse_privacy

LAPLACE: dict[str, Any] = {"mechanism": "laplace", "epsilon": 1.0, "delta": 1e-6,
                           "rounds": 40, "seed": 7, "protect": ["station_loads"],
                           "adjacency": "one_period", "load_mw": 0.5}
GAUSSIAN: dict[str, Any] = {**LAPLACE, "mechanism": "gaussian", "protect": ["station_loads",
                                                                              "prices"],
                            "adjacency": "one_profile", "price_per_mwh": 5.0}


def spend_the_plan(plan: RoundPlan) -> PrivacyAccountant:
    """An accountant with the plan's budget, charged every planned round (each must be
    admitted, and one round more refused)."""
    accountant = PrivacyAccountant(plan.budget)
    assert plan.cost is not None
    for _ in range(plan.rounds):
        assert accountant.charge(plan.cost).status == "admitted"
    assert accountant.charge(plan.cost).status == "refused"
    assert accountant.spent().rounds == plan.rounds
    return accountant


def test_no_table_means_no_noise() -> None:
    settings = parse_privacy({})
    assert settings.mechanism == "none" and not settings.active
    plan = settings.plan("station_loads", periods=24, default_rounds=50)
    assert plan.mechanism is None and plan.cost is None


def test_a_laplace_table_reads_its_values() -> None:
    settings = parse_privacy(LAPLACE, default_rounds=50)
    assert (settings.mechanism, settings.epsilon, settings.delta, settings.rounds,
            settings.seed) == ("laplace", 1.0, 1e-6, 40, 7)
    (datum,) = settings.protected
    assert datum.name == "station_loads" and datum.owners == ("traffic",)
    assert datum.adjacency.describe() == "one row changed by up to 0.5 MW in one period"
    assert settings.active
    assert settings.stream("traffic", "station_loads") == "traffic/station_loads"
    assert settings.datum("prices") is None


def test_prices_are_protected_by_the_dso_and_the_cnos() -> None:
    datum = parse_privacy(GAUSSIAN).datum("prices")
    assert datum is not None and datum.owners == ("dso", "cno")
    assert datum.adjacency.unit == "$/MWh" and datum.adjacency.bound == 5.0


@pytest.mark.parametrize(("epsilon", "delta", "rounds"), [
    (1.0, 0.0, 40), (1.0, 1e-6, 40), (0.1, 1e-6, 1), (8.0, 1e-5, 300)])
def test_the_laplace_split_spends_the_budget_and_no_more(epsilon: float, delta: float,
                                                         rounds: int) -> None:
    settings = parse_privacy({**LAPLACE, "epsilon": epsilon, "delta": delta,
                              "rounds": rounds})
    plan = settings.plan("station_loads", periods=24, default_rounds=rounds)
    assert isinstance(plan.mechanism, LaplaceMechanism)
    assert plan.mechanism.scale == pytest.approx(0.5 / plan.mechanism.epsilon)  # Δ1 = bound
    assert plan.mechanism.epsilon >= epsilon / rounds * (1 - 1e-12)
    if delta == 0:
        assert plan.mechanism.epsilon == pytest.approx(epsilon / rounds, rel=1e-12)
    assert spend_the_plan(plan).spent().epsilon == pytest.approx(epsilon, rel=1e-6)


def test_many_laplace_rounds_get_more_than_basic_composition_allows() -> None:
    plan = parse_privacy({**LAPLACE, "epsilon": 2.0, "rounds": 400}).plan(
        "station_loads", periods=24, default_rounds=400)
    assert plan.mechanism is not None
    assert plan.mechanism.epsilon > 2 * (2.0 / 400)
    accountant = spend_the_plan(plan)
    assert accountant.spent().best.name == "rdp"  # Laplace's own Rényi curve pays off
    assert accountant.spent().epsilon == pytest.approx(2.0, rel=1e-9)


@pytest.mark.parametrize(("epsilon", "delta", "rounds"), [(1.0, 1e-6, 40), (4.0, 1e-5, 200)])
def test_the_gaussian_split_is_the_zcdp_one_for_many_rounds(epsilon: float, delta: float,
                                                            rounds: int) -> None:
    settings = parse_privacy({**GAUSSIAN, "epsilon": epsilon, "delta": delta,
                              "rounds": rounds})
    plan = settings.plan("prices", periods=24, default_rounds=rounds)
    assert isinstance(plan.mechanism, GaussianMechanism)
    log_term = math.log(1 / delta)
    rho = (math.sqrt(log_term + epsilon) - math.sqrt(log_term)) ** 2
    l2 = 5.0 * math.sqrt(24)  # one price's whole profile
    assert plan.mechanism.sigma == pytest.approx(l2 / math.sqrt(2 * rho / rounds), rel=1e-12)
    spent = spend_the_plan(plan).spent()
    assert spent.best.name == "zcdp" and spent.epsilon == pytest.approx(epsilon, rel=1e-9)


def test_one_gaussian_round_uses_the_analytic_calibration() -> None:
    """For a single round the analytic σ at (ε, δ) beats the zCDP conversion."""
    settings = parse_privacy({**GAUSSIAN, "rounds": 1})
    plan = settings.plan("station_loads", periods=4, default_rounds=1)
    assert isinstance(plan.mechanism, GaussianMechanism)
    analytic = GaussianMechanism.calibrated(plan.mechanism.sensitivity, 1.0, 1e-6)
    assert plan.mechanism.sigma == analytic.sigma
    assert spend_the_plan(plan).spent().epsilon == pytest.approx(1.0, rel=1e-9)


def test_rounds_default_to_the_coordinators() -> None:
    settings = parse_privacy({k: v for k, v in LAPLACE.items() if k != "rounds"})
    plan = settings.plan("station_loads", periods=24, default_rounds=25)
    assert plan.rounds == 25 and plan.mechanism is not None
    stated = parse_privacy({**LAPLACE, "rounds": 25}).plan("station_loads", 24, 999)
    assert plan.mechanism == stated.mechanism
    assert plan.mechanism != parse_privacy(LAPLACE).plan("station_loads", 24, 25).mechanism


def test_infinite_epsilon_releases_the_input_exactly() -> None:
    settings = parse_privacy({**LAPLACE, "epsilon": math.inf})
    assert not settings.active
    plan = settings.plan("station_loads", periods=3, default_rounds=40)
    assert plan.mechanism is not None
    loads = np.array([[0.3, 1 / 7, 2.0], [0.0, 4.5, 1e-9]])
    released = plan.mechanism.release(loads, noise_generator(7, "traffic/station_loads"))
    assert released.tobytes() == loads.tobytes()


def test_none_keeps_its_other_keys_checked_but_adds_nothing() -> None:
    settings = parse_privacy({**LAPLACE, "mechanism": "none"})
    assert not settings.active
    assert settings.plan("station_loads", periods=3, default_rounds=40).mechanism is None


@pytest.mark.parametrize(("change", "key"), [
    ({"mechanism": "exponential"}, "privacy.mechanism"),
    ({"epsilon": 0}, "privacy.epsilon"),
    ({"epsilon": -1.0}, "privacy.epsilon"),
    ({"epsilon": "1"}, "privacy.epsilon"),
    ({"epsilon": math.nan}, "privacy.epsilon"),
    ({"delta": 1.0}, "privacy.delta"),
    ({"delta": -1e-6}, "privacy.delta"),
    ({"mechanism": "gaussian", "delta": 0.0}, "privacy.delta"),
    ({"rounds": 0}, "privacy.rounds"),
    ({"rounds": 2.5}, "privacy.rounds"),
    ({"rounds": 51}, "privacy.rounds"),
    ({"seed": -3}, "privacy.seed"),
    ({"seed": True}, "privacy.seed"),
    ({"protect": "station_loads"}, "privacy.protect"),
    ({"protect": ["station_loads", "station_loads"]}, "privacy.protect"),
    ({"protect": ["od_demand"]}, "privacy.protect"),
    ({"adjacency": "one_station"}, "privacy.adjacency"),
    ({"load_mw": 0.0}, "privacy.load_mw"),
    ({"load_mw": math.inf}, "privacy.load_mw"),
    ({"load_mw": [1.0]}, "privacy.load_mw"),
    ({"price_per_mwh": 3.0}, "privacy.price_per_mwh"),  # prices not protected
    ({"protect": ["station_loads", "prices"]}, "privacy.price_per_mwh"),  # bound missing
    ({"epsilom": 1.0}, "privacy.epsilom"),
])
def test_bad_values_raise_naming_the_key(change: dict[str, Any], key: str) -> None:
    with pytest.raises(InvalidInputError, match=f"^{key.replace('.', '[.]')}: "):
        parse_privacy({**LAPLACE, **change}, default_rounds=50)


def test_missing_required_keys_are_named() -> None:
    with pytest.raises(InvalidInputError, match=r"^privacy\.epsilon: missing"):
        parse_privacy({"mechanism": "laplace"})
    with pytest.raises(InvalidInputError, match=r"^privacy\.protect: missing"):
        parse_privacy({"mechanism": "laplace", "epsilon": 1.0})
    with pytest.raises(InvalidInputError, match=r"^privacy\.load_mw: missing"):
        parse_privacy({"mechanism": "laplace", "epsilon": 1.0, "protect": ["station_loads"]})
    with pytest.raises(InvalidInputError, match=r"^privacy: expected a table"):
        parse_privacy([1, 2])  # type: ignore[arg-type]


def test_errors_name_the_file_when_told() -> None:
    with pytest.raises(InvalidInputError,
                       match=r"^study\.toml: privacy\.epsilon: expected a number > 0"):
        parse_privacy({**LAPLACE, "epsilon": -1.0}, source="study.toml")


def test_the_package_imports_no_transport() -> None:
    code = ("import sys, ptn.engines.privacy.settings\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('grpc', 'ray', 'google', 'cvxpy', 'pyomo')))\n")
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=False)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "[]"
