"""``ptn.scenario``: a scenario file as data, split into the parts each party may read.

:mod:`~ptn.scenario.document` reads and validates a scenario (a path or a built-in name of
:mod:`ptn.scenarios`). It is shared by the operators (each reads its own part), the coordinator
(the public facts and its settings) and the experimenter's lab (everything).
"""
