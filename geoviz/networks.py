"""Neural networks that map positional-encoding features to outputs.

A location encoder in geoviz is ``network(positional_encoding(lonlat))``. The positional
encoding (e.g. spherical harmonics) turns ``(N, 2)`` coordinates into ``(N, input_dim)``
features; the networks here map those features to ``(N, output_dim)`` logits or
embeddings. Three networks are available, as in the locationencoder reference
(Rußwurm et al., ICLR 2024) and SatCLIP (Klemmer et al.):

* :class:`Linear` -- a single affine layer,
* :class:`FCNet` -- the residual ReLU MLP of Mac Aodha et al. (GeoPrior, ICCV 2019),
* :class:`Siren` -- a sinusoidal-representation network (Sitzmann et al., NeurIPS 2020),
  laid out so that SatCLIP location-encoder weights load directly.

All three share the constructor signature ``(input_dim, output_dim, **hyperparameters)``
and ``forward(x)`` with ``x`` of shape ``(N, input_dim)`` and floating dtype (float32 or
float64; call ``.double()`` on the module for float64, which SatCLIP and the SH encoders
need for large L). Networks are built by name with :func:`get_network`::

    >>> net = get_network("siren", input_dim=100, output_dim=256, hidden_dim=512)
    >>> net(torch.randn(8, 100)).shape
    torch.Size([8, 256])
"""

from __future__ import annotations

import inspect
import math
import numbers
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Linear",
    "FCNet",
    "ResLayer",
    "Siren",
    "SineLayer",
    "NETWORKS",
    "get_network",
    "list_networks",
]


# ----------------------------------------------------------------------------- validation


def _check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as ``int`` if it is a positive integer (not a bool), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a positive int, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive int (>= 1), got {value!r}")
    return int(value)


def _check_positive_float(value: Any, name: str) -> float:
    """Return ``value`` as ``float`` if it is a finite real number > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive finite number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def _check_dropout(value: Any, name: str = "dropout") -> float:
    """Normalise a dropout argument to a probability ``p`` in ``[0, 1)``.

    ``True`` means ``0.5`` and ``False`` means ``0.0`` (the reference code passes booleans,
    and ``F.dropout`` defaults to ``p=0.5``).
    """
    if isinstance(value, bool):
        return 0.5 if value else 0.0
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a float in [0, 1) or a bool, got {value!r} ({type(value).__name__})")
    p = float(value)
    if not (0.0 <= p < 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return p


def _autocast_enabled(device_type: str) -> bool:
    """Whether autocast is active for ``device_type`` (tolerates older torch signatures)."""
    try:
        return bool(torch.is_autocast_enabled(device_type))
    except TypeError:  # torch < 2.4 has no device_type argument
        return bool(torch.is_autocast_enabled())


def _check_input(x: Any, input_dim: int, ref: Tensor, cls_name: str) -> None:
    """Validate the input of a network's ``forward``.

    Args:
        x: the input; must be a 2-D floating tensor of shape ``(N, input_dim)``.
        input_dim: expected feature width.
        ref: a parameter of the module, used to check that the dtypes agree.
        cls_name: network name for the error messages.

    Raises:
        TypeError: ``x`` is not a tensor, not floating point, or its dtype differs from the
            module's parameters (outside autocast).
        ValueError: ``x`` is not 2-D or ``x.shape[1] != input_dim``.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{cls_name} expects a torch.Tensor of shape (N, {input_dim}), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{cls_name} expects a floating-point tensor (float32 or float64) of shape (N, {input_dim}), "
            f"got dtype {x.dtype}"
        )
    if x.ndim != 2 or x.shape[1] != input_dim:
        raise ValueError(
            f"{cls_name} expects input of shape (N, {input_dim}) (input_dim={input_dim}), got shape {tuple(x.shape)}"
        )
    if x.dtype != ref.dtype and not _autocast_enabled(x.device.type):
        raise TypeError(
            f"{cls_name} parameters are {ref.dtype} but the input is {x.dtype}; convert the input "
            f"(x.to({ref.dtype})) or the module (.double() / .float())"
        )


# ----------------------------------------------------------------------------- Linear


