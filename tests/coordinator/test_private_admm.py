"""Differentially private ADMM (issue 20 item 2): the traffic department noises its loads.

The default scenario on a reduced horizon (4 periods of 6 h, a few seconds a run): at ε = ∞ the
run is the non-private one exactly; a finite ε adds Laplace noise whose scale is the closed form
b = d·R/ε (δ = 0: basic composition splits ε equally over the R planned rounds); the noise is
seeded; the negotiation stops with a status when the budget is spent; the results and the
operator's metrics report the ε spent; a bad ``[privacy]`` table names its key.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from ptn import api
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints, operator_endpoints
from ptn.engines.coupling import CouplingSide, CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.protocol.codec import to_series
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import builtin_scenario_text, load_scenario, scenario_from_text
from ptn.services.contract import OperatorStatus
from ptn.services.host import OperatorHost
from ptn.services.traffic.model import TrafficDepartmentModel

PERIODS = 4
BOUND_MW = 0.5


def private(epsilon: float, **more: Any) -> dict[str, Any]:
    """Overrides for a ``[privacy]`` table protecting the station loads."""
    return {"privacy.mechanism": "laplace", "privacy.epsilon": epsilon,
            "privacy.protect": ["station_loads"], "privacy.load_mw": BOUND_MW,
            **{f"privacy.{k}": v for k, v in more.items()}}


@pytest.fixture(scope="module")
def base() -> api.Scenario:
    return api.Scenario.load("nguyen-dupuis-ieee33", periods=PERIODS)


@pytest.fixture(scope="module")
def plain(base: api.Scenario) -> api.RunResult:
    return api.run(base, reference=False)


def traffic_model(base: api.Scenario, overrides: dict[str, Any] | None = None
                  ) -> TrafficDepartmentModel:
    scenario = base.with_overrides(overrides) if overrides else base
    return TrafficDepartmentModel.from_part(scenario.document.part("traffic"))


def coupling(model: TrafficDepartmentModel, price: float = 90.0) -> CouplingTerms:
    shape = (len(model.stations), model.periods)
    return CouplingTerms(np.full(shape, price), 50.0, np.full(shape, 1.0),
                         model.config.period_hours, CouplingSide.CONSUMER, model.stations)


def test_infinite_epsilon_is_the_non_private_run_exactly(base: api.Scenario,
                                                         plain: api.RunResult) -> None:
    dp = api.run(base.with_overrides(private(math.inf)), reference=False)
    for name in ("status", "rounds", "agreed", "baseline", "saving_vs_baseline"):
        assert dp.summary[name] == plain.summary[name], name
    assert dp.loads is not None and plain.loads is not None
    assert dp.loads.equals(plain.loads)
    assert dp.prices is not None and plain.prices is not None and dp.prices.equals(plain.prices)
    assert dp.summary["privacy"]["active"] is False
    assert dp.summary["privacy"]["operators"] == {}  # nothing noised, nothing reported
    assert "privacy" not in plain.summary


def test_the_released_noise_has_the_calibrated_laplace_scale(base: api.Scenario) -> None:
    epsilon, rounds = 20.0, 40
    noisy_model = traffic_model(base, private(epsilon, rounds=rounds, seed=3))
    exact_model = traffic_model(base)
    noise = []
    for step in range(rounds):
        terms = coupling(exact_model, 80.0 + step)
        exact = exact_model.consensus_step(terms)
        noisy = noisy_model.consensus_step(terms)
        assert exact.load_mw is not None and noisy.load_mw is not None
        assert noisy.privacy is not None and noisy.privacy.releases == step + 1
        noise.append(noisy.load_mw - exact.load_mw)
    sample = np.concatenate([n.ravel() for n in noise])
    scale = BOUND_MW * rounds / epsilon  # b = Δ1/ε0, ε0 = ε/R (δ = 0: basic composition)
    # mean |X| estimates b with standard deviation b/sqrt(n) (Var|X| = b² for Laplace)
    tolerance = 4 * scale / math.sqrt(sample.size)
    assert abs(np.mean(np.abs(sample)) - scale) < tolerance
    assert abs(np.std(sample) - math.sqrt(2) * scale) < 0.25 * math.sqrt(2) * scale
    assert stats.kstest(sample, stats.laplace(scale=scale).cdf).pvalue > 1e-3
    # the whole budget is spent in the planned rounds, and the next step is refused unsolved
    assert noisy.privacy.epsilon == pytest.approx(epsilon, rel=1e-9)
    assert noisy.privacy.exhausted
    refused = noisy_model.consensus_step(coupling(noisy_model))
    assert refused.status == OperatorStatus.INVALID_REQUEST and refused.load_mw is None
    assert refused.message.startswith(f"privacy budget spent after {rounds} rounds")


def test_a_resumed_model_continues_the_same_stream_and_account(base: api.Scenario) -> None:
    overrides = private(5.0, rounds=6, seed=11)
    straight, resumed = traffic_model(base, overrides), traffic_model(base, overrides)
    for step in range(3):
        straight.consensus_step(coupling(straight, 80.0 + step))
    resumed.restore(straight.snapshot())
    after = [model.consensus_step(coupling(model, 95.0)) for model in (straight, resumed)]
    assert after[0].load_mw is not None and after[1].load_mw is not None
    np.testing.assert_allclose(after[1].load_mw, after[0].load_mw, rtol=0, atol=1e-6)
    assert after[0].privacy == after[1].privacy and after[1].privacy is not None
    assert after[1].privacy.releases == 4


def test_same_seed_same_result_other_seed_other_result_and_the_budget_status(
        base: api.Scenario, tmp_path: Path) -> None:
    epsilon, rounds = 30.0, 5
    runs = [api.run(base.with_overrides(private(epsilon, rounds=rounds, seed=seed)),
                    reference=False, out=tmp_path / f"run{k}" if k == 0 else None)
            for k, seed in enumerate((1, 1, 2))]
    summaries = [run.summary for run in runs]
    assert summaries[0]["agreed"] == summaries[1]["agreed"]
    assert runs[0].loads is not None and runs[1].loads is not None and runs[2].loads is not None
    assert runs[0].loads.equals(runs[1].loads)
    assert not runs[0].loads.equals(runs[2].loads)
    assert summaries[0]["agreed"]["total"] != summaries[2]["agreed"]["total"]
    first = summaries[0]
    assert first["status"] == "not_converged"
    assert first["message"] == f"privacy budget spent after {rounds} rounds (traffic)"
    assert first["rounds"] == rounds
    block = first["privacy"]
    assert block["mechanism"] == "laplace" and block["active"] and block["budget_spent"]
    assert block["epsilon_budget"] == epsilon and block["rounds_planned"] == rounds
    traffic = block["operators"]["traffic"]
    assert traffic["releases"] == rounds and traffic["exhausted"]
    assert traffic["epsilon"] == pytest.approx(epsilon, rel=1e-9)
    assert traffic["bound"] == "basic" and traffic["delta"] == 0
    assert f"privacy:             traffic spent epsilon {epsilon:g} of {epsilon:g} (delta 0, " \
           f"basic composition) in {rounds} noisy releases; budget spent" in runs[0].format()
    written = (tmp_path / "run0" / "summary.json").read_text("utf-8")
    assert '"privacy"' in written and '"budget_spent": true' in written


def test_the_metrics_report_the_epsilon_spent(base: api.Scenario) -> None:
    epsilon, rounds = 4.0, 8
    host = OperatorHost(traffic_model(base, private(epsilon, rounds=rounds)))
    model = host.model
    assert isinstance(model, TrafficDepartmentModel)
    shape = (len(model.stations), model.periods)
    for step in (1, 2):
        header = common_pb2.RequestHeader(negotiation_id="n", round=step, operator_id="traffic",
                                          request_id=f"r{step}")
        request = common_pb2.ConsensusStep(
            header=header, price_per_mwh=to_series(model.stations, np.full(shape, 90.0)),
            target_load_mw=to_series(model.stations, np.ones(shape)), penalty_per_mw2h=50.0)
        reply = common_pb2.LoadReply.FromString(
            host.handle("ConsensusStep", request.SerializeToString()))
        assert reply.header.status == common_pb2.STATUS_OK
        assert reply.privacy.releases == step
        assert reply.privacy.epsilon == pytest.approx(step * epsilon / rounds, rel=1e-12)
        gauge = host.metrics.privacy_epsilon.labels("traffic")._value.get()
        assert gauge == reply.privacy.epsilon
    assert host.metrics.privacy_releases.labels("traffic")._value.get() == 2


@pytest.mark.parametrize(("table", "message"), [
    ('mechanism = "laplace"\nepsilon = 1.0\nprotect = ["station_loads"]\n',
     "privacy.load_mw: missing"),
    ('mechanism = "laplace"\nepsilon = 0.0\nprotect = ["station_loads"]\nload_mw = 1.0\n',
     "privacy.epsilon: must be positive"),
    ('mechanism = "uniform"\n', "privacy.mechanism:"),
    ('mechanism = "gaussian"\nepsilon = 1.0\nprotect = ["station_loads"]\nload_mw = 1.0\n',
     "privacy.delta: the gaussian mechanism needs delta > 0"),
    ('mechanism = "laplace"\nepsilon = 1.0\nprotect = ["station_loads"]\nload_mw = 1.0\n'
     'rounds = 500\n', "privacy.rounds: 500 rounds is more than the 200"),
    ('mechanism = "laplace"\nepsilon = 1.0\nprotect = ["loads"]\nload_mw = 1.0\n',
     "privacy.protect"),
    ('epsilom = 1.0\n', "privacy.epsilom: unknown key"),
    ('mechanism = "laplace"\nepsilon = 1.0\nprotect = ["prices"]\nprice_per_mwh = 5.0\n',
     "privacy.protect: mechanism 'admm' does not noise prices yet"),
])
def test_a_bad_privacy_table_names_its_key(table: str, message: str) -> None:
    text = builtin_scenario_text("nguyen-dupuis-ieee33") + "\n[privacy]\n" + table
    with pytest.raises(InvalidInputError) as error:
        scenario_from_text(text, source="dp.toml", base_directory=Path.cwd())
    assert str(error.value).startswith("dp.toml: ")
    assert message in str(error.value)


def test_the_noise_is_the_same_over_grpc(tmp_path: Path) -> None:
    """The noise is added in the department's model: its own process draws the same stream."""
    path = tmp_path / "private.toml"
    path.write_text(builtin_scenario_text("nguyen-dupuis-ieee33") + "\n[privacy]\n"
                    'mechanism = "laplace"\nepsilon = 20.0\nrounds = 4\nseed = 5\n'
                    f'protect = ["station_loads"]\nload_mw = {BOUND_MW}\n', encoding="utf-8")
    scenario = load_scenario(path, periods=PERIODS)
    in_process = negotiate(scenario, inproc_endpoints(scenario))
    with operator_endpoints(scenario, str(path), "grpc",
                            log_directory=tmp_path / "logs") as endpoints:
        over_grpc = negotiate(scenario, endpoints)
    assert over_grpc.message == in_process.message == "privacy budget spent after 4 rounds " \
                                                      "(traffic)"
    assert over_grpc.agreed is not None and in_process.agreed is not None
    np.testing.assert_array_equal(over_grpc.agreed.station_load_mw,
                                  in_process.agreed.station_load_mw)
    assert over_grpc.privacy == in_process.privacy


