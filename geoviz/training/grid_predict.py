"""Fast evaluation of an SH-encoded network on a rectilinear lon/lat grid (prediction maps).

:class:`GridPredictor` evaluates ``network(spherical_harmonics(grid))`` without building the
``(H·W, L²)`` feature matrix: the network's first linear layer is computed separably
(:func:`geoviz.encoders.sh_grid.sh_grid_linear`, ≈ 5× fewer multiply–adds for L = 10) and the
rest of the network runs on reused buffers with in-place activations. Used by
:meth:`geoviz.training.Trainer.predict` when its prediction points form such a grid.

Supported networks (their first operation is linear): :class:`~geoviz.networks.Siren`
(``sin(w0 · (W x + b))``; ``w0`` is folded into the weights, which changes float rounding
only), :class:`~geoviz.networks.Linear` and :class:`~geoviz.networks.FCNet` (eval mode:
dropout off).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..encoders.sh_grid import grid_axes, sh_grid_factors, sh_order_blocks
from ..encoders.spherical_harmonics import SphericalHarmonics
from ..networks import FCNet, Linear, Siren

__all__ = ["GridPredictor", "supports_grid_prediction"]

_CHUNK_POINTS = 65536  # rows per chunk of the hidden activations (bounded memory on fine grids)


def supports_grid_prediction(positional_encoding: nn.Module, network: nn.Module) -> bool:
    """Whether :class:`GridPredictor` can evaluate this encoder pair (SH + Siren/Linear/FCNet)."""
    return isinstance(positional_encoding, SphericalHarmonics) and isinstance(network, (Siren, Linear, FCNet))


class GridPredictor:
    """Evaluate a network on SH features of a rectilinear grid, first layer separable.

    Args:
        lons: ``(W,)`` longitudes in degrees; lats: ``(H,)`` latitudes in degrees.
        positional_encoding: the :class:`SphericalHarmonics` module the network was trained on
            (its ``legendre_polys`` and ``convention`` are used).
        dtype: float32 or float64: dtype of the computation (the network passed to
            :meth:`__call__` must have it).
        device: device of the computation.

    Call it with a network to get ``(H·W, output_dim)`` outputs in row-major grid order
    (point ``r·W + c`` is ``(lons[c], lats[r])``), equal to the dense evaluation to float
    rounding (≈1e-6 in float32, ≈1e-12 in float64 for Siren(SH, L=10)).
    Not thread-safe (buffers are reused): serialise calls.
    """

    def __init__(self, lons: Any, lats: Any, positional_encoding: SphericalHarmonics,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> None:
        self.lons = np.asarray(lons, dtype=np.float64).reshape(-1)
        self.lats = np.asarray(lats, dtype=np.float64).reshape(-1)
        self.legendre_polys = int(positional_encoding.legendre_polys)
        self.convention = positional_encoding.convention
        self.dtype, self.device = dtype, torch.device(device)
        q, t, _ = sh_grid_factors(self.lons, self.lats, self.legendre_polys, self.convention)
        self._q = q.to(self.device)
        self._t = t.to(device=self.device, dtype=dtype)  # (W, 2L-1)
        H, W = len(self.lats), len(self.lons)
        self.shape = (H, W)
        self._cols = max(1, min(W, _CHUNK_POINTS // max(H, 1)))  # longitude columns per chunk
        self._bufs: dict[tuple[int, int], list[torch.Tensor]] = {}

    @classmethod
    def from_lonlat(cls, lonlat: Any, positional_encoding: nn.Module, network: nn.Module,
                    dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
                    ) -> "GridPredictor | None":
        """A predictor for ``(N, 2)`` lon/lat degrees if they form a row-major rectilinear grid
        (see :func:`~geoviz.encoders.sh_grid.grid_axes`) and the encoder pair is supported; else ``None``."""
        if not supports_grid_prediction(positional_encoding, network):
            return None
        axes = grid_axes(lonlat)
        if axes is None:
            return None
        return cls(axes[0], axes[1], positional_encoding, dtype, device)

    def _buffers(self, rows: int, width: int) -> list[torch.Tensor]:
        key = (rows, width)
        if key not in self._bufs:
            self._bufs[key] = [torch.empty((rows, width), dtype=self.dtype, device=self.device) for _ in range(2)]
        return self._bufs[key]

    def _out_buffer(self, rows: int, width: int) -> torch.Tensor:
        key = (-rows, width)  # negative rows: never one of the hidden-activation buffer pairs
        if key not in self._bufs:
            self._bufs[key] = [torch.empty((rows, width), dtype=self.dtype, device=self.device)]
        return self._bufs[key][0]

    def _first_layer(self, network: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None, float]:
        if isinstance(network, Siren):
            lay = network.layers[0]
            return lay.weight, lay.bias, lay.w0
        if isinstance(network, FCNet):
            lin = network.feats[0]
            return lin.weight, lin.bias, 1.0
        return network.weight, network.bias, 1.0  # Linear

    def _chunks(self, network: nn.Module, res: torch.Tensor | None = None) -> Any:
        """Yield ``(c0, c1, y)``: the outputs ``y`` (``((c1-c0)·H, output_dim)``, longitude-major
        within the chunk: row ``(c - c0)·H + r`` is ``(lons[c], lats[r])``) of longitude columns
        ``c0:c1``. With ``res`` (``(W·H, output_dim)``) each chunk is written into its slice of
        it (the training path); else ``y`` is a reused buffer, valid until the next chunk."""
        w, b, w0 = self._first_layer(network)
        if w.dtype != self.dtype:
            raise TypeError(f"network is {w.dtype} but the predictor computes in {self.dtype}")
        H, W = self.shape
        L = self.legendre_polys
        # A: (2L-1, H·J), bias and w0 folded in (computed once per call; tiny)
        fold = (lambda x: x.detach() * w0) if w0 != 1.0 else (lambda x: x.detach())
        a = sh_order_blocks(fold(w), None if b is None else fold(b), L, self._q).to(self.dtype)
        J = w.shape[0]
        a = a.view(2 * L - 1, H * J)
        if isinstance(network, Siren):
            hidden = [(lay.weight.detach() * lay.w0, lay.bias.detach() * lay.w0) if lay.w0 != 1.0
                      else (lay.weight.detach(), lay.bias.detach()) for lay in network.layers[1:]]
        out_dim = network.output_dim
        for c0 in range(0, W, self._cols):
            c1 = min(W, c0 + self._cols)
            rows = (c1 - c0) * H
            buf, other = self._buffers(rows, J)
            z = torch.mm(self._t[c0:c1], a, out=buf.view(c1 - c0, H * J)).view(rows, J)
            dst = res[c0 * H : c1 * H] if res is not None else self._out_buffer(rows, out_dim)
            if isinstance(network, Siren):
                z.sin_()
                for wl, bl in hidden:  # hidden_dim -> hidden_dim
                    z = torch.addmm(bl, z, wl.T, out=other).sin_()
                    buf, other = other, buf
                torch.addmm(network.last_layer.bias, z, network.last_layer.weight.T, out=dst)
            elif isinstance(network, FCNet):
                z.relu_()
                for block in network.feats[2:]:
                    z = block(z)
                dst.copy_(network.class_emb(z))
            else:
                dst.copy_(z)
            yield c0, c1, dst

    @torch.no_grad()
    def __call__(self, network: nn.Module) -> torch.Tensor:
        """``(H·W, output_dim)`` outputs of ``network`` (eval semantics: no dropout) on the grid."""
        H, W = self.shape
        out_dim = network.output_dim
        res = torch.empty((W * H, out_dim), dtype=self.dtype, device=self.device)
        for _ in self._chunks(network, res):
            pass
        # longitude-major (c·H + r) → row-major (r·W + c)
        return res.view(W, H, out_dim).transpose(0, 1).reshape(H * W, out_dim)

    @torch.no_grad()
    def fill(self, network: nn.Module, out: np.ndarray) -> np.ndarray:
        """Write the outputs of ``network`` into ``out`` in row-major grid order, chunk by chunk.

        Args:
            network: as for :meth:`__call__` (dtype of the predictor).
            out: ``(H·W, output_dim)`` C-contiguous numpy array, float32 or float64 (values are
                cast to it); point ``r·W + c`` is ``(lons[c], lats[r])``.

        Returns:
            ``out``. Peak memory: ``out`` plus one chunk's activations (no full-size copy).
        """
        H, W = self.shape
        D = network.output_dim
        if out.shape != (H * W, D) or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous ({H * W}, {D}) array, got {out.shape}")
        o3 = out.reshape(H, W, D)
        for c0, c1, y in self._chunks(network):
            o3[:, c0:c1, :] = y.view(c1 - c0, H, D).transpose(0, 1).to("cpu").numpy()
        return out
