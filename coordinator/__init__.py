"""The coordinator: mechanisms over one driver loop, transports, and the ``ptn`` command line."""
