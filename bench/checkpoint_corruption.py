"""The checkpoint corruption battery: every damage refused in one line, or resumed alike.

Why this exists: issue 15 found that of 31 corrupted checkpoints 15 gave tracebacks and 3 were
silently accepted with other numbers. This takes a real checkpoint (seed 000's profit sharing
at three shares, killed by ``ptn run`` after driver round 5), applies the seeded corruptions of
:mod:`ptn.lab.fuzzing.checkpoints` (truncations, bit flips, deleted, duplicated and reordered
round records, another scenario's checkpoint, empty files, binary junk, JSON of wrong types,
forgeries with recomputed checksums, and benign ones), resumes each with fresh in-process
operators and counts the outcomes; ``--cli`` also resumes each through ``ptn run --resume`` and
checks exit 2 with one ``ptn: error:`` line and no traceback for the refused ones.

Run: ``python -m bench.checkpoint_corruption [--seed 15] [--cli]``; prints a markdown table and
writes ``bench/results/checkpoint_corruption.{md,json}``; exits 1 if any case failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from ptn.api import Scenario as ApiScenario
from ptn.coordinator.runner import CHECKPOINT_FILE
from ptn.lab.fuzzing.checkpoints import (
    Corruption,
    CorruptionResult,
    corruptions,
    crashed_run,
    resume_in_process,
    run_battery,
)
from ptn.scenario.document import Scenario, load_scenario

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "bench" / "results"


def sharing(refine_tolerance: float) -> Scenario:
    """Seed 000's profit sharing at shares 0, 0.3 and 1."""
    changed = ApiScenario(load_scenario("profit-sharing-seed000")).with_overrides(
        {"coordinator.shares": [0.0, 0.3, 1.0],
         "coordinator.refine_tolerance": refine_tolerance})
    return changed.document



def cli_check(base: Path, case: Corruption, scratch: Path) -> str:
    """``ptn run --resume`` of the damaged copy: "ok" or what was wrong."""
    folder = scratch / "cli"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(base, folder)
    case.apply(folder)
    command = [sys.executable, "-m", "ptn", "run", str(base.parent / "scenario.toml"),
               "--backend", "inproc", "--no-reference", "--out", str(folder), "--json",
               "--resume", str(folder / CHECKPOINT_FILE)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if case.benign:
        return "ok" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr[-300:]}"
    lines = done.stderr.strip().splitlines()
    if done.returncode == 2 and len(lines) == 1 and lines[0].startswith("ptn: error: "):
        return "ok"
    return f"exit {done.returncode}: {done.stderr[-300:]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--cli", action="store_true",
                        help="also resume every case through `ptn run --resume`")
    arguments = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ptn-corruption-") as directory:
        scratch = Path(directory)
        base = crashed_run(sharing(1.0).text, scratch / "base", crash_after=5)
        other = crashed_run(sharing(0.5).text, scratch / "other", crash_after=3)
        cases = corruptions(base, other / CHECKPOINT_FILE, seed=arguments.seed)
        results = run_battery(base, other / CHECKPOINT_FILE, resume_in_process(sharing(1.0)),
                              cases=cases)
        cli = {case.name: cli_check(base, case, scratch) for case in cases} \
            if arguments.cli else {}
    seconds = time.perf_counter() - started
    table = report(results, cli, seconds, arguments.seed)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "checkpoint_corruption.md").write_text(table, encoding="utf-8")
    (RESULTS / "checkpoint_corruption.json").write_text(json.dumps(
        {"seed": arguments.seed, "seconds": seconds,
         "cases": [{"name": r.name, "benign": r.benign, "outcome": r.outcome,
                    "detail": r.detail, "cli": cli.get(r.name)} for r in results]},
        indent=2), encoding="utf-8")
    failed = [r for r in results if not r.passed] + [n for n, v in cli.items() if v != "ok"]
    return 1 if failed else 0


def report(results: list[CorruptionResult], cli: dict[str, str], seconds: float,
           seed: int) -> str:
    counts = Counter((r.benign, r.outcome) for r in results)
    lines = [f"# Checkpoint corruption battery (seed {seed}, {len(results)} cases, "
             f"{seconds:.1f} s)", "",
             "| kind | outcome | cases |", "|---|---|---:|"]
    for (benign, outcome), number in sorted(counts.items()):
        lines.append(f"| {'benign' if benign else 'harmful'} | {outcome} | {number} |")
    lines += ["", "| case | expected | outcome | CLI | detail |", "|---|---|---|---|---|"]
    for r in results:
        detail = r.detail.replace("|", "\\|").replace("\n", " ")[:160]
        lines.append(f"| {r.name} | {'resumed' if r.benign else 'refused'} | {r.outcome} | "
                     f"{cli.get(r.name, '-')} | {detail} |")
    passed = sum(r.passed for r in results)
    lines += ["", f"{passed} of {len(results)} passed"
              + (f"; CLI: {sum(v == 'ok' for v in cli.values())} of {len(cli)} ok" if cli
                 else "")]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
