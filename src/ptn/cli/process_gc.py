"""The cyclic garbage collector in a short ``ptn`` process: paused at start-up, frozen at exit.

Why this exists. Numba's first compiled call in a process loads its typing and lowering
registries, about a hundred thousand long-lived Python objects, and typer builds its parameter
adapters with pydantic. Each object pushes the collector towards another full traversal of
the growing heap, and interpreter shutdown traverses it once more. Measured on ``ptn assign``
of Chicago Sketch (a 1.9 s process): 0.2 s of start-up collections and 0.2 s of shutdown.
Pausing the collector while the process starts and while a batch command such as ``ptn assign``
runs, and freezing the heap (:func:`gc.freeze`) before the interpreter exits, removes both (the
pattern CPython documents for ``gc.freeze``: long-lived start-up objects need no collection).
Reference counting still frees everything that is not in a cycle, which is nearly all of the
numeric work's memory; long-running commands (``ptn run``, ``ptn serve``) run with the
collector on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off; restore its previous state after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def freeze_for_exit() -> None:
    """Move every tracked object to the permanent generation, so that the interpreter's
    shutdown collection does not traverse them (call only when the process is about to end)."""
    gc.freeze()
