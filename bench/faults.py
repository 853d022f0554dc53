"""The fault sweep of docs/reliability.md: operators killed with SIGKILL at many points.

Why this exists: the tests kill a few operators at a few rounds; this kills every operator of
each mechanism's scenario, one at a time, after each of several round records and a moment
into the next round (inside or between its calls), restarts it on its port a second later
(:func:`ptn.lab.faults.negotiate_with_kills`), and compares every run with the uninterrupted
negotiation in this process: the agreement's numbers to 1e-6 relative. It reports, per
mechanism and operator, how many runs, how many gave the same numbers, the largest relative
deviation, whether every restarted operator restored its state, and the seconds the faults
cost.

Run: ``python -m bench.faults [--rounds 1 3 5] [--mechanism admm]``; writes
``bench/results/faults.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ptn.api import Scenario as ApiScenario
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints
from ptn.lab.faults import Kill, negotiate_with_kills
from ptn.scenario.document import Scenario, load_scenario

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "bench" / "results"


def _short(name: str, **overrides: Any) -> Scenario:
    scenario = load_scenario(name)
    return ApiScenario(scenario).with_overrides(
        {f"coordinator.{key}": value for key, value in overrides.items()}).document


def _admm_numbers(outcome: Any) -> np.ndarray:
    agreed = outcome.agreed
    return np.concatenate([[agreed.total], np.ravel(agreed.station_load_mw)])


def _game_numbers(outcome: Any) -> np.ndarray:
    nash = outcome.variants["nash"]
    return np.concatenate([list(nash.revenue_usd.values()), np.ravel(nash.dso_price_per_mwh),
                           np.ravel(nash.charging_price_per_mwh)])


def _sharing_numbers(outcome: Any) -> np.ndarray:
    return np.asarray([outcome.best_share, outcome.payment_usd,
                       outcome.dno_total_cost_usd(outcome.best),
                       *[e.dso_cost_usd for e in outcome.evaluations],
                       *[e.tno_cost_usd for e in outcome.evaluations]])


#: mechanism -> (scenario, its operators, the numbers compared)
CASES: dict[str, tuple[Callable[[], Scenario], tuple[str, ...],
                       Callable[[Any], np.ndarray]]] = {
    "admm": (lambda: load_scenario(periods=4), ("dso", "traffic"), _admm_numbers),
    "best-response": (lambda: _short("pricing-seed001", max_rounds=8, variants=["nash"],
                                     certificate=False),
                      ("dso", "traffic", "cno1", "cno2"), _game_numbers),
    "profit-sharing": (lambda: _short("profit-sharing-seed000", shares=[0.0, 0.3, 1.0],
                                      refine_tolerance=1.0), ("dso", "tno"), _sharing_numbers),
}


def deviation(expected: np.ndarray, got: np.ndarray) -> float:
    """The largest deviation relative to max(1, |expected|)."""
    if expected.shape != got.shape:
        return float("inf")
    return float(np.max(np.abs(got - expected) / np.maximum(1.0, np.abs(expected))))


def sweep(mechanism: str, rounds: list[int]) -> list[dict[str, Any]]:
    build, operators, numbers = CASES[mechanism]
    scenario = build()
    clean = negotiate(scenario, inproc_endpoints(scenario))
    expected = numbers(clean)
    clean_seconds = float(clean.seconds) if hasattr(clean, "seconds") else float("nan")
    rows = []
    for operator_id in operators:
        for mid_round in (False, True):
            runs = same = restored = 0
            worst = 0.0
            seconds: list[float] = []
            for after in rounds:
                with tempfile.TemporaryDirectory() as directory:
                    run = negotiate_with_kills(scenario, Path(directory),
                                               [Kill(after, operator_id, mid_round)])
                runs += 1
                gap = deviation(expected, numbers(run.outcome)) \
                    if getattr(run.outcome, "status", "") != "failed" else float("inf")
                worst = max(worst, gap)
                same += gap <= 1e-6
                restored += all(run.restored.values())
                seconds.append(run.seconds)
                print(f"{mechanism} {operator_id} after {after}{' +20ms' if mid_round else ''}: "
                      f"deviation {gap:.2e}, {run.seconds:.1f} s, "
                      f"{len(run.failures)} failed attempts", flush=True)
            rows.append({"mechanism": mechanism, "operator": operator_id,
                         "when": "inside the next round" if mid_round else "after the round",
                         "rounds": rounds, "runs": runs, "same_numbers": same,
                         "max_relative_deviation": worst, "restored_state": restored,
                         "median_seconds": float(np.median(seconds)),
                         "clean_seconds": clean_seconds})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--mechanism", choices=sorted(CASES), nargs="+", default=sorted(CASES))
    arguments = parser.parse_args()
    rows = [row for mechanism in arguments.mechanism
            for row in sweep(mechanism, arguments.rounds)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "faults.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    lines = ["| mechanism | operator killed | when | after round records | runs | same "
             "numbers (1e-6) | max rel. deviation | state restored | median s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['mechanism']} | {row['operator']} | {row['when']} | "
                     f"{', '.join(map(str, row['rounds']))} | {row['runs']} | "
                     f"{row['same_numbers']} | {row['max_relative_deviation']:.1e} | "
                     f"{row['restored_state']} | {row['median_seconds']:.1f} |")
    table = "\n".join(lines) + "\n"
    (RESULTS / "faults.md").write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
