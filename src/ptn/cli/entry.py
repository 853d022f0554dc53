"""The ``ptn`` process entry point (console script and ``python -m ptn``).

Separate from :mod:`ptn.cli.app` so that importing the command line (tests run it in-process)
never changes the interpreter's garbage collection: only a real ``ptn`` process pauses the
collector while it imports its command line and freezes the heap before it exits
(:mod:`ptn.cli.process_gc` says why).
"""

from __future__ import annotations

from ptn.cli.process_gc import collector_paused, freeze_for_exit


def main() -> None:
    """Run the ``ptn`` command line as this process's main program."""
    with collector_paused():
        from ptn.cli.app import app
    try:
        app()
    finally:
        freeze_for_exit()
