"""``python -m ptn``: the ``ptn`` command."""

from ptn.cli.app import app

app()
