"""Seconds of an 8-trial campaign by backend and concurrency (how campaigns run trials at once).

Why this module exists: a campaign on ``ray`` drives each trial from a thread of the
campaign's process while the trial's operators run as Ray actors (their own processes); on
``ray-tasks`` each trial is a Ray task running its operators in the task's (reused) worker
process; in-process trials run one after another. This measures what that gives on this
machine: the default scenario's day in 2 periods, 8 trials (EV share × ADMM's initial
penalty), no reference, each campaign in a fresh folder, on a local Ray runtime started once.
Run::

    /work/venv-services/bin/python bench/campaign_concurrency.py [OUT_JSON]

and it prints (and writes) one JSON object: seconds per setting and trials per minute.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ptn

SETTINGS = (("inproc", 1), ("ray", 1), ("ray", 2), ("ray", 4), ("ray-tasks", 1),
            ("ray-tasks", 2))


def campaign(backend: str) -> dict[str, Any]:
    return {"campaign": {"name": "bench", "scenario": "nguyen-dupuis-ieee33", "periods": 2,
                         "backend": backend, "reference": False},
            "grid": {"traffic.ev_share": [0.02, 0.025, 0.03, 0.035],
                     "coordinator.initial_penalty_per_mw2h": [20.0, 50.0]}}


def measure() -> dict[str, Any]:
    import ray

    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    results: dict[str, Any] = {"cpus": ray.cluster_resources().get("CPU")}
    try:
        with tempfile.TemporaryDirectory() as folder:
            ptn.sweep(campaign("inproc"), out=Path(folder) / "warm-up")  # numba caches
            for backend, concurrency in SETTINGS:
                started = time.monotonic()
                table = ptn.sweep(campaign(backend), out=Path(folder) / f"{backend}{concurrency}",
                                  concurrency=concurrency)
                seconds = time.monotonic() - started
                results[f"{backend}-{concurrency}"] = {
                    "seconds": seconds, "trials_per_minute": 60 * len(table) / seconds,
                    "converged": int((table["status"] == "converged").sum()),
                    "mean_trial_seconds": float(table["trial_seconds"].mean())}
    finally:
        ray.shutdown()
    return results


if __name__ == "__main__":
    measured = measure()
    text = json.dumps(measured, indent=2)
    print(text)
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text + "\n", encoding="utf-8")
