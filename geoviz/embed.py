"""Location embeddings of point sets and global grids, batched, cached and Dask-ready.

``embed_points(model, lonlat)`` evaluates a location encoder (any ``nn.Module`` that maps
``(N, 2)`` (lon, lat) degrees to ``(N, D)``, normally a :class:`geoviz.LocationEncoder`)
in eval mode under ``torch.inference_mode`` in batches whose size is capped so that the
widest intermediate activation stays under ``max_batch_bytes``. Numpy in gives numpy out,
torch in gives torch out, and a ``dask.array`` in gives a lazy ``dask.array`` out (one
task per chunk of rows; on a ``dask.distributed`` cluster the model is broadcast to the
workers once).

``embed_grid(model)`` embeds the cell centres of a global regular lon/lat raster (rows
north to south, :func:`geoviz.data.regular_grid`) with a spacing chosen from the SH
degree by default (:func:`grid_spacing_for`) and caches the float32 result on disk under
a key made of the model's weights, structure and hyperparameters, the grid and the dtype.

Example:
    >>> import geoviz
    >>> from geoviz.embed import embed_grid
    >>> enc = geoviz.build_location_encoder("sphericalharmonics", "siren", 256,
    ...                                     legendre_polys=10, hidden_dim=64)
    >>> g = embed_grid(enc, cache=False)       # 4.5 deg grid: 40 x 80 cells
    >>> g.embeddings.shape, g.shape
    ((3200, 256), (40, 80))
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._validation import as_lonlat_tensor

__all__ = [
    "EmbeddingGrid",
    "default_cache_dir",
    "embed_grid",
    "embed_points",
    "grid_spacing_for",
    "model_fingerprint",
]

DEFAULT_BATCH_SIZE = 65536
DEFAULT_MAX_BATCH_BYTES = 256 * 2**20  # widest activation of one batch, bytes
_CACHE_FORMAT = 1


# --------------------------------------------------------------------------------------
# model helpers


def _check_model(model: Any) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module mapping (N, 2) lon/lat degrees to (N, D) "
            f"(e.g. geoviz.build_location_encoder(...)), got {type(model).__name__}"
        )
    return model


def _model_param(model: nn.Module) -> torch.Tensor | None:
    for p in model.parameters():
        return p
    for b in model.buffers():
        return b
    return None


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = _model_param(model)
    if p is None:
        return torch.device("cpu"), torch.get_default_dtype()
    return p.device, p.dtype


def _row_width(model: nn.Module) -> int:
    """Widest per-row activation (number of values) a forward pass may hold at once."""
    widths = [int(getattr(model, "embedding_dim", 0) or 0)]
    for p in model.parameters():
        if p.ndim == 2:
            widths.extend(int(s) for s in p.shape)
    return max([w for w in widths if w > 0] + [2])


def _legendre_polys(model: nn.Module) -> int | None:
    for m in model.modules():
        L = getattr(m, "legendre_polys", None)
        if isinstance(L, int) and L > 0:
            return L
    return None


def _plain_attrs(module: nn.Module) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in sorted(vars(module).items()):
        if k.startswith("_") or k == "training":
            continue
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        elif isinstance(v, (tuple, list)) and all(isinstance(x, (bool, int, float, str)) for x in v):
            out[k] = list(v)
    return out


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 hex digest of a model's weights, structure and hyperparameters.

    Hashes, for every submodule in order: its qualified name, class (module + qualname)
    and plain attributes (ints, floats, strings, e.g. ``legendre_polys``, ``convention``,
    ``w0``); then every state-dict entry's name, dtype, shape and raw bytes. Two models
    with the same architecture and equal weights get the same digest; changing any
    weight, dtype or hyperparameter changes it.

    Args:
        model: any ``torch.nn.Module``.

    Returns:
        64-character lowercase hex string.
    """
    _check_model(model)
    h = hashlib.sha256()
    for name, m in model.named_modules():
        desc = {"name": name, "cls": f"{type(m).__module__}.{type(m).__qualname__}", "attrs": _plain_attrs(m)}
        h.update(json.dumps(desc, sort_keys=True, default=str).encode())
    for k, v in model.state_dict().items():
        t = v.detach().to("cpu").contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# point sets


