"""The ``ptn`` command line: thin commands over the engines, the runtime and the lab."""
