"""Lifetime value and churn: the BG/NBD and Gamma-Gamma models, pure maths on numpy arrays.

BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"): while alive, a
customer buys at a Poisson rate lambda (Gamma(r, alpha) across customers) and, after each
purchase, drops out for good with probability p (Beta(a, b) across customers). Per customer it
needs three numbers: x, the repeat transactions (transactions after the first); t_x, the time
of the last one since the first; T, the time observed since the first. Gamma-Gamma (Fader &
Hardie 2013, "The Gamma-Gamma Model of Monetary Value"): each transaction's value is Gamma(p,
nu) with nu Gamma(q, v) across customers, independent of the purchase process; it needs x and
zbar, the mean value of the repeat transactions.

Both are fitted by maximum likelihood: scipy.optimize.minimize over the logarithms of the
parameters (positive without bounds), with the log-likelihood written in closed form
(gammaln, betaln; the paper's equation 6) and evaluated on arrays. Customers with the same
(x, t_x, T) have the same likelihood, so they are collapsed into one row with a weight: with
time in days a million customers become a few hundred thousand rows, and each term that depends
on one of the three only (gammaln(r + x), log(alpha + T)...) is computed once per distinct
value and gathered. That is what makes a million customers fit in about a second.

Nothing here knows Django: the data in and out is fidele.analytics.predictions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

# Days in the average month, for horizons given in months whatever the time unit.
DAYS_PER_MONTH = 365.25 / 12


class FitError(ValueError):
    """The data cannot support the model (no repeat customer, a degenerate optimum)."""


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    iterations: int = 0

    def as_dict(self) -> dict[str, float]:
        return {
            "r": self.r,
            "alpha": self.alpha,
            "a": self.a,
            "b": self.b,
            "log_likelihood": self.log_likelihood,
        }


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    v: float
    log_likelihood: float
    customers: int = 0  # repeat customers the fit used
    left_out: int = 0  # repeat customers whose repeat purchases are worth nothing

    def as_dict(self) -> dict[str, float]:
        return {
            "p": self.p,
            "q": self.q,
            "v": self.v,
            "log_likelihood": self.log_likelihood,
            "customers": self.customers,
            "left_out": self.left_out,
        }


def _as_arrays(*columns: object) -> list[np.ndarray]:
    return [np.asarray(c, dtype=np.float64) for c in columns]


def rows_collapse(
    x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (x, t_x, T) rows and how many customers each stands for."""
    x, t_x, big_t = _as_arrays(x, t_x, big_t)
    whole = len(x) and all(np.array_equal(a, np.floor(a)) and a.min() >= 0 for a in (x, t_x, big_t))
    if whole:
        # Whole numbers (days): one int64 key per row, which np.unique sorts several times
        # faster than rows of three floats.
        span_tx, span_t = int(t_x.max()) + 1, int(big_t.max()) + 1
        if (int(x.max()) + 1) * span_tx * span_t < 2**62:
            key = (x.astype(np.int64) * span_tx + t_x.astype(np.int64)) * span_t + big_t.astype(
                np.int64
            )
            distinct, counts = np.unique(key, return_counts=True)
            return (
                (distinct // (span_tx * span_t)).astype(np.float64),
                (distinct // span_t % span_tx).astype(np.float64),
                (distinct % span_t).astype(np.float64),
                counts.astype(np.float64),
            )
    stacked = np.stack([x, t_x, big_t], axis=1)
    distinct, counts = np.unique(stacked, axis=0, return_counts=True)
    return distinct[:, 0], distinct[:, 1], distinct[:, 2], counts.astype(np.float64)


def _wsum(weights: np.ndarray, values: np.ndarray) -> float:
    # einsum, not np.dot: a BLAS dot spawns threads, which on a busy two-core machine made
    # each evaluation ten times slower.
    return float(np.einsum("i,i->", weights, values))


class _BgNbdTerms:
    """The rows of a fit, split into customers without repeat purchase (whose likelihood
    depends on T only: one row per distinct T) and the others, indexed by their distinct x,
    t_x and T, so that each evaluation computes the special functions once per distinct value
    and the per-row work is a few gathers and array operations. `evaluate` returns the
    log-likelihood and its gradient with respect to the logarithms of (r, alpha, a, b): with
    the gradient, a quasi-Newton method converges in a few dozen evaluations."""

    def __init__(self, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, weights: np.ndarray):
        none = x == 0
        self.zero_t, zero_index = np.unique(big_t[none], return_inverse=True)
        self.zero_w = np.bincount(zero_index, weights=weights[none]).astype(np.float64)
        some = ~none
        self.w = weights[some]
        self.ux, self.ix = np.unique(x[some], return_inverse=True)
        self.utx, self.itx = np.unique(t_x[some], return_inverse=True)
        self.ut, self.it = np.unique(big_t[some], return_inverse=True)
        self.count_x = np.bincount(self.ix, weights=self.w, minlength=len(self.ux))
        self.total_weight = float(weights.sum())

    def evaluate(self, r: float, alpha: float, a: float, b: float) -> tuple[float, np.ndarray]:
        # Customers without repeat purchase: l = r log(alpha) - r log(alpha + T).
        zw, zt = self.zero_w, self.zero_t
        log_zt = np.log(alpha + zt)
        log_alpha = math.log(alpha)
        value = float(zw @ (r * log_alpha - r * log_zt))
        grad = np.array(
            [
                float(zw @ (log_alpha - log_zt)),
                float(zw @ (r / alpha - r / (alpha + zt))),
                0.0,
                0.0,
            ]
        )
        if not len(self.w):
            return value, grad * np.array([r, alpha, a, b])
        # The others (equation 6 of the paper): l = A1 + A2 + log(1 + exp(A3 - A2)), with
        # A1 = lnG(r+x) - lnG(r) + r ln(alpha), A2 = lnB(a, b+x) - lnB(a, b) - (r+x) ln(alpha+T),
        # A3 = lnB(a+1, b+x-1) - lnB(a, b) - (r+x) ln(alpha+t_x).
        ux, ix, w = self.ux, self.ix, self.w
        beta_ab = betaln(a, b)
        per_x_a1 = gammaln(r + ux) - gammaln(r) + r * log_alpha
        per_x_b2 = betaln(a, b + ux) - beta_ab
        per_x_b3 = betaln(a + 1, b + ux - 1) - beta_ab
        xw = (r + ux)[ix]
        log_t = np.log(alpha + self.ut)[self.it]
        log_tx = np.log(alpha + self.utx)[self.itx]
        spread = log_t - log_tx
        d = (per_x_b3 - per_x_b2)[ix] + xw * spread
        value += float(self.count_x @ (per_x_a1 + per_x_b2))
        value += _wsum(w, np.logaddexp(0.0, d) - xw * log_t)
        # w3: the weight of the "dropped out after the last purchase" branch.
        w3 = w * expit(d)
        s3 = np.bincount(ix, weights=w3, minlength=len(ux))
        psi_ab = digamma(a + b)
        psi_abx = digamma(a + b + ux)
        da2 = psi_ab - psi_abx
        da3 = digamma(a + 1) - digamma(a) + psi_ab - psi_abx
        db2 = digamma(b + ux) - digamma(b) + psi_ab - psi_abx
        db3 = digamma(b + ux - 1) - digamma(b) + psi_ab - psi_abx
        inv_t = (1.0 / (alpha + self.ut))[self.it]
        inv_tx = (1.0 / (alpha + self.utx))[self.itx]
        grad[0] += float(self.count_x @ (digamma(r + ux) - digamma(r) + log_alpha))
        grad[0] += -_wsum(w, log_t) + _wsum(w3, spread)
        grad[1] += float(self.count_x.sum()) * r / alpha
        grad[1] -= _wsum(w, xw * inv_t) + _wsum(w3, xw * (inv_tx - inv_t))
        grad[2] += float(self.count_x @ da2 + s3 @ (da3 - da2))
        grad[3] += float(self.count_x @ db2 + s3 @ (db3 - db2))
        return value, grad * np.array([r, alpha, a, b])

    def log_likelihood(self, r: float, alpha: float, a: float, b: float) -> float:
        return self.evaluate(r, alpha, a, b)[0]


def bgnbd_log_likelihood(
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: np.ndarray,
    t_x: np.ndarray,
    big_t: np.ndarray,
    weights: np.ndarray | None = None,
) -> float:
    x, t_x, big_t = _as_arrays(x, t_x, big_t)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    return _BgNbdTerms(x, t_x, big_t, w).log_likelihood(r, alpha, a, b)


def _minimise(objective: object, start: np.ndarray) -> object:
    """L-BFGS on the log-parameters with the analytic gradient (a few dozen evaluations);
    should it stop without converging, Nelder-Mead from where it stopped, then L-BFGS again."""
    options = {"maxiter": 500, "ftol": 1e-13, "gtol": 1e-9}
    result = minimize(objective, start, jac=True, method="L-BFGS-B", options=options)
    if result.success and np.isfinite(result.fun):
        return result
    value_only = lambda p: objective(p)[0]  # noqa: E731
    simplex = minimize(
        value_only,
        result.x if np.all(np.isfinite(result.x)) else start,
        method="Nelder-Mead",
        options={"xatol": 1e-6, "fatol": 1e-10, "maxiter": 4000, "maxfev": 8000},
    )
    polished = minimize(objective, simplex.x, jac=True, method="L-BFGS-B", options=options)
    best = polished if polished.fun <= simplex.fun else simplex
    best.nfev = result.nfev + simplex.nfev + polished.nfev
    return best


def bgnbd_fit(
    *,
    x: np.ndarray,
    t_x: np.ndarray,
    big_t: np.ndarray,
    weights: np.ndarray | None = None,
    collapse: bool = True,
) -> BgNbd:
    """Maximum-likelihood BG/NBD. `weights`: how many customers each row stands for (rows are
    collapsed here when `collapse` and no weights are given)."""
    x, t_x, big_t = _as_arrays(x, t_x, big_t)
    if weights is None:
        if collapse:
            x, t_x, big_t, weights = rows_collapse(x, t_x, big_t)
        else:
            weights = np.ones_like(x)
    weights = np.asarray(weights, dtype=np.float64)
    if not np.any(x > 0):
        raise FitError("no repeat customer: the purchase rate and dropout cannot be told apart")
    terms = _BgNbdTerms(x, t_x, big_t, weights)
    scale = terms.total_weight

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value, grad = terms.evaluate(*np.exp(np.clip(log_params, -30, 30)))
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros(4)
        # Scaled so that the optimiser's tolerances mean the same at 2,000 or 1,000,000 rows.
        return -value / scale, -grad / scale

    # Start alpha near the mean observation time so that r/alpha is a plausible rate.
    mean_t = float(np.dot(weights, big_t) / scale) or 1.0
    start = np.log([1.0, max(mean_t, 1e-3), 1.0, 1.0])
    result = _minimise(objective, start)
    if not np.isfinite(result.fun):
        raise FitError("the BG/NBD likelihood has no finite maximum on these data")
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    return BgNbd(r, alpha, a, b, -float(result.fun) * scale, int(result.nfev))


def _gamma_gamma_parts(x: np.ndarray, zbar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = (x > 0) & (zbar > 0)
    return x[keep], zbar[keep]


def gamma_gamma_log_likelihood(
    *, p: float, q: float, v: float, x: np.ndarray, zbar: np.ndarray
) -> float:
    x, zbar = _gamma_gamma_parts(*_as_arrays(x, zbar))
    return _GammaGammaTerms(x, zbar).evaluate(p, q, v)[0]


class _GammaGammaTerms:
    """f(zbar) = G(px+q) / (G(px) G(q)) v^q zbar^(px-1) x^(px) / (v + x zbar)^(px+q): the
    terms that depend on x only are computed per distinct x, those linear in p and q summed
    once, up front; an evaluation is one log and one division per customer."""

    def __init__(self, x: np.ndarray, zbar: np.ndarray):
        # Customers with the same (x, zbar) collapsed with a weight (one purchase of 25.90 EUR
        # is common): a complex number holds the pair, and a 1-D unique sorts it fast.
        pairs, counts = np.unique(x + 1j * zbar, return_counts=True)
        x, zbar = pairs.real.copy(), pairs.imag.copy()
        self.w = counts.astype(np.float64)
        self.ux, ix = np.unique(x, return_inverse=True)
        self.x = x
        self.wx = self.w * x
        self.xz = x * zbar
        self.sum_log_z = _wsum(self.w, np.log(zbar))
        self.sum_x_log_xz = _wsum(self.wx, np.log(self.xz))
        self.n = float(self.w.sum())
        self.counts = np.bincount(ix, weights=self.w, minlength=len(self.ux))

    def evaluate(self, p: float, q: float, v: float) -> tuple[float, np.ndarray]:
        px = p * self.ux
        log_v = math.log(v)
        log_vxz = np.log(v + self.xz)
        inv_vxz = 1.0 / (v + self.xz)
        sum_x_log = _wsum(self.wx, log_vxz)
        sum_log = _wsum(self.w, log_vxz)
        value = float(self.counts @ (gammaln(px + q) - gammaln(px)))
        value += self.n * (q * log_v - gammaln(q))
        value += p * self.sum_x_log_xz - self.sum_log_z
        value -= p * sum_x_log + q * sum_log
        psi_pxq = digamma(px + q)
        d_p = float(self.counts @ (self.ux * (psi_pxq - digamma(px))))
        d_p += self.sum_x_log_xz - sum_x_log
        d_q = float(self.counts @ psi_pxq) - self.n * digamma(q) + self.n * log_v - sum_log
        d_v = self.n * q / v - p * _wsum(self.wx, inv_vxz) - q * _wsum(self.w, inv_vxz)
        return value, np.array([d_p * p, d_q * q, d_v * v])

    def log_likelihood(self, p: float, q: float, v: float) -> float:
        return self.evaluate(p, q, v)[0]


def gamma_gamma_fit(*, x: np.ndarray, zbar: np.ndarray) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma on the repeat customers (x > 0). Those whose repeat
    purchases are worth nothing (zbar = 0: free samples, refunds netted to 0) have no
    likelihood under a Gamma and are left out; `left_out` says how many."""
    x, zbar = _as_arrays(x, zbar)
    repeat = x > 0
    left_out = int(np.count_nonzero(repeat & (zbar <= 0)))
    x, zbar = _gamma_gamma_parts(x, zbar)
    if len(x) < 2:
        raise FitError("fewer than two repeat customers with a value: no spend model")
    terms = _GammaGammaTerms(x, zbar)

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value, grad = terms.evaluate(*np.exp(np.clip(log_params, -30, 30)))
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros(3)
        return -value / terms.n, -grad / terms.n

    start = np.log([1.0, 2.0, max(float(np.mean(zbar)), 1e-3)])
    result = _minimise(objective, start)
    if not np.isfinite(result.fun):
        raise FitError("the Gamma-Gamma likelihood has no finite maximum on these data")
    p, q, v = (float(val) for val in np.exp(result.x))
    return GammaGamma(p, q, v, -float(result.fun) * terms.n, len(x), left_out)


# Predictions per customer: arrays in, arrays out, times in the fit's unit.


def probability_alive(
    model: BgNbd, *, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
) -> np.ndarray:
    """P(still a customer | x, t_x, T) (the paper's equation 11); 1 for x = 0."""
    x, t_x, big_t = _as_arrays(x, t_x, big_t)
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = (
            math.log(a)
            - np.log(b + x - 1)
            + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        )
        odds = np.where(x > 0, np.exp(np.minimum(log_ratio, 700.0)), 0.0)
    return 1.0 / (1.0 + odds)


def expected_purchases(
    model: BgNbd, *, t: float, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
) -> np.ndarray:
    """Expected transactions in the next `t` (the paper's equation 10)."""
    x, t_x, big_t = _as_arrays(x, t_x, big_t)
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    if t <= 0:
        return np.zeros_like(x)
    if abs(a - 1) < 1e-9:
        a = 1 + 1e-9  # the closed form divides by a - 1; its limit is continuous
    z = t / (alpha + big_t + t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        head = (a + b + x - 1) / (a - 1)
        power = np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + t)))
        hyper = hyp2f1(r + x, b + x, a + b + x - 1, z)
        numerator = head * (1 - power * hyper)
        log_ratio = (
            math.log(a)
            - np.log(b + x - 1)
            + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        )
        odds = np.where(x > 0, np.exp(np.minimum(log_ratio, 700.0)), 0.0)
        value = numerator / (1 + odds)
    # hyp2f1 can lose its precision for a very loyal customer far out; such a value is not
    # shown as a number of purchases.
    return np.where(np.isfinite(value) & (value >= 0), value, np.nan)


def expected_purchases_new(model: BgNbd, *, t: np.ndarray) -> np.ndarray:
    """E[X(t)]: transactions expected in `t` after a first purchase (the paper's equation 9),
    what the holdout check compares a customer's first weeks with."""
    t = np.asarray(t, dtype=np.float64)
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    if abs(a - 1) < 1e-9:
        a = 1 + 1e-9
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


def expected_spend(model: GammaGamma, *, x: np.ndarray, zbar: np.ndarray) -> np.ndarray:
    """Expected value of a future transaction given x repeat transactions of mean zbar: the
    population mean p v / (q - 1) for a customer with none, moving towards their own mean with
    each purchase."""
    x, zbar = _as_arrays(x, zbar)
    p, q, v = model.p, model.q, model.v
    if q <= 1:
        # The population mean is infinite: fall back on the customer's own mean.
        return np.where(x > 0, zbar, np.nan)
    return (p * (v + x * zbar)) / (p * x + q - 1)


def lifetime_value(
    bgnbd: BgNbd,
    *,
    spend: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    big_t: np.ndarray,
    months: int,
    monthly_discount: float,
    unit_days: float,
) -> np.ndarray:
    """The value of the purchases expected month by month over `months`, each month's
    discounted at `monthly_discount` (0.01: a euro next month is worth 0.99 today)."""
    x, t_x, big_t = _as_arrays(x, t_x, big_t)
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for month in range(1, months + 1):
        t = month * DAYS_PER_MONTH / unit_days
        cumulative = expected_purchases(bgnbd, t=t, x=x, t_x=t_x, big_t=big_t)
        total += (cumulative - previous) * spend / (1 + monthly_discount) ** month
        previous = cumulative
    return total


def next_purchase_in(
    model: BgNbd,
    *,
    x: np.ndarray,
    t_x: np.ndarray,
    big_t: np.ndarray,
    unit_days: float,
    max_days: int = 730,
) -> np.ndarray:
    """Days until the customer is expected to have bought once more (the expected purchases
    reach one), NaN when that does not happen within `max_days`: who is likely gone, or buys
    less than once in two years, has no date to wait for."""
    x, t_x, big_t = _as_arrays(x, t_x, big_t)
    grid = np.unique(np.concatenate([np.arange(1, 61), np.geomspace(60, max_days, 40)]))
    reached = np.full(x.shape, np.nan)
    below = np.zeros_like(x)
    last_day = 0.0
    for day in grid:
        value = expected_purchases(model, t=day / unit_days, x=x, t_x=t_x, big_t=big_t)
        crossing = np.isnan(reached) & (value >= 1)
        if np.any(crossing):
            # Linear between the grid's points.
            share = (1 - below[crossing]) / np.maximum(value[crossing] - below[crossing], 1e-12)
            reached[crossing] = last_day + share * (day - last_day)
        below = np.where(np.isnan(value), below, value)
        last_day = float(day)
    return reached


# Simulation, for the tests' parameter recovery and the benchmark: customers drawn from the
# models' own processes with known parameters.


def bgnbd_simulate(
    *, r: float, alpha: float, a: float, b: float, big_t: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(x, t_x) of customers observed for `big_t` after their first purchase: a purchase rate
    lambda ~ Gamma(r, alpha) each, a dropout chance p ~ Beta(a, b) after each repeat purchase.
    Vectorised over the customers still buying."""
    rng = np.random.default_rng(seed)
    big_t = np.asarray(big_t, dtype=np.float64)
    n = len(big_t)
    rate = rng.gamma(r, 1 / alpha, n)
    dropout = rng.beta(a, b, n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    now = np.zeros(n)
    active = np.flatnonzero(rate > 0)
    while len(active):
        now[active] += rng.exponential(1 / rate[active])
        bought = now[active] <= big_t[active]
        active = active[bought]
        x[active] += 1
        t_x[active] = now[active]
        stays = rng.random(len(active)) >= dropout[active]
        active = active[stays]
    return x, t_x


def gamma_gamma_simulate(
    *, p: float, q: float, v: float, x: np.ndarray, seed: int = 0
) -> np.ndarray:
    """zbar, the mean of each customer's x transaction values (0 for x = 0): each value
    Gamma(p, nu), nu ~ Gamma(q, v) per customer; a mean of x such values is Gamma(p x, x nu)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    nu = rng.gamma(q, 1 / v, len(x))
    shape = np.maximum(p * x, 1e-12)
    zbar = rng.gamma(shape, 1 / (np.maximum(x, 1) * nu))
    return np.where(x > 0, zbar, 0.0)
