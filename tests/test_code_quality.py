"""ruff and mypy are part of the suite, so a style or type regression fails CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import REPOSITORY, package_tree


def run_tool(*arguments: str, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *arguments], cwd=REPOSITORY, capture_output=True, text=True,
        timeout=600, check=False, env=env,
    )


def test_ruff_is_clean() -> None:
    result = run_tool("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_the_packages(tmp_path: Path) -> None:
    """``mypy --strict`` (pyproject.toml) on the ``ptn`` package laid out as it installs."""
    tree = package_tree(tmp_path / "tree")
    result = run_tool("mypy", "--cache-dir", str(tmp_path / "cache"), "-p", "ptn",
                      env={**os.environ, "MYPYPATH": str(tree)})
    assert result.returncode == 0, result.stdout + result.stderr
