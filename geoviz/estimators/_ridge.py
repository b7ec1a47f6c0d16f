"""``SHRidge``: Linear(SH) with a degree-dependent ridge penalty (a spectral prior), closed form.

The model is ``f(x) = b + Σ_{l<L} Σ_m w_lm Y_lm(x)`` on geoviz's orthonormal real SH basis
(:func:`geoviz.encoders.spherical_harmonics`), fitted by penalised least squares

    minimise_w,b   ‖y − b − Φ w‖²  +  α Σ_l (1 + l(l+1))^p Σ_m w_lm²

(the intercept ``b`` unpenalised, as in :class:`sklearn.linear_model.Ridge`: ``Φ`` and ``y``
are centred). The penalty is the negative log of a Gaussian prior whose coefficient variance
falls with degree as ``(1 + l(l+1))^(−p)``: the Sobolev / Matérn-type spectral density
``(κ² + l(l+1))^(−p)`` with ``κ = 1`` (on the sphere, the Matérn covariance of smoothness ν has
``p = ν + 1``), i.e. the SH analogue of a Gaussian process with an isotropic kernel, truncated
at degree ``L − 1``. ``p = 0`` is plain ridge regression on SH features.

``α`` and ``p`` are chosen by generalised cross-validation (GCV; Golub, Heath & Wahba 1979)
in closed form: one pass over the data accumulates the centred Gram matrix ``ΦᵀΦ`` and
``Φᵀy`` in chunks (memory ``O(L⁴)``, never ``N × L²``), then one symmetric eigendecomposition
per candidate ``p`` gives the GCV score ``N · RSS(α) / (N − dof(α))²`` for every ``α`` at once
(``dof = 1 + Σ s_k / (s_k + α)`` counts the intercept). Cost: ``O(N L⁴ + |powers| L⁶)``.
GCV is unreliable when the number of points is close to (or below) the number of features
(the smallest eigenvalues approach 0 and it favours interpolation), so for ``N ≤ 2 L²`` the
selection uses the exact leave-one-out error instead, from one eigendecomposition of the
``N × N`` kernel matrix ``Φc Λ⁻¹ Φcᵀ`` per ``p`` (the GP view): LOO residual
``e_i / (1 − h_ii)`` with ``h_ii = 1/N + Σ_k U_ik² s_k/(s_k + α)``; cost ``O(N² L² + N³)``.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._common import _plain_int, _validate_lonlat

__all__ = ["SHRidge"]

_CHUNK_ENTRIES = 1 << 22
"""Feature-matrix entries computed at a time (32 MB of float64)."""


def _sh_features(X: np.ndarray, legendre_polys: int) -> np.ndarray:
    from ..encoders import spherical_harmonics

    return np.asarray(spherical_harmonics(np.ascontiguousarray(X, dtype=np.float64), legendre_polys),
                      dtype=np.float64)


def _chunks(n: int, d: int) -> list[slice]:
    step = max(1, _CHUNK_ENTRIES // max(d, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def degree_penalty(legendre_polys: int, power: float) -> np.ndarray:
    """``(L²,)`` penalty weights ``(1 + l(l+1))^p`` in geoviz's SH feature order (l-major)."""
    l = np.repeat(np.arange(legendre_polys), 2 * np.arange(legendre_polys) + 1).astype(np.float64)
    return (1.0 + l * (l + 1.0)) ** float(power)


