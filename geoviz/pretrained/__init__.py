"""Pretrained location encoders by name: SatCLIP, GeoCLIP and geoviz's own Blue Marble model.

Every loader returns a geoviz :class:`~geoviz.location_encoder.LocationEncoder` in eval mode
that maps ``(N, 2)`` (lon, lat) degrees to ``(N, embedding_dim)`` un-normalised embeddings.
Peer conventions (GeoCLIP's (lat, lon) order, SatCLIP's SH sign/π quirks) are handled
inside the loaders.

    >>> from geoviz.pretrained import list_pretrained, get_model_info, load_pretrained
    >>> list_pretrained()                                  # all names
    >>> get_model_info("satclip-resnet18-l10").licence     # metadata, no loading
    >>> enc = load_pretrained("geoclip")                    # shipped with the geoclip package
    >>> enc = load_pretrained("satclip-resnet18-l10", download=True)   # explicit consent

SatCLIP checkpoints are never downloaded unless ``download=True`` is passed (or
``geoviz download NAME`` is run); see :mod:`geoviz.pretrained.download` and
``docs/pretrained.md`` for the cache location and the guarantees.
"""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .download import DEFAULT_SATCLIP_BASE_URL, DownloadError, default_cache_dir, ensure_checkpoint
from .geoclip import load_geoclip
from .checkpoint_file import NotACheckpointError
from .satclip import UntrustedCheckpointError, load_satclip

if TYPE_CHECKING:
    from ..location_encoder import LocationEncoder

__all__ = [
    "ModelInfo",
    "MODELS",
    "list_pretrained",
    "get_model_info",
    "load_pretrained",
    "load_encoder",
    "is_available",
    "is_image_derived",
    "lookalike_note",
    "load_satclip",
    "load_geoclip",
    "default_cache_dir",
    "DownloadError",
    "UntrustedCheckpointError",
    "NotACheckpointError",
]


@dataclass(frozen=True)
class ModelInfo:
    """Metadata of one pretrained model (what is known without loading it).

    Attributes:
        name: registry name.
        family: ``"satclip"``, ``"geoclip"`` or ``"geoviz"``.
        description: one line.
        legendre_polys: SH ``L`` (degrees ``0..L-1``), or ``None`` if not SH-based.
        embedding_dim: output width of the location encoder.
        dtype: dtype of the returned model (``"float64"``/``"float32"``).
        coordinate_order: what the *geoviz loader* takes, and what the original model takes.
        source: where the weights come from (URL or package).
        licence: licence of the weights.
        loader: ``"module:function"`` building the model (imported lazily).
        loader_kwargs: fixed keyword arguments for ``loader``.
        filename: cache file name for downloadable models, else ``None``.
        base_url: default download base URL (``filename`` is appended), else ``None``.
        alternative_sources: other places to get the same file.
        sha256: expected hex digest of the download, if recorded (verified when set).
        approx_size_mb: approximate download size (informational).
        imagery: the images the encoder was trained against (contrastively), in words, or
            ``None`` for a model not learnt from images; see :attr:`image_derived`.
    """

    name: str
    family: str
    description: str
    legendre_polys: int | None
    embedding_dim: int
    dtype: str
    coordinate_order: str
    source: str
    licence: str
    loader: str
    loader_kwargs: dict = field(default_factory=dict)
    filename: str | None = None
    base_url: str | None = None
    alternative_sources: tuple[str, ...] = ()
    sha256: str | None = None
    approx_size_mb: float | None = None
    imagery: str | None = None

    @property
    def image_derived(self) -> bool:
        """Whether the embeddings were learnt from images (SatCLIP, GeoCLIP, geoviz's Blue
        Marble models): they encode what places look like in those images, so look-alike
        searches default to land only (dark forest and dark ocean look alike)."""
        return self.imagery is not None

    @property
    def downloadable(self) -> bool:
        """Whether the weights are fetched over the network (with consent) rather than shipped."""
        return self.filename is not None and self.base_url is not None


