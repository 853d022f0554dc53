"""Seed 000's profit-sharing instance as the reference tests use it, and its measured facts.

Why this module exists: the tests of :mod:`ptn.lab.references.profit_sharing`'s modules (game,
follower, sweep, kkt, horizon) share one instance, ``profit-sharing-seed000`` (18 e-buses on the
12-node grid, case33bw with LinDistFlow, 24 h), and the shares where its follower's response is
known; test modules never import each other (their shared fixtures are in
``tests/lab/references/profit_sharing/conftest.py``).
"""

from __future__ import annotations

from ptn.engines.fleet.case import FleetCase
from ptn.engines.power.der import DsoCase

SCENARIO = "profit-sharing-seed000"
#: shares inside pieces of the follower's response (breakpoints: 0.125, 6/35, 8/35, 2/7, 0.4)
INTERIOR_SHARES = (0.15, 0.2, 0.3)
#: a breakpoint of the follower's response on the scenario's grid: 1/8
BREAKPOINT = 0.125

#: the window of the mixed-integer fleet's tests (periods 16-22): the MILP follower and the
#: private search with the MILP TNO take seconds there
MIP_WINDOW = (16, 23)

#: the fleet case, the DSO case and the charging point of each station
Cases = tuple[FleetCase, DsoCase, list[int]]