def test_a_killed_private_run_resumes_with_the_same_noise(tmp_path: Path) -> None:
    """``ptn run`` killed after round 3 (``PTN_CRASH_AFTER_ROUND``) and resumed: the traffic
    department restores its releases and its stream's position from its state, so the run ends
    as the uninterrupted one, budget and loads alike."""
    path = tmp_path / "private.toml"
    path.write_text(builtin_scenario_text("nguyen-dupuis-ieee33") + "\n[privacy]\n"
                    'mechanism = "laplace"\nepsilon = 20.0\nrounds = 6\nseed = 9\n'
                    f'protect = ["station_loads"]\nload_mw = {BOUND_MW}\n', encoding="utf-8")
    scenario = load_scenario(path, periods=PERIODS)
    expected = negotiate(scenario, inproc_endpoints(scenario))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ptn", "run", str(path), "--periods", str(PERIODS),
               "--backend", "inproc", "--no-reference", "--out", str(out), "--json"]
    killed = subprocess.run(command, capture_output=True, text=True, check=False,
                            env={**os.environ, "PTN_CRASH_AFTER_ROUND": "3"})
    assert killed.returncode == 75, killed.stderr
    resumed = subprocess.run([*command, "--resume", str(out / "checkpoint.json")],
                             capture_output=True, text=True, check=False)
    summary = json.loads(resumed.stdout)
    assert summary["message"] == "privacy budget spent after 6 rounds (traffic)"
    assert expected.agreed is not None
    assert summary["agreed"]["total"] == pytest.approx(expected.agreed.total, rel=1e-9)
    assert summary["privacy"]["operators"] == json.loads(json.dumps(
        expected.privacy["operators"]))