class Linear(nn.Linear):
    """A single affine layer ``y = x Wᵀ + b`` (the locationencoder ``linear`` network).

    A thin subclass of :class:`torch.nn.Linear` with input validation, so its state-dict
    keys are ``weight`` (shape ``(output_dim, input_dim)``) and ``bias`` (shape
    ``(output_dim,)``, absent when ``bias=False``). Initialisation is the PyTorch default
    (Kaiming-uniform weight, ``U(-1/sqrt(input_dim), 1/sqrt(input_dim))`` bias), as in the
    reference.

    Args:
        input_dim: number of input features (positive int).
        output_dim: number of outputs (positive int).
        bias: whether to learn an additive bias.

    Raises:
        ValueError: if ``input_dim`` or ``output_dim`` is not a positive int.

    Example:
        >>> Linear(4, 3)(torch.zeros(2, 4)).shape
        torch.Size([2, 3])
    """

    def __init__(self, input_dim: int, output_dim: int, bias: bool = True) -> None:
        input_dim = _check_positive_int(input_dim, "input_dim")
        output_dim = _check_positive_int(output_dim, "output_dim")
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be a bool, got {bias!r}")
        super().__init__(input_dim, output_dim, bias=bias)
        self.input_dim: int = input_dim
        self.output_dim: int = output_dim
        self.hparams: dict[str, Any] = {"bias": bias}

    def forward(self, x: Tensor) -> Tensor:
        """Apply the affine map.

        Args:
            x: ``(N, input_dim)`` floating tensor with the module's dtype.

        Returns:
            ``(N, output_dim)`` tensor of the same dtype.
        """
        _check_input(x, self.input_dim, self.weight, type(self).__name__)
        return super().forward(x)


# ----------------------------------------------------------------------------- FCNet


class ResLayer(nn.Module):
    """Residual block of :class:`FCNet`: ``x + ReLU(W2 · Dropout(ReLU(W1 · x + b1)) + b2)``.

    The order (linear, ReLU, dropout, linear, ReLU, then the skip connection) follows
    Mac Aodha et al.'s GeoPrior ``ResLayer``; the state-dict keys ``w1.*`` and ``w2.*`` match
    it too.

    Args:
        width: number of features in and out (positive int).
        dropout: dropout probability in ``[0, 1)`` (``True`` means 0.5), applied only in
            training mode.
    """

    def __init__(self, width: int, dropout: float = 0.5) -> None:
        super().__init__()
        width = _check_positive_int(width, "width")
        p = _check_dropout(dropout)
        self.w1 = nn.Linear(width, width)
        self.nonlin1 = nn.ReLU()
        self.dropout1 = nn.Dropout(p)
        self.w2 = nn.Linear(width, width)
        self.nonlin2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(N, width)`` to ``(N, width)``."""
        y = self.nonlin1(self.w1(x))
        y = self.dropout1(y)
        y = self.nonlin2(self.w2(y))
        return x + y


class FCNet(nn.Module):
    """Residual ReLU MLP of Mac Aodha et al. (GeoPrior), the locationencoder ``fcnet``.

    Architecture::

        Linear(input_dim, hidden_dim) → ReLU → num_layers × ResLayer(hidden_dim)
            → Linear(hidden_dim, output_dim, bias=False)

    with ``ResLayer(x) = x + ReLU(W2 · Dropout(ReLU(W1 · x)))`` (see :class:`ResLayer`).
    All layers use the PyTorch default initialisation, as in the reference.

    State-dict layout (GeoPrior names): ``feats.0.{weight,bias}`` is the input layer,
    ``feats.{2+k}.w1.*`` / ``feats.{2+k}.w2.*`` are the ``k``-th residual block, and
    ``class_emb.weight`` (shape ``(output_dim, hidden_dim)``, no bias) is the output layer.

    Note:
        The locationencoder reference accepts ``num_layers`` but ignores it and always
        builds 4 residual blocks. Here ``num_layers`` is honoured; its default of 4
        reproduces the reference.

    Args:
        input_dim: number of input features (positive int).
        output_dim: number of outputs (positive int).
        hidden_dim: width of the hidden layers (positive int, default 256).
        num_layers: number of residual blocks (positive int, default 4).
        dropout: dropout probability inside each residual block, in ``[0, 1)``
            (default 0.5 as in GeoPrior; ``True`` means 0.5, ``False`` 0.0). Only active in
            training mode.

    Raises:
        ValueError: if an argument is out of range; the message names it.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        hidden_dim: int = 256,
        num_layers: int = 4,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        input_dim = _check_positive_int(input_dim, "input_dim")
        output_dim = _check_positive_int(output_dim, "output_dim")
        hidden_dim = _check_positive_int(hidden_dim, "hidden_dim")
        num_layers = _check_positive_int(num_layers, "num_layers")
        p = _check_dropout(dropout)
        self.input_dim: int = input_dim
        self.output_dim: int = output_dim
        self.hparams: dict[str, Any] = {"hidden_dim": hidden_dim, "num_layers": num_layers, "dropout": p}
        self.feats = nn.Sequential(
            nn.Linear(input_dim, hidden_dim),
            nn.ReLU(),
            *[ResLayer(hidden_dim, p) for _ in range(num_layers)],
        )
        self.class_emb = nn.Linear(hidden_dim, output_dim, bias=False)

    @property
    def res_blocks(self) -> list[ResLayer]:
        """The residual blocks, in order (``len == num_layers``)."""
        return [m for m in self.feats if isinstance(m, ResLayer)]

    def forward(self, x: Tensor) -> Tensor:
        """Apply the network.

        Args:
            x: ``(N, input_dim)`` floating tensor with the module's dtype.

        Returns:
            ``(N, output_dim)`` tensor of the same dtype.
        """
        _check_input(x, self.input_dim, self.class_emb.weight, type(self).__name__)
        return self.class_emb(self.feats(x))


