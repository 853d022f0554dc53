"""An operator's differentially private releases of one datum, inside its own model.

Why this module exists: the operator that owns a datum (the traffic department its station
loads) adds the noise before the value leaves its model (issue 20 item 2), so the noise is the
same over every transport (in-process, Ray, gRPC) and the coordinator never sees a clean value.
:class:`~ptn.engines.privacy.release.PrivateRelease` draws and charges one release; this adds
what a model needs around it: asking before solving whether the budget admits another release
(a request past the budget is refused without solving, as a status), the report of the privacy
spent that goes out with the values (:class:`~ptn.services.contract.PrivacyReport`), and the
state (releases and the noise stream's position) kept in the model's snapshot, so a resumed
negotiation continues the same stream and the same account. Pure: no transport is imported.
"""

from __future__ import annotations

import math
from typing import Any

from ptn.engines.errors import InvalidInputError
from ptn.engines.privacy.release import PrivateRelease
from ptn.engines.privacy.settings import DatumName, PrivacySettings
from ptn.services.contract import FloatArray, PrivacyReport

#: the message a refused release starts with (the coordinator's status names it too)
BUDGET_SPENT = "privacy budget spent"


class OperatorPrivacy:
    """The noisy releases of datum ``datum`` by one operator over a negotiation."""

    def __init__(self, settings: PrivacySettings, role: str, operator_id: str,
                 datum: DatumName, periods: int, unit: str = "rounds") -> None:
        self.settings = settings
        self.arguments = (role, operator_id, datum, periods)
        #: what one release is, in the refusal's words ("rounds" of ADMM, the pricing game's
        #: "load answers")
        self.unit = unit
        self.release = self._fresh()

    def _fresh(self) -> PrivateRelease:
        role, operator_id, datum, periods = self.arguments
        # the scenario resolves [privacy] rounds (default: coordinator.max_rounds)
        rounds = self.settings.rounds if self.settings.rounds is not None else 1
        return PrivateRelease(self.settings, role, operator_id, datum, periods, rounds)

    @property
    def active(self) -> bool:
        """Whether this operator's releases are noised (and accounted): a mechanism, a finite
        budget and its datum protected. Otherwise (ε = ∞ included) its values and replies are
        the non-private ones, bit for bit."""
        plan = self.release.plan
        return plan.mechanism is not None and math.isfinite(plan.budget.epsilon)

    @property
    def releases(self) -> int:
        return len(self.release.accountant.costs)

    def admits_another(self) -> bool:
        """Whether the budget admits one more release (always, without noise)."""
        return self.admits(1)

    def admits(self, count: int) -> bool:
        """Whether the budget admits ``count`` more releases (always, without noise): a batch
        of answers (the pricing game's probes) is answered whole or refused whole."""
        cost = self.release.plan.cost
        if cost is None:
            return True
        accountant = self.release.accountant
        after = accountant.totals.plus(cost, times=count).spent(accountant.budget.delta)
        return accountant.budget.allows(after)

    def refusal(self) -> str:
        """Why a release past the budget is refused."""
        spent = self.release.accountant.spent().best
        return (f"{BUDGET_SPENT} after {self.releases} {self.unit} (epsilon {spent.epsilon:.6g} of "
                f"{self.release.plan.budget.epsilon:g} at delta {spent.delta:.3g})")

    def noised(self, values: FloatArray) -> tuple[FloatArray, PrivacyReport | None]:
        """The values to send (noised and charged when active, else unchanged) and the
        privacy spent after them (None without noise: the reply is the non-private one)."""
        answer = self.release.release(values)
        if answer.status != "released" or answer.values is None:
            raise InvalidInputError(f"{self.refusal()}: {answer.reason}")
        return answer.values, self.report()

    def report(self) -> PrivacyReport | None:
        """The privacy spent so far (None without noise)."""
        if not self.active:
            return None
        best = self.release.accountant.spent().best
        return PrivacyReport(best.epsilon, best.delta, self.releases, best.name,
                             not self.admits_another())

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        """The releases so far and the noise stream's position (empty without noise)."""
        if not self.active:
            return {}
        return {"releases": self.releases,
                "generator": self.release.generator.bit_generator.state}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`snapshot`: the same account, the same stream."""
        self.release = self._fresh()
        if not state or not self.active:
            return
        try:
            releases = int(state["releases"])
            generator_state = dict(state["generator"])
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidInputError(f"privacy state: {error!r}") from error
        cost = self.release.plan.cost
        assert cost is not None
        for _ in range(releases):
            if self.release.accountant.charge(cost).status != "admitted":
                raise InvalidInputError(f"privacy state: {releases} releases exceed the budget")
        self.release.generator.bit_generator.state = generator_state