class SHRidge(RegressorMixin, BaseEstimator):
    """Linear(SH) regression with a degree-dependent ridge penalty chosen by GCV.

    ``X`` is ``(N, 2)`` **(lon, lat) in degrees** (numpy or pandas; the same checks as the
    other geoviz estimators: two finite columns, lon in [-180, 180], lat in [-90, 90], the
    error names the first bad row); ``y`` is ``(N,)`` or ``(N, K)`` numbers (one ``α``, ``p``
    shared by all outputs). See the module docstring for the objective, the prior and the
    selection (GCV for ``N > 2 L²``, exact leave-one-out otherwise).

    Args:
        legendre_polys: ``L``: SH degrees ``0..L-1`` (``L²`` features).
        alphas: candidate ``α`` (absolute, > 0). ``None``: for each ``p``, 57 values
            log-spaced over ``[1e-14, 1] × s_max`` where ``s_max`` is the largest eigenvalue
            of the rescaled Gram matrix (so the grid is scale-free).
        powers: candidate exponents ``p ≥ 0`` of the degree penalty ``(1 + l(l+1))^p``.

    Attributes:
        coef_: ``(L²,)`` (or ``(L², K)``) SH weights, in geoviz's feature order.
        intercept_: float (or ``(K,)``).
        alpha_, power_: the selected ``α`` and ``p``.
        cv_: ``"gcv"`` or ``"loo"``: the criterion used (see above).
        gcv_: the selected candidate's score (GCV or LOO mean squared error, y units²).
        gcv_values_: ``(len(powers), n_alphas)`` the scores of every candidate.
        alphas_: ``(len(powers), n_alphas)`` the ``α`` grid actually used.
        dof_: effective degrees of freedom ``tr(H)`` (intercept included) of the fit.
        n_features_in_: 2; ``feature_names_in_`` when fitted on a DataFrame with string columns.

    Example::

        >>> import numpy as np
        >>> from geoviz.data import uniform_sphere
        >>> X = uniform_sphere(2000, seed=0)
        >>> y = np.sin(np.radians(X[:, 1]))
        >>> SHRidge(legendre_polys=8).fit(X, y).score(X, y) > 0.999
        True
    """

    def __init__(self, legendre_polys: int = 20, *, alphas: Any = None, powers: Any = (0.0, 1.0, 2.0, 3.0)) -> None:
        self.legendre_polys = legendre_polys
        self.alphas = alphas
        self.powers = powers

    # -- hyper-parameters ---------------------------------------------------------------------
    def _checked(self) -> tuple[int, np.ndarray | None, np.ndarray]:
        owner = type(self).__name__
        L = _plain_int(self.legendre_polys, "legendre_polys", owner, minimum=1)
        powers = self._reals(self.powers, "powers", positive=False)
        alphas = None if self.alphas is None else self._reals(self.alphas, "alphas", positive=True)
        return L, alphas, powers

    def _reals(self, values: Any, name: str, *, positive: bool) -> np.ndarray:
        owner = type(self).__name__
        seq = [values] if isinstance(values, Real) else values
        try:
            arr = [v for v in seq]
        except TypeError:
            raise ValueError(f"{owner}: {name} must be a number or a sequence of numbers, got {values!r}") from None
        ok = len(arr) > 0 and all(isinstance(v, Real) and not isinstance(v, (bool, np.bool_)) and np.isfinite(v)
                                  and (v > 0 if positive else v >= 0) for v in arr)
        if not ok:
            raise ValueError(f"{owner}: {name} must be a non-empty sequence of finite numbers "
                             f"{'> 0' if positive else '>= 0'}, got {values!r}")
        return np.asarray(arr, dtype=np.float64)

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> SHRidge:
        """Fit to ``X`` ``(N, 2)`` (lon, lat) degrees and ``y`` ``(N,)`` or ``(N, K)``.

        Raises:
            ValueError: bad coordinates (the first bad row named), a bad hyper-parameter, or
                non-finite ``y``.
        """
        L, alphas, powers = self._checked()
        X, y = _validate_lonlat(self, X, y, reset=True, multi_output=True, y_numeric=True, ensure_min_samples=2)
        y = np.asarray(y, dtype=np.float64)
        self._y_ndim = y.ndim
        Y = y.reshape(len(y), -1)
        n, d = X.shape[0], L * L
        ybar = Y.mean(axis=0)
        Yc = Y - ybar
        scores, grids, best = [], [], (np.inf, 0, 0)
        solve: dict[int, Any] = {}
        primal = n > 2 * d
        if primal:  # primal: one pass accumulates the centred Gram matrix and Φᵀy (memory O(L⁴))
            G = np.zeros((d, d))
            s1 = np.zeros(d)
            b = np.zeros((d, Y.shape[1]))
            for sl in _chunks(n, d):
                F = _sh_features(X[sl], L)
                G += F.T @ F
                s1 += F.sum(axis=0)
                b += F.T @ Y[sl]
            mu = s1 / n
            G -= n * np.outer(mu, mu)
            b -= n * np.outer(mu, ybar)
            yy = float(np.sum(Yc * Yc))
        else:       # dual (N ≤ 2 L²): the N × N kernel matrix, exact leave-one-out
            F = _sh_features(X, L)
            mu = F.mean(axis=0)
            Fc = F - mu
        for i, p in enumerate(powers):
            r = 1.0 / np.sqrt(degree_penalty(L, p))          # w = r ⊙ v, penalty α‖v‖²
            if primal:
                s, V = np.linalg.eigh(G * np.outer(r, r))
                s = np.clip(s, 0.0, None)
                c = V.T @ (b * r[:, None])                   # (d, K)
                c2 = np.sum(c * c, axis=1)
            else:
                Fr = Fc * r
                s, U = np.linalg.eigh(Fr @ Fr.T)
                s = np.clip(s, 0.0, None)
                z = U.T @ Yc                                 # (n, K)
            grid = (alphas if alphas is not None
                    else max(float(s[-1]), np.finfo(float).tiny) * np.logspace(-14, 0, 57))
            a = grid[:, None]
            if primal:  # GCV: RSS = ‖yc‖² − Σ c²(s + 2α)/(s + α)²
                rss = np.clip(yy - ((s + 2 * a) / (s + a) ** 2 * c2).sum(axis=1), 0.0, None)
                dof = 1.0 + (s / (s + a)).sum(axis=1)
                gcv = n * rss / np.maximum(n - dof, 1e-12) ** 2 / Y.shape[1]
            else:       # exact LOO: residual U diag(α/(s+α)) z over 1 − h_ii, h = 1/n + Σ U² s/(s+α)
                U2 = U * U
                gcv = np.empty(len(grid))
                for k, alpha in enumerate(grid):
                    res = U @ ((alpha / (s + alpha))[:, None] * z)
                    h = 1.0 / n + U2 @ (s / (s + alpha))
                    gcv[k] = float(np.mean((res / np.maximum(1.0 - h, 1e-12)[:, None]) ** 2))
            scores.append(gcv)
            grids.append(grid)
            solve[i] = (s, V, c, r) if primal else (s, U, z, r, Fr)
            j = int(np.argmin(gcv))
            if gcv[j] < best[0]:
                best = (float(gcv[j]), i, j)
        self.gcv_values_ = np.vstack(scores)
        self.alphas_ = np.vstack(grids)
        self.gcv_, i, j = best
        self.power_ = float(powers[i])
        self.alpha_ = float(self.alphas_[i, j])
        self.cv_ = "gcv" if primal else "loo"
        if primal:
            s, V, c, r = solve[i]
            coef = (V @ (c / (s + self.alpha_)[:, None])) * r[:, None]
        else:
            s, U, z, r, Fr = solve[i]
            coef = (Fr.T @ (U @ (z / (s + self.alpha_)[:, None]))) * r[:, None]
        self.dof_ = float(1.0 + np.sum(s / (s + self.alpha_)))
        intercept = ybar - mu @ coef
        self.coef_ = coef[:, 0] if y.ndim == 1 else coef
        self.intercept_ = float(intercept[0]) if y.ndim == 1 else intercept
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Values at ``X`` ``(N, 2)`` (lon, lat) degrees: float64 ``(N,)`` (or ``(N, K)``)."""
        check_is_fitted(self)
        X = _validate_lonlat(self, X, reset=False)
        L = int(self.legendre_polys)
        coef = np.asarray(self.coef_).reshape(L * L, -1)
        out = np.empty((X.shape[0], coef.shape[1]))
        for sl in _chunks(X.shape[0], L * L):
            out[sl] = _sh_features(X[sl], L) @ coef
        out += self.intercept_
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
