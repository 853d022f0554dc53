"""The pricing game's mechanism at scale: turn orders, the certificate at once, the DSO's step.

Why this exists: issue 18 measured that every phase of the pricing game made one call (the
driver's concurrency unused), that the ε-certificate is 58–64 % of a game's time with its CNO
entries one after another, and that rounds stay at 27–32 whatever the size, set by the DSO's
proximal step, so seed 001's 30-round cap stops larger runs unconverged. This measures, on a
pricing scenario in this process (in-process operators; the traffic department answers each
probe batch one probe after another, so merged batches save round trips and, with a
department that answers a batch in parallel, wall time):

* **the game** (Nash variant, no certificate, no matrix) in Algorithm 1's in-turn order and in
  the simultaneous (Jacobi) order: status, rounds, seconds, probes, driver phases and calls
  per round, the CNOs' revenues and their distance between the two orders;
* **the ε-certificate** at the in-turn game's end, its CNO entries at once (probes merged into
  one batch per phase) and one after another: seconds, phases, probes, ε;
* optionally **the DSO's proximal weight** (``[dso.pricing] proximal_weight``) against the
  rounds the in-turn game needs (``--proximal-weights``).

Run (``export PTN_TNTP_DIR=/work/shared/data/tntp`` for Sioux Falls)::

    nice -n 5 python -m bench.game_mechanism --scenario scenarios/pricing-siouxfalls.toml \\
        --max-rounds 60 --out bench/results/game_mechanism_siouxfalls.json

writes the JSON named and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf.message import Message

from ptn.coordinator.mechanisms.best_response import certificate_exchange
from ptn.coordinator.mechanisms.game_settings import ORDERS, GameSettings
from ptn.coordinator.mechanisms.pricing_game import PricingGame, PricingGameOutcome
from ptn.coordinator.runtime.backends import inproc_endpoints
from ptn.coordinator.runtime.driver import Driver
from ptn.coordinator.runtime.mechanism import Call
from ptn.scenario.document import Scenario, load_scenario, scenario_from_text


class CountingDriver(Driver):
    """A driver that counts its phases, calls and probes."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.phases = 0
        self.calls = 0
        self.probes = 0

    def call_phase(self, calls: list[Call], round_number: int) -> dict[str, Message]:
        self.phases += 1
        self.calls += len(calls)
        self.probes += sum(len(c.request.price_per_mwh)  # type: ignore[attr-defined]
                           for c in calls if c.method == "ProbeResponses")
        return super().call_phase(calls, round_number)


def nash_game(scenario: Scenario, *, max_rounds: int, proximal_weight: float | None) -> Scenario:
    """The scenario's Nash variant alone, without certificate or matrix."""
    text = scenario.text
    replacements = {r"(?m)^max_rounds = \d+": f"max_rounds = {max_rounds}",
                    r"(?m)^variants = \[.*\]": 'variants = ["nash"]',
                    r"(?m)^certificate = true": "certificate = false",
                    r"(?m)^revenue_matrix = true": "revenue_matrix = false"}
    if proximal_weight is not None:
        replacements[r"(?m)^proximal_weight = [0-9.eE+-]+"] = \
            f"proximal_weight = {proximal_weight}"
    for pattern, replacement in replacements.items():
        text, count = re.subn(pattern, replacement, text)
        if count != 1 and "variants" not in pattern:
            raise SystemExit(f"{scenario.source}: expected one line matching {pattern}")
    return scenario_from_text(text, source=scenario.source,
                              base_directory=Path(scenario.source).resolve().parent,
                              periods=scenario.resampled_periods)


def play(scenario: Scenario, order: str) -> tuple[PricingGameOutcome, dict[str, Any]]:
    driver = CountingDriver(inproc_endpoints(scenario))
    started = time.perf_counter()
    try:
        outcome: PricingGameOutcome = driver.run(
            PricingGame(scenario, GameSettings(best_response_order=order)))
    finally:
        driver.close()
    seconds = time.perf_counter() - started
    nash = outcome.variants["nash"]
    rounds = len(nash.outcome.rounds)
    return outcome, {
        "order": order, "status": outcome.status.value, "message": outcome.message,
        "rounds": rounds, "seconds": round(seconds, 2),
        "seconds_per_round": round(seconds / max(rounds, 1), 3),
        "phases_per_round": round(driver.phases / max(rounds, 1), 2),
        "calls_per_round": round(driver.calls / max(rounds, 1), 2),
        "probes_per_round": round(driver.probes / max(rounds, 1), 2),
        "revenue_usd": {k: round(v, 2) for k, v in nash.revenue_usd.items()},
        "mean_charging_price_per_mwh": round(float(nash.charging_price_per_mwh.mean()), 3),
    }


def certificate(scenario: Scenario, outcome: PricingGameOutcome, together: bool
                ) -> dict[str, Any]:
    """The ε-certificate at ``outcome``'s Nash point, timed."""
    nash = outcome.variants["nash"]
    driver = CountingDriver(inproc_endpoints(scenario))
    game = PricingGame(scenario)
    try:
        game.begin(driver)
        phases_before = driver.phases
        started = time.perf_counter()
        entries = driver.run_exchange(certificate_exchange(
            game.parties("nash"), purchase=nash.dso_price_per_mwh,
            price=nash.charging_price_per_mwh, load=nash.load_mw, together=together), 1)
        seconds = time.perf_counter() - started
    finally:
        driver.close()
    return {"together": together, "seconds": round(seconds, 2),
            "phases": driver.phases - phases_before, "probes": driver.probes,
            "epsilon_usd": round(max(e.gain_usd for e in entries.values()), 4),
            "gain_usd": {c: round(e.gain_usd, 4) for c, e in entries.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="pricing-seed001")
    parser.add_argument("--periods", type=int, default=None)
    parser.add_argument("--max-rounds", type=int, default=60)
    parser.add_argument("--orders", nargs="*", default=list(ORDERS), choices=ORDERS)
    parser.add_argument("--no-certificate", action="store_true")
    parser.add_argument("--proximal-weights", type=float, nargs="*", default=[])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    base = load_scenario(args.scenario, periods=args.periods)
    scenario = nash_game(base, max_rounds=args.max_rounds, proximal_weight=None)
    report: dict[str, Any] = {"scenario": base.public.name, "source": args.scenario,
                              "stations": len(base.public.stations),
                              "cnos": len(base.operators_of("cno")) - ("cooperative" in
                                                                       base.coordinator.variants),
                              "periods": base.public.periods, "max_rounds": args.max_rounds,
                              "games": [], "certificates": [], "proximal_weights": []}
    outcomes = {}
    for order in args.orders:
        outcome, row = play(scenario, order)
        outcomes[order] = outcome
        report["games"].append(row)
        print(json.dumps(row))
    if len(outcomes) == 2:
        a, b = (outcomes[o].variants["nash"] for o in ORDERS)
        report["price_distance_between_orders"] = round(float(
            np.linalg.norm(b.charging_price_per_mwh - a.charging_price_per_mwh)
            / np.linalg.norm(a.charging_price_per_mwh)), 5)
    if not args.no_certificate and outcomes:
        first = outcomes[args.orders[0]]
        for together in (True, False):
            row = certificate(scenario, first, together)
            report["certificates"].append(row)
            print(json.dumps(row))
    for weight in args.proximal_weights:
        _, row = play(nash_game(base, max_rounds=args.max_rounds, proximal_weight=weight),
                      "in-turn")
        row["proximal_weight"] = weight
        report["proximal_weights"].append(row)
        print(json.dumps(row))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