# ----------------------------------------------------------------------------- Siren


class SineLayer(nn.Module):
    """One Siren layer: ``y = sin(w0 · (x Wᵀ + b))``.

    The parameters are held directly as ``weight`` (shape ``(dim_out, dim_in)``) and ``bias``
    (shape ``(dim_out,)``), so inside :class:`Siren` the state-dict keys are
    ``layers.{i}.weight`` / ``layers.{i}.bias`` as in SatCLIP and lucidrains' siren-pytorch.

    Initialisation: ``W, b ~ U(-s, s)`` with

    * ``s = 1 / dim_in`` for the first layer (``is_first=True``),
    * ``s = sqrt(c / dim_in) / w0`` otherwise, with ``c = 6``.

    Dropout with probability ``dropout`` is applied to the pre-activation
    ``x Wᵀ + b`` (before the multiplication by ``w0`` and the sine), in training mode only,
    as in the reference.

    Args:
        dim_in: number of input features.
        dim_out: number of output features.
        w0: frequency factor of the sine.
        is_first: whether this is the first layer (selects the init bound).
        dropout: pre-activation dropout probability in ``[0, 1)`` (``True`` means 0.5).
        c: constant of the non-first init bound (6 in Sitzmann et al.).
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        w0: float = 1.0,
        is_first: bool = False,
        dropout: float = 0.0,
        c: float = 6.0,
    ) -> None:
        super().__init__()
        self.dim_in: int = _check_positive_int(dim_in, "dim_in")
        self.dim_out: int = _check_positive_int(dim_out, "dim_out")
        self.w0: float = _check_positive_float(w0, "w0")
        self.is_first: bool = bool(is_first)
        self.dropout: float = _check_dropout(dropout)
        self.c: float = _check_positive_float(c, "c")
        self.weight = nn.Parameter(torch.empty(self.dim_out, self.dim_in))
        self.bias = nn.Parameter(torch.empty(self.dim_out))
        self.reset_parameters()

    @property
    def init_bound(self) -> float:
        """The half-width ``s`` of the uniform initialisation ``U(-s, s)``."""
        if self.is_first:
            return 1.0 / self.dim_in
        return math.sqrt(self.c / self.dim_in) / self.w0

    def reset_parameters(self) -> None:
        """Re-draw ``weight`` and ``bias`` from ``U(-s, s)`` (see :attr:`init_bound`)."""
        s = self.init_bound
        with torch.no_grad():
            self.weight.uniform_(-s, s)
            self.bias.uniform_(-s, s)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(N, dim_in)`` to ``(N, dim_out)``: ``sin(w0 · dropout(x Wᵀ + b))``."""
        z = F.linear(x, self.weight, self.bias)
        if self.dropout > 0.0:
            z = F.dropout(z, p=self.dropout, training=self.training)
        # the same values and gradients as torch.sin(self.w0 * z), without the (N, dim_out)
        # temporary (z is a fresh tensor; its in-place scaling is recorded by autograd) and
        # without the pass at all for w0 = 1
        if self.w0 != 1.0:
            z = z.mul_(self.w0)
        return torch.sin(z)

    def extra_repr(self) -> str:
        return (
            f"dim_in={self.dim_in}, dim_out={self.dim_out}, w0={self.w0}, "
            f"is_first={self.is_first}, dropout={self.dropout}"
        )


