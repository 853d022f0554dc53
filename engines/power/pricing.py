"""The DSO's side of seed 001's pricing game: fit the stations' load response, then price.

Why this module exists: in Game A (MODELS.md §3) the DSO sets the electricity price λ it sells
to each charging station per period, and the stations' load answers through the CNOs' prices and
the drivers' equilibrium, which the DSO cannot see. Seed 001's AEM method ("MUL-DSO" eqs. 11–22,
approximated by eqs. 32–35) replaces that response by a linear model fitted to the history of
(λ, P) pairs the negotiation produced, and solves the DSO's OPF with it. This module is that
step as a pure engine, in three parts:

* :func:`fit_load_response` — eq. 35, per period t, a weighted ridge regression with a
  semidefinite constraint: ``min Σ_i w_i‖P_i,t − F_t·λ_i,t − P0_t‖² + Σ_jk W_jk·F_t[j,k]²``
  subject to ``(F_t + F_tᵀ)/2 ⪯ 0``, with the history weights ``w_i`` of seed 001 §4.1
  (:func:`history_weights`). The penalty ``W`` is not given in the paper; see
  :data:`DEFAULT_DIAGONAL_PENALTY`.
* :func:`random_trial_prices` — the first ``N_DSO = 5`` iterations' random prices that seed the
  fit (Algorithm 1, step 3).
* :class:`DsoPricingProblem` — eqs. 32–34 with eq. 11's revenue: maximize
  ``Σ_t Δt·λ_tᵀP_t − C_OPF(P) − ϖ·Σ_t‖λ_t − λ̂_t‖²`` subject to ``P_t = F_t·λ_t + P0_t``, the
  DistFlow-SOC OPF (:meth:`ptn.engines.power.distflow.DistFlowOpf.embedding`, whose charging
  variable is ``P``), ``λ ∈ [λ_min, λ_max]`` (eq. 20) and each station's time-average price at
  most the cap (eq. 21). ``λ_tᵀF_tλ_t`` is written ``−‖L_t·λ_t‖²`` with ``L_tᵀL_t = −sym(F_t)``,
  so the model is DPP: built once, only Parameters change between solves.

The OPF's cost enters as the OPF minimizes it (``OpfEmbedding.cost_usd``: with its weak-branch
regularization, which keeps the relaxation exact on near-zero-resistance branches; ~1 $ and
~0.1 $/MW at the margin on case18), while the reported cost and profit use the OPF's reported
cost (``reported_cost_usd``, what :attr:`OpfResult.objective` holds).

Eq. 11's revenue also holds ``μ·P^other`` (fixed loads at fixed tariffs) and the supply cost;
maximizing it is maximizing the sales to charging minus the OPF's cost, so the reported figure is
the DSO's *profit on charging*: ``Σ Δt·λ·P − (C_OPF(P) − C_OPF(0))``.

Units: prices $/MWh, loads MW, slopes MW per $/MWh, money $ over the horizon.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.der import DsoCase, validate_case
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.feeder_blocks import FeederwiseOpf
from ptn.engines.power.infeasibility import describe_solver_error
from ptn.engines.power.result import OpfResult, OpfStatus

FloatArray = NDArray[np.float64]

#: Ridge penalty ``W_jj`` on the diagonal slopes ``F_t[j, j]`` (own-price elasticities), in
#: ($/MWh)². For one station and one period it acts like one extra observation at a price
#: deviation of √W = 10 $/MWh saying "no response": with seed 001's five random trial prices in
#: [80, 180] $/MWh (centred sum of squares per station ≈ 4 × 25² ≈ 2500 ($/MWh)²) it shrinks the
#: own slope by ≈ 4 %, enough to keep the fit unique with fewer points than unknowns and with
#: nearly collinear trial prices, and it fades as the history grows.
DEFAULT_DIAGONAL_PENALTY = 100.0

#: Ridge penalty ``W_jk`` (j ≠ k) on cross-slopes, in ($/MWh)²: one pseudo-observation at the
#: trial prices' typical deviation of 50 $/MWh. Five trial points for four stations leave the
#: 16 slopes and 4 intercepts of a period exactly determined (an interpolation of whatever noise
#: or nonlinearity the loads carry); cross-elasticities are the weakest-identified and, in the
#: seed's network, second-order (a station's load depends on its own price first), so they are
#: shrunk about by half with five trial points (2500 / (2500 + 2500)) and less as data accrue.
DEFAULT_OFF_DIAGONAL_PENALTY = 2500.0

#: Seed 001 §4.1's proximal weight ϖ on the change of the DSO's prices, $ per ($/MWh)².
DEFAULT_PROXIMAL_WEIGHT = 0.2

#: A fitted slope whose symmetric part has a largest eigenvalue up to this fraction of its norm
#: is shifted to negative semidefinite rather than refitted (rounding, or the SDP solver's
#: tolerance); larger violations go to the semidefinite program.
_NSD_ROUNDING = 1e-12

#: Tolerance for a caller-made :class:`ResponseFit` whose slope should be NSD (relative to norm).
_NSD_TOLERANCE = 1e-8

_FIT_STATUS = {cp.OPTIMAL: "optimal", cp.OPTIMAL_INACCURATE: "inaccurate"}
#: stations from which a period's constrained fit is solved by accelerated projected gradient
#: (:func:`_fit_projected`) rather than as an SDP: on chicago-city-game's DSO (100 stations, 4
#: periods, 5 points) Clarabel took 96-125 s on the SDP and the projected gradient 1.1 s
#: (~330 iterations a period), its objective 3e-10 lower and its slopes within 3.6e-6; small
#: fits (seed 001's) keep the SDP
PROJECTED_FIT_MIN_STATIONS = 20
#: the projected gradient stops when a step moves the scaled slopes by less than this
#: (relative to their size) ...
PROJECTED_FIT_TOLERANCE = 1e-12
#: ... or after this many steps, when the fit falls back to the SDP
PROJECTED_FIT_MAX_STEPS = 20_000
_PRICING_STATUS = {
    cp.OPTIMAL: "optimal",
    cp.OPTIMAL_INACCURATE: "inaccurate",
    cp.INFEASIBLE: "infeasible",
    cp.INFEASIBLE_INACCURATE: "infeasible",
}


# ---------------------------------------------------------------------------------- limits
@dataclass(frozen=True)
class PriceLimits:
    """The DSO's price bounds (eq. 20) and the cap on each station's time-average price (eq. 21).

    Seed 001 §4.1: λ ∈ [80, 180] $/MWh, time average at most 120 $/MWh.
    """

    price_min_per_mwh: float = 80.0
    price_max_per_mwh: float = 180.0
    mean_cap_per_mwh: float = 120.0

    def __post_init__(self) -> None:
        for name in ("price_min_per_mwh", "price_max_per_mwh", "mean_cap_per_mwh"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not np.isfinite(value):
                raise InvalidInputError(f"PriceLimits.{name} must be a finite number, got "
                                        f"{value!r}")
        if self.price_min_per_mwh > self.price_max_per_mwh:
            raise InvalidInputError(
                f"PriceLimits.price_min_per_mwh ({self.price_min_per_mwh}) exceeds "
                f"price_max_per_mwh ({self.price_max_per_mwh})"
            )
        if not self.price_min_per_mwh <= self.mean_cap_per_mwh <= self.price_max_per_mwh:
            raise InvalidInputError(
                f"PriceLimits.mean_cap_per_mwh ({self.mean_cap_per_mwh}) must lie in "
                f"[price_min_per_mwh, price_max_per_mwh] = [{self.price_min_per_mwh}, "
                f"{self.price_max_per_mwh}]"
            )


# ---------------------------------------------------------------------------------- history
def history_weights(count: int) -> FloatArray:
    """Seed 001 §4.1's weights ``w_i`` of the history's data points, oldest first.

    With ``γ`` the current iteration and ``a = γ − i`` the age of point ``i`` (the newest has
    ``a = 0``): ``w = 1`` for ``a ≤ 9``, ``w = 1 − 0.1·(a − 10)`` for ``10 ≤ a ≤ 19`` (1 down to
    0.1), ``w = 0.1`` beyond. The formula in the extracted paper text is garbled
    (``wi=10γi,10.1γ10i,0.1,iγ9γ9>iγ19otherwise``); this is its reading as three cases on
    ``γ − 9 ≤ i ≤ γ``, ``γ − 19 ≤ i < γ − 9`` and otherwise.
    """
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
        raise InvalidInputError(f"history_weights: count must be a non-negative integer, got "
                                f"{count!r}")
    age = np.arange(int(count) - 1, -1, -1, dtype=np.float64)
    return np.where(age <= 9, 1.0, np.where(age <= 19, 1.0 - 0.1 * (age - 10), 0.1))


# ---------------------------------------------------------------------------------- the fit
@dataclass(frozen=True)
class ResponseFit:
    """The fitted station load response ``P_t = F_t·λ_t + P0_t`` per period (seed 001 eq. 34).

    ``slope[t]`` is ``F_t`` (MW per $/MWh, ``[station, station]``) with a negative semidefinite
    symmetric part; ``intercept_mw[t]`` is ``P0_t``. ``status``: ``optimal``, ``inaccurate``
    (the SDP solver stopped at reduced accuracy) or ``failed`` (then ``F = 0`` and ``P0`` the
    weighted mean load). ``rms_residual_mw``: the weighted RMS of the fit's residuals over
    points, stations and periods; ``points``: how many (λ, P) pairs it used.
    """

    slope: FloatArray
    intercept_mw: FloatArray
    status: str
    rms_residual_mw: float
    points: int
    message: str = ""

    def __post_init__(self) -> None:
        slope = np.asarray(self.slope)
        intercept = np.asarray(self.intercept_mw)
        if slope.ndim != 3 or slope.shape[1] != slope.shape[2]:
            raise InvalidInputError(
                f"ResponseFit.slope needs shape (periods, stations, stations), got {slope.shape}"
            )
        if intercept.shape != slope.shape[:2]:
            raise InvalidInputError(
                f"ResponseFit.intercept_mw needs shape {slope.shape[:2]} (periods, stations), "
                f"got {intercept.shape}"
            )

    @property
    def periods(self) -> int:
        return int(np.asarray(self.slope).shape[0])

    @property
    def stations(self) -> int:
        return int(np.asarray(self.slope).shape[1])

    def predict_mw(self, price_per_mwh: FloatArray) -> FloatArray:
        """Predicted loads ``F_t·λ_t + P0_t`` (MW, ``[station, period]``) at prices
        ``[station, period]`` ($/MWh)."""
        price = np.asarray(price_per_mwh, dtype=np.float64)
        shape = (self.stations, self.periods)
        if price.shape != shape:
            raise InvalidInputError(
                f"price_per_mwh needs shape {shape} (stations, periods), got {price.shape}"
            )
        predicted = np.einsum("tjk,kt->jt", self.slope, price) + np.asarray(self.intercept_mw).T
        return np.asarray(predicted, dtype=np.float64)


def fit_load_response(
    price_per_mwh: FloatArray,
    load_mw: FloatArray,
    weights: FloatArray | None = None,
    *,
    diagonal_penalty: float = DEFAULT_DIAGONAL_PENALTY,
    off_diagonal_penalty: float = DEFAULT_OFF_DIAGONAL_PENALTY,
    solver: str = "CLARABEL",
) -> ResponseFit:
    """Fit ``P_t ≈ F_t·λ_t + P0_t`` to the history (seed 001 eq. 35), ``sym(F_t) ⪯ 0``.

    ``price_per_mwh`` and ``load_mw``: ``(points, stations, periods)``, oldest point first;
    ``weights``: one per point (default :func:`history_weights`). Penalties ``W`` in ($/MWh)²
    on the diagonal and off-diagonal slopes (the intercept is not penalized).

    Per period, prices and loads are centred on their weighted means (the unpenalized intercept
    then drops out: ``P0 = P̄ − F·λ̄``) and scaled by their weighted RMS deviations, so the
    regression is O(1) whatever the price level. The problem separates by rows of ``F`` without
    the semidefinite constraint: each row is a ridge least-squares problem solved in closed
    form; a period whose solution has ``sym(F_t)`` not negative semidefinite is refitted with
    the constraint: as a small SDP (cvxpy, Clarabel), or from
    :data:`PROJECTED_FIT_MIN_STATIONS` stations on by accelerated projected gradient
    (:func:`_fit_projected`, the SDP if it does not converge). Solver failure is a ``failed``
    status with ``F = 0``.
    """
    price = _history_array(price_per_mwh, "price_per_mwh")
    load = _history_array(load_mw, "load_mw")
    if load.shape != price.shape:
        raise InvalidInputError(
            f"load_mw has shape {load.shape}, price_per_mwh {price.shape}: they must match "
            "(points, stations, periods)"
        )
    points, stations, periods = price.shape
    w = history_weights(points) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (points,):
        raise InvalidInputError(f"weights needs {points} values (one per point), got shape "
                                f"{w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise InvalidInputError(f"weights[{bad[0]}] must be finite and >= 0, got {w[bad[0]]!r}")
    if not w.sum() > 0:
        raise InvalidInputError("weights must have a positive sum")
    for name, value in (("diagonal_penalty", diagonal_penalty),
                        ("off_diagonal_penalty", off_diagonal_penalty)):
        if not (np.isfinite(value) and value >= 0):
            raise InvalidInputError(f"{name} must be finite and >= 0, got {value!r}")

    # (periods, points, stations) views, centred and scaled per period
    weight_sum = float(w.sum())
    X = np.transpose(price, (2, 0, 1))
    Y = np.transpose(load, (2, 0, 1))
    mean_price = np.einsum("i,tij->tj", w, X) / weight_sum
    mean_load = np.einsum("i,tij->tj", w, Y) / weight_sum
    Xc = X - mean_price[:, None, :]
    Yc = Y - mean_load[:, None, :]
    price_scale = _weighted_rms(Xc, w)
    load_scale = _weighted_rms(Yc, w)
    Xs = Xc / price_scale[:, None, None]
    Ys = Yc / load_scale[:, None, None]
    penalty = np.full((stations, stations), float(off_diagonal_penalty))
    np.fill_diagonal(penalty, float(diagonal_penalty))
    # W·F² = W·(G·m/s)²; dividing the objective by m² leaves (W/s²)·G² against the scaled data
    scaled_penalty = penalty[None, :, :] / price_scale[:, None, None] ** 2

    G = _ridge_rows(Xs, Ys, w, scaled_penalty)
    G, violating = _nearly_nsd(G)
    status, message = "optimal", ""
    if violating.size:
        G_sdp, status, message = None, "failed", ""
        if stations >= PROJECTED_FIT_MIN_STATIONS:
            G_sdp = _fit_projected(Xs[violating], Ys[violating], w, scaled_penalty[violating])
            status = "optimal"
        if G_sdp is None:
            G_sdp, status, message = _fit_sdp(Xs[violating], Ys[violating], w,
                                              scaled_penalty[violating], solver)
        if G_sdp is None:
            fallback_slope = np.zeros((periods, stations, stations))
            return ResponseFit(
                slope=fallback_slope, intercept_mw=mean_load, status="failed",
                rms_residual_mw=_rms_residual(price, load, w, fallback_slope, mean_load),
                points=points, message=message,
            )
        G[violating] = G_sdp
        G, _ = _nearly_nsd(G, force=True)
    slope = G * (load_scale / price_scale)[:, None, None]
    intercept = mean_load - np.einsum("tjk,tk->tj", slope, mean_price)
    return ResponseFit(
        slope=slope, intercept_mw=intercept, status=status,
        rms_residual_mw=_rms_residual(price, load, w, slope, intercept),
        points=points, message=message,
    )


def _history_array(values: FloatArray, what: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 3 or min(array.shape) < 1:
        raise InvalidInputError(f"{what} needs shape (points, stations, periods), each at least "
                                f"1, got {array.shape}")
    bad = np.argwhere(~np.isfinite(array))
    if bad.size:
        point, station, period = bad[0]
        raise InvalidInputError(f"{what}[{point}, {station}, {period}] (point, station, period) "
                                "is not finite")
    return array


def _weighted_rms(centred: FloatArray, w: FloatArray) -> FloatArray:
    """Per period, the weighted RMS of centred values ``(periods, points, stations)``; 1 if 0."""
    spread = np.sqrt(np.einsum("i,tij->t", w, centred**2) / (w.sum() * centred.shape[2]))
    return np.where(spread > 0, spread, 1.0)


def _ridge_rows(X: FloatArray, Y: FloatArray, w: FloatArray, penalty: FloatArray) -> FloatArray:
    """Unconstrained minimizer of ``Σ_i w_i‖Y_i − G·X_i‖² + Σ_jk penalty_jk·G_jk²`` per period.

    Rows of ``G`` separate: row j solves ``[√w·X; diag(√penalty_j)]·g = [√w·Y_j; 0]`` in the
    least-squares sense (minimum norm when the penalty is zero and the data rank-deficient).
    """
    periods, points, stations = X.shape
    root_w = np.sqrt(w)[None, :, None]
    design = np.broadcast_to((root_w * X)[:, None, :, :], (periods, stations, points, stations))
    ridge = np.sqrt(penalty)[..., None] * np.eye(stations)  # (t, row j, k, k) diagonal blocks
    A = np.concatenate([design, ridge], axis=2)
    target = np.concatenate(
        [np.transpose(root_w * Y, (0, 2, 1)), np.zeros((periods, stations, stations))], axis=2
    )
    rows = np.linalg.pinv(A) @ target[..., None]
    return np.asarray(rows[..., 0], dtype=np.float64)


def _nearly_nsd(G: FloatArray, *, force: bool = False) -> tuple[FloatArray, NDArray[np.int64]]:
    """Shift periods whose ``sym(G_t)`` is positive only by rounding (or any amount if
    ``force``) by ``−λ_max·I``; return the shifted slopes and the periods left violating."""
    top = np.linalg.eigvalsh(0.5 * (G + np.transpose(G, (0, 2, 1))))[:, -1]
    size = np.maximum(np.linalg.norm(G, axis=(1, 2)), np.finfo(float).tiny)
    shift = (top > 0) & (force | (top <= _NSD_ROUNDING * size))
    G = G - np.where(shift, top, 0.0)[:, None, None] * np.eye(G.shape[1])
    return G, np.flatnonzero((top > 0) & ~shift)


def _fit_sdp(X: FloatArray, Y: FloatArray, w: FloatArray, penalty: FloatArray,
             solver: str) -> tuple[FloatArray | None, str, str]:
    """Eq. 35 with ``sym(G_t) ⪯ 0`` for the given periods, as one cvxpy SDP."""
    periods, _, stations = X.shape
    root_w = np.sqrt(w)[:, None]
    slopes = [cp.Variable((stations, stations)) for _ in range(periods)]
    objective: list[cp.Expression] = []
    constraints: list[cp.Constraint] = []
    for t, G in enumerate(slopes):
        objective.append(cp.sum_squares(root_w * Y[t] - cp.multiply(root_w, X[t] @ G.T)))
        objective.append(cp.sum(cp.multiply(penalty[t], cp.square(G))))
        constraints.append(G + G.T << 0)
    problem = cp.Problem(cp.Minimize(cp.sum(cp.hstack(objective))), constraints)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver=solver)
    except cp.error.SolverError as error:
        return None, "failed", f"the fit's SDP failed: {error}"
    status = _FIT_STATUS.get(problem.status)
    if status is None or any(G.value is None for G in slopes):
        return None, "failed", f"the fit's SDP ended with solver status {problem.status}"
    message = "" if status == "optimal" else \
        "the fit's SDP stopped at reduced accuracy (cvxpy status optimal_inaccurate)"
    return np.stack([np.asarray(G.value, dtype=np.float64) for G in slopes]), status, message


def _fit_projected(X: FloatArray, Y: FloatArray, w: FloatArray, penalty: FloatArray
                   ) -> FloatArray | None:
    """Eq. 35 with ``sym(G_t) ⪯ 0`` for the given periods by accelerated projected gradient
    (Nesterov's constant-momentum scheme for a strongly convex objective; Beck, *First-Order
    Methods in Optimization*, SIAM 2017, §10.7), one period at a time; None when a period does
    not converge within :data:`PROJECTED_FIT_MAX_STEPS` (the caller then solves the SDP).

    The objective ``Σ_i w_i‖Y_i − G·X_i‖² + Σ_jk W_jk·G_jk²`` has gradient
    ``2(G·H − B) + 2 W∘G`` (``H = Xᵀ diag(w) X``, ``B = Yᵀ diag(w) X``), Lipschitz with
    ``L = 2(λ_max(H) + max W)`` and strongly convex with ``μ = 2 min W``. The Frobenius
    projection on ``{G : sym(G) ⪯ 0}`` keeps the skew part and clips the symmetric part's
    positive eigenvalues (the two parts are orthogonal)."""
    fitted = []
    for t in range(X.shape[0]):
        H = X[t].T @ (w[:, None] * X[t])
        B = Y[t].T @ (w[:, None] * X[t])
        W = penalty[t]
        lipschitz = 2.0 * (float(np.linalg.eigvalsh(H)[-1]) + float(W.max()))
        ratio = 2.0 * float(W.min()) / lipschitz
        momentum = (1.0 - np.sqrt(ratio)) / (1.0 + np.sqrt(ratio))
        G = np.zeros_like(H)
        ahead = G
        for _ in range(PROJECTED_FIT_MAX_STEPS):
            gradient = 2.0 * (ahead @ H - B) + 2.0 * W * ahead
            moved = _project_nsd(ahead - gradient / lipschitz)
            step = float(np.linalg.norm(moved - G))
            ahead = moved + momentum * (moved - G)
            G = moved
            if step <= PROJECTED_FIT_TOLERANCE * max(1.0, float(np.linalg.norm(G))):
                break
        else:
            return None
        fitted.append(G)
    return np.stack(fitted)


def _project_nsd(G: FloatArray) -> FloatArray:
    """The nearest (Frobenius) matrix whose symmetric part is negative semidefinite."""
    symmetric, skew = 0.5 * (G + G.T), 0.5 * (G - G.T)
    values, vectors = np.linalg.eigh(symmetric)
    return np.asarray(skew + (vectors * np.minimum(values, 0.0)) @ vectors.T, dtype=np.float64)


def _rms_residual(price: FloatArray, load: FloatArray, w: FloatArray, slope: FloatArray,
                  intercept: FloatArray) -> float:
    predicted = np.einsum("tjk,ikt->ijt", slope, price) + intercept.T[None, :, :]
    squared = np.einsum("i,ijt->", w, (load - predicted) ** 2)
    return float(np.sqrt(squared / (w.sum() * price.shape[1] * price.shape[2])))


# ---------------------------------------------------------------------------------- trials
def random_trial_prices(
    rng: np.random.Generator, stations: int, periods: int, limits: PriceLimits,
    draw: TrialDraw | None = None,
) -> FloatArray:
    """Random prices ``[station, period]`` for the trial iterations (seed 001, Algorithm 1).

    Uniform in the draw's range (without one: ``[price_min, price_max]``); a station whose time
    average exceeds the cap has its series scaled toward ``price_min``
    (``λ ← min + (λ − min)·(cap − min)/(mean − min)``) so that its average equals the cap,
    which keeps every price within bounds. With a draw below the cap (seed 001's Figure 6: the
    DSO's mean price rises gradually to the cap from its trials) no series is scaled.
    """
    for name, value in (("stations", stations), ("periods", periods)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise InvalidInputError(f"random_trial_prices: {name} must be a positive integer, "
                                    f"got {value!r}")
    low, high, cap = limits.price_min_per_mwh, limits.price_max_per_mwh, limits.mean_cap_per_mwh
    draw_low, draw_high = (low, high) if draw is None else draw.within(limits)
    price = rng.uniform(draw_low, draw_high, size=(int(stations), int(periods)))
    mean = price.mean(axis=1, keepdims=True)
    over = mean > cap
    factor = np.where(over, (cap - low) / np.where(over, mean - low, 1.0), 1.0)
    return np.asarray(np.clip(low + (price - low) * factor, low, high), dtype=np.float64)


@dataclass(frozen=True)
class TrialDraw:
    """The range of the DSO's random trial prices (seed 001, Algorithm 1 step 3: "simple random
    pricing"), $/MWh. ``None`` ends stand for the lower bound and the mean cap
    (``[price_min, mean_cap]``).

    The paper gives no range; its Figure 6 shows the DSO's mean price rising to the cap of 120
    after the trials, so its trials sat below the cap.
    """

    low_per_mwh: float | None = None
    high_per_mwh: float | None = None

    def within(self, limits: PriceLimits) -> tuple[float, float]:
        """The draw's ``(low, high)`` checked against the limits' bounds."""
        low = limits.price_min_per_mwh if self.low_per_mwh is None else self.low_per_mwh
        high = limits.mean_cap_per_mwh if self.high_per_mwh is None else self.high_per_mwh
        for name, value in (("low_per_mwh", low), ("high_per_mwh", high)):
            if not isinstance(value, int | float) or not np.isfinite(value) \
                    or not limits.price_min_per_mwh <= value <= limits.price_max_per_mwh:
                raise InvalidInputError(
                    f"TrialDraw.{name} must be a number in [price_min_per_mwh, "
                    f"price_max_per_mwh] = [{limits.price_min_per_mwh}, "
                    f"{limits.price_max_per_mwh}], got {value!r}")
        if low > high:
            raise InvalidInputError(f"TrialDraw.low_per_mwh ({low}) exceeds high_per_mwh "
                                    f"({high})")
        return float(low), float(high)


# ---------------------------------------------------------------------------------- pricing
@dataclass(frozen=True)
class PricingResult:
    """The DSO's prices from eqs. 32–34 and what the fitted response predicts at them.

    ``status``: ``optimal``, ``inaccurate`` (solver stopped at reduced accuracy),
    ``infeasible`` (no price in the limits gives a predicted load the feeders can serve) or
    ``failed``; on the last two ``price_per_mwh`` is the previous price. ``predicted_load_mw``:
    ``F·λ + P0`` (MW, ``[price group, period]``, as the prices); ``predicted_revenue_usd``: the
    DSO's profit on charging ``Σ Δt·λ·P − (C_OPF(P) − C_OPF(0))`` ($ over the horizon);
    ``opf_cost_usd``:
    ``C_OPF(P)``, the OPF's cost (its ``OpfResult.objective``) with the predicted loads.
    """

    status: str
    price_per_mwh: FloatArray
    predicted_load_mw: FloatArray
    predicted_revenue_usd: float
    message: str
    seconds: float
    opf_cost_usd: float = float("nan")
    details: dict[str, Any] = field(default_factory=dict)


class PricingModel:
    """What every form of the pricing problem shares: its checked arguments, the price groups,
    the stations and ``C_OPF(0)``. A subclass builds its model in ``__init__`` (after this
    one's), sets ``solver_options`` and ``build_seconds``, and solves in ``solve``."""

    def __init__(self, case: DsoCase, limits: PriceLimits, proximal_weight: float, solver: str,
                 price_groups: Sequence[Sequence[int]] | None) -> None:
        validate_case(case)
        if not case.charging_points:
            raise InvalidInputError("DsoPricingProblem: the case has no charging points to price")
        self.price_groups = price_group_partition(price_groups, len(case.charging_points))
        if not (np.isfinite(proximal_weight) and proximal_weight >= 0):
            raise InvalidInputError(f"proximal_weight must be finite and >= 0, got "
                                    f"{proximal_weight!r}")
        self.case = case
        self.limits = limits
        self.proximal_weight = float(proximal_weight)
        self.solver = solver
        self.solver_options: dict[str, Any] = {}
        self.build_seconds = 0.0
        self._no_charging_cost: float | None = None

    @property
    def stations(self) -> tuple[str, ...]:
        """The case's charging points' names, in its order."""
        return tuple(c.name for c in self.case.charging_points)

    @property
    def groups(self) -> int:
        """How many prices per period: one per price group."""
        return len(self.price_groups)

    def no_charging_cost_usd(self) -> float:
        """``C_OPF(0)``: the OPF's cost with zero charging load (fixed mode), cached; NaN if
        that dispatch has no solution."""
        if self._no_charging_cost is None:
            self._no_charging_cost = no_charging_cost_usd(self.case, self.solver,
                                                          self.solver_options)
        return self._no_charging_cost


class DsoPricingProblem(PricingModel):
    """MUL-DSO with the fitted response (eqs. 32–34), built once, re-solved with new Parameters.

    Stations are the case's charging points in their order. ``price_groups`` (indices of charging
    points; default one group per point) makes co-located points share one price: seed 001 sets
    one price per bus (``λ_j,t`` of node j), and "Ω_n is the set of nodes where all EVCS are
    located". Prices, the fitted response (the group's total load against the groups' prices),
    the previous price and the results are then per group, in the groups' order, and the cap
    applies to each group's time-average price. Parameters: per period ``F_t`` (in
    ``P = F·λ + P0``) and its factor ``L_t`` (``λᵀF_tλ = −‖L_tλ‖²``), ``P0`` and the previous
    price ``λ̂``. The OPF's Parameters (upstream prices, load profile) are shared with
    :attr:`opf`, so :meth:`DistFlowOpf.set_upstream_price` on it changes this model too (and
    :meth:`no_charging_cost_usd` is then stale: build a new problem instead).
    """

    def __init__(
        self,
        case: DsoCase,
        limits: PriceLimits = PriceLimits(),
        *,
        proximal_weight: float = DEFAULT_PROXIMAL_WEIGHT,
        solver: str = "CLARABEL",
        solver_options: dict[str, Any] | None = None,
        price_groups: Sequence[Sequence[int]] | None = None,
    ) -> None:
        super().__init__(case, limits, proximal_weight, solver, price_groups)
        started = time.perf_counter()
        self.opf = DistFlowOpf(case, charging="priced", solver=solver,
                               solver_options=solver_options)
        self.solver_options = dict(self.opf.solver_options)
        self._build()
        self.build_seconds = time.perf_counter() - started

    def _build(self) -> None:
        S, T = self.groups, self.case.periods
        dt = self.case.period_hours
        self._embedding = self.opf.embedding()
        charging = self._embedding.charging_mw
        self._price = cp.Variable((S, T), name="dso_price")
        self._slope = [cp.Parameter((S, S), name=f"F[{t}]") for t in range(T)]
        self._factor = [cp.Parameter((S, S), name=f"L[{t}]") for t in range(T)]
        self._intercept = cp.Parameter((S, T), name="P0")
        self._previous = cp.Parameter((S, T), name="previous_price")
        price = self._price
        points = len(self.case.charging_points)
        if self.price_groups != tuple((k,) for k in range(points)):
            # a group's load is the sum of its points' loads (they share one price)
            membership = np.zeros((S, points))
            for group, members in enumerate(self.price_groups):
                membership[group, list(members)] = 1.0
            charging = membership @ charging
        # λᵀP = λᵀFλ + P0ᵀλ = −‖Lλ‖² + P0ᵀλ per period
        quadratic = cp.sum(cp.hstack([cp.sum_squares(self._factor[t] @ price[:, t])
                                      for t in range(T)]))
        self._sales = dt * (cp.sum(cp.multiply(self._intercept, price)) - quadratic)
        objective = self._sales - self._embedding.cost_usd
        if self.proximal_weight:
            objective = objective - self.proximal_weight * cp.sum_squares(price - self._previous)
        limits = self.limits
        constraints = [
            *self._embedding.constraints,
            *(charging[:, t] == self._slope[t] @ price[:, t] + self._intercept[:, t]
              for t in range(T)),
            price >= limits.price_min_per_mwh,
            price <= limits.price_max_per_mwh,
            cp.sum(price, axis=1) <= T * limits.mean_cap_per_mwh,
        ]
        self.problem = cp.Problem(cp.Maximize(objective), constraints)
        if not self.problem.is_dcp(dpp=True):  # pragma: no cover - a formulation bug
            raise RuntimeError("the DSO pricing model is not DPP")
        for parameter in (*self._slope, *self._factor):
            parameter.value = np.zeros((S, S))
        self._intercept.value = np.zeros((S, T))
        self._previous.value = np.full((S, T), limits.price_min_per_mwh)
        # canonicalize now, so that build_seconds is the one-off cost
        self.problem.get_problem_data(self.solver)

    def solve(self, fit: ResponseFit, previous_price_per_mwh: FloatArray) -> PricingResult:
        """Prices maximizing the DSO's profit on charging under the fitted response; never
        raises on solver trouble (statuses ``infeasible``/``failed`` keep the previous price)."""
        started = time.perf_counter()
        T = self.case.periods
        slope, intercept, previous = checked_pricing_inputs(fit, previous_price_per_mwh,
                                                            self.groups, T)
        factors = nsd_factors(slope)
        for t in range(T):
            self._slope[t].value = slope[t]
            self._factor[t].value = factors[t]
        self._intercept.value = intercept.T
        self._previous.value = previous
        no_charging = self.no_charging_cost_usd()

        notes = [] if fit.status == "optimal" else [f"the response fit is {fit.status}"]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.problem.solve(solver=self.solver, **self.solver_options)
            status = _PRICING_STATUS.get(self.problem.status, "failed")
            solver_note = f"solver status {self.problem.status}"
        except cp.error.SolverError as error:
            status, solver_note = "failed", describe_solver_error(error)
        if status in ("optimal", "inaccurate") and self._price.value is None:
            status = "failed"
        if status in ("infeasible", "failed"):
            return kept_previous_price(fit, previous, status, solver_note, notes, started)
        return priced_result(
            fit, np.asarray(self._price.value, dtype=np.float64), status, notes,
            opf_cost_usd=float(self._embedding.reported_cost_usd.value),
            dispatch=self._embedding.read_result(), no_charging_cost_usd=no_charging,
            period_hours=self.case.period_hours, started=started)


def no_charging_cost_usd(case: DsoCase, solver: str, solver_options: dict[str, Any]) -> float:
    """``C_OPF(0)``: the OPF's cost with zero charging load, feeder by feeder
    (:class:`~ptn.engines.power.feeder_blocks.FeederwiseOpf`: the same optimum as one problem,
    memory of the largest feeder); NaN if that dispatch has no solution."""
    opf = FeederwiseOpf(case, solver=solver, solver_options=solver_options)
    opf.set_charging_load(np.zeros((len(case.charging_points), case.periods)))
    result = opf.solve()
    return float(result.objective) if result.status.has_solution else float("nan")


def checked_pricing_inputs(fit: ResponseFit, previous_price_per_mwh: FloatArray, groups: int,
                           periods: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(slope, intercept, previous)`` of a pricing solve, checked against ``groups`` prices
    per period over ``periods`` periods."""
    S, T = groups, periods
    slope = np.asarray(fit.slope, dtype=np.float64)
    intercept = np.asarray(fit.intercept_mw, dtype=np.float64)
    if slope.shape != (T, S, S):
        raise InvalidInputError(f"fit.slope needs shape {(T, S, S)} (periods, price groups, "
                                f"price groups) for this case, got {slope.shape}")
    if not (np.isfinite(slope).all() and np.isfinite(intercept).all()):
        raise InvalidInputError("fit.slope and fit.intercept_mw must be finite")
    previous = np.asarray(previous_price_per_mwh, dtype=np.float64)
    if previous.shape != (S, T):
        raise InvalidInputError(f"previous_price_per_mwh needs shape {(S, T)} (price groups, "
                                f"periods), got {previous.shape}")
    if not np.isfinite(previous).all():
        raise InvalidInputError("previous_price_per_mwh must be finite")
    return slope, intercept, previous


def kept_previous_price(fit: ResponseFit, previous: FloatArray, status: str, solver_note: str,
                        notes: list[str], started: float) -> PricingResult:
    """The result of an ``infeasible`` or ``failed`` pricing solve: the previous price kept."""
    notes.insert(0, f"the pricing problem is {status} ({solver_note}); the previous price is "
                 "kept")
    return PricingResult(
        status=status, price_per_mwh=previous.copy(),
        predicted_load_mw=fit.predict_mw(previous), predicted_revenue_usd=float("nan"),
        message="; ".join(notes), seconds=time.perf_counter() - started,
    )


def priced_result(fit: ResponseFit, price: FloatArray, status: str, notes: list[str], *,
                  opf_cost_usd: float, dispatch: OpfResult, no_charging_cost_usd: float,
                  period_hours: float, started: float) -> PricingResult:
    """The result of an ``optimal`` or ``inaccurate`` pricing solve at ``price``, with the
    OPF's reported cost and dispatch there."""
    if status == "inaccurate":
        notes.insert(0, "the solver stopped at reduced accuracy (cvxpy status "
                     "optimal_inaccurate)")
    load = fit.predict_mw(price)
    if dispatch.status is not OpfStatus.OPTIMAL:
        notes.append(dispatch.message)
    sales = period_hours * float(np.sum(price * load))
    return PricingResult(
        status=status,
        price_per_mwh=price,
        predicted_load_mw=load,
        predicted_revenue_usd=sales - (opf_cost_usd - no_charging_cost_usd),
        message="; ".join(note for note in notes if note),
        seconds=time.perf_counter() - started,
        opf_cost_usd=opf_cost_usd,
        details={"sales_usd": sales, "no_charging_cost_usd": no_charging_cost_usd,
                 "opf_status": str(dispatch.status),
                 "charging_dlmp_per_mwh": dispatch.charging_dlmp_per_mwh},
    )


def price_group_partition(groups: Sequence[Sequence[int]] | None,
                          points: int) -> tuple[tuple[int, ...], ...]:
    """Checked price groups: a partition of the charging points ``0..points-1`` into non-empty
    groups (default: one group per point)."""
    if groups is None:
        return tuple((k,) for k in range(points))
    partition = tuple(tuple(int(k) for k in group) for group in groups)
    members = sorted(k for group in partition for k in group)
    if any(not group for group in partition) or members != list(range(points)):
        raise InvalidInputError(
            f"price_groups must split the {points} charging points 0..{points - 1} into "
            f"non-empty groups, each point in exactly one, got {partition!r}")
    return partition


def nsd_factors(slope: FloatArray) -> FloatArray:
    """Per period, ``L_t`` with ``L_tᵀL_t = −sym(F_t)``; raises if ``sym(F_t)`` is not NSD."""
    symmetric = 0.5 * (slope + np.transpose(slope, (0, 2, 1)))
    values, vectors = np.linalg.eigh(-symmetric)
    size = np.maximum(np.linalg.norm(slope, axis=(1, 2)), np.finfo(float).tiny)
    bad = np.flatnonzero(values[:, 0] < -_NSD_TOLERANCE * size)
    if bad.size:
        t = int(bad[0])
        raise InvalidInputError(
            f"fit.slope[{t}] (period {t}): its symmetric part has eigenvalue "
            f"{-values[t, 0]:.3g} > 0; the response must be negative semidefinite"
        )
    roots = np.sqrt(np.maximum(values, 0.0))
    return np.asarray(roots[:, :, None] * np.transpose(vectors, (0, 2, 1)), dtype=np.float64)