_SATCLIP_SIZES_MB = {  # from the Hugging Face file listings (informational only)
    ("resnet18", 10): 57.2,
    ("resnet18", 40): 75.6,
    ("resnet50", 10): 111.0,
    ("resnet50", 40): 130.0,
}
_SATCLIP_HF = {"resnet18": "ResNet18", "resnet50": "ResNet50", "vit16": "ViT16"}


_SATCLIP_IMAGERY = "Sentinel-2 multispectral satellite images (S2-100K, 256 × 256 pixels at 10 m)"
_BLUE_MARBLE_IMAGERY = ("NASA Blue Marble true-colour satellite mosaic (RGB, 4 arc-minute ≈ 7 km pixels; "
                        "2–4° patches of 24 × 24 pixels)")


def _satclip_entry(backbone: str, L: int) -> ModelInfo:
    name = f"satclip-{backbone}-l{L}"
    hf = f"microsoft/SatCLIP-{_SATCLIP_HF[backbone]}-L{L}"
    return ModelInfo(
        name=name,
        family="satclip",
        description=f"SatCLIP location encoder (image backbone {backbone}, not loaded), SH L={L} + Siren 512×2 → 256",
        legendre_polys=L,
        embedding_dim=256,
        dtype="float64",
        coordinate_order="(lon, lat) degrees (same as SatCLIP)",
        source=f"{DEFAULT_SATCLIP_BASE_URL}/{name}.ckpt",
        licence="MIT (microsoft/satclip, Hugging Face model card)",
        loader="geoviz.pretrained.satclip:load_satclip",
        filename=f"{name}.ckpt",
        base_url=DEFAULT_SATCLIP_BASE_URL,
        alternative_sources=(f"https://huggingface.co/{hf}/resolve/main/{name}.ckpt",),
        sha256=None,
        approx_size_mb=_SATCLIP_SIZES_MB.get((backbone, L)),
        imagery=_SATCLIP_IMAGERY,
    )


def _geoviz_entry(variant: str, L: int) -> ModelInfo:
    return ModelInfo(
        name=f"geoviz-bluemarble-{variant}",
        family="geoviz",
        description=(f"geoviz's own SatCLIP-style location encoder, contrastively pretrained offline on "
                     f"NASA Blue Marble patches; SH L={L} (standard convention) + Siren"),
        legendre_polys=L,
        embedding_dim=256,
        dtype="float32",
        coordinate_order="(lon, lat) degrees",
        source=f"shipped with geoviz (geoviz/pretrained/weights/geoviz-bluemarble-{variant}.safetensors)",
        licence="MIT (geoviz); trained on NASA Blue Marble imagery (public domain)",
        loader="geoviz.pretrained.geoviz_model:load_geoviz_model",
        loader_kwargs={"variant": variant},
        imagery=_BLUE_MARBLE_IMAGERY,
    )


MODELS: dict[str, ModelInfo] = {
    **{e.name: e for e in (_satclip_entry(b, L) for b in ("resnet18", "resnet50", "vit16") for L in (10, 40))},
    "geoclip": ModelInfo(
        name="geoclip",
        family="geoclip",
        description=("GeoCLIP location encoder: Equal Earth projection + 3 random-Fourier-feature capsules "
                     "(σ = 1, 16, 256), each an MLP 512→1024→1024→1024→512, summed"),
        legendre_polys=None,
        embedding_dim=512,
        dtype="float32",
        coordinate_order="(lon, lat) degrees in geoviz; the original GeoCLIP takes (lat, lon)",
        source="the geoclip package (pip install --no-deps geoclip==1.3.0), model/weights/location_encoder_weights.pth",
        licence="MIT (geoclip 1.3.0)",
        loader="geoviz.pretrained.geoclip:load_geoclip",
        alternative_sources=("https://github.com/VicenteVivan/geo-clip",),
        imagery="geotagged ground-level photos (Flickr, MP-16)",
    ),
    **{e.name: e for e in (_geoviz_entry("l10", 10), _geoviz_entry("l40", 40))},
}
"""Registry of pretrained models: name → :class:`ModelInfo` (a plain dict)."""


