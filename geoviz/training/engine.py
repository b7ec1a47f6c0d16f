"""Training engine: fit a location encoder to a task, streaming one record per epoch.

Used by everything that trains (CLI, notebooks, widgets, dashboard). The positional
encoding has no parameters, so the features of the fixed train/val/test point sets are
computed once and cached; an epoch then costs only the network.

    >>> from geoviz.data import get_task
    >>> from geoviz.training import TrainConfig, Trainer
    >>> trainer = Trainer(get_task("landocean"), TrainConfig(max_epochs=5))
    >>> for rec in trainer.run():
    ...     print(rec.epoch, rec.val_loss)           # doctest: +SKIP
"""

from __future__ import annotations

import copy
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .grid_predict import GridPredictor
from ..location_encoder import LocationEncoder, build_location_encoder
from ..spec import HasEncoderSpec

__all__ = ["TrainConfig", "EpochRecord", "Trainer", "resolve_device", "classification_metrics", "regression_metrics"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA if available, else CPU; anything else is passed to ``torch.device``."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class TrainConfig(HasEncoderSpec):
    """Hyperparameters of one training run (defaults: the paper's Siren(SH) land–ocean setup).

    Attributes:
        pe: positional encoding name; ``pe_kwargs`` its hyperparameters.
        nn: network name; ``nn_kwargs`` its hyperparameters.
        lr, weight_decay: Adam with coupled L2 (as the reference).
        batch_size, max_epochs, patience: early stopping on validation loss after
            ``patience`` epochs without improvement (``None`` disables it).
        seed: seeds torch, numpy and random (init and shuffling; the data are fixed).
        dtype: ``"float64"`` (the reference's precision) or ``"float32"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        restore_best: evaluate the best-validation weights at the end instead of the final
            ones (the reference tests the final weights: ``False``).
        loss: regression loss on standardised targets: ``"mse"`` (default) or ``"huber"``
            (``huber_delta`` in standard deviations); classification ignores it.
    """

    pe: str = "sphericalharmonics"
    nn: str = "siren"
    pe_kwargs: dict[str, Any] = field(default_factory=lambda: {"legendre_polys": 10})
    nn_kwargs: dict[str, Any] = field(default_factory=lambda: {"hidden_dim": 64, "num_layers": 2})
    lr: float = 1.42e-4
    weight_decay: float = 3.67e-3
    batch_size: int = 2000
    max_epochs: int = 500
    patience: int | None = 30
    seed: int = 0
    dtype: str = "float64"
    device: str = "auto"
    restore_best: bool = False
    loss: str = "mse"
    huber_delta: float = 1.0

    def __post_init__(self) -> None:
        if self.loss not in ("mse", "huber"):
            raise ValueError(f"loss must be 'mse' or 'huber', got {self.loss!r}")
        if not self.huber_delta > 0:
            raise ValueError(f"huber_delta must be > 0, got {self.huber_delta!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        for name in ("batch_size", "max_epochs"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise ValueError(f"patience must be a positive int or None, got {self.patience!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")


@dataclass
class EpochRecord:
    """State after one epoch.

    Attributes:
        epoch: 1-based epoch number.
        train_loss, val_loss: mean losses.
        val_metrics: ``{"accuracy": ..., "iou": ...}`` (binary), ``{"accuracy": ...}``
            (multiclass) or ``{"r2": ..., "rmse": ..., "mae": ...}`` (regression, target units).
        elapsed: seconds since the run started (features cached before the clock starts).
        prediction: on request, the model's output on ``predict_lonlat``: probabilities
            ``(M,)`` for binary tasks, class indices ``(M,)`` for multiclass, values in the
            target's units ``(M,)`` (or ``(M, K)``) for regression; else ``None``.
        stopped: ``"early_stopping"``, ``"max_epochs"``, ``"stopped"`` on the last record.
        restored_epoch: on the last record of a run with ``restore_best``, the epoch whose
            weights were restored; the record's ``prediction`` shows those weights, while its
            losses and metrics are the final epoch's (None otherwise).
    """

    epoch: int
    train_loss: float
    val_loss: float
    val_metrics: dict[str, float]
    elapsed: float
    prediction: np.ndarray | None = None
    stopped: str | None = None
    restored_epoch: int | None = None


def classification_metrics(logits: torch.Tensor, y: torch.Tensor, kind: str) -> dict[str, float]:
    """Accuracy (and IoU of the positive class for binary tasks).

    Args:
        logits: ``(N, 1)`` (binary; land when logit > 0) or ``(N, C)`` (multiclass).
        y: ``(N,)`` 0/1 floats (binary) or int64 classes.
        kind: ``"binary"`` or ``"multiclass"``.
    """
    if kind == "binary":
        pred = logits[:, 0] > 0
        true = y > 0.5
        inter = (pred & true).sum().item()
        union = (pred | true).sum().item()
        return {
            "accuracy": (pred == true).double().mean().item(),
            "iou": inter / union if union else 1.0,
        }
    return {"accuracy": (logits.argmax(dim=1) == y).double().mean().item()}


def regression_metrics(pred: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> dict[str, float]:
    """R², RMSE and MAE of predictions in the target's units (as scikit-learn computes them).

    Args:
        pred, y: ``(N,)`` or ``(N, K)`` predictions and truths (same shape, torch or numpy).

    Returns:
        ``{"r2", "rmse", "mae"}``: for ``K > 1`` outputs, the unweighted mean over outputs of
        each metric (sklearn's ``multioutput="uniform_average"``). R² is
        ``1 - SS_res / SS_tot`` per output (1.0 for a perfect fit of a constant, 0.0 for an
        imperfect one, as sklearn).
    """
    p = torch.as_tensor(pred).double().reshape(len(pred), -1)
    t = torch.as_tensor(y).double().reshape(len(y), -1).to(p.device)
    err = p - t
    ss_res = (err**2).sum(dim=0)
    ss_tot = ((t - t.mean(dim=0)) ** 2).sum(dim=0)
    r2 = torch.where(ss_tot > 0, 1.0 - ss_res / torch.where(ss_tot > 0, ss_tot, 1.0),
                     torch.where(ss_res == 0, 1.0, 0.0).double())
    return {
        "r2": r2.mean().item(),
        "rmse": (err**2).mean(dim=0).sqrt().mean().item(),
        "mae": err.abs().mean(dim=0).mean().item(),
    }


class Trainer:
    """Fit ``build_location_encoder(config.pe, config.nn, task.output_dim, ...)`` to ``task``.

    Args:
        task: a :class:`geoviz.data.Task` (train/val/test splits with lon/lat + labels).
        config: :class:`TrainConfig`.
        predict_lonlat: optional ``(M, 2)`` lon/lat degrees (e.g. a rendering grid) whose
            prediction is attached to every ``predict_every``-th record.
        predict_every: period of predictions in epochs (last epoch always included).
        predict_dtype: ``None`` (the training dtype) or ``"float32"``/``"float64"``: dtype of
            the prediction-grid features and of the network copy that predicts on them.
            ``"float32"`` roughly halves the cost of a per-epoch map when training in float64
            (probabilities differ by ~1e-7; training and metrics are unaffected).
        separable_grid: when ``predict_lonlat`` is a row-major rectilinear lon/lat grid (e.g.
            :func:`geoviz.data.regular_grid` ``.lonlat``), the encoding is spherical harmonics
            and the network is Siren/Linear/FCNet, evaluate predictions with a separable first
            layer (:class:`geoviz.training.grid_predict.GridPredictor`: ≈ 5× fewer multiply–adds in that
            layer, no ``(M, L²)`` feature matrix; equal to the dense path to float rounding).
            ``False`` always uses the dense path.

    Call :meth:`run` to iterate over epochs; :meth:`stop` (thread-safe) ends the run after
    the current epoch; :meth:`evaluate` scores a split with the current weights.

    Regression tasks (``task.kind == "regression"``) are fitted to standardised targets
    (mean and standard deviation of the training split, per output; :attr:`scaling`); the
    network's raw output ``z`` maps to target units as ``z * std + mean``. Losses are in
    standardised units, metrics (R², RMSE, MAE) and predictions in target units.

    Attributes:
        scaling: regression only: ``{"mean": [K floats], "std": [K floats]}`` (else None).
    """

    def __init__(self, task: Any, config: TrainConfig | None = None, *, predict_lonlat: Any = None,
                 predict_every: int = 1, predict_dtype: str | None = None, separable_grid: bool = True) -> None:
        self.task = task
        self.config = config or TrainConfig()
        self.device = resolve_device(self.config.device)
        self.dtype = getattr(torch, self.config.dtype)
        self._stop = threading.Event()
        _seed_everything(self.config.seed)
        kw = {**self.config.pe_kwargs, **self.config.nn_kwargs}
        self.model: LocationEncoder = build_location_encoder(
            self.config.pe, self.config.nn, task.output_dim, **kw
        ).to(device=self.device, dtype=self.dtype)
        self.predict_every = max(1, int(predict_every))
        self._features: dict[str, torch.Tensor] = {}
        self._labels: dict[str, torch.Tensor] = {}
        self.regression = task.kind == "regression"
        self.scaling: dict[str, list[float]] | None = None
        if self.regression:
            ytr = np.asarray(task.train.y, dtype=np.float64).reshape(len(task.train.y), -1)
            if ytr.shape[1] != task.output_dim:
                raise ValueError(f"regression task has output_dim {task.output_dim} but y has {ytr.shape[1]} column(s)")
            mean, std = ytr.mean(axis=0), ytr.std(axis=0)
            if not np.all(std > 0):
                raise ValueError("the regression target is constant on the training split; nothing to fit")
            self.scaling = {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}
            self._mean = torch.tensor(mean, dtype=self.dtype, device=self.device)
            self._std = torch.tensor(std, dtype=self.dtype, device=self.device)
        for name in ("train", "val", "test"):
            split = getattr(task, name)
            self._features[name] = self._encode(split.lonlat)
            y = torch.as_tensor(split.y, device=self.device)
            if self.regression:
                self._labels[name] = (y.to(self.dtype).reshape(y.shape[0], task.output_dim) - self._mean) / self._std
            else:
                self._labels[name] = y.to(self.dtype) if task.kind == "binary" else y.long()
        if predict_dtype is not None and predict_dtype not in ("float32", "float64"):
            raise ValueError(f"predict_dtype must be None, 'float32' or 'float64', got {predict_dtype!r}")
        self._predict_dtype = self.dtype if predict_dtype is None else getattr(torch, predict_dtype)
        self._predict_net: torch.nn.Module | None = None
        self._predict_lock = threading.Lock()
        self._grid_predictor: GridPredictor | None = None
        if predict_lonlat is not None and separable_grid:
            self._grid_predictor = GridPredictor.from_lonlat(
                predict_lonlat, self.model.positional_encoding, self.model.network,
                dtype=self._predict_dtype, device=self.device)
        self._predict_features = (None if predict_lonlat is None or self._grid_predictor is not None
                                  else self._encode(predict_lonlat, self._predict_dtype))
        self._has_predict = predict_lonlat is not None

    def _encode(self, lonlat: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
        dtype = self.dtype if dtype is None else dtype
        t = torch.as_tensor(np.asarray(lonlat, dtype=np.float64) if not isinstance(lonlat, torch.Tensor) else lonlat)
        # (the SH kernel itself keeps torch's thread count; see spherical_harmonics._sh_tensor)
        with torch.no_grad():
            return self.model.features(t.to(dtype)).to(device=self.device, dtype=dtype)

    def stop(self) -> None:
        """Ask the running loop to stop after the current epoch (safe from other threads)."""
        self._stop.set()

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.regression:
            if self.config.loss == "huber":
                return F.huber_loss(logits, y, delta=self.config.huber_delta)
            return F.mse_loss(logits, y)
        if self.task.kind == "binary":
            return F.binary_cross_entropy_with_logits(logits[:, 0], y)
        return F.cross_entropy(logits, y)

    def _network_for(self, dtype: torch.dtype) -> torch.nn.Module:
        """The training network, or a synchronised copy of it in another dtype (prediction)."""
        if dtype == self.dtype:
            return self.model.network
        if self._predict_net is None or next(self._predict_net.parameters()).dtype != dtype:
            self._predict_net = copy.deepcopy(self.model.network).to(dtype)
        with torch.no_grad():
            for dst, src in zip(self._predict_net.parameters(), self.model.network.parameters()):
                dst.copy_(src)
        return self._predict_net

    def _forward_all(self, feats: torch.Tensor) -> torch.Tensor:
        """``(M, D)`` features → ``(M, output_dim)`` logits in eval mode, without autograd."""
        was_training = self.model.training
        self.model.eval()
        net = self._network_for(feats.dtype) if feats.is_floating_point() else self.model.network
        net.eval()
        with torch.inference_mode():
            out = [net(feats[i : i + 65536]) for i in range(0, feats.shape[0], 65536)]
        if was_training:
            self.model.train()
        return torch.cat(out) if out else feats.new_zeros((0, self.task.output_dim))

    def _predict_grid(self) -> torch.Tensor:
        """``(M, output_dim)`` logits on the prediction grid through the separable first layer."""
        assert self._grid_predictor is not None
        with self._predict_lock:
            was_training = self.model.training
            net = self._network_for(self._predict_dtype)
            net.eval()
            try:
                with torch.inference_mode():
                    return self._grid_predictor(net)
            finally:
                if was_training:
                    self.model.train()

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Loss and metrics of the current weights on ``"train"``, ``"val"`` or ``"test"``."""
        logits = self._forward_all(self._features[split])
        y = self._labels[split]
        if self.regression:
            return {"loss": self._loss(logits, y).item(),
                    **regression_metrics(self.to_units(logits), self.to_units(y))}
        return {"loss": self._loss(logits, y).item(), **classification_metrics(logits, y, self.task.kind)}

    def to_units(self, z: torch.Tensor) -> torch.Tensor:
        """Regression: standardised ``(M, K)`` outputs → target units (``z * std + mean``)."""
        return z * self._std.to(z.dtype) + self._mean.to(z.dtype)

    def predict(self, feats: torch.Tensor | None = None) -> np.ndarray:
        """Predictions on the cached prediction points (or on ``feats``, ``(M, D)`` features in
        the training or prediction dtype): ``(M,)`` probabilities (binary, float32/64 numpy),
        int64 classes (multiclass) or values in target units (regression: ``(M,)`` for one
        output, ``(M, K)`` for ``K``)."""
        if feats is None and self._grid_predictor is not None:
            logits = self._predict_grid()
        else:
            feats = self._predict_features if feats is None else feats
            if feats is None:
                raise ValueError("no prediction points: pass predict_lonlat to Trainer")
            logits = self._forward_all(feats)
        if self.regression:
            v = self.to_units(logits)
            return (v[:, 0] if v.shape[1] == 1 else v).cpu().numpy()
        if self.task.kind == "binary":
            return torch.sigmoid(logits[:, 0]).cpu().numpy()
        return logits.argmax(dim=1).cpu().numpy()

    def run(self) -> Iterator[EpochRecord]:
        """Train, yielding an :class:`EpochRecord` after every epoch."""
        cfg = self.config
        opt = _adam(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        xtr, ytr = self._features["train"], self._labels["train"]
        n = xtr.shape[0]
        # preallocated batch buffers (same values as xtr[idx]; saves two allocations a step)
        xbuf = xtr.new_empty((min(cfg.batch_size, n), xtr.shape[1]))
        ybuf = ytr.new_empty((min(cfg.batch_size, n),) + tuple(ytr.shape[1:]))
        gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
        best, best_state, best_epoch, since_best = float("inf"), None, 0, 0
        t0 = time.perf_counter()
        for epoch in range(1, cfg.max_epochs + 1):
            self.model.train()
            perm = torch.randperm(n, generator=gen).to(self.device)
            total = 0.0
            for i in range(0, n, cfg.batch_size):
                idx = perm[i : i + cfg.batch_size]
                xb = torch.index_select(xtr, 0, idx, out=xbuf[: idx.shape[0]])
                yb = torch.index_select(ytr, 0, idx, out=ybuf[: idx.shape[0]])
                opt.zero_grad(set_to_none=True)
                loss = self._loss(self.model.network(xb), yb)
                loss.backward()
                opt.step()
                total += loss.item() * idx.shape[0]
            val = self.evaluate("val")
            stopped = None
            if val["loss"] < best:
                best, best_epoch, since_best = val["loss"], epoch, 0
                if cfg.restore_best:
                    best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                since_best += 1
            if cfg.patience is not None and since_best >= cfg.patience:
                stopped = "early_stopping"
            elif epoch == cfg.max_epochs:
                stopped = "max_epochs"
            elif self._stop.is_set():
                stopped = "stopped"
            restored = None
            if stopped and cfg.restore_best and best_state is not None:
                self.model.load_state_dict(best_state)
                restored = best_epoch
            want_pred = self._has_predict and (stopped or epoch % self.predict_every == 0)
            yield EpochRecord(
                epoch=epoch,
                train_loss=total / xtr.shape[0],
                val_loss=val["loss"],
                val_metrics={k: v for k, v in val.items() if k != "loss"},
                elapsed=time.perf_counter() - t0,
                prediction=self.predict() if want_pred else None,
                stopped=stopped,
                restored_epoch=restored,
            )
            if stopped:
                return


def _adam(params: Any, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """Adam with coupled L2, in its fused kernel where torch has one for the parameters' device
    (one kernel per step instead of ~10 small ops per parameter: ≈ 0.4 ms less per step on CPU
    for Siren(64); same update rule, results equal to float rounding)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch / unsupported device or dtype
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
