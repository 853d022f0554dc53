"""``ptn assign``'s start-up: it loads only what an assignment needs, and its compiled kernels
come from numba's on-disk cache on the second run (no compilation).

Both are what keeps a small run from being all start-up (docs/benchmarks.md, "Whole process").
They are checked in fresh interpreters, since the test process itself has imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

#: packages an assignment never needs; importing any of them costs 0.3-3 s of start-up
HEAVY_PACKAGES = ("cvxpy", "pandapower", "pyomo", "ray", "grpc", "pandas", "matplotlib")

_RUN = (
    "import json, sys\n"
    "from ptn.cli.app import app\n"
    "try:\n"
    "    app(['assign', '--network', 'nguyen-dupuis', '--gap', '1e-6', '--threads', '1'])\n"
    "except SystemExit as done:\n"
    "    code = done.code\n"
    "print(json.dumps({'code': code, 'modules': sorted({m.split('.')[0] for m in sys.modules}),\n"
    "                  'scipy_sparse': 'scipy.sparse' in sys.modules}))\n"
)


def run_assign(env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _RUN], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600, check=True)


def test_assign_imports_no_heavy_package() -> None:
    done = run_assign()
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] in (0, None)
    assert "NguyenDupuis: converged" in done.stdout
    loaded = set(report["modules"]) & set(HEAVY_PACKAGES)
    assert not loaded, f"ptn assign imported {sorted(loaded)}"
    assert "numba" in report["modules"]  # the check itself sees imports
    # the Newton step's CG is compiled; scipy.sparse and its linalg cost 0.14 s of start-up
    assert not report["scipy_sparse"], "ptn assign imported scipy.sparse"


def test_second_run_loads_every_kernel_from_the_cache() -> None:
    run_assign()  # the first run may compile and save
    done = run_assign({"NUMBA_DEBUG_CACHE": "1"})
    log = done.stdout + done.stderr
    assert "[cache] data loaded" in log
    assert "[cache] data saved" not in log, "a kernel was compiled again on the second run"
