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
  :func:`tune_mlp` chooses its learning rate and weight decay from :data:`MLP_GRID` by inner
  K-fold cross-validation on the training points only (all configurations × folds trained at
  once as one batch of networks), so that the MLP is tuned like the linear probe (whose
  alpha is chosen by leave-one-out) and every encoder gets the same tuning budget.

:func:`score` is scikit-learn's ``r2_score`` / ``accuracy_score``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["PROBES", "RIDGE_ALPHAS", "MLP_EPOCHS", "MLP_HIDDEN", "MLP_GRID", "INNER_FOLDS", "linear_probe", "mlp_probe",
           "tune_mlp", "score", "Rep"]

Rep = tuple[np.ndarray, np.ndarray, int]
"""One repetition: ``(train_idx, test_idx, seed)``."""

RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 4, 8))
"""Ridge regularisation grid (standardised features)."""

MLP_EPOCHS = 200
"""Full-batch Adam epochs of the MLP probe (SatCLIP's notebook uses 3,000 on 1,538 points)."""

MLP_HIDDEN = 64

MLP_GRID: tuple[dict[str, float], ...] = tuple({"lr": lr, "weight_decay": wd} for lr in (1e-3, 1e-2) for wd in (1e-4, 1e-2))
"""The MLP probe's tuning grid: Adam learning rate {1e-3, 1e-2} × L2 weight decay {1e-4, 1e-2}
(width 64 × 2 and :data:`MLP_EPOCHS` full-batch epochs fixed)."""

INNER_FOLDS = 3
"""Folds of the MLP probe's inner cross-validation (on the training points only)."""


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
    weight_decay: float = 0.0,
) -> list[np.ndarray]:
    """The SatCLIP-recipe MLP, one network per repetition.

    Args:
        X, y, kind, reps: as :func:`linear_probe` (the rep's seed sets the initial weights,
            drawn like ``torch.nn.Linear``'s default: U(±1/sqrt(fan_in))).
        n_classes: ``K`` for classification (outputs), ignored for regression.
        epochs: full-batch Adam steps. hidden: width of the two hidden layers. lr: Adam lr.
        weight_decay: L2 penalty ``weight_decay / 2 · Σ w²`` on all parameters (torch Adam's
            coupled ``weight_decay``).
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
            opt = torch.optim.Adam(params, lr=lr, weight_decay=float(weight_decay))

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


def tune_mlp(
    X: np.ndarray,
    y: np.ndarray,
    kind: str,
    train: np.ndarray,
    n_classes: int = 0,
    *,
    grid: Sequence[dict[str, float]] = MLP_GRID,
    folds: int = INNER_FOLDS,
    epochs: int = MLP_EPOCHS,
    hidden: int = MLP_HIDDEN,
    seed: int = 0,
) -> tuple[dict[str, float], list[float]]:
    """Choose the MLP probe's ``lr`` and ``weight_decay`` by inner K-fold CV on ``train`` only.

    Every configuration of ``grid`` is trained on each of ``folds`` folds of the training points
    (features standardised and regression targets scaled on the training points; the networks
    of all configurations × folds are trained together as one batch, each with its own Adam
    state, learning rate and L2 penalty, and each seeing only its fold's training rows) and
    scored on the held-out fold (R² or accuracy).

    Returns:
        ``(best_config, mean_inner_score_per_config)``; ties go to the earlier configuration.
    """
    import torch

    tr = np.asarray(train)
    if len(tr) < 2 * folds:
        return dict(grid[0]), [float("nan")] * len(grid)
    rng = np.random.default_rng(1_000 + int(seed))
    fold_of = rng.permutation(len(tr)) % folds
    Z = _standardise(np.asarray(X, np.float64), tr)[tr].astype(np.float32)
    D = Z.shape[1]
    out_dim = 1 if kind == "regression" else int(n_classes)
    if kind == "regression":
        yy = y[tr].astype(np.float64)
        yt = torch.from_numpy(((yy - yy.mean()) / (yy.std() or 1.0)).astype(np.float32))
    else:
        yt = torch.from_numpy(np.asarray(y[tr], np.int64))
    B = len(grid) * folds
    cfg_of = np.repeat(np.arange(len(grid)), folds)
    fld_of = np.tile(np.arange(folds), len(grid))
    w = torch.from_numpy((fold_of[None, :] != fld_of[:, None]).astype(np.float32))  # (B, n) training rows per net
    w = w / w.sum(1, keepdim=True)
    lr = torch.tensor([grid[c]["lr"] for c in cfg_of], dtype=torch.float32)
    wd = torch.tensor([grid[c]["weight_decay"] for c in cfg_of], dtype=torch.float32)
    g = torch.Generator().manual_seed(int(seed))

    def init(fan_in: int, fan_out: int) -> list[torch.Tensor]:
        b = 1.0 / np.sqrt(fan_in)
        return [((torch.rand(B, fan_in, fan_out, generator=g) * 2 - 1) * b).requires_grad_(),
                ((torch.rand(B, 1, fan_out, generator=g) * 2 - 1) * b).requires_grad_()]

    params = [*init(D, hidden), *init(hidden, hidden), *init(hidden, out_dim)]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    xt = torch.from_numpy(Z)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def forward(x: torch.Tensor) -> torch.Tensor:
        W1, b1, W2, b2, W3, b3 = params
        h = torch.relu(torch.matmul(x, W1) + b1)
        h = torch.relu(torch.bmm(h, W2) + b2)
        return torch.bmm(h, W3) + b3  # (B, n, out)

    try:
        b1_, b2_, eps = 0.9, 0.999, 1e-8
        for t in range(1, int(epochs) + 1):
            o = forward(xt)
            if kind == "regression":
                per = (o[..., 0] - yt) ** 2
            else:
                per = torch.nn.functional.cross_entropy(o.reshape(-1, out_dim), yt.repeat(B), reduction="none").reshape(B, -1)
            loss = (per * w).sum() + 0.5 * sum((wd.view(B, *([1] * (p.dim() - 1))) * p ** 2).sum() for p in params)
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, gr, mm, vv in zip(params, grads, m, v):
                    mm.mul_(b1_).add_(gr, alpha=1 - b1_)
                    vv.mul_(b2_).addcmul_(gr, gr, value=1 - b2_)
                    step = (mm / (1 - b1_ ** t)) / ((vv / (1 - b2_ ** t)).sqrt() + eps)
                    p.sub_(lr.view(B, *([1] * (p.dim() - 1))) * step)
        with torch.no_grad():
            o = forward(xt)
    finally:
        torch.set_num_threads(old_threads)
    scores = np.zeros(len(grid))
    for b in range(B):
        te = fold_of == fld_of[b]
        if kind == "regression":
            s = score("regression", yt.numpy()[te], o[b, te, 0].double().numpy())
        else:
            s = score("classification", yt.numpy()[te], o[b, te].argmax(-1).numpy())
        scores[cfg_of[b]] += s / folds
    best = int(np.argmax(scores))
    return dict(grid[best]), [float(s) for s in scores]


PROBES: dict[str, Callable[..., list[np.ndarray]]] = {"linear": linear_probe, "mlp": mlp_probe}
"""Registry: probe name → ``probe(X, y, kind, reps, n_classes=..., **kw) -> predictions``."""
