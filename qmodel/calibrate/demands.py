"""Service demands from per-interval metrics: how many seconds of a resource one job of
each class uses.

**Utilization-law regression** (:func:`utilization_regression`). In every interval the
busy servers of a resource are the sum over classes of throughput times demand,
``B_k(t) = sum_r X_r(t) D_rk (+ U0_k)``, ``B`` being the utilization of one server times
the servers (busy seconds per second). The demands are the non-negative least-squares
solution over the intervals (``scipy.optimize.nnls``: a demand cannot be negative, and
the solver's active set is exact, no tuning); the optional intercept ``U0`` is background
work no class accounts for. Their 95% intervals are, by default, the ordinary
least-squares covariance ``s^2 (A'A)^+`` of the design at the NNLS solution with Student
t quantiles (``interval="ols"``), clipped at zero; ``interval="bootstrap"`` resamples the
intervals instead (percentile bootstrap). The OLS covariance is what the coverage test
checks (90-99% over 200 synthetic data sets, ``tests/calibrate/test_demands.py``).

**Response-time regression** (:func:`response_regression`), for a resource whose
utilization is not measured: Kraft, Pacheco-Sanchez, Casale and Dawson, "Estimating
service resource consumption from response time measurements" (VALUETOOLS 2009). At a
single-server (or processor-sharing) resource a job's residence is its demand times one
plus the jobs it finds there, ``R_r = D_r (1 + A)``. Per interval, ``A`` is the mean
number at the resource (Poisson arrivals see time averages), which Little's law gives
from the measurements, ``A(t) = sum_r X_r(t) R_r(t)``; ``D_r`` is the least-squares slope
of ``R_r`` on ``1 + A`` through the origin, with its t interval. With c servers the
estimator uses ``1 + A/c``, an approximation (said in the fit's warnings).

**Identifiability.** Before anything is estimated the design is checked: a class with no
jobs, two classes whose throughputs stay in one proportion (or one class constant, against
the background intercept), a rank-deficient or badly conditioned throughput matrix, fewer
than three intervals per unknown, utilizations near 0 or 1. A demand the data cannot
identify gets no value and an unbounded interval (``identifiable`` False, with the reason);
the others are estimated as usual.

>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> X = rng.uniform(5, 50, size=(40, 2))               # two classes, 40 intervals
>>> B = X @ [0.010, 0.004] + rng.normal(0, 0.002, 40)  # busy servers
>>> fit = utilization_regression(X, B, ["a", "b"], "cpu")
>>> [round(float(d), 3) for d in fit.demand], bool(fit.identifiable.all())
([0.01, 0.004], True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

LEVEL = 0.95
PROPORTIONAL = 0.998
"""Cosine between two throughput columns above which their classes cannot be told apart:
their ratio varies by less than about 6% (sqrt(2 (1 - cos))) over the intervals."""
ILL_CONDITIONED = 1e3
"""Condition number (columns scaled to unit length) above which the design is degenerate."""
WEAK_CONDITION = 30.0
"""Belsley's threshold for strong collinearity: demands are estimated, with a warning."""
PER_UNKNOWN = 3
INTERVALS = ("ols", "bootstrap")
BOOTSTRAP = 400


@dataclass
class DemandFit:
    """Demands of one resource: estimates, 95% intervals (``high`` inf where the data
    cannot identify it), per-interval measured and fitted busy servers, and what was
    wrong with the data."""

    component: str
    classes: list[str]
    demand: np.ndarray
    low: np.ndarray
    high: np.ndarray
    identifiable: np.ndarray
    reasons: list[str]
    method: str
    n: int
    measured: np.ndarray
    fitted: np.ndarray
    background: float | None = None
    background_interval: tuple[float, float] | None = None
    condition: float = float("nan")
    cov: np.ndarray | None = None       # OLS covariance of the demands (classes only)
    draws: np.ndarray | None = None     # bootstrap demands, one row per resample
    dof: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def residuals(self) -> np.ndarray:
        return self.measured - self.fitted

    def combine(self, weights: np.ndarray) -> tuple[float, float, float]:
        """A weighted sum of the demands, ``w . D``, and its 95% interval (identifiable
        demands only: weights on the others must be zero)."""
        w = np.asarray(weights, dtype=float)
        value = float(w @ np.where(self.identifiable, self.demand, 0.0))
        if self.draws is not None:
            low, high = np.percentile(self.draws @ w, [2.5, 97.5])
            return value, max(0.0, min(float(low), value)), max(float(high), value)
        if self.cov is None:
            return value, 0.0, float("inf")
        half = _t(self.dof) * float(np.sqrt(max(w @ self.cov @ w, 0.0)))
        return value, max(0.0, value - half), value + half


