"""The city's pricing game end to end, and its verified certificate against the compass search.

Why this module exists: issue 18 item 4 asks the pricing game on scenarios/chicago-city-game.toml
(Chicago Sketch, 100 stations, 20 feeders, 50 CNOs, 4 periods) with its ε-Nash certificate in at
most 60 minutes on the 2-core machine; with every CNO probe an exact equilibrium (~9 s) it took
about a day (docs/benchmarks.md). This benchmark runs it with the levers that cut the number of
exact equilibria (every one of them a scenario key, applied here to a copy of the scenario):

* ``[traffic] probe_answers = "derivative"``, ``probe_radius_per_mwh = 0.25``: the CNOs'
  finite-difference probes within 0.25 $/MWh of a solved equilibrium are answered by its
  first-order expansion (implicit differentiation), so a round's AEM batch costs no exact solve
  beyond the round's own equilibrium and one check per solved point (its error is reported);
* ``[cno.*] probe_step_per_mwh = 0.25`` (the expansion is linear: its finite differences are the
  exact derivative), ``aem_measure_final = false`` (the round re-solves the equilibrium at the
  new prices anyway), ``certificate_search = "verified"`` with
  ``certificate_poll_step_per_mwh`` (the model's candidates plus ±poll compass moves, each an
  exact equilibrium), ``exact_min_step_per_mwh = 0.5`` (no candidate within the radius);
* ``[coordinator]``: simultaneous order, the certificate's entries together (one batch per
  phase, on the department's probe workers).

It records rounds, seconds per stage, probes, exact equilibria (re-solves, price responses and
checks), the expansion checks' errors, ε and the status in bench/results/city_game.{md,json}.
``--compare SCENARIO`` plays SCENARIO's game as it is (its own keys), then certifies its final
point twice, with the compass search (the scenario's certificate) and with the verified search
(the levers above), and reports both ε, probes, exact solves and seconds.

    PTN_TNTP_DIR=... nice -n 5 python -m bench.city_game                 # the city
    PTN_TNTP_DIR=... nice -n 5 python -m bench.city_game --compare pricing-seed001
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf.message import Message

from ptn.coordinator.mechanisms.best_response import BestResponseDynamics, certificate_exchange
from ptn.coordinator.mechanisms.game_settings import game_settings
from ptn.coordinator.mechanisms.pricing_game import PricingGame, PricingGameOutcome
from ptn.coordinator.runtime.backends import inproc_endpoints
from ptn.coordinator.runtime.driver import Driver
from ptn.coordinator.runtime.mechanism import Call
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import Scenario, load_scenario, scenario_from_text
from ptn.services.traffic import probes as probe_module
from ptn.services.traffic.probes import BatchAnswer, ProbeAnswerer

RESULTS = Path(__file__).resolve().parent / "results"
CITY = "chicago-city-game"

#: the levers' keys (module docstring)
TRAFFIC_KEYS = {"probe_answers": '"derivative"', "probe_radius_per_mwh": "0.25"}
CNO_KEYS = {"probe_step_per_mwh": "0.25", "aem_measure_final": "false",
            "certificate_search": '"verified"', "exact_min_step_per_mwh": "0.5"}


@dataclass
class Tally:
    """What the traffic department did, counted in this process."""

    batches: int = 0
    probes: int = 0
    exact: int = 0
    expanded: int = 0
    answerers: list[ProbeAnswerer] = field(default_factory=list)


TALLY = Tally()


def _instrument() -> None:
    """Count the probe answerer's exact re-solves and expansions, and print each game round's
    relative changes (bench only)."""
    answer = ProbeAnswerer.answer
    record = BestResponseDynamics.record

    def printed(self: BestResponseDynamics) -> Any:
        result = record(self)
        values = result.values
        print(f"game round {result.round}: trial {bool(values['trial'])}, charging price change "
              f"{values['charging_price_change']:.5f}, DSO price change "
              f"{values['dso_price_change']:.5f}, load change {values['load_change']:.5f}; "
              f"prices mean {self.price.mean():.1f}, at 150 {np.mean(self.price <= 150.01):.2f}"
              f", at 250 {np.mean(self.price >= 249.99):.2f}; DSO prices mean "
              f"{self.purchase.mean():.1f}; load {self.load.sum():.2f} MW", flush=True)
        return result
    init = ProbeAnswerer.__init__

    def counted(self: ProbeAnswerer, prices: Any, state: Any) -> BatchAnswer:
        result = answer(self, prices, state)
        TALLY.batches += 1
        TALLY.probes += len(prices)
        TALLY.exact += result.solved
        TALLY.expanded += result.expanded
        return result

    def registered(self: ProbeAnswerer, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        TALLY.answerers.append(self)

    ProbeAnswerer.answer = counted  # type: ignore[method-assign]
    BestResponseDynamics.record = printed  # type: ignore[method-assign]
    ProbeAnswerer.__init__ = registered  # type: ignore[method-assign]


class TimingDriver(Driver):
    """A driver that times its driver rounds and counts calls by method."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.seconds: dict[int, float] = {}
        self.methods: dict[str, int] = {}
        #: seconds of the phases each method was called in (a phase of several methods
        #: counts for each)
        self.method_seconds: dict[str, float] = {}
        self.probes = 0

    def call_phase(self, calls: list[Call], round_number: int) -> dict[str, Message]:
        if round_number not in self.seconds and self.seconds:
            last = max(self.seconds)
            print(f"driver round {last}: {self.seconds[last]:.1f} s, exact probe solves so "
                  f"far {TALLY.exact}, probes {TALLY.probes}, seconds by method so far "
                  f"{ {k: round(v, 1) for k, v in self.method_seconds.items()} }, load "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
        started = time.perf_counter()
        for call in calls:
            self.methods[call.method] = self.methods.get(call.method, 0) + 1
            if call.method == "ProbeResponses":
                self.probes += len(call.request.price_per_mwh)  # type: ignore[attr-defined]
        try:
            return super().call_phase(calls, round_number)
        finally:
            spent = time.perf_counter() - started
            self.seconds[round_number] = self.seconds.get(round_number, 0.0) + spent
            for method in {call.method for call in calls}:
                self.method_seconds[method] = self.method_seconds.get(method, 0.0) + spent


def rewritten(scenario: Scenario, text: str) -> Scenario:
    """``scenario`` with its TOML text replaced by ``text`` (same source, folder, periods)."""
    return scenario_from_text(text, source=scenario.source,
                              base_directory=Path(scenario.source).resolve().parent,
                              periods=scenario.resampled_periods)


def with_levers(scenario: Scenario, poll_step: float | None,
                trust_region: float | None = None, shrink: float | None = None) -> Scenario:
    """The scenario with the levers' keys (module docstring) set in its text."""
    text = scenario.text
    cno_keys = dict(CNO_KEYS)
    if trust_region is not None:
        cno_keys["trust_region_per_mwh"] = repr(float(trust_region))
    if shrink is not None:
        cno_keys["trust_region_shrink"] = repr(float(shrink))
    if poll_step is not None:
        cno_keys["certificate_poll_step_per_mwh"] = repr(float(poll_step))
    for header, keys in ((r"\[traffic\]", TRAFFIC_KEYS), (r"\[cno\.[^\]]+\]", cno_keys)):
        def put(match: re.Match[str], keys: dict[str, str] = keys) -> str:
            body = match.group(2)
            for key, value in keys.items():
                body, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", body)
                if not count:
                    body = f"{key} = {value}\n" + body
            return match.group(1) + body
        text = re.sub(rf"(?ms)^({header}\n)(.*?)(?=^\[|\Z)", put, text)
    return rewritten(scenario, text)


def _checks() -> dict[str, Any]:
    checks = [c for a in TALLY.answerers for c in a.checks]
    if not checks:
        return {"count": 0}
    relative = np.array([c.relative_error for c in checks])
    return {"count": len(checks), "median_relative_error": round(float(np.median(relative)), 4),
            "max_relative_error": round(float(relative.max()), 4),
            "distance_per_mwh": sorted({round(c.distance_per_mwh, 4) for c in checks})}


def run_game(scenario: Scenario, final_point: Path | None = None) -> dict[str, Any]:
    """The whole game with its certificate (the scenario's stages), counted and timed; the
    final point (prices, the DSO's prices, loads) written to ``final_point`` if given."""
    settings = replace(game_settings(scenario.coordinator), certificate_together=True)
    driver = TimingDriver(inproc_endpoints(scenario))
    started = time.perf_counter()
    try:
        outcome: PricingGameOutcome = driver.run(PricingGame(scenario, settings))
    finally:
        driver.close()
    seconds = time.perf_counter() - started
    if "nash" not in outcome.variants:
        return {"status": outcome.status.value, "message": outcome.message,
                "seconds": round(seconds, 1)}
    nash = outcome.variants["nash"]
    rounds = len(nash.outcome.rounds)
    certificate = nash.certificate
    if final_point is not None:
        final_point.write_text(json.dumps({
            "charging_price_per_mwh": nash.charging_price_per_mwh.tolist(),
            "dso_price_per_mwh": nash.dso_price_per_mwh.tolist(),
            "load_mw": nash.load_mw.tolist()}) + "\n", encoding="utf-8")
    by_round = [round(driver.seconds[k], 1) for k in sorted(driver.seconds)]
    return {
        "status": outcome.status.value, "message": outcome.message, "rounds": rounds,
        "seconds": round(seconds, 1),
        "game_seconds": round(sum(by_round[:rounds]), 1),
        "certificate_seconds": round(sum(by_round[rounds:]), 1),
        "seconds_per_driver_round": by_round,
        "calls": driver.methods, "probes": driver.probes,
        "seconds_by_method": {k: round(v, 1) for k, v in driver.method_seconds.items()},
        "probe_batches": TALLY.batches, "probes_answered": TALLY.probes,
        "exact_probe_solves": TALLY.exact, "expanded_probes": TALLY.expanded,
        "price_responses": driver.methods.get("RespondToPrices", 0),
        "expansion_checks": _checks(),
        "epsilon_usd": round(nash.epsilon_usd, 4) if certificate else None,
        "certificate_probes": sum(e.probes for e in certificate.values()),
        "gain_usd": {c: round(e.gain_usd, 4) for c, e in certificate.items()},
        "revenue_usd": {k: round(v, 2) for k, v in nash.revenue_usd.items()},
        "mean_charging_price_per_mwh": round(float(nash.charging_price_per_mwh.mean()), 3),
    }


def certify(scenario: Scenario, nash: Any, cnos: int | None = None) -> dict[str, Any]:
    """The certificate of ``scenario``'s CNOs (the first ``cnos`` of them, if given) at the
    final point ``nash``, counted and timed."""
    before = (TALLY.exact, TALLY.probes)
    driver = TimingDriver(inproc_endpoints(scenario))
    game = PricingGame(scenario)
    try:
        game.begin(driver)
        # the department's state: the final prices' equilibrium, as after the game's last round
        driver.run_exchange(_respond(game, nash), 1)
        parties = game.parties("nash")
        if cnos is not None:
            parties = replace(parties, cnos=dict(list(parties.cnos.items())[:cnos]))
        started = time.perf_counter()
        entries = driver.run_exchange(certificate_exchange(
            parties, purchase=nash.dso_price_per_mwh,
            price=nash.charging_price_per_mwh, load=nash.load_mw, together=True), 2)
        seconds = time.perf_counter() - started
    finally:
        driver.close()
    expanded = TALLY.probes - before[1] - (TALLY.exact - before[0])
    # without probe_* keys every probe is an exact equilibrium (not through the answerer)
    return {"seconds": round(seconds, 2), "probes": driver.probes,
            "exact_probe_solves": driver.probes - expanded,
            "epsilon_usd": round(max(e.gain_usd for e in entries.values()), 4),
            "gain_usd": {c: round(e.gain_usd, 4) for c, e in entries.items()}}


def _respond(game: PricingGame, nash: Any) -> Any:
    parties = game.parties("nash")
    yield [Call(parties.traffic, "RespondToPrices", common_pb2.PriceSignal(
        price_per_mwh=to_series(parties.stations, nash.charging_price_per_mwh)),
                parties.scope)]


@dataclass(frozen=True)
class StartPoint:
    """A point to certify that no game reached: prices, the DSO's first quote, no loads."""

    charging_price_per_mwh: Any
    dso_price_per_mwh: Any
    load_mw: Any = None


def certify_from(name: str, poll_step: float | None, path: Path, cnos: int | None,
                 search: str) -> dict[str, Any]:
    """The certificate (``search``: "verified", the levers', or "compass", the scenario's
    default, with its ``exact_min_step_per_mwh``) of a game's final point written by
    :func:`run_game` (``--no-certificate``), for its first ``cnos`` CNOs (all if None)."""
    point = json.loads(path.read_text(encoding="utf-8"))
    scenario = with_levers(load_scenario(name), poll_step)
    if search == "compass":
        text = re.sub(r'(?m)^certificate_search = "verified"', 'certificate_search = "compass"',
                      scenario.text)
        scenario = rewritten(scenario, text)
    final = StartPoint(np.asarray(point["charging_price_per_mwh"]),
                       np.asarray(point["dso_price_per_mwh"]), np.asarray(point["load_mw"]))
    return {"scenario": name, "search": search, "final_point": str(path),
            **certify(scenario, final, cnos)}


def certify_some(name: str, poll_step: float | None, cnos: int) -> dict[str, Any]:
    """The verified certificate of the first ``cnos`` CNOs at the game's initial prices and
    the DSO's first (trial) quote: its cost per CNO, to extrapolate (the city's full game
    does not fit the session)."""
    scenario = with_levers(load_scenario(name), poll_step)
    endpoints = inproc_endpoints(scenario)
    driver = TimingDriver(endpoints)
    game = PricingGame(scenario)
    try:
        game.begin(driver)
        parties = game.parties("nash")
        quote: Any = driver.run_exchange(_quote(parties.dso, parties.scope), 1)
        purchase = from_series(quote.price_per_mwh, parties.stations, parties.periods, "quote")
    finally:
        driver.close()
    initial = scenario.coordinator.initial_charging_price_per_mwh
    point = StartPoint(np.full((len(parties.stations), parties.periods), float(initial)),
                       purchase)
    return {"scenario": name, "cnos": cnos, **certify(scenario, point, cnos)}


def _quote(dso: str, scope: str) -> Any:
    answer = yield [Call(dso, "QuotePrices", common_pb2.LoadSignal(), scope)]
    return answer[dso]


def compare(name: str, poll_step: float | None) -> dict[str, Any]:
    """SCENARIO's game as it is, then both certificates at its final point."""
    scenario = load_scenario(name)
    text = re.sub(r"(?m)^certificate = true", "certificate = false", scenario.text)
    text = re.sub(r"(?m)^revenue_matrix = true", "revenue_matrix = false", text)
    text = re.sub(r'(?m)^variants = \[.*\]', 'variants = ["nash"]', text)
    plain = rewritten(scenario, text)
    driver = TimingDriver(inproc_endpoints(plain))
    try:
        outcome: PricingGameOutcome = driver.run(PricingGame(plain))
    finally:
        driver.close()
    nash = outcome.variants["nash"]
    return {"scenario": name, "game_status": outcome.status.value,
            "rounds": len(nash.outcome.rounds),
            "compass": certify(plain, nash),
            "verified": certify(with_levers(plain, poll_step), nash)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=CITY)
    parser.add_argument("--poll-step", type=float, default=5.0,
                        help="certificate_poll_step_per_mwh ($/MWh; 0: none)")
    parser.add_argument("--max-rounds", type=int, default=None)
    parser.add_argument("--trust-region", type=float, default=None,
                        help="the CNOs' trust_region_per_mwh (the AEM's largest move a round)")
    parser.add_argument("--trust-shrink", type=float, default=None,
                        help="the CNOs' trust_region_shrink (adapt the radius per price)")
    parser.add_argument("--compare", nargs="*", default=None,
                        help="compare the certificates on these scenarios instead")
    parser.add_argument("--certify-cnos", type=int, default=None,
                        help="only the verified certificate of this many CNOs at the "
                             "initial prices (the cost per CNO)")
    parser.add_argument("--certify-from", default=None,
                        help="certify the final point in this file (written by a run with "
                             "--no-certificate) instead of playing")
    parser.add_argument("--search", choices=("verified", "compass"), default="verified",
                        help="with --certify-from: the certificate's search")
    parser.add_argument("--out", default="city_game")
    parser.add_argument("--no-certificate", action="store_true",
                        help="play the game only (its final point is still written)")
    args = parser.parse_args(argv)
    _instrument()
    poll = args.poll_step or None
    report: dict[str, Any]
    facts = {"machine": f"{platform.node()} {os.cpu_count()} cores",
             "load_average_start": os.getloadavg(), "poll_step_per_mwh": poll,
             "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    if args.certify_from is not None:
        report = {**facts, **certify_from(args.scenario, poll, Path(args.certify_from),
                                          args.certify_cnos, args.search)}
    elif args.certify_cnos is not None:
        report = {**facts, **certify_some(args.scenario, poll, args.certify_cnos)}
    elif args.compare is not None:
        report = {**facts, "comparisons": [compare(n, poll)
                                                           for n in args.compare]}
    else:
        scenario = with_levers(load_scenario(args.scenario), poll, args.trust_region,
                               args.trust_shrink)
        text = scenario.text
        if args.max_rounds is not None:
            text = re.sub(r"(?m)^max_rounds = \d+", f"max_rounds = {args.max_rounds}", text)
        if args.no_certificate:
            text = re.sub(r"(?m)^certificate = true", "certificate = false", text)
        if text != scenario.text:
            scenario = rewritten(scenario, text)
        report = {**facts, "scenario": args.scenario,
                  **run_game(scenario, RESULTS / f"{args.out}_final_point.json")}
    report["load_average_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{args.out}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2), flush=True)


if __name__ == "__main__":
    probe_module.LOG.setLevel("INFO")
    main()