def _resolve_batch(model: nn.Module, batch_size: int | None, max_batch_bytes: int | None, itemsize: int) -> int:
    if batch_size is None:
        batch_size = DEFAULT_BATCH_SIZE
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    bs = int(batch_size)
    if max_batch_bytes is not None:
        if max_batch_bytes <= 0:
            raise ValueError(f"max_batch_bytes must be positive, got {max_batch_bytes!r}")
        bs = min(bs, max(1, int(max_batch_bytes) // (itemsize * _row_width(model))))
    return bs


def _prepare_model(model: nn.Module, device: Any, dtype: Any) -> tuple[nn.Module, torch.device, torch.dtype]:
    cur_dev, cur_dt = _model_device_dtype(model)
    dev = cur_dev if device is None else torch.device(device)
    if dtype is None:
        dt = cur_dt
    else:
        dt = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        if isinstance(dt, np.dtype) or dt in (np.float32, np.float64):
            dt = torch.from_numpy(np.zeros(0, dtype=dt)).dtype
        if dt not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
    if dev != cur_dev or dt != cur_dt:
        model = copy.deepcopy(model).to(device=dev, dtype=dt)  # never mutate the caller's model
    return model, dev, dt


def _embed_tensor(
    model: nn.Module,
    x: torch.Tensor,
    batch_size: int,
    dev: torch.device,
    dt: torch.dtype,
    out_numpy: Any = None,
) -> Any:
    """Embed a validated ``(N, 2)`` tensor in batches.

    Returns ``(N, D)``: a tensor on ``dev`` (dtype ``dt``), or, when ``out_numpy`` is a
    numpy dtype, a numpy array of that dtype filled batch by batch (peak memory = the
    output plus one batch).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            outs: list[torch.Tensor] = []
            result: np.ndarray | None = None
            n = x.shape[0]
            for s in range(0, max(n, 1), batch_size):
                xb = x[s : s + batch_size].to(device=dev, dtype=dt)
                yb = model(xb)
                if not isinstance(yb, torch.Tensor) or yb.ndim != 2 or yb.shape[0] != xb.shape[0]:
                    raise ValueError(
                        f"model must return an (N, D) tensor for (N, 2) input, got "
                        f"{getattr(yb, 'shape', type(yb).__name__)} for N = {xb.shape[0]}"
                    )
                if out_numpy is None:
                    outs.append(yb)
                    continue
                if result is None:
                    result = np.empty((n, yb.shape[1]), dtype=out_numpy)
                result[s : s + yb.shape[0]] = yb.detach().to("cpu").numpy()
            if out_numpy is not None:
                return result
            return torch.cat(outs) if len(outs) > 1 else outs[0]
    finally:
        model.train(was_training)


def _is_dask_array(x: Any) -> bool:
    mod = type(x).__module__
    return mod.startswith("dask.") and hasattr(x, "map_blocks") and hasattr(x, "chunks")


def _block_embed(block: np.ndarray, model: nn.Module, batch_size: int, device: str | None, dtype: str, out_dtype: Any) -> np.ndarray:
    """Embed one Dask block (runs on a worker); ``(n, 2)`` numpy -> ``(n, D)`` numpy."""
    t, _ = as_lonlat_tensor(np.asarray(block, dtype=np.float64) if block.dtype.kind != "f" else np.asarray(block))
    m, dev, dt = _prepare_model(model, device, getattr(torch, dtype))
    return _embed_tensor(m, t, batch_size, dev, dt, out_numpy=out_dtype)


def _embed_dask(model: nn.Module, arr: Any, batch_size: int, device: Any, dt: torch.dtype, out_dim: int) -> Any:
    import dask
    import dask.array as da

    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"lonlat must have shape (N, 2) holding (lon, lat) in degrees, got dask shape {arr.shape}")
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(f"lonlat must have dtype float32 or float64, got dask {arr.dtype}")
    if len(arr.chunks[1]) != 1:
        arr = arr.rechunk({1: 2})
    np_dtype = np.float32 if dt == torch.float32 else np.float64
    # the model enters the graph once: a scattered future on a distributed cluster
    # (broadcast to every worker), else a single delayed key that each block depends on
    model_ref: Any = None
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        client = None
    if client is not None:
        cpu_model = copy.deepcopy(model).to("cpu") if _model_device_dtype(model)[0].type != "cpu" else model
        model_ref = client.scatter(cpu_model, broadcast=True, hash=False)
    else:
        model_ref = dask.delayed(model, pure=False, traverse=False)
    dev_str = None if device is None else str(device)
    return da.map_blocks(
        _block_embed,
        arr,
        model_ref,
        batch_size,
        dev_str,
        str(dt).replace("torch.", ""),
        np_dtype,
        dtype=np_dtype,
        chunks=(arr.chunks[0], (out_dim,)),
        meta=np.empty((0, out_dim), dtype=np_dtype),
    )


def embed_points(
    model: nn.Module,
    lonlat: Any,
    *,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
    device: Any = None,
    dtype: Any = None,
    max_batch_bytes: int | None = DEFAULT_MAX_BATCH_BYTES,
    out_dtype: Any = None,
) -> Any:
    """Embeddings of a point set, in eval mode, batched with bounded memory.

    Args:
        model: location encoder mapping ``(n, 2)`` (lon, lat) degrees to ``(n, D)``
            (e.g. :class:`geoviz.LocationEncoder`). It is put in eval mode for the call
            (dropout off) and restored afterwards; it is never moved or cast in place.
        lonlat: ``(N, 2)`` (lon, lat) degrees, float32/float64, as a numpy array, a torch
            tensor (any device) or a ``dask.array`` (chunked along rows; any chunking of
            the 2 columns is merged).
        batch_size: most rows per forward pass (default 65,536); further capped so that
            ``rows × widest layer × itemsize <= max_batch_bytes``.
        device: where to compute (``"cpu"``, ``"cuda"``, a ``torch.device``); default the
            model's device. A model on another device is copied there, not moved.
        dtype: compute dtype, ``torch.float32``/``torch.float64`` (or their names or numpy
            dtypes); default the model's dtype. Output has this dtype.
        max_batch_bytes: memory cap for one batch's widest activation (default 256 MiB);
            ``None`` disables the cap.
        out_dtype: numpy input only: dtype of the returned array (e.g. ``np.float32`` to
            compute in float64 but store float32); filled batch by batch, so the peak
            memory is the output plus one batch. Default: the compute dtype.

    Returns:
        ``(N, D)`` embeddings: numpy for numpy input (on the CPU), a torch tensor on the
        compute device for tensor input, a lazy ``dask.array`` (float32/float64 numpy
        blocks, same row chunks) for Dask input.

    Raises:
        TypeError: model is not an ``nn.Module``; non-float coordinates or dtype.
        ValueError: bad shape/values (first bad row named), bad ``batch_size``, or a model
            that does not return ``(n, D)``.
    """
    model = _check_model(model)
    if _is_dask_array(lonlat):
        m, dev, dt = _prepare_model(model, device, dtype)
        bs = _resolve_batch(m, batch_size, max_batch_bytes, torch.finfo(dt).bits // 8)
        probe = np.zeros((1, 2), dtype=np.float64)
        out_dim = _embed_tensor(m, torch.from_numpy(probe), 1, dev, dt).shape[1]
        return _embed_dask(m, lonlat, bs, device, dt, int(out_dim))
    x, was_numpy = as_lonlat_tensor(lonlat)
    m, dev, dt = _prepare_model(model, device, dtype)
    bs = _resolve_batch(m, batch_size, max_batch_bytes, torch.finfo(dt).bits // 8)
    if was_numpy:
        out_np = out_dtype if out_dtype is not None else (np.float32 if dt == torch.float32 else np.float64)
        return _embed_tensor(m, x, bs, dev, dt, out_numpy=out_np)
    return _embed_tensor(m, x, bs, dev, dt)


# --------------------------------------------------------------------------------------
# global grids


def grid_spacing_for(legendre_polys: int) -> float:
    """Grid spacing (degrees) that resolves an SH field of ``legendre_polys`` degrees.

    A band-limited field with degrees ``0..L-1`` has its shortest half-wavelength at
    about ``180°/L``; sampling at a quarter of that, ``180°/(4L)``, resolves it without
    aliasing and wastes little. The value always divides 180° (``4L`` rows), so it is a
    valid :func:`geoviz.data.regular_grid` resolution.

    Args:
        legendre_polys: ``L >= 1`` (positive int).

    Returns:
        Spacing in degrees, ``180 / (4 L)`` (e.g. 4.5 for L = 10, 1.125 for L = 40).
    """
    if isinstance(legendre_polys, bool) or not isinstance(legendre_polys, (int, np.integer)) or legendre_polys < 1:
        raise ValueError(f"legendre_polys must be a positive integer, got {legendre_polys!r}")
    return 180.0 / (4 * int(legendre_polys))


@dataclass
class EmbeddingGrid:
    """Embeddings of the cell centres of a global regular lon/lat raster.

    Attributes:
        lonlat: ``(H*W, 2)`` float64 (lon, lat) degrees, row-major, row 0 northernmost,
            columns west to east (as :func:`geoviz.data.regular_grid`).
        shape: ``(H, W)``.
        spacing: cell size in degrees (``180 / H``).
        embeddings: ``(H*W, D)`` float32 numpy array.
        key: cache key (hex digest) of model + grid + dtype.
        from_cache: True when the embeddings were read from the disk cache.
        model_name: the pretrained model embedded, as :func:`geoviz.pretrained.load_pretrained`
            tags it (a registry name, or ``"satclip"`` for a SatCLIP checkpoint file); None for
            any other model. Lets :func:`geoviz.pretrained.is_image_derived` answer for a grid.
    """

    lonlat: np.ndarray
    shape: tuple[int, int]
    spacing: float
    embeddings: np.ndarray
    key: str = ""
    from_cache: bool = field(default=False, compare=False)
    model_name: str | None = field(default=None, compare=False)

    @property
    def embedding_dim(self) -> int:
        """``D``, the embedding width."""
        return int(self.embeddings.shape[1])

    def image(self, values: Any) -> np.ndarray:
        """Reshape per-cell values ``(H*W, ...)`` to an image ``(H, W, ...)`` (north up)."""
        v = np.asarray(values)
        if v.shape[0] != self.lonlat.shape[0]:
            raise ValueError(f"values must have {self.lonlat.shape[0]} rows (one per cell), got shape {v.shape}")
        return v.reshape(self.shape + v.shape[1:])

    def to_xarray(self, name: str = "embeddings", *, dataset: bool = False) -> Any:
        """The embeddings as an xarray ``DataArray`` ``(embedding, lat, lon)`` (or a ``Dataset``).

        ``lat`` runs north → south and ``lon`` west → east (the grid's own order), both with
        CF attributes; the CRS is EPSG:4326 (:mod:`geoviz.grids`); the channel index
        ``0..D-1`` is the ``embedding`` coordinate. The data is a view of
        :attr:`embeddings` (no copy). Write it with :func:`geoviz.grids.write_grid`
        (``.tif``: one band per channel, ``.nc``, ``.zarr``).

        Args:
            name: variable name.
            dataset: return a ``Dataset`` holding the variable (CF-1.8 global attributes).

        Returns:
            ``xarray.DataArray`` (or ``Dataset``), float32; attributes ``model_name`` (when
            known), ``grid_spacing_deg`` and ``cache_key``.
        """
        from .grids import _as_dataset, grid_dataarray

        da = grid_dataarray(self.embeddings, shape=tuple(self.shape), name=name, units="1",
                            long_name=f"location embedding{f' of {self.model_name}' if self.model_name else ''}",
                            dim="embedding", labels=np.arange(self.embedding_dim),
                            attrs={"model_name": self.model_name, "grid_spacing_deg": float(self.spacing),
                                   "cache_key": self.key or None})
        return _as_dataset(da) if dataset else da


def default_cache_dir() -> Path:
    """``embeddings/`` under :func:`geoviz._cache.cache_root` (``$GEOVIZ_CACHE_DIR`` or ``~/.cache/geoviz``)."""
    from ._cache import cache_root

    return cache_root() / "embeddings"


def _grid_key(fingerprint: str, shape: tuple[int, int], dtype: torch.dtype) -> str:
    desc = json.dumps({"v": _CACHE_FORMAT, "model": fingerprint, "grid": ["regular", shape[0], shape[1]], "dtype": str(dtype)})
    return hashlib.sha256(desc.encode()).hexdigest()


def _embed_grid_separable(model: nn.Module, grid: Any, batch_size: int | None, device: Any, dt: torch.dtype,
                          max_batch_bytes: int | None) -> np.ndarray | None:
    """``(H*W, D)`` float32 grid embeddings through the separable first layer, or None when
    the model is not SH features + Siren/Linear/FCNet."""
    from .training.grid_predict import GridPredictor, supports_grid_prediction

    pe, net = getattr(model, "positional_encoding", None), getattr(model, "network", None)
    if pe is None or net is None or not supports_grid_prediction(pe, net):
        return None
    if type(model).forward is not _location_encoder_forward():
        return None  # a subclass that changes the forward pass: evaluate it as it is
    m, dev, dt = _prepare_model(model, device, dt)
    H, W = grid.shape
    gp = GridPredictor(grid.lons, grid.lats, m.positional_encoding, dtype=dt, device=dev)
    rows = _resolve_batch(m, batch_size, max_batch_bytes, torch.finfo(dt).bits // 8)
    gp._cols = max(1, min(W, rows // H))  # longitude columns per chunk: the same memory cap
    out = np.empty((H * W, int(m.network.output_dim)), dtype=np.float32)
    was_training = m.training
    m.eval()
    try:
        with torch.inference_mode():
            return gp.fill(m.network, out)
    finally:
        m.train(was_training)


def _location_encoder_forward() -> Any:
    from .location_encoder import LocationEncoder

    return LocationEncoder.forward


def embed_grid(
    model: nn.Module,
    spacing: float | None = None,
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
    device: Any = None,
    dtype: Any = None,
    max_batch_bytes: int | None = DEFAULT_MAX_BATCH_BYTES,
    separable: bool | None = None,
) -> EmbeddingGrid:
    """Embed the cell centres of a global regular grid, with an on-disk cache.

    For a :class:`geoviz.LocationEncoder` with spherical-harmonic features and a Siren,
    Linear or FCNet network (the SatCLIP and geoviz models) the grid is evaluated through
    the separable first layer (:class:`geoviz.training.grid_predict.GridPredictor`, as the training
    maps are): ``Σ_m cos/sin(m·lon) · A_m(lat)`` with ``2L − 1`` terms per point instead of
    ``L²`` features, and no ``(H·W, L²)`` feature matrix. It equals the dense evaluation
    to float rounding (≈1e-6 relative in float32, ≈1e-13 in float64) and is 2–3× faster
    for a SatCLIP-shaped model (L = 40, Siren 512 × 2, benchmarks/bench_embed.py).

    Args:
        model: location encoder (see :func:`embed_points`).
        spacing: cell size in degrees; must divide 180 (e.g. 1, 0.5, 0.25). Default:
            :func:`grid_spacing_for` of the model's ``legendre_polys`` (SH encoders), else 1°.
        cache: read/write the cache (default True); ``False`` neither reads nor writes.
        cache_dir: cache directory; default :func:`default_cache_dir`.
        batch_size, device, dtype, max_batch_bytes: as in :func:`embed_points`; ``dtype``
            is the compute dtype (part of the cache key); stored embeddings are float32.
        separable: ``None`` (default): the separable path when the model supports it;
            ``False``: always the dense path (:func:`embed_points`); ``True``: require the
            separable path (``ValueError`` if the model does not support it).

    Returns:
        :class:`EmbeddingGrid` with ``embeddings`` ``(H*W, D)`` float32, rows north to
        south; ``from_cache`` tells whether the cache was hit. Cache files are
        ``<cache_dir>/<key>.npz``, written atomically.

    Raises:
        ValueError: a spacing that does not divide 180°; see :func:`embed_points`.
    """
    from .data import regular_grid

    model = _check_model(model)
    if spacing is None:
        L = _legendre_polys(model)
        spacing = grid_spacing_for(L) if L is not None else 1.0
    grid = regular_grid(float(spacing))
    H, W = grid.shape
    spacing = 180.0 / H
    _, dt = _model_device_dtype(model)
    if dtype is not None:
        _, _, dt = _prepare_model(nn.Linear(1, 1), "cpu", dtype)
    key = _grid_key(model_fingerprint(model), (H, W), dt)
    path = Path(cache_dir if cache_dir is not None else default_cache_dir()) / f"{key}.npz"
    if cache and path.is_file():
        try:
            with np.load(path) as z:
                emb = z["embeddings"]
                ok = tuple(int(s) for s in z["shape"]) == (H, W) and emb.shape[0] == H * W
            if ok:
                return EmbeddingGrid(grid.lonlat, (H, W), spacing, emb, key, True, _pretrained_name(model))
        except (OSError, ValueError, KeyError, EOFError):
            pass  # corrupt or foreign file: recompute and overwrite
    emb = _embed_grid_separable(model, grid, batch_size, device, dt, max_batch_bytes) if separable is not False else None
    if emb is None:
        if separable:
            raise ValueError("separable=True needs a LocationEncoder with SphericalHarmonics features and a "
                             f"Siren/Linear/FCNet network, got {type(model).__name__}")
        emb = embed_points(
            model, grid.lonlat, batch_size=batch_size, device=device, dtype=dt, max_batch_bytes=max_batch_bytes,
            out_dtype=np.float32
        )
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, embeddings=emb, shape=np.array([H, W]), spacing=np.array(spacing))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return EmbeddingGrid(grid.lonlat, (H, W), spacing, emb, key, False, _pretrained_name(model))


def _pretrained_name(model: nn.Module) -> str | None:
    """The name a pretrained loader tagged ``model`` with (``geoviz.pretrained``), or None."""
    name = getattr(model, "_geoviz_pretrained", None)
    return name if isinstance(name, str) else None
