"""``ptn.scenario``: a scenario file as data, split into the parts each party may read.

:mod:`~ptn.scenario.document` reads and validates a scenario (a path or a built-in name of
:mod:`ptn.scenarios`). It is shared by the operators (each reads its own part), the coordinator
(the public facts and its settings) and the experimenter's lab (everything). Every key is
declared once in the schema (:mod:`~ptn.scenario.schema`, :mod:`~ptn.scenario.operator_tables`),
from which come the validation's messages (:mod:`~ptn.scenario.validation`) and the reference
of every key (:mod:`~ptn.scenario.reference`: ``ptn scenario keys``, docs/scenarios.md).
"""
