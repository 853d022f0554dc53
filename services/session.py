"""Which negotiation an operator serves, and how far each part of it has gone.

Why this module exists: an operator's model holds the state of one negotiation (the DSO's
pricing history, the TNO's plan, a CNO's turn, every role's latest solve), so it serves one at
a time (issue 15, item 3). The first accepted request's negotiation *base* (the id up to its
first ``/``: the parts of one run, ``<run>/nash``, ``<run>/cooperative``, share it) binds the
operator; a request of another base is refused (``FAILED_PRECONDITION``, naming both ids)
until the bound negotiation ends (``EndNegotiation``) or has been idle for ``idle_s`` seconds
with no request in progress (a coordinator that died without ending it does not lock the
operator forever). Within the negotiation a state-changing request whose round is lower than
the highest round already served for its full negotiation id is refused too (the coordinator
never goes back; a retry of a served request is answered from the reply cache before it gets
here). A refusal changes nothing: it is decided under this session's own lock, never the
model's, so a busy model does not delay it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from ptn.services.refusal import RequestRefusedError
from ptn.services.state import negotiation_base

LOG = logging.getLogger("ptn.operator")

#: seconds without a request after which a bound negotiation may be replaced by another
DEFAULT_SESSION_IDLE_S = 900.0
#: full negotiation ids whose highest round is remembered (the oldest is forgotten first)
MAX_TRACKED_NEGOTIATIONS = 1024


class NegotiationSession:
    """The negotiation an operator is bound to, its requests in progress and its rounds.

    ``rounds``: the highest round served per full negotiation id (from a saved state).
    ``clock``: seconds, monotonic (tests pass their own).
    """

    def __init__(self, idle_s: float = DEFAULT_SESSION_IDLE_S, *,
                 rounds: Mapping[str, int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not idle_s > 0:
            raise ValueError(f"session_idle_s must be positive, got {idle_s}")
        self.idle_s = float(idle_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._bound: str | None = None
        self._in_progress = 0
        self._last_active = clock()
        self._rounds: OrderedDict[str, int] = OrderedDict(rounds or {})

    @property
    def bound(self) -> str | None:
        """The base of the negotiation served (None: none)."""
        return self._bound

    def rounds(self) -> dict[str, int]:
        """The highest round served per full negotiation id of the bound negotiation."""
        with self._lock:
            return dict(self._rounds)

    def admit(self, negotiation_id: str, round_number: int, changes_state: bool) -> str:
        """Accept a request (binding the operator to its negotiation if it serves none), or
        raise :class:`RequestRefusedError`; the request's base. Every admitted request must be
        followed by :meth:`finish`."""
        base = negotiation_base(negotiation_id)
        with self._lock:
            self._require_free_for(base, negotiation_id)
            if changes_state:
                highest = self._rounds.get(negotiation_id)
                if highest is not None and round_number < highest:
                    raise RequestRefusedError(
                        "FAILED_PRECONDITION", f"round {round_number} of negotiation "
                        f"{negotiation_id!r} goes backwards: round {highest} was served")
            if self._bound != base:
                LOG.info("serving negotiation %s", base)
                self._bound = base
                self._forget_rounds_except(base)
            if changes_state:
                self._rounds[negotiation_id] = max(round_number,
                                                   self._rounds.get(negotiation_id, 0))
                self._rounds.move_to_end(negotiation_id)
                while len(self._rounds) > MAX_TRACKED_NEGOTIATIONS:
                    self._rounds.popitem(last=False)
            self._in_progress += 1
            self._last_active = self._clock()
        return base

    def finish(self) -> None:
        """An admitted request is done (answered or refused)."""
        with self._lock:
            self._in_progress -= 1
            self._last_active = self._clock()

    def serves(self, base: str) -> bool:
        """Whether the operator is still bound to ``base`` (a request admitted for it may have
        waited for the model while its negotiation ended)."""
        with self._lock:
            return self._bound == base

    def check_end(self, negotiation_id: str) -> None:
        """Refuse ending a negotiation while another one is served (and not idle)."""
        with self._lock:
            self._require_free_for(negotiation_base(negotiation_id), negotiation_id)

    def end(self, negotiation_id: str) -> None:
        """Release the binding to ``negotiation_id``'s base (no-op when none is served);
        refused while another negotiation is served."""
        base = negotiation_base(negotiation_id)
        with self._lock:
            self._require_free_for(base, negotiation_id)
            if self._bound is not None:
                LOG.info("negotiation %s ended", self._bound)
            self._bound = None
            self._rounds.clear()
            self._last_active = self._clock()

    def _require_free_for(self, base: str, negotiation_id: str) -> None:
        """Under the lock: refuse ``base`` while another live negotiation is served; release
        an idle one."""
        if self._bound is None or self._bound == base:
            return
        idle = self._clock() - self._last_active
        if self._in_progress or idle < self.idle_s:
            raise RequestRefusedError(
                "FAILED_PRECONDITION", f"this operator serves negotiation {self._bound!r}; "
                f"{negotiation_id!r} (negotiation {base!r}) is refused until that one ends "
                f"(EndNegotiation) or has been idle {self.idle_s:g} s")
        LOG.info("negotiation %s idle for %.0f s: released", self._bound, idle)
        self._bound = None

    def _forget_rounds_except(self, base: str) -> None:
        for negotiation_id in [n for n in self._rounds if negotiation_base(n) != base]:
            del self._rounds[negotiation_id]
