"""The ``ptn`` process pauses the cyclic collector at start-up and freezes the heap at exit;
importing or running the command line in-process leaves the collector as it was."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ptn.cli.app import app
from ptn.cli.process_gc import collector_paused


@pytest.mark.parametrize("enabled_before", [True, False])
def test_collector_paused_restores_the_previous_state(enabled_before: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled_before else gc.disable()
        with pytest.raises(RuntimeError), collector_paused():
            assert not gc.isenabled()
            raise RuntimeError("the block failed")
        assert gc.isenabled() is enabled_before
    finally:
        gc.enable() if was else gc.disable()


def test_in_process_assign_leaves_the_collector_on() -> None:
    assert gc.isenabled()
    result = CliRunner().invoke(app, ["assign", "--json"])
    assert result.exit_code == 0, result.output
    assert gc.isenabled()


def test_the_process_entry_freezes_the_heap_before_exit() -> None:
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count(), flush=True))\n"
        "sys.argv = ['ptn', '--version']\n"
        "from ptn.cli.entry import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ptn ")
    frozen = int(done.stdout.split("frozen")[-1])
    assert frozen > 10_000  # the command line's modules and objects, not a handful
