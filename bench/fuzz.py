"""The fuzz battery: at least 10,000 hostile requests per RPC to each operator role over gRPC.

Why this exists: issue 15 item 4. Each role's operator (the cheap scenario of
:data:`ptn.lab.fuzzing.battery.TARGETS`) is served by ``ptn serve`` in its own process; every RPC
of its service gets ``--per-rpc`` seeded mutated and random requests
(:mod:`ptn.lab.fuzzing.messages`), each with a deadline; the battery counts every outcome, keeps
every crash, hang and undocumented answer with the exact request, and afterwards compares a
legitimate negotiation through the fuzzed operator with one through a fresh operator (rtol 1e-9).

Run: ``python -m bench.fuzz [--per-rpc 10000] [--targets traffic,dso,...] [--seed 0]``;
prints a markdown table and writes ``bench/results/fuzz.md`` and ``bench/results/fuzz.json``
(the first findings of each kind, their requests in base64: a run's artifact, about 1 MB, not
kept in git); exits 1 when anything was found.
Replay a finding on a fresh operator: ``python -m bench.fuzz --replay bench/results/fuzz.json
--finding N``.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ptn.lab.fuzzing.battery import TARGETS, RoleReport, replay, run_target

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "bench" / "results"


def table(reports: list[RoleReport], per_rpc: int, seed: int, seconds: float) -> str:
    lines = [f"# Fuzz battery ({per_rpc} requests per RPC, seed {seed}, {seconds:.0f} s)", "",
             "| target | RPC | requests | seconds | outcomes |", "|---|---|---:|---:|---|"]
    for report in reports:
        for method, counts in report.counts.items():
            outcomes = ", ".join(f"{name} {count}" for name, count in counts.most_common())
            lines.append(f"| {report.target.name} | {method} | {sum(counts.values())} | "
                         f"{report.method_seconds.get(method, 0.0):.0f} | {outcomes} |")
    lines += ["", "| target | operator | scenario | findings | restarts after a crash | "
              "legitimate negotiation after fuzzing vs fresh (numbers, differing, max rel) | "
              "seconds |", "|---|---|---|---:|---:|---|---:|"]
    for report in reports:
        checks = "; ".join(f"{name}: {n}, {d}, {largest:.2g}"
                           for name, n, d, largest in report.legitimate)
        lines.append(f"| {report.target.name} | {report.target.operator_id} | "
                     f"{report.target.scenario} | {sum(report.finding_counts.values())} | "
                     f"{report.restarts} | "
                     f"{checks} | {report.seconds:.0f} |")
    if any(report.finding_counts for report in reports):
        lines += ["", "| target | RPC | outcome | request kind | findings | first detail |",
                  "|---|---|---|---|---:|---|"]
        for report in reports:
            first = {}
            for f in report.findings:
                first.setdefault((f.method, f.outcome, f.kind), f.detail)
            for key, count in report.finding_counts.most_common():
                detail = first.get(key, "").replace("|", "\\|").replace("\n", " ")[:150]
                lines.append(f"| {report.target.name} | {' | '.join(key)} | {count} | "
                             f"{detail} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-rpc", type=int, default=10_000)
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help=f"comma-separated, among {', '.join(TARGETS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deadline", type=float, default=30.0,
                        help="seconds per call; a call not answered by then is a hang")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--logs", type=Path, default=None,
                        help="keep the operators' logs here (default: discarded)")
    parser.add_argument("--replay", type=Path, help="a fuzz.json whose finding to replay")
    parser.add_argument("--finding", type=int, default=0)
    arguments = parser.parse_args()
    if arguments.replay is not None:
        finding = json.loads(arguments.replay.read_text())["findings"][arguments.finding]
        outcome, detail, alive = replay(TARGETS[finding["target"]], finding["method"],
                                        base64.b64decode(finding["request_b64"]),
                                        deadline_s=arguments.deadline)
        print(f"{finding['target']} {finding['method']}: {outcome} ({detail[:300]}); "
              f"process {'alive' if alive else 'DEAD'}")
        return 0 if alive and not outcome.startswith("UNDOCUMENTED") else 1
    started = time.perf_counter()
    reports = []
    for name in arguments.targets.split(","):
        report = run_target(TARGETS[name], arguments.per_rpc, seed=arguments.seed,
                            deadline_s=arguments.deadline,
                            log_directory=arguments.logs,
                            progress=lambda line: print(line, file=sys.stderr, flush=True))
        reports.append(report)
        print(f"{name}: {sum(report.finding_counts.values())} findings in {report.seconds:.0f} s",
              file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    text = table(reports, arguments.per_rpc, arguments.seed, seconds)
    print(text)
    arguments.out.mkdir(parents=True, exist_ok=True)
    (arguments.out / "fuzz.md").write_text(text, encoding="utf-8")
    (arguments.out / "fuzz.json").write_text(json.dumps({
        "per_rpc": arguments.per_rpc, "seed": arguments.seed, "seconds": seconds,
        "counts": {r.target.name: {m: dict(c) for m, c in r.counts.items()} for r in reports},
        "legitimate": {r.target.name: r.legitimate for r in reports},
        "findings": [asdict(f) for r in reports for f in r.findings]}, indent=1),
        encoding="utf-8")
    return 0 if all(r.passed for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