class Siren(nn.Module):
    """Sinusoidal representation network (SirenNet) as used by locationencoder and SatCLIP.

    Architecture: ``num_layers`` :class:`SineLayer` s, then a linear ``last_layer``::

        h_1 = sin(w0_initial · (x Wᵀ_0 + b_0))          # input_dim → hidden_dim
        h_k = sin(w0 · (h_{k-1} Wᵀ_{k-1} + b_{k-1}))    # hidden_dim → hidden_dim, k = 2..num_layers
        y   = h_{num_layers} Wᵀ_last + b_last            # hidden_dim → output_dim, identity activation

    No residual connections and no normalisation.

    Initialisation (all weights **and** biases ``~ U(-s, s)``):

    * first layer: ``s = 1 / input_dim``;
    * other hidden layers: ``s = sqrt(6 / hidden_dim) / w0``;
    * ``last_layer``: ``s = sqrt(6 / hidden_dim) / w0`` (the same rule with the hidden
      ``w0``; the reference builds it as a Siren layer with ``w0=w0`` and an identity
      activation, which is ``sqrt(6 / hidden_dim)`` for the default ``w0 = 1``).

    Dropout: with ``dropout = p > 0``, ``F.dropout(p)`` is applied to the pre-activation of
    every hidden sine layer (not the last layer), in training mode only. SatCLIP's
    SirenNet defaults to ``dropout=True`` (``p = 0.5``, active during its pretraining);
    locationencoder uses ``dropout=False``, which is the default here (``0.0``).

    State-dict keys (exactly SatCLIP's ``...nnet.*`` layout after stripping the prefix)::

        layers.0.weight (hidden_dim, input_dim), layers.0.bias (hidden_dim,),
        ..., layers.{num_layers-1}.weight, layers.{num_layers-1}.bias,
        last_layer.weight (output_dim, hidden_dim), last_layer.bias (output_dim,)

    SatCLIP checkpoints are float64: call ``.double()`` before ``load_state_dict`` or let
    ``load_state_dict`` cast, and feed float64 input.

    Args:
        input_dim: number of input features, e.g. ``L²`` for spherical harmonics of
            ``L`` Legendre polynomials (positive int).
        output_dim: number of outputs / embedding size (positive int).
        hidden_dim: width of the sine layers (positive int, default 256; SatCLIP's
            released models use 512).
        num_layers: number of sine layers, ``>= 1`` (default 2).
        w0: sine frequency of the hidden layers after the first (default 1.0).
        w0_initial: sine frequency of the first layer (default 30.0).
        dropout: pre-activation dropout probability in ``[0, 1)``; ``True`` means 0.5,
            ``False`` 0.0 (default 0.0).

    Raises:
        ValueError: if an argument is out of range; the message names it.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        hidden_dim: int = 256,
        num_layers: int = 2,
        w0: float = 1.0,
        w0_initial: float = 30.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        input_dim = _check_positive_int(input_dim, "input_dim")
        output_dim = _check_positive_int(output_dim, "output_dim")
        hidden_dim = _check_positive_int(hidden_dim, "hidden_dim")
        num_layers = _check_positive_int(num_layers, "num_layers")
        w0 = _check_positive_float(w0, "w0")
        w0_initial = _check_positive_float(w0_initial, "w0_initial")
        p = _check_dropout(dropout)
        self.input_dim: int = input_dim
        self.output_dim: int = output_dim
        self.hidden_dim: int = hidden_dim
        self.w0: float = w0
        self.w0_initial: float = w0_initial
        self.hparams: dict[str, Any] = {
            "hidden_dim": hidden_dim,
            "num_layers": num_layers,
            "w0": w0,
            "w0_initial": w0_initial,
            "dropout": p,
        }
        self.layers = nn.ModuleList(
            SineLayer(
                input_dim if i == 0 else hidden_dim,
                hidden_dim,
                w0=w0_initial if i == 0 else w0,
                is_first=(i == 0),
                dropout=p,
            )
            for i in range(num_layers)
        )
        self.last_layer = nn.Linear(hidden_dim, output_dim)
        self._reset_last_layer()

    @property
    def last_layer_init_bound(self) -> float:
        """Half-width ``s = sqrt(6 / hidden_dim) / w0`` of the ``last_layer`` initialisation."""
        return math.sqrt(6.0 / self.hidden_dim) / self.w0

    def _reset_last_layer(self) -> None:
        s = self.last_layer_init_bound
        with torch.no_grad():
            self.last_layer.weight.uniform_(-s, s)
            self.last_layer.bias.uniform_(-s, s)

    def reset_parameters(self) -> None:
        """Re-draw all parameters with the Siren initialisation described above."""
        for layer in self.layers:
            layer.reset_parameters()
        self._reset_last_layer()

    def forward(self, x: Tensor) -> Tensor:
        """Apply the network.

        Args:
            x: ``(N, input_dim)`` floating tensor with the module's dtype (float64 for
                SatCLIP weights).

        Returns:
            ``(N, output_dim)`` tensor of the same dtype (un-normalised embeddings/logits).
        """
        _check_input(x, self.input_dim, self.last_layer.weight, type(self).__name__)
        for layer in self.layers:
            x = layer(x)
        return self.last_layer(x)


# ----------------------------------------------------------------------------- registry


NETWORKS: dict[str, type[nn.Module]] = {"linear": Linear, "fcnet": FCNet, "siren": Siren}
"""Registry of network classes by name; each takes ``(input_dim, output_dim, **hyperparameters)``."""


def list_networks() -> list[str]:
    """Names accepted by :func:`get_network`, sorted."""
    return sorted(NETWORKS)


def _hyperparameter_names(cls: type[nn.Module]) -> list[str]:
    """Keyword hyperparameters of a network class (constructor args after the two dims)."""
    params = inspect.signature(cls.__init__).parameters
    return [n for n in params if n not in ("self", "input_dim", "output_dim")]


def get_network(name: str, input_dim: int, output_dim: int, **kw: Any) -> nn.Module:
    """Build a network by registry name.

    Args:
        name: one of :func:`list_networks` (``"linear"``, ``"fcnet"``, ``"siren"``);
            case-insensitive.
        input_dim: number of input features (e.g. the positional encoding's output width).
        output_dim: number of outputs.
        **kw: hyperparameters of the chosen class, e.g. ``hidden_dim``, ``num_layers``,
            ``dropout``; see :class:`Linear`, :class:`FCNet` and :class:`Siren`.

    Returns:
        A freshly initialised ``nn.Module`` (float32, CPU) mapping ``(N, input_dim)`` to
        ``(N, output_dim)``.

    Raises:
        TypeError: ``name`` is not a string, or a keyword is not accepted by the chosen
            network (the message names it and lists the accepted ones).
        ValueError: unknown ``name`` (the message lists the valid names) or an
            out-of-range hyperparameter.
    """
    if not isinstance(name, str):
        raise TypeError(f"network name must be a str, one of {list_networks()}, got {type(name).__name__}")
    key = name.strip().lower()
    if key not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; valid names are {list_networks()}")
    cls = NETWORKS[key]
    accepted = _hyperparameter_names(cls)
    unknown = [k for k in kw if k not in accepted]
    if unknown:
        raise TypeError(
            f"network {key!r} got unexpected keyword argument(s) {unknown}; accepted keywords are {accepted}"
        )
    return cls(input_dim, output_dim, **kw)