def utilization_regression(throughput: np.ndarray, busy: np.ndarray, classes: list[str],
                           component: str = "", *, servers: float = 1.0,
                           background: bool = False, interval: str = "ols",
                           seed: int | None = 0) -> DemandFit:
    """Demands ``D[r]`` (seconds of busy server per job) of one resource from per-interval
    throughput ``[T, R]`` (per second) and busy servers ``[T]``; see the module text.
    ``servers`` only serves the near-0/near-1 utilization checks."""
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, got {interval!r}")
    X = np.asarray(throughput, dtype=float).reshape(len(busy), -1)
    b = np.asarray(busy, dtype=float)
    rows = np.isfinite(b) & np.isfinite(X).all(axis=1)
    A = np.column_stack([X[rows], np.ones(rows.sum())]) if background else X[rows]
    y = b[rows]
    R, T = X.shape[1], int(rows.sum())
    names = [*classes, "background"] if background else list(classes)
    ok, reasons, warnings, condition = identify(A, names, T)
    ok_classes = ok[:R]
    warnings += _load_warnings(y, servers, component)
    # columns the data cannot separate stay in the fit (their joint load is measured and
    # must not leak into the others' demands); only their own values are withheld
    used = (np.sqrt((A ** 2).sum(axis=0)) > 0) if T >= PER_UNKNOWN * A.shape[1] else ok
    coef = np.zeros(A.shape[1])
    if used.any():
        coef[used], _ = optimize.nnls(A[:, used], y)
    fitted_rows = A @ coef
    fitted = np.full(len(b), np.nan)
    if used.any():
        fitted[rows] = fitted_rows
    dof = max(T - int(np.linalg.matrix_rank(A[:, used])) if used.any() else 0, 0)
    low, high = np.zeros(A.shape[1]), np.full(A.shape[1], np.inf)
    cov = draws = None
    if ok.any() and dof > 0:
        sub = A[:, used]
        if interval == "ols":
            rss = float(((y - fitted_rows) ** 2).sum())
            full = np.zeros((A.shape[1], A.shape[1]))
            full[np.ix_(used, used)] = rss / dof * np.linalg.pinv(sub.T @ sub, hermitian=True)
            cov = np.where(np.outer(ok, ok), full, 0.0)[:R, :R]
            half = _t(dof) * np.sqrt(np.clip(np.diag(full), 0.0, None))
            low = np.where(ok, np.maximum(coef - half, 0.0), 0.0)
            high = np.where(ok, coef + half, np.inf)
        else:
            rng = np.random.default_rng(seed)
            boot = np.zeros((BOOTSTRAP, A.shape[1]))
            for i in range(BOOTSTRAP):
                pick = rng.integers(0, T, T)
                boot[i, used], _ = optimize.nnls(sub[pick], y[pick])
            boot[:, ~ok] = 0.0
            draws = boot[:, :R]
            lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
            low = np.where(ok, np.minimum(lo, coef), 0.0)
            high = np.where(ok, np.maximum(hi, coef), np.inf)
    elif ok.any():
        reasons = [r or "no residual degrees of freedom for an interval" for r in reasons]
        ok[:] = False
        ok_classes = ok[:R]
    method = ("utilization-law regression (NNLS"
              f"{' with background' if background else ''}; 95% interval: "
              f"{'OLS covariance, t' if interval == 'ols' else 'percentile bootstrap'})")
    fit = DemandFit(component, list(classes), np.where(ok_classes, coef[:R], np.nan),
                    low[:R], high[:R], ok_classes.copy(), reasons[:R], method, T, b, fitted,
                    condition=condition, cov=cov, draws=draws, dof=dof, warnings=warnings)
    if background:
        fit.background = float(coef[R]) if ok[R] else None
        fit.background_interval = (float(low[R]), float(high[R])) if ok[R] else None
    return fit


def identify(A: np.ndarray, names: list[str], T: int
             ) -> tuple[np.ndarray, list[str], list[str], float]:
    """Which columns of the design ``A`` the data can identify: a mask, a reason per
    column ('' when identifiable), warnings, and the condition number of ``A`` with its
    columns scaled to unit length."""
    p = A.shape[1]
    ok = np.ones(p, dtype=bool)
    reasons = [""] * p
    warnings: list[str] = []
    norms = np.sqrt((A ** 2).sum(axis=0)) if T else np.zeros(p)
    for j in np.flatnonzero(norms == 0):
        ok[j] = False
        reasons[j] = f"no {names[j]} jobs in the measured intervals"
    if T < PER_UNKNOWN * p:
        for j in range(p):
            ok[j] = False
            reasons[j] = reasons[j] or (f"too few intervals: {T} for {p} unknowns (at least "
                                        f"{PER_UNKNOWN * p} needed)")
        warnings.append(f"too few intervals ({T}) to estimate {p} demands; at least "
                        f"{PER_UNKNOWN * p} are needed")
        return ok, reasons, warnings, float("nan")
    scaled = A / np.where(norms > 0, norms, 1.0)
    cosines = scaled.T @ scaled
    for i in range(p):
        for j in range(i + 1, p):
            if ok[i] and ok[j] and cosines[i, j] > PROPORTIONAL:
                what = ("is nearly constant, so it cannot be told from the background"
                        if "background" in (names[i], names[j]) else
                        "stay in one proportion")
                message = (f"{names[i]} and {names[j]} {what}: only their combined demand is "
                           "identified; vary the class mix")
                if "background" in (names[i], names[j]):
                    message = (f"{names[i] if names[j] == 'background' else names[j]}'s "
                               f"throughput {what}")
                for k in (i, j):
                    ok[k] = False
                    reasons[k] = message
                warnings.append(message)
    live = np.flatnonzero(ok)
    condition = float(np.linalg.cond(scaled[:, live])) if live.size else float("inf")
    if live.size and condition > ILL_CONDITIONED:
        _, sv, vt = np.linalg.svd(scaled[:, live], full_matrices=False)
        null = np.abs(vt[sv < sv[0] / ILL_CONDITIONED]).max(axis=0) > 1e-3
        involved = [names[live[i]] for i in np.flatnonzero(null)]
        for i in np.flatnonzero(null):
            ok[live[i]] = False
            reasons[live[i]] = (f"the throughputs of {', '.join(involved)} are linearly "
                                f"dependent (condition number {condition:.3g})")
        warnings.append(reasons[live[np.flatnonzero(null)[0]]])
    elif live.size and condition > WEAK_CONDITION:
        warnings.append(f"class mixes are strongly collinear (condition number "
                        f"{condition:.3g}): the demands' intervals are wide")
    return ok, reasons, warnings, condition


