"""``ptn.lab``: the experimenter's full-information view, apart from the runtime.

Operators never share their models; an experimenter who holds a whole scenario file may. This
package is the only code that reads every operator's table: the full-information references a
negotiated outcome is checked against (:mod:`~ptn.lab.references`) and the seed papers' studies
(:mod:`~ptn.lab.studies`). Nothing in the runtime (``ptn.coordinator``) or the operators
(``ptn.services``) imports it.
"""
