"""``python -m ptn``: the ``ptn`` command."""

from ptn.coordinator.cli import app

app()
