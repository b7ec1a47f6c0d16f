"""``LocationEmbedder``: a frozen pretrained location encoder as a scikit-learn transformer."""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._common import (_CPUPickle, _check_device, _check_dtype, _outputs, _plain_int, _uses_cuda,
                      _validate_lonlat)

__all__ = ["LocationEmbedder"]


def _load_encoder(model: Any, owner: str) -> torch.nn.Module:
    """A fresh module for a pretrained name, a model file, or a copy of a given module."""
    if isinstance(model, torch.nn.Module):
        return copy.deepcopy(model)
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"{owner}: model must be a pretrained name, a model file path or a torch module, "
                        f"got {type(model).__name__}")
    # the one resolver of every loadable kind (pretrained names, geoviz model files, SatCLIP checkpoints)
    from ..pretrained import load_encoder

    try:
        module, _ = load_encoder(os.fspath(model))
    except ValueError as exc:
        raise ValueError(f"{owner}: model={model!r}: {exc}") from None
    return module


class LocationEmbedder(_CPUPickle, TransformerMixin, BaseEstimator):
    """A frozen location encoder as a transformer: ``(N, 2)`` (lon, lat) degrees → ``(N, D)``.

    ``fit`` loads the model (no training; the data only fix ``n_features_in_`` and, for a
    DataFrame, ``feature_names_in_``); ``transform`` embeds points with
    :func:`geoviz.embed.embed_points` (eval mode, batched, bounded memory).

    Args:
        model: a pretrained name (:func:`geoviz.pretrained.list_pretrained`;
            ``"geoviz-bluemarble-l10"`` ships with geoviz, SatCLIP names need their cached
            checkpoint), a model file (a ``geoviz fit`` model — its raw outputs — a
            ``geoviz-location-encoder`` file or a SatCLIP checkpoint), or a torch module
            mapping ``(n, 2)`` lon/lat degrees to ``(n, D)`` (copied, never changed).
        feature_prefix: output column names are ``f"{feature_prefix}{j}"`` (default
            ``emb_0 … emb_{D-1}``, the columns ``geoviz embed`` writes).
        batch_size: most points per forward pass.
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ...
        dtype: ``"float32"`` (default) or ``"float64"``: the computation's and the output's dtype.

    Attributes:
        model_: the loaded module (eval mode; on the CPU after unpickling).
        embedding_dim_: ``D``. n_features_in_: 2. feature_names_in_: DataFrame column names.

    Example:
        >>> emb = LocationEmbedder("geoviz-bluemarble-l10").set_output(transform="pandas")
        >>> emb.fit_transform(df[["lon", "lat"]]).columns[:2].tolist()     # doctest: +SKIP
        ['emb_0', 'emb_1']
    """

    def __init__(self, model: Any = "geoviz-bluemarble-l10", *, feature_prefix: str = "emb_",
                 batch_size: int = 65536, device: str = "auto", dtype: str = "float32") -> None:
        self.model = model
        self.feature_prefix = feature_prefix
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype

    def fit(self, X: Any, y: Any = None) -> LocationEmbedder:
        """Load the model; ``X`` ``(N, 2)`` (lon, lat) degrees is validated, ``y`` ignored.

        Returns:
            ``self``.

        Raises:
            ValueError: bad coordinates (named), an unknown model name or unreadable file,
                bad parameters. FileNotFoundError: a SatCLIP checkpoint not in the cache.
        """
        owner = type(self).__name__
        _validate_lonlat(self, X, reset=True)
        if not isinstance(self.feature_prefix, str):
            raise ValueError(f"{owner}: feature_prefix must be a str, got {self.feature_prefix!r}")
        _plain_int(self.batch_size, "batch_size", owner)
        dtype = getattr(torch, _check_dtype(self.dtype, owner))
        device = _check_device(self.device, owner)
        module = _load_encoder(self.model, owner).to(device=device, dtype=dtype).eval()
        probe = _outputs(module, np.zeros((1, 2)))
        if probe.ndim != 2:
            raise ValueError(f"{owner}: the model must map (n, 2) lon/lat to (n, D), got shape {probe.shape}")
        self.model_ = module
        self.embedding_dim_ = int(probe.shape[1])
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Embeddings ``(N, D)`` (``dtype``) of ``X`` ``(N, 2)`` (lon, lat) degrees."""
        from ..embed import embed_points

        check_is_fitted(self)
        X = _validate_lonlat(self, X, reset=False)
        out = embed_points(self.model_, torch.tensor(X), batch_size=int(self.batch_size))
        return out.detach().cpu().numpy()

    def inverse_transform(self, X: Any, *, gallery_size: int = 100_000, refine_steps: int = 40,
                          metric: str = "cosine") -> np.ndarray:
        """Locations ``(N, 2)`` (lon, lat) degrees whose embeddings best match ``X`` ``(N, D)``.

        The nearest point of a Fibonacci-lattice gallery of ``gallery_size`` points, refined
        by ``refine_steps`` gradient steps on the sphere through the encoder
        (:func:`geoviz.pretrained.invert.invert_embeddings`; the gallery is embedded once
        per model and kept in memory). On held-out random points the shipped
        ``geoviz-bluemarble-l10`` model comes back a median ~1 km from where it started
        (``docs/pretrained.md``). Embeddings are compared by angle (``metric="cosine"``)
        unless ``metric="euclidean"``.

        Returns:
            ``(N, 2)`` float64 array (lon in ``(-180, 180]``, lat in ``[-90, 90]``).

        Raises:
            ValueError: ``X`` not ``(N, embedding_dim_)`` finite numbers, bad options.
        """
        from ..pretrained.invert import invert_embeddings

        check_is_fitted(self)
        E = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=np.float64)
        if E.ndim != 2 or E.shape[1] != self.embedding_dim_:
            raise ValueError(f"{type(self).__name__}.inverse_transform: X must be (N, {self.embedding_dim_}) "
                             f"embeddings, got shape {E.shape}")
        return invert_embeddings(self.model_, E, gallery_size=gallery_size, refine_steps=refine_steps,
                                 metric=metric, batch_size=min(int(self.batch_size), 4096))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names ``[f"{feature_prefix}0", ..., f"{feature_prefix}{D-1}"]`` (object array).

        Args:
            input_features: ignored except for a check: ``None``, or the input names
                (``feature_names_in_`` when fitted on a DataFrame; 2 names otherwise).
        """
        check_is_fitted(self)
        if input_features is not None:
            names = np.asarray(input_features, dtype=object)
            known = getattr(self, "feature_names_in_", None)
            if known is not None and not np.array_equal(known, names):
                raise ValueError(f"input_features is not equal to feature_names_in_: {names.tolist()} vs "
                                 f"{known.tolist()}")
            if len(names) != self.n_features_in_:
                raise ValueError(f"input_features should have length equal to the number of features "
                                 f"({self.n_features_in_}), got {len(names)}")
        return np.asarray([f"{self.feature_prefix}{j}" for j in range(self.embedding_dim_)], dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.requires_fit = True
        # the output dtype is the ``dtype`` parameter whatever comes in: only that one is preserved
        try:
            tags.transformer_tags.preserves_dtype = [_check_dtype(self.dtype, type(self).__name__)]
        except ValueError:
            tags.transformer_tags.preserves_dtype = []
        tags.non_deterministic = _uses_cuda(self.device)
        return tags