def list_pretrained(family: str | None = None) -> list[str]:
    """Names accepted by :func:`load_pretrained`, sorted.

    Args:
        family: optionally only ``"satclip"``, ``"geoclip"`` or ``"geoviz"``.
    """
    families = {i.family for i in MODELS.values()}
    if family is not None and family not in families:
        raise ValueError(f"unknown model family {family!r}; choose one of {sorted(families)}")
    return sorted(n for n, i in MODELS.items() if family is None or i.family == family)


def get_model_info(name: str) -> ModelInfo:
    """Metadata of a registered model (no loading, no I/O).

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: unknown name (the message lists the valid names).
    """
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {type(name).__name__}")
    key = name.strip().lower()
    if key not in MODELS:
        raise ValueError(f"unknown pretrained model {name!r}; valid names are {list_pretrained()}")
    return MODELS[key]


def _resolve(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            raise FileNotFoundError(f"the loader module {module!r} is not available in this geoviz installation") from exc
        raise
    return getattr(mod, attr)


def _geoviz_weights(info: ModelInfo) -> Path:
    from .geoviz_model import default_weights_path

    return default_weights_path(info.loader_kwargs["variant"])


def is_available(name: str, cache_dir: str | os.PathLike | None = None) -> bool:
    """Whether ``name`` can be loaded right now without a download.

    SatCLIP: its checkpoint is in the cache; GeoCLIP: the ``geoclip`` package and its weights
    file are installed; geoviz models: the shipped weights file exists.
    """
    info = get_model_info(name)
    if info.family == "satclip":
        return (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()).joinpath(
            info.filename).is_file()
    if info.family == "geoclip":
        from .geoclip import geoclip_weights_path

        try:
            geoclip_weights_path()
        except FileNotFoundError:
            return False
        return True
    return _geoviz_weights(info).is_file()


_DOWNLOAD_KEYS = ("base_url", "timeout", "retries", "progress")


def load_pretrained(
    name: str | os.PathLike, *, download: bool = False, cache_dir: str | os.PathLike | None = None, **kw: Any
) -> LocationEncoder:
    """Load a pretrained location encoder by name, or from a model file.

    Args:
        name: one of :func:`list_pretrained`, or the path of a model file (e.g. one written by
            ``geoviz pretrain --save``, with or without ``--images``) or of a SatCLIP ``.ckpt``:
            those are read by :func:`load_encoder` (no keywords besides ``download``).
        download: for SatCLIP models, consent to download the checkpoint if it is not in
            the cache (atomic, verified; see :func:`geoviz.pretrained.download.ensure_checkpoint`).
            Ignored for models that ship with a package.
        cache_dir: checkpoint directory (default ``$GEOVIZ_CACHE_DIR/checkpoints`` or
            ``~/.cache/geoviz/checkpoints``).
        **kw: passed on. SatCLIP: ``trust_pickle``, ``device`` (to :func:`load_satclip`) and
            ``base_url``, ``timeout``, ``retries``, ``progress`` (to the download). GeoCLIP:
            ``path``, ``device``, ``dtype``. geoviz models: the keywords of
            ``load_geoviz_model`` (``path``, ``device``, ``dtype``, ...).

    Returns:
        An eval-mode :class:`~geoviz.location_encoder.LocationEncoder`: ``(N, 2)`` (lon, lat)
        degrees → ``(N, info.embedding_dim)`` in ``info.dtype``.

    Raises:
        ValueError: unknown name; invalid/corrupt checkpoint.
        TypeError: a keyword the model's loader does not accept (named).
        FileNotFoundError: SatCLIP checkpoint not cached and ``download=False`` (the message
            says which file to put where and the command that fetches it); shipped weights
            or optional package missing.
        DownloadError: the download failed (the cache holds no partial file).

    Example:
        >>> enc = load_pretrained("satclip-vit16-l40", download=True)
        >>> enc(torch.tensor([[2.35, 48.86]], dtype=torch.float64)).shape
        torch.Size([1, 256])
        >>> enc = load_pretrained("out/my-model.safetensors")   # from geoviz pretrain --save
    """
    if isinstance(name, os.PathLike) or (isinstance(name, str) and name.strip().lower() not in MODELS and os.path.exists(name)):
        if kw or cache_dir is not None:
            raise TypeError(f"load_pretrained(<file>) takes no keywords besides download; got "
                            f"{sorted(kw) + (['cache_dir'] if cache_dir is not None else [])}")
        return load_encoder(name, download=download)[0]
    info = get_model_info(name)
    dl_kw = {k: kw.pop(k) for k in _DOWNLOAD_KEYS if k in kw} if info.family == "satclip" else {}
    loader = _resolve(info.loader)
    params = inspect.signature(loader).parameters
    accepted = [p for p in params if p not in info.loader_kwargs and not (info.family == "satclip" and p == "path")]
    unknown = [k for k in kw if k not in accepted]
    if unknown:
        extra = list(_DOWNLOAD_KEYS) if info.family == "satclip" else []
        raise TypeError(f"load_pretrained({info.name!r}) got unexpected keyword(s) {unknown}; accepted: {accepted + extra}")
    if info.family == "satclip":
        path = ensure_checkpoint(info.name, download=download, cache_dir=cache_dir,
                                 trust_pickle=bool(kw.get("trust_pickle", False)), **dl_kw)
        return _tag(loader(path, **kw), info.name)
    return _tag(loader(**info.loader_kwargs, **kw), info.name)


def load_encoder(ref: str | os.PathLike, *, download: bool = False) -> tuple[LocationEncoder, str]:
    """A location encoder from a pretrained name or a model file: the one resolver behind
    ``geoviz embed``, ``geoviz evaluate``, :class:`geoviz.LocationEmbedder` and the dashboard.

    Args:
        ref: a name of :func:`list_pretrained`, a geoviz model file (a pretrained
            ``location-encoder``, or a fitted regressor/classifier: its outputs are the
            embedding) or a SatCLIP checkpoint (``.ckpt``, read with ``weights_only=True``).
        download: consent to download a named SatCLIP checkpoint that is not cached.

    Returns:
        ``(encoder in eval mode, description)``; the encoder maps ``(N, 2)`` (lon, lat)
        degrees to ``(N, D)``.

    Raises:
        ValueError: neither a known name nor an existing file, or a file that is none of the
            above (the message says what each reader said).
        FileNotFoundError: a named SatCLIP checkpoint not cached and ``download=False``.
    """
    text = os.fspath(ref).strip() if isinstance(ref, (str, os.PathLike)) else None
    if text is None:
        raise TypeError(f"a model must be a pretrained name or a path, got {type(ref).__name__}")
    key = text.lower()
    if key in MODELS:
        return load_pretrained(key, download=download), f"pretrained {key}"
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError(f"model {text!r} is neither a pretrained name ({', '.join(list_pretrained())}) "
                         f"nor an existing file")
    from ..model_file import ModelFileError, looks_like_model_file
    from ..model_io import load_model

    if looks_like_model_file(path):
        model, meta = load_model(path)
        what = "geoviz location encoder" if meta.get("kind") == "location-encoder" else f"fitted {meta.get('kind')}"
        return model, f"{what} {path} ({meta['encoder']['spec']}, {meta.get('output_dim')} outputs)"
    try:
        return load_satclip(path), f"SatCLIP checkpoint {path}"
    except NotACheckpointError:  # not a torch file at all: its one clean line
        raise
    except (ValueError, TypeError, KeyError) as exc:  # a torch file, but no SatCLIP checkpoint
        as_satclip = exc
    try:  # the model-file reader's message names an old geoviz file's conversion command
        load_model(path)
    except ModelFileError as exc:
        raise ModelFileError(path, f"neither a geoviz model file ({exc.problem}) nor a SatCLIP checkpoint "
                                   f"({as_satclip})") from None
    raise ModelFileError(path, f"not a SatCLIP checkpoint ({as_satclip})")


_TAG = "_geoviz_pretrained"
"""Attribute a loaded model carries: its registry name, or ``"satclip"`` for a SatCLIP
checkpoint file (private, so :func:`geoviz.embed.model_fingerprint` ignores it)."""


def _tag(model: Any, name: str) -> Any:
    """Mark ``model`` (or the model in a ``(model, meta)`` tuple) as the pretrained ``name``."""
    m = model[0] if isinstance(model, tuple) else model
    try:
        setattr(m, _TAG, name)
    except (AttributeError, TypeError):  # pragma: no cover - not a plain module
        pass
    return model


def _info_of(model: Any) -> ModelInfo | None:
    """The registry entry of a model name, of a model loaded by :func:`load_pretrained` (a
    SatCLIP checkpoint file: the SatCLIP entry of its family) or of an
    :class:`~geoviz.embed.EmbeddingGrid` made from one; None when unknown."""
    from ..embed import EmbeddingGrid

    name = (model if isinstance(model, str) else model.model_name if isinstance(model, EmbeddingGrid)
            else getattr(model, _TAG, None))
    if not isinstance(name, str):
        return None
    if name == "satclip":
        return MODELS["satclip-resnet18-l10"]
    return get_model_info(name) if isinstance(model, str) else MODELS.get(name)


def is_image_derived(model: Any) -> bool:
    """Whether a model's embeddings were learnt from images (:attr:`ModelInfo.image_derived`).

    Args:
        model: a registry name (``"geoviz-bluemarble-l10"``), a model returned by
            :func:`load_pretrained` / :func:`load_satclip` (they are tagged), or an
            :class:`~geoviz.embed.EmbeddingGrid` of one (``model_name``). Any other model
            (e.g. a raw spherical-harmonics encoder or one trained here) is not.

    Raises:
        ValueError: an unknown model name.
    """
    info = _info_of(model)
    return bool(info is not None and info.image_derived)


def lookalike_note(model: Any) -> str:
    """One or two sentences on what a model's look-alike search can and cannot tell apart
    (shown beside the results by the dashboard and the widgets).

    Args:
        model: a registry name or a loaded model (see :func:`is_image_derived`).

    Returns:
        Plain text. For Blue Marble and SatCLIP models it names the imagery and the lessons
        seen in the shipped model's searches; for other models a general sentence.
    """
    info = _info_of(model)
    if info is None or not info.image_derived:
        return ("Look-alikes are the places whose embeddings are most similar; what a model can tell "
                "apart is what it was trained to predict, and nothing else.")
    if info.family == "geoclip":
        return (f"This model learnt places from {info.imagery}: it knows what places look like in "
                "photos, not what they are. Places whose photos look alike are not told apart, and "
                "what photos do not show it does not know; the open ocean, rarely photographed, is "
                "poorly known, so look-alikes are searched on land only by default.")
    if info.family == "satclip":
        return (f"This model learnt places from {info.imagery} of land only: it sees colour and texture "
                "in 13 spectral bands, not what places are, and its embeddings over the ocean are "
                "guesses, so look-alikes are searched on land only by default. It cannot tell apart "
                "places that look alike from orbit, and it knows nothing the images do not show "
                "(climate, people, species).")
    return (f"This model learnt places from the {info.imagery}, so it sees colour and texture at a "
            "coarse scale, not what places are. Dark dense forest and open ocean are both dark, and a "
            "model can confuse them (geoviz's former model found open ocean for rainforest), so look-alikes "
            "are searched on land only by default. It cannot tell apart places that look alike from orbit, "
            "such as two sand deserts (or a desert and the bright ice of Antarctica), and it knows nothing "
            "the images do not show (climate, people, species).")
