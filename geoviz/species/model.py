"""The multi-species range model: one location encoder, one logit per species.

``SpeciesModel(names)`` wraps :func:`geoviz.location_encoder.build_location_encoder` with
``output_dim = len(names)``; ``sigmoid(logit_s(x))`` is the probability that species ``s`` is
present at ``x``. Save/load: one geoviz model file of kind ``"species"`` (:mod:`geoviz.model_file`,
safetensors: loading never runs code).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from geoviz._validation import as_lonlat_tensor
from geoviz.location_encoder import LocationEncoder, build_location_encoder

from .data import species_index

__all__ = ["SpeciesModel", "load_species_model", "DEFAULT_PE_KWARGS", "DEFAULT_NN_KWARGS"]

DEFAULT_PE_KWARGS: dict[str, Any] = {"legendre_polys": 20}
DEFAULT_NN_KWARGS: dict[str, Any] = {"hidden_dim": 256, "num_layers": 2}


class SpeciesModel(nn.Module):
    """Location encoder with one output logit per species.

    Args:
        names: species names (``S = len(names) >= 1``).
        pe, nn: positional encoding and network names (default spherical harmonics + Siren).
        pe_kwargs, nn_kwargs: their hyperparameters (default ``legendre_polys=20``,
            ``hidden_dim=256, num_layers=2``).
        meta: free-form provenance stored in the checkpoint (source, loss, background, ...).

    ``model(lonlat)`` maps ``(N, 2)`` (lon, lat) degrees to ``(N, S)`` logits (torch, the
    model's dtype).
    """

    def __init__(self, names: Sequence[str], pe: str = "sphericalharmonics", nn: str = "siren",
                 pe_kwargs: dict[str, Any] | None = None, nn_kwargs: dict[str, Any] | None = None,
                 meta: dict[str, Any] | None = None) -> None:
        super().__init__()
        names = [str(n) for n in names]
        if not names:
            raise ValueError("a species model needs at least one species name")
        if len(set(names)) != len(names):
            raise ValueError("species names must be unique")
        self.names = names
        self.pe_name, self.nn_name = pe, nn
        self.pe_kwargs = dict(DEFAULT_PE_KWARGS if pe_kwargs is None else pe_kwargs)
        self.nn_kwargs = dict(DEFAULT_NN_KWARGS if nn_kwargs is None else nn_kwargs)
        self.meta = dict(meta or {})
        self.encoder: LocationEncoder = build_location_encoder(pe, nn, len(names), **self.pe_kwargs, **self.nn_kwargs)
        self._map_cache: dict[Any, Any] = {}

    @property
    def num_species(self) -> int:
        return len(self.names)

    def index(self, name: str | int) -> int:
        """Index of a species by name (case-insensitive fallback) or int index."""
        return species_index(self.names, name)

    def forward(self, lonlat: Any) -> torch.Tensor:
        return self.encoder(lonlat)

    def _param(self) -> torch.Tensor:
        return next(self.encoder.network.parameters())

    @torch.no_grad()
    def logits(self, lonlat: Any, species: Sequence[str | int] | str | int | None = None,
               batch_size: int = 65536) -> np.ndarray:
        """Logits at points, without autograd, in eval mode.

        Args:
            lonlat: ``(N, 2)`` (lon, lat) degrees, numpy or torch float.
            species: one species (name or index) → ``(N,)``; a list → ``(N, k)``; ``None`` → all, ``(N, S)``.
            batch_size: points per forward pass.

        Returns:
            float32/float64 numpy array (the model's dtype).
        """
        t, _ = as_lonlat_tensor(lonlat)
        single = isinstance(species, (str, int, np.integer))
        cols = None if species is None else [self.index(s) for s in ([species] if single else species)]
        was = self.training
        self.eval()
        p = self._param()
        out = []
        for i in range(0, t.shape[0], batch_size):
            z = self.encoder(t[i : i + batch_size].to(device=p.device, dtype=p.dtype))
            out.append((z if cols is None else z[:, cols]).cpu())
        self.train(was)
        n_out = self.num_species if cols is None else len(cols)
        res = torch.cat(out).numpy() if out else np.zeros((0, n_out), dtype=np.float32)
        return res[:, 0] if single else res

    def predict_proba(self, lonlat: Any, species: Sequence[str | int] | str | int | None = None,
                      batch_size: int = 65536) -> np.ndarray:
        """Presence probabilities ``sigmoid(logits)``; shapes as :meth:`logits`."""
        z = self.logits(lonlat, species, batch_size)
        return 1.0 / (1.0 + np.exp(-z))

    @torch.no_grad()
    def predict_map(self, species: str | int, resolution: float = 0.5, *, mask: np.ndarray | None = None,
                    logits: bool = False, refine: int | None = None, refine_threshold: float = 1e-3) -> np.ndarray:
        """Probability map of one species on the global regular grid of :func:`geoviz.data.regular_grid`.

        For SH + Siren the first layer is evaluated separably on the grid
        (:func:`geoviz.encoders.sh_grid.sh_grid_linear`: no ``(H·W, L²)`` feature matrix) and
        only the species' own output row is computed; with ``mask`` the hidden layers run on
        the masked cells only (e.g. land: a third of the work).

        Args:
            species: name or index.
            resolution: cell size in degrees (must divide 180).
            mask: optional ``(H, W)`` bool; cells outside get NaN.
            logits: return logits instead of probabilities.
            refine: coarse-to-fine evaluation (e.g. 4): the map is first computed exactly on a
                grid ``refine`` times coarser; cells whose coarse probability is at least
                ``refine_threshold`` (dilated by one coarse cell) are then evaluated exactly at
                ``resolution``; the rest keep the coarse value (below the threshold, unless the
                model has a peak narrower than a coarse cell). ``None``: exact everywhere.

        Returns:
            ``(H, W)`` float32 array, row 0 = north, column 0 = 180° W.
        """
        from geoviz.data import regular_grid

        s = self.index(species)
        net, pe = self.encoder.network, self.encoder.positional_encoding
        key = ("grid", float(resolution))
        if key not in self._map_cache:
            self._map_cache.clear()
            self._map_cache[key] = regular_grid(resolution)
        g = self._map_cache[key]
        H, W = g.shape
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (H, W):
                raise ValueError(f"mask must have shape {(H, W)} for resolution {resolution}, got {mask.shape}")
        from geoviz.training.grid_predict import supports_grid_prediction
        from geoviz.networks import Siren

        if refine is not None and int(refine) > 1:
            return self._refined_map(s, float(resolution), int(refine), mask, logits, refine_threshold)
        was = self.training
        self.eval()
        try:
            if supports_grid_prediction(pe, net) and isinstance(net, Siren):
                z = self._siren_grid(s, g, mask)
            else:
                z = np.full(H * W, np.nan, dtype=np.float32)
                sel = np.ones(H * W, bool) if mask is None else mask.reshape(-1)
                z[sel] = self.logits(g.lonlat[sel], s)
                z = z.reshape(H, W)
        finally:
            self.train(was)
        if logits:
            return z
        with np.errstate(over="ignore"):
            return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    def _refined_map(self, s: int, res: float, k: int, mask: np.ndarray | None, logits: bool,
                     threshold: float) -> np.ndarray:
        from scipy.ndimage import binary_dilation

        from geoviz.data import regular_grid

        g = regular_grid(res)
        H, W = g.shape
        if H % k or W % k:
            raise ValueError(f"refine={k} must divide the grid {H}x{W}")
        cmask = None if mask is None else np.asarray(mask, bool).reshape(H // k, k, W // k, k).any(axis=(1, 3))
        zc = self.predict_map(s, res * k, mask=cmask, logits=True)
        with np.errstate(invalid="ignore"):
            hot = zc >= np.log(threshold / (1 - threshold))
        hot = binary_dilation(np.pad(hot, ((0, 0), (1, 1)), mode="wrap"), np.ones((3, 3), bool))[:, 1:-1]  # lon wraps
        z = np.repeat(np.repeat(zc, k, axis=0), k, axis=1)
        fine = np.repeat(np.repeat(hot, k, axis=0), k, axis=1)
        if mask is not None:
            fine &= np.asarray(mask, bool)
            z[~np.asarray(mask, bool)] = np.nan
        idx = np.flatnonzero(fine.ravel())
        if idx.size:
            z.reshape(-1)[idx] = self.logits(g.lonlat[idx], s)
        if logits:
            return z.astype(np.float32)
        with np.errstate(over="ignore"):
            return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    def _siren_grid(self, s: int, g: Any, mask: np.ndarray | None) -> np.ndarray:
        from geoviz.encoders.sh_grid import sh_grid_factors, sh_order_blocks

        net, pe = self.encoder.network, self.encoder.positional_encoding
        H, W = g.shape
        L = int(pe.legendre_polys)
        fkey = ("factors", H, W, L, pe.convention)
        if fkey not in self._map_cache:
            q, t, _ = sh_grid_factors(g.lons, g.lats, L, pe.convention)
            self._map_cache[fkey] = (q, t)
        q, t = self._map_cache[fkey]
        first = net.layers[0]
        p = first.weight
        dt, dev = p.dtype, p.device
        w = first.weight.detach() * first.w0
        b = None if first.bias is None else first.bias.detach() * first.w0
        J = w.shape[0]
        # per-order latitude blocks; cached until the weights change (in-place updates bump _version)
        akey = ("blocks", H, L, id(first.weight), first.weight._version,
                None if first.bias is None else first.bias._version, dt)
        a = self._map_cache.get(akey)
        if a is None:
            for k in [k for k in self._map_cache if k[0] == "blocks"]:
                del self._map_cache[k]
            a = sh_order_blocks(w, b, L, q).to(dt).reshape(2 * L - 1, H * J)
            self._map_cache[akey] = a
        td = t.to(device=dev, dtype=dt)  # (W, 2L-1)
        hidden = []
        for lay in net.layers[1:]:
            wl, bl = lay.weight.detach(), lay.bias.detach()
            if lay.w0 != 1.0:
                wl, bl = wl * lay.w0, bl * lay.w0
            hidden.append((wl.T.contiguous(), bl))
        wo = net.last_layer.weight.detach()[s].contiguous()
        bo = float(net.last_layer.bias.detach()[s])
        mt = None if mask is None else torch.from_numpy(np.ascontiguousarray(mask.T))  # (W, H)
        out = torch.full((W, H), float("nan"), dtype=dt)
        step = max(1, 16384 // H)  # longitude columns per chunk (bounded, cache-friendly buffers)
        for c0 in range(0, W, step):
            c1 = min(W, c0 + step)
            z = torch.mm(td[c0:c1], a).view((c1 - c0) * H, J)  # first layer, lon-major
            sel = None
            if mt is not None:
                sel = mt[c0:c1].reshape(-1)
                if not bool(sel.any()):
                    continue
                z = z[sel.to(dev)]
            z.sin_()
            for wl, bl in hidden:
                z = torch.addmm(bl, z, wl).sin_()
            o = torch.mv(z, wo).add_(bo).cpu()
            if sel is None:
                out[c0:c1] = o.view(c1 - c0, H)
            else:
                out[c0:c1].view(-1)[sel] = o
        return out.T.numpy().astype(np.float32)

    # ----------------------------------------------------------------------------------
    # persistence

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to ``path`` as a geoviz model file of kind ``"species"``
        (:mod:`geoviz.model_file`: safetensors weights + JSON header with the encoder spec,
        species names and ``meta``; tensors inside ``meta``, e.g. the observations, are stored
        as tensors). The name is kept exactly as given; written atomically."""
        from geoviz.model_file import encoder_header, json_plain, pack_tensors, save_model_file

        extra, extra_tensors = pack_tensors(_plain(self.meta), "extra")
        tensors = {k: v.detach().cpu() for k, v in self.encoder.state_dict().items()}
        clash = set(tensors) & set(extra_tensors)
        if clash:  # pragma: no cover - "extra." never starts a state-dict key
            raise ValueError(f"meta tensors clash with weights: {sorted(clash)}")
        meta = self.meta
        header = {
            "kind": "species", **encoder_header(self.encoder), "species": list(self.names),
            "training_data": {"n_species": len(self.names), "n_observations": meta.get("num_observations"),
                              "source": meta.get("source")},
            "extra": extra,
        }
        return save_model_file(path, {**tensors, **extra_tensors}, json_plain(header, "species model meta"))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> "SpeciesModel":
        """Read a model written by :meth:`save` (a safetensors file: no code from it runs).

        Raises:
            FileNotFoundError: no such file.
            ValueError (:class:`geoviz.model_file.ModelFileError`): not a species model file,
                damaged or edited, an old ``torch.save`` file (the conversion command is
                named), weights that do not match the stored architecture.
        """
        p = Path(path)
        if not p.is_file() and not p.is_dir():
            raise FileNotFoundError(f"species model not found: {p}")
        from geoviz.model_file import (ModelFileError, build_encoder, read_model_file, tensor_refs,
                                       unpack_tensors)
        from geoviz.spec import EncoderSpec

        what = "readable geoviz species model file"
        tensors, header = read_model_file(p, kind="species", what=what)
        names = header.get("species")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ModelFileError(p, "a species model without its species names (header 'species')")
        if header.get("output_dim") != len(names):
            raise ModelFileError(p, f"{len(names)} species names but output_dim {header.get('output_dim')!r}")
        refs = tensor_refs(header.get("extra"))
        extra_tensors = {k: v for k, v in tensors.items() if k in refs}
        enc = build_encoder(p, header, {k: v for k, v in tensors.items() if k not in refs})
        meta = unpack_tensors(header.get("extra") or {}, extra_tensors, p)
        spec = EncoderSpec.from_dict(header["encoder"])
        m = cls(names, spec.pe, spec.nn, spec.pe_options, spec.nn_options, meta)
        m.encoder = enc
        return m.to(device=device).eval()


def _plain(x: Any) -> Any:
    """Meta as plain Python types (tensors kept: they are stored as tensors)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    return str(x)


def load_species_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> SpeciesModel:
    """Shorthand for :meth:`SpeciesModel.load`."""
    return SpeciesModel.load(path, device)
