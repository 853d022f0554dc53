"""What durability costs: each mechanism's negotiation with and without its checkpoint.

Why this exists: since issue 14 every mechanism writes a checkpoint after every driver round (the
mechanism's state atomically, the round's record appended) and a transcript of every message, so
that a killed coordinator resumes; the operators write their own state after every request that
changes it. This times each built-in mechanism's scenario in this process (operators in-process)
with a results folder (checkpoints, transcript, operator state) and without one
(``ptn.run(..., out=None)``: nothing written), side by side in one run, and reports the ratio.
The results folder's tables and plots are written after the timing stops in both cases (the
timing is the negotiation's, from the outcome); the DSO's private voltage report (a heatmap
drawn once, at its cost report, about 0.5 s, written whenever it has a folder, before issue 14
too) is switched off in both, so the difference is what checkpoints, operator state and the
transcript cost.

Run: ``python -m bench.checkpoints [--repeats 3]``; writes ``bench/results/checkpoints.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import ptn

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "bench" / "results"
SCENARIOS = ("nguyen-dupuis-ieee33", "pricing-seed001", "profit-sharing-seed000")


def seconds(name: str, durable: bool) -> tuple[float, int]:
    """(the negotiation's seconds, the driver rounds checkpointed) of one run."""
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "run" if durable else None
        result = ptn.run(name, backend="inproc", out=out, reference=False)
        rounds = 0
        if out is not None:
            rounds = json.loads((out / "checkpoint.json").read_text())["round"]
        return float(result.outcome.seconds), rounds


def main() -> None:
    from ptn.services.dso import model as dso_model

    dso_model.write_voltage_report = lambda *args, **kwargs: []  # type: ignore[assignment]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    rows: list[dict[str, Any]] = []
    for name in SCENARIOS:
        seconds(name, durable=False)  # warm the imports and numba caches
        bare = [seconds(name, durable=False)[0] for _ in range(repeats)]
        durable = [seconds(name, durable=True) for _ in range(repeats)]
        rows.append({
            "scenario": name, "mechanism": ptn.Scenario.load(name).mechanism,
            "driver_rounds": durable[0][1],
            "seconds_without": statistics.median(bare),
            "seconds_with": statistics.median(s for s, _ in durable),
        })
        row = rows[-1]
        row["ratio"] = row["seconds_with"] / row["seconds_without"]
        row["ms_per_driver_round"] = 1000 * (row["seconds_with"] - row["seconds_without"]) \
            / max(row["driver_rounds"], 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "checkpoints.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| scenario | mechanism | driver rounds | s without | s with | ratio | ms per round |",
             "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['scenario']} | {r['mechanism']} | {r['driver_rounds']} | "
              f"{r['seconds_without']:.2f} | {r['seconds_with']:.2f} | {r['ratio']:.2f} | "
              f"{r['ms_per_driver_round']:.1f} |" for r in rows]
    text = "\n".join(lines) + f"\n\nCommand: `python -m bench.checkpoints --repeats {repeats}`\n"
    (RESULTS / "checkpoints.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
