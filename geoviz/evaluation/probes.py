"""Probes on frozen features: a linear probe (scikit-learn) and the SatCLIP-recipe MLP (torch).

Both take the same inputs: features ``X`` ``(N, D)``, targets ``y`` ``(N,)`` and a list of
repetitions ``(train_idx, test_idx, seed)``, and return one test prediction per repetition,
so that every probe sees exactly the same splits.

- ``linear``: features standardised on the training points, then
  :class:`~sklearn.linear_model.RidgeCV` (regression) or
  :class:`~sklearn.linear_model.RidgeClassifierCV` (classification) with the regularisation
  chosen by efficient leave-one-out cross-validation over :data:`RIDGE_ALPHAS` (the RANGE
  protocol's probe family, with a wider grid).
- ``mlp``: the SatCLIP notebook's recipe: ``D → 64 → ReLU → 64 → ReLU → out``, Adam with
  lr 1e-3, full batch, a fixed number of epochs (:data:`MLP_EPOCHS`), features standardised
  on the training points, MSE on standardised targets (regression) or cross-entropy
  (classification). One network per repetition, its seed setting the initial weights; the
  cost equals a plain ``torch.nn.Sequential`` loop (``benchmarks/bench_evaluate.py``).

:func:`score` is scikit-learn's ``r2_score`` / ``accuracy_score``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["PROBES", "RIDGE_ALPHAS", "MLP_EPOCHS", "MLP_HIDDEN", "linear_probe", "mlp_probe", "score", "Rep"]

Rep = tuple[np.ndarray, np.ndarray, int]
"""One repetition: ``(train_idx, test_idx, seed)``."""

RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 4, 8))
"""Ridge regularisation grid (standardised features)."""

MLP_EPOCHS = 200
"""Full-batch Adam epochs of the MLP probe (SatCLIP's notebook uses 3,000 on 1,538 points)."""

MLP_HIDDEN = 64


def score(kind: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """R² (``kind="regression"``) or accuracy (``"classification"``), as scikit-learn computes them."""
    from sklearn.metrics import accuracy_score, r2_score

    if kind == "regression":
        return float(r2_score(y_true, y_pred))
    if kind == "classification":
        return float(accuracy_score(y_true, y_pred))
    raise ValueError(f"kind must be 'regression' or 'classification', got {kind!r}")


def _standardise(X: np.ndarray, tr: np.ndarray) -> np.ndarray:
    mu = X[tr].mean(0)
    sd = X[tr].std(0)
    sd[sd < 1e-12] = 1.0
    return (X - mu) / sd


def linear_probe(X: np.ndarray, y: np.ndarray, kind: str, reps: Sequence[Rep], n_classes: int = 0, **_: object) -> list[np.ndarray]:
    """Ridge / ridge-classifier probe with leave-one-out-chosen alpha.

    Args:
        X: ``(N, D)`` features. y: ``(N,)`` targets (float) or class indices (int).
        kind: ``"regression"`` or ``"classification"``.
        reps: repetitions ``(train_idx, test_idx, seed)`` (the seed is unused: the fit is deterministic).

    Returns:
        One ``(len(test_idx),)`` prediction array per repetition.
    """
    import warnings

    from sklearn.linear_model import RidgeClassifierCV, RidgeCV

    out = []
    for tr, te, _seed in reps:
        Z = _standardise(np.asarray(X, dtype=np.float64), tr)
        model = RidgeCV(alphas=RIDGE_ALPHAS) if kind == "regression" else RidgeClassifierCV(alphas=RIDGE_ALPHAS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ill-conditioned solves on duplicate features (raw/direct)
            if kind == "classification" and len(np.unique(y[tr])) < 2:
                out.append(np.full(len(te), y[tr][0]))
                continue
            model.fit(Z[tr], y[tr])
        out.append(model.predict(Z[te]))
    return out


def mlp_probe(
    X: np.ndarray,
    y: np.ndarray,
    kind: str,
    reps: Sequence[Rep],
    n_classes: int = 0,
    epochs: int = MLP_EPOCHS,
    hidden: int = MLP_HIDDEN,
    lr: float = 1e-3,
    threads: int | None = None,
) -> list[np.ndarray]:
    """The SatCLIP-recipe MLP, one network per repetition.

    Args:
        X, y, kind, reps: as :func:`linear_probe` (the rep's seed sets the initial weights,
            drawn like ``torch.nn.Linear``'s default: U(±1/sqrt(fan_in))).
        n_classes: ``K`` for classification (outputs), ignored for regression.
        epochs: full-batch Adam steps. hidden: width of the two hidden layers. lr: Adam lr.
        threads: torch intra-op threads for the call (restored afterwards); ``None``: 1 for small
            problems (training rows × D < 4e6), else the current setting.

    Returns:
        One ``(len(test_idx),)`` prediction array per repetition (class indices or target units).
    """
    import torch

    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    D = X.shape[1]
    out_dim = 1 if kind == "regression" else int(n_classes)
    if kind == "classification" and out_dim < 2:
        raise ValueError("classification needs n_classes >= 2")
    old_threads = torch.get_num_threads()
    if threads is None and max(len(tr) for tr, _, _ in reps) * D < 4_000_000:
        threads = 1  # small problems: extra threads only add synchronisation (and suffer most on a busy machine)
    if threads:
        torch.set_num_threads(int(threads))

    def init(fan_in: int, fan_out: int, g: torch.Generator) -> list[torch.Tensor]:
        b = 1.0 / np.sqrt(fan_in)  # torch.nn.Linear's default init range
        W = ((torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * b).requires_grad_()
        c = ((torch.rand(1, fan_out, generator=g) * 2 - 1) * b).requires_grad_()
        return [W, c]

    preds = []
    try:
        for tr, te, seed in reps:
            Z = _standardise(np.asarray(X, np.float64), tr).astype(np.float32)
            xt, xe = torch.from_numpy(Z[tr]), torch.from_numpy(Z[te])
            if kind == "regression":
                mu, sd = float(y[tr].mean()), float(y[tr].std()) or 1.0
                yt = torch.from_numpy(((y[tr] - mu) / sd).astype(np.float32))
            else:
                yt = torch.from_numpy(np.asarray(y[tr], dtype=np.int64))
            g = torch.Generator().manual_seed(int(seed))
            params = [*init(D, hidden, g), *init(hidden, hidden, g), *init(hidden, out_dim, g)]
            W1, b1, W2, b2, W3, b3 = params
            opt = torch.optim.Adam(params, lr=lr)

            def forward(x: torch.Tensor) -> torch.Tensor:
                h = torch.relu(torch.addmm(b1, x, W1))
                h = torch.relu(torch.addmm(b2, h, W2))
                return torch.addmm(b3, h, W3)

            for _ in range(int(epochs)):
                opt.zero_grad(set_to_none=True)
                o = forward(xt)
                if kind == "regression":
                    loss = ((o[:, 0] - yt) ** 2).mean()
                else:
                    loss = torch.nn.functional.cross_entropy(o, yt)
                loss.backward()
                opt.step()
            with torch.no_grad():
                o = forward(xe)
            preds.append(o[:, 0].double().numpy() * sd + mu if kind == "regression" else o.argmax(-1).numpy())
        return preds
    finally:
        torch.set_num_threads(old_threads)


PROBES: dict[str, Callable[..., list[np.ndarray]]] = {"linear": linear_probe, "mlp": mlp_probe}
"""Registry: probe name → ``probe(X, y, kind, reps, n_classes=..., **kw) -> predictions``."""
