"""``python -m ptn``: the ``ptn`` command."""

from ptn.cli.entry import main

main()