def _load_warnings(busy: np.ndarray, servers: float, component: str) -> list[str]:
    if not busy.size or not np.isfinite(servers) or servers <= 0:
        return []
    u = busy / servers
    out = []
    if float(np.mean(u)) < 0.05:
        out.append(f"{component}: utilization near 0 (mean {np.mean(u):.3f}); its demands are "
                   "small against measurement noise")
    if float(np.max(u)) > 0.95:
        out.append(f"{component}: utilization near 1 (up to {np.max(u):.3f}); saturated "
                   "intervals measure the capacity, not the demand of each class")
    return out


def response_regression(throughput: np.ndarray, residence: np.ndarray, classes: list[str],
                        component: str = "", *, servers: float = 1.0) -> DemandFit:
    """Demands from per-interval residence times ``[T, R]`` (seconds a job of each class
    spends at the resource, NaN where not measured) and throughput ``[T, R]``: Kraft et
    al.'s regression ``R_r = D_r (1 + A)``, ``A`` from Little's law (module text).

    >>> X = np.array([[10.0], [20.0], [30.0], [40.0]])
    >>> R = 0.01 / (1 - 0.01 * X[:, 0])                 # M/M/1, D = 10 ms
    >>> fit = response_regression(X, R[:, None], ["web"], "db")
    >>> round(float(fit.demand[0]), 6)
    0.01
    """
    X = np.asarray(throughput, dtype=float)
    W = np.asarray(residence, dtype=float).reshape(X.shape)
    R = X.shape[1]
    seen = np.where(np.isfinite(W) & np.isfinite(X), X * np.nan_to_num(W), 0.0).sum(axis=1)
    queue = seen / servers
    demand, low, high = np.full(R, np.nan), np.zeros(R), np.full(R, np.inf)
    ok = np.zeros(R, dtype=bool)
    reasons = [""] * R
    fitted = np.full(len(X), np.nan)
    warnings = []
    if servers != 1:
        warnings.append(f"{component}: the response-time estimator assumes one server; with "
                        f"{servers:g} it uses 1 + A/c, an approximation")
    missing = [c for r, c in enumerate(classes)
               if np.nansum(X[:, r]) > 0 and not np.isfinite(W[:, r]).any()]
    if missing:
        warnings.append(f"{component}: no response times for {', '.join(missing)}: the queue "
                        "length seen is underestimated")
    n = 0
    variance = np.zeros(R)
    dofs = []
    for r in range(R):
        rows = np.isfinite(W[:, r]) & np.isfinite(X[:, r]) & (X[:, r] > 0)
        x, y = 1.0 + queue[rows], W[rows, r]
        n = max(n, int(rows.sum()))
        if rows.sum() < PER_UNKNOWN:
            reasons[r] = f"too few intervals with {classes[r]} response times ({rows.sum()})"
            continue
        d = float(x @ y / (x @ x))
        dof = len(x) - 1
        s2 = float(((y - d * x) ** 2).sum()) / dof
        variance[r] = s2 / float(x @ x)
        dofs.append(dof)
        half = _t(dof) * np.sqrt(variance[r])
        demand[r], low[r], high[r], ok[r] = d, max(0.0, d - half), d + half, True
    fitted_busy = np.where(np.isfinite(X), X, 0.0) @ np.nan_to_num(demand)
    fitted[:] = fitted_busy
    return DemandFit(component, list(classes), demand, low, high, ok, reasons,
                     "response-time regression (Kraft et al. 2009: R = D (1 + A), A by "
                     "Little's law; 95% interval: OLS through the origin, t)", n,
                     np.full(len(X), np.nan), fitted, warnings=warnings,
                     cov=np.diag(variance) if ok.any() else None,   # classes fitted apart
                     dof=min(dofs, default=0))


def _t(dof: int) -> float:
    return float(stats.t.ppf(0.5 + LEVEL / 2, max(dof, 1)))
