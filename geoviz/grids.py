"""Global lon/lat grids as xarray objects that GIS and climate tools read: GeoTIFF, NetCDF, Zarr.

Every grid here is the regular global raster of :func:`geoviz.data.regular_grid`: cell
centres ``lon = -180 + (c + 0.5)·Δ`` (west → east) and ``lat = 90 − (r + 0.5)·Δ``
(**north → south**, row 0 northernmost: the order of every geoviz map, of
``regular_grid(...).lonlat.reshape(H, W, 2)`` and of a north-up GeoTIFF, whose transform
is then ``(Δ, 0, −180, 0, −Δ, 90)``). The objects carry

* ``lon``/``lat`` coordinates with CF attributes (``standard_name``, ``long_name``,
  ``units: degrees_east/degrees_north``, ``axis: X/Y``), so rioxarray finds the spatial
  dimensions of any object derived from them;
* a CRS, EPSG:4326, as a CF grid-mapping coordinate ``spatial_ref`` (written by
  ``rio.write_crs`` when rioxarray is installed, else the same CF attributes by hand), so
  ``da.rio.crs``, GDAL, QGIS, Panoply and cf-xarray all know the grid;
* the variable's ``units`` and ``long_name``; a further dimension, always first, for
  several values per cell: ``output`` (multi-output regression, the target names as its
  coordinate), ``class`` (classification: one probability per class, the class names as its
  coordinate) or ``embedding`` (embedding channels ``0..D-1``).

:func:`write_grid` picks the format from the file name: ``.tif``/``.tiff`` (GeoTIFF via
rioxarray, float32, NaN cells marked nodata, one band per output/class/channel with the
label as band description), ``.nc`` (NetCDF-4 via h5netcdf, CF-1.8, compressed) or
``.zarr`` (a Zarr store, format 2 by default: readable by every Zarr implementation and by
GDAL). GeoTIFF/NetCDF/Zarr support is the ``grids`` extra (``pip install geoviz[grids]``);
building the xarray objects needs only xarray.

    >>> from geoviz.grids import predict_grid, write_grid
    >>> da = predict_grid("temp.gvz", 0.25)          # doctest: +SKIP
    >>> write_grid(da, "temp.tif")                    # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "GRID_FORMATS",
    "GRIDS_EXTRA",
    "MissingDependencyError",
    "grid_format",
    "require_grid_format",
    "grid_coords",
    "grid_dataarray",
    "predict_grid",
    "embedding_grid",
    "write_grid",
]

GRID_FORMATS: dict[str, str] = {".tif": "geotiff", ".tiff": "geotiff", ".nc": "netcdf", ".zarr": "zarr"}
"""File-name suffix → format written by :func:`write_grid`."""

GRIDS_EXTRA = "pip install geoviz[grids]"
"""How to install the optional packages that GeoTIFF/NetCDF/Zarr need."""

_NEEDS: dict[str, tuple[tuple[str, ...], str]] = {
    "geotiff": (("rioxarray", "rasterio"), "GeoTIFF"),
    "netcdf": (("h5netcdf",), "NetCDF"),
    "zarr": (("zarr",), "Zarr"),
}

EPSG4326 = "EPSG:4326"
_LON_ATTRS = {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east", "axis": "X"}
_LAT_ATTRS = {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north", "axis": "Y"}
# CF grid mapping of WGS 84 geographic coordinates (used when rioxarray is not installed)
_CF_WGS84 = {
    "grid_mapping_name": "latitude_longitude",
    "semi_major_axis": 6378137.0,
    "inverse_flattening": 298.257223563,
    "longitude_of_prime_meridian": 0.0,
    "reference_ellipsoid_name": "WGS 84",
    "prime_meridian_name": "Greenwich",
    "geographic_crs_name": "WGS 84",
    "horizontal_datum_name": "World Geodetic System 1984",
}


class MissingDependencyError(ImportError):
    """An optional package needed for a grid format (the ``grids`` extra) is not installed."""


# --------------------------------------------------------------------------------------
# formats


def grid_format(path: str | os.PathLike) -> str:
    """``"geotiff"``, ``"netcdf"`` or ``"zarr"`` from a file name's suffix (case-insensitive).

    Raises:
        ValueError: any other suffix (the message lists the known ones).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in GRID_FORMATS:
        known = ", ".join(GRID_FORMATS)
        raise ValueError(f"{p}: unknown grid file type {p.suffix or '(no suffix)'!r}; write a grid as "
                         f"GeoTIFF (.tif, .tiff), NetCDF (.nc) or Zarr (.zarr) (known suffixes: {known})")
    return GRID_FORMATS[suffix]


def require_grid_format(path: str | os.PathLike) -> str:
    """:func:`grid_format`, and check that the packages for that format are installed.

    Raises:
        ValueError: an unknown suffix.
        MissingDependencyError (an ImportError): a missing package; the message names it
            and the ``grids`` extra (``pip install geoviz[grids]``).
    """
    fmt = grid_format(path)
    pkgs, what = _NEEDS[fmt]
    missing = [p for p in pkgs if importlib.util.find_spec(p) is None]
    if missing:
        raise MissingDependencyError(f"writing {what} ({Path(path).name}) needs {' and '.join(missing)}, which "
                                     f"{'is' if len(missing) == 1 else 'are'} not installed: {GRIDS_EXTRA}")
    return fmt


# --------------------------------------------------------------------------------------
# building grids


def grid_coords(resolution: float | None = 1.0, shape: tuple[int, int] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(lons (W,), lats (H,))`` cell centres of the global grid, lats north → south.

    Exactly :func:`geoviz.data.regular_grid`'s ``lons``/``lats`` (``resolution`` must divide
    180°, or give ``shape=(H, W)``).
    """
    from geoviz.data.sampling import regular_grid

    g = regular_grid(resolution, shape=shape)
    return g.lons, g.lats


def _plain_attrs(attrs: dict[str, Any] | None) -> dict[str, Any]:
    """Attributes every format stores: None dropped, bools as ints, numpy scalars as Python."""
    out: dict[str, Any] = {}
    for k, v in (attrs or {}).items():
        if v is None:
            continue
        if isinstance(v, (bool, np.bool_)):
            v = int(v)
        elif isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, (list, tuple)):
            v = [int(x) if isinstance(x, bool) else (x.item() if isinstance(x, np.generic) else x) for x in v]
        elif not isinstance(v, (str, int, float, np.ndarray)):
            v = str(v)
        out[str(k)] = v
    return out


def _with_crs(da: Any) -> Any:
    """``da`` with EPSG:4326 as a CF grid-mapping coordinate and lon/lat as its spatial dims."""
    try:
        import rioxarray  # noqa: F401  (registers the .rio accessor)
    except ImportError:
        rioxarray = None
    if rioxarray is not None:
        da.rio.write_crs(EPSG4326, inplace=True)  # in place: rioxarray's copies would copy the data too
        da.rio.set_spatial_dims(x_dim="lon", y_dim="lat", inplace=True)
        return da
    attrs = dict(_CF_WGS84)
    try:  # the WKT too when pyproj is at hand (GDAL prefers it)
        from pyproj import CRS

        wkt = CRS.from_epsg(4326).to_wkt()
        attrs.update(crs_wkt=wkt, spatial_ref=wkt)
    except ImportError:
        pass
    da = da.assign_coords(spatial_ref=((), np.int64(0), attrs))
    da.encoding["grid_mapping"] = "spatial_ref"
    return da


def grid_dataarray(values: Any, resolution: float | None = None, *, shape: tuple[int, int] | None = None,
                   name: str = "value", units: str | None = None, long_name: str | None = None,
                   dim: str = "output", labels: Sequence[Any] | None = None,
                   attrs: dict[str, Any] | None = None, dtype: Any = None) -> xr.DataArray:
    """An xarray ``DataArray`` on the global lon/lat grid, with CF coordinates and CRS.

    Args:
        values: per-cell values, either in the row order of :func:`geoviz.data.regular_grid`
            (``(H*W,)`` or ``(H*W, K)``: rows north → south, columns west → east) or as images
            ``(H, W)`` / ``(K, H, W)`` (row 0 northernmost).
        resolution: cell size in degrees (must divide 180°); or ``shape``.
        shape: ``(H, W)``; default from ``resolution``, or from an image's own shape.
        name: variable name.
        units: the variable's ``units`` attribute (``""`` for none; ``"1"`` for fractions).
        long_name: the variable's ``long_name`` (default ``name``).
        dim: name of the leading dimension when there are ``K`` values per cell
            (``"output"``, ``"class"``, ``"embedding"``).
        labels: its coordinate (``K`` names or numbers; default ``0..K-1``).
        attrs: further variable attributes (None values dropped).
        dtype: cast the values (e.g. ``"float32"``); default keep.

    Returns:
        ``DataArray`` with dims ``(lat, lon)`` or ``(dim, lat, lon)``; ``lat`` descending.
        Reshaping is a view: no copy of ``values`` is made unless ``dtype`` changes it.

    Raises:
        ValueError: values whose shape does not fit the grid, a resolution that does not
            divide 180°, a wrong number of labels.
    """
    import xarray as xr

    v = np.asarray(values)
    if resolution is None and shape is None:
        if v.ndim in (2, 3) and v.shape[-1] == 2 * v.shape[-2]:
            shape = (int(v.shape[-2]), int(v.shape[-1]))
        else:
            raise ValueError(f"give the grid's resolution (degrees) or shape=(H, W) for values of shape {v.shape}")
    lons, lats = grid_coords(resolution, shape)
    H, W = len(lats), len(lons)
    if v.ndim == 1 and v.shape[0] == H * W:
        img = v.reshape(H, W)
    elif v.ndim == 2 and v.shape == (H, W):
        img = v
    elif v.ndim == 2 and v.shape[0] == H * W:
        img = np.moveaxis(v.reshape(H, W, v.shape[1]), -1, 0)  # a view: (K, H, W)
    elif v.ndim == 3 and v.shape[1:] == (H, W):
        img = v
    else:
        raise ValueError(f"values of shape {v.shape} do not fit a {H} × {W} grid: expected (H*W,) = ({H * W},), "
                         f"(H*W, K), (H, W) = ({H}, {W}) or (K, H, W)")
    if dtype is not None:
        img = img.astype(dtype, copy=False)
    coords: dict[str, Any] = {"lat": ("lat", lats, dict(_LAT_ATTRS)), "lon": ("lon", lons, dict(_LON_ATTRS))}
    dims: tuple[str, ...] = ("lat", "lon")
    if img.ndim == 3:
        K = img.shape[0]
        lab = np.arange(K) if labels is None else np.asarray(list(labels))
        if lab.shape != (K,):
            raise ValueError(f"labels must name the {K} values per cell along {dim!r}, got {len(lab)}")
        if lab.dtype.kind in "OU":
            lab = lab.astype(str)
        if dim in ("lat", "lon"):
            raise ValueError(f"dim must not be 'lat' or 'lon', got {dim!r}")
        coords[dim] = (dim, lab)
        dims = (dim, "lat", "lon")
    a = {"long_name": long_name or name, "units": units}
    a.update(attrs or {})
    da = xr.DataArray(img, dims=dims, coords=coords, name=name, attrs=_plain_attrs(a))
    return _with_crs(da)


# --------------------------------------------------------------------------------------
# models on a grid


def _resolve_model(model: Any, meta: dict[str, Any] | None) -> tuple[Any, dict[str, Any] | None, str | None]:
    """``(callable or nn.Module, meta, source file name)`` from the forms predict_grid accepts."""
    if isinstance(model, (str, os.PathLike)):
        from geoviz.model_io import load_model

        m, md = load_model(model)
        return m, md, Path(model).name
    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[1], dict):
        return model[0], model[1], None
    return model, meta, None


def predict_grid(model: Any, resolution: float = 1.0, *, meta: dict[str, Any] | None = None,
                 name: str | None = None, units: str | None = None, long_name: str | None = None,
                 labels: Sequence[Any] | None = None, batch_size: int = 65536,
                 dtype: Any = "float32") -> xr.DataArray:
    """A model's predictions at the cell centres of the global grid, as a ``DataArray``.

    Args:
        model: a model file written by ``geoviz fit`` / :func:`geoviz.model_io.save_model`
            (path), a ``(model, meta)`` pair from :func:`geoviz.model_io.load_model`, a
            location encoder with ``meta=`` (without ``meta``: its raw outputs), or any
            callable mapping ``(N, 2)`` (lon, lat) degrees to ``(N,)`` or ``(N, K)`` values.
        resolution: cell size in degrees; must divide 180° (e.g. 2, 1, 0.5, 0.25).
        meta: the model's metadata (when ``model`` is a module).
        name, units, long_name: override what the metadata gives.
        labels: names of the ``K`` outputs of a callable / raw model.
        batch_size: points per forward pass.
        dtype: dtype of the values (float32 by default, as GeoTIFF stores them).

    Returns:
        Regression: ``(lat, lon)`` in the target's units, named after the target (one
        output), or ``(output, lat, lon)`` with the target names as the ``output``
        coordinate. Classification (binary or multiclass): ``(class, lat, lon)``
        probabilities (``units "1"``) with the class names as the ``class`` coordinate; the
        most likely class per cell is ``da.idxmax("class")``. Attributes record the model
        (``geoviz_model`` file name, ``encoder`` spec, ``encoding``, ``network``,
        ``task_kind``) and where it was trained (``training_source``,
        ``training_lon_range``/``training_lat_range``: predictions far outside are
        extrapolation).

    Raises:
        ValueError: a resolution that does not divide 180°; a callable returning the wrong
            number of rows.
        TypeError: ``model`` of none of the accepted forms.
    """
    from geoviz.data.sampling import regular_grid

    g = regular_grid(resolution)
    H, W = g.shape
    m, md, source = _resolve_model(model, meta)
    attrs: dict[str, Any] = {"geoviz_model": source, "grid_spacing_deg": float(180.0 / H)}
    try:
        import torch

        is_module = isinstance(m, torch.nn.Module)
    except ImportError:  # pragma: no cover - torch is a core dependency
        is_module = False
    if is_module:
        from geoviz.model_io import predict_with

        md = md or {}
        res = predict_with(m, md, g.lonlat, batch_size=batch_size)
        task = md.get("task") or {}
        kind = task.get("kind")
        td = md.get("training_data") or {}
        attrs.update(encoder=(md.get("encoder") or {}).get("spec"), encoding=md.get("encoding"),
                     network=md.get("network"), task_kind=kind, training_source=td.get("source"),
                     training_lon_range=td.get("lon_range"), training_lat_range=td.get("lat_range"))
    elif callable(m):
        res = {"prediction": np.asarray(_call_in_batches(m, g.lonlat, batch_size))}
        task, kind = {}, None
    else:
        raise TypeError(f"model must be a model file, a (model, meta) pair, a torch module or a callable of "
                        f"(N, 2) lon/lat degrees, got {type(m).__name__}")
    if kind in ("binary", "multiclass"):
        probs = np.asarray(res["probabilities"])
        names = task.get("class_names") or [str(j) for j in range(probs.shape[1])]
        return grid_dataarray(probs, shape=(H, W), name=name or "probability", units="1" if units is None else units,
                              long_name=long_name or f"probability of each class of {task.get('name') or 'the task'}",
                              dim="class", labels=[str(c) for c in names], attrs=attrs, dtype=dtype)
    vals = np.asarray(res["prediction"], dtype=np.float64)
    if vals.shape[0] != H * W:
        raise ValueError(f"the model returned {vals.shape[0]} rows for {H * W} grid cells")
    tnames = task.get("target_names") or []
    units = units if units is not None else (task.get("units") or "")
    if vals.ndim == 1 or vals.shape[1] == 1:
        vname = name or (tnames[0] if tnames else "prediction")
        return grid_dataarray(vals.reshape(-1), shape=(H, W), name=_var_name(vname), units=units,
                              long_name=long_name or str(vname), attrs=attrs, dtype=dtype)
    K = vals.shape[1]
    lab = list(labels) if labels is not None else (tnames if len(tnames) == K else [f"output_{j}" for j in range(K)])
    return grid_dataarray(vals, shape=(H, W), name=name or "prediction", units=units,
                          long_name=long_name or (task.get("name") or "prediction"), dim="output", labels=lab,
                          attrs=attrs, dtype=dtype)


def _call_in_batches(fn: Callable[[np.ndarray], Any], lonlat: np.ndarray, batch_size: int) -> np.ndarray:
    parts = [np.asarray(fn(lonlat[s:s + batch_size])) for s in range(0, len(lonlat), max(1, int(batch_size)))]
    for p in parts:
        if p.ndim not in (1, 2):
            raise ValueError(f"the callable must return (N,) or (N, K) values, got shape {p.shape}")
    return np.concatenate(parts, axis=0)


def _var_name(name: str) -> str:
    """A variable name every format accepts (no '/', not empty)."""
    s = str(name).strip().replace("/", "_") or "prediction"
    return s


def embedding_grid(model: Any, spacing: float | None = None, *, dataset: bool = False, **kwargs: Any) -> Any:
    """Embeddings of the global grid as xarray: :func:`geoviz.embed.embed_grid` +
    :meth:`geoviz.embed.EmbeddingGrid.to_xarray`.

    Args:
        model: a location encoder (or an :class:`~geoviz.embed.EmbeddingGrid` already made).
        spacing: cell size in degrees (default: :func:`geoviz.embed.grid_spacing_for`).
        dataset: return a ``Dataset`` (variable ``embeddings``) instead of a ``DataArray``.
        **kwargs: passed to :func:`~geoviz.embed.embed_grid` (``cache``, ``device``, ...).

    Returns:
        ``(embedding, lat, lon)`` float32 with the channel index as the ``embedding`` coordinate.
    """
    from geoviz.embed import EmbeddingGrid, embed_grid

    g = model if isinstance(model, EmbeddingGrid) else embed_grid(model, spacing, **kwargs)
    return g.to_xarray(dataset=dataset)


# --------------------------------------------------------------------------------------
# writing


def _spatial_dims(da: Any) -> tuple[str, str]:
    """``(x_dim, y_dim)`` of a DataArray on a lon/lat grid."""
    for x, y in (("lon", "lat"), ("longitude", "latitude"), ("x", "y")):
        if x in da.dims and y in da.dims:
            return x, y
    xs = [d for d in da.dims if d in da.coords and str(da[d].attrs.get("axis", "")).upper() == "X"]
    ys = [d for d in da.dims if d in da.coords and str(da[d].attrs.get("axis", "")).upper() == "Y"]
    if xs and ys:
        return str(xs[0]), str(ys[0])
    raise ValueError(f"the grid has no lon/lat dimensions (dims {tuple(da.dims)}); build it with "
                     f"geoviz.grids.grid_dataarray / predict_grid")


def _as_dataarray(grid: Any) -> Any:
    import xarray as xr

    if isinstance(grid, xr.DataArray):
        return grid
    if isinstance(grid, xr.Dataset):
        names = list(grid.data_vars)
        if len(names) == 1:
            return grid[names[0]]
        raise ValueError(f"a GeoTIFF holds one variable (as bands); the Dataset has {len(names)} ({names}): "
                         f"write one (ds[name]) or use .nc / .zarr")
    raise TypeError(f"grid must be an xarray DataArray or Dataset, got {type(grid).__name__}")


def _as_dataset(grid: Any) -> Any:
    import xarray as xr

    if isinstance(grid, xr.DataArray):
        name = grid.name or "value"
        if name in grid.coords:
            raise ValueError(f"the variable is named {name!r} like one of its coordinates; rename it first "
                             f"(da.rename('{name}s'))")
        ds = grid.to_dataset(name=name).copy()  # own variables: encodings not shared
    elif isinstance(grid, xr.Dataset):
        ds = grid.copy()
    else:
        raise TypeError(f"grid must be an xarray DataArray or Dataset, got {type(grid).__name__}")
    from geoviz import __version__

    ds.attrs.setdefault("Conventions", "CF-1.8")
    ds.attrs.setdefault("source", f"geoviz {__version__}")
    ds.attrs = _plain_attrs(ds.attrs)
    for v in ds.variables:
        ds[v].attrs = _plain_attrs(ds[v].attrs)
    return ds


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    return Path(tmp)


def _write_geotiff(grid: Any, path: Path, nodata: float | None) -> None:
    import rasterio
    import rioxarray  # noqa: F401

    da = _as_dataarray(grid)
    x, y = _spatial_dims(da)
    extra = [d for d in da.dims if d not in (x, y)]
    if len(extra) > 1:
        raise ValueError(f"a GeoTIFF holds (band, y, x); the grid has {len(extra)} dims besides {x}/{y}: {extra}")
    da = da.transpose(*extra, y, x)
    if da.sizes[y] > 1 and float(da[y][0]) < float(da[y][-1]):
        da = da.isel({y: slice(None, None, -1)})  # north-up
    labels = [str(v) for v in da[extra[0]].values] if extra and extra[0] in da.coords else None
    units = str(da.attrs.get("units", "") or "")
    vals = np.asarray(da.values, dtype=np.float32)
    if nodata is None or np.isnan(nodata):
        fill = np.float32(np.nan)
    else:
        fill = np.float32(nodata)
        if float(fill) != float(nodata):
            raise ValueError(f"nodata {nodata!r} is not representable in float32")
        if np.any(vals == fill):
            raise ValueError(f"nodata {nodata!r} occurs among the grid's values; choose another (or None for NaN)")
        vals = np.where(np.isnan(vals), fill, vals)
    out = da.copy(data=vals)
    out.attrs = {k: v for k, v in _plain_attrs(da.attrs).items() if k not in ("_FillValue", "missing_value")}
    if labels is not None:
        out.attrs["long_name"] = labels  # one band description per label
    if out.rio.crs is None:
        out.rio.write_crs(EPSG4326, inplace=True)
    out.rio.set_spatial_dims(x_dim=x, y_dim=y, inplace=True)
    out.rio.write_nodata(fill, encoded=False, inplace=True)
    big = out.sizes[x] >= 256 and out.sizes[y] >= 256
    tmp = _atomic_target(path)
    try:
        out.rio.to_raster(tmp, driver="GTiff", dtype="float32", compress="DEFLATE",
                          **({"tiled": True, "blockxsize": 256, "blockysize": 256} if big else {}))
        if units:
            with rasterio.open(tmp, "r+") as ds:
                ds.units = [units] * ds.count
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_netcdf(grid: Any, path: Path) -> None:
    ds = _as_dataset(grid)
    for v in ds.data_vars:  # compression added to each variable's own encoding (grid_mapping kept)
        if ds[v].dtype.kind in "fiu" and ds[v].ndim >= 2:
            ds[v].encoding.update(zlib=True, complevel=4)
    tmp = _atomic_target(path)
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _is_zarr_store(p: Path) -> bool:
    return any((p / n).exists() for n in (".zgroup", ".zattrs", "zarr.json", ".zmetadata"))


def _write_zarr(grid: Any, path: Path, zarr_format: int) -> None:
    if path.exists() and not (path.is_dir() and _is_zarr_store(path)):
        raise ValueError(f"{path} exists and is not a Zarr store; refusing to replace it")
    ds = _as_dataset(grid)
    tmp = _atomic_target(path)
    try:
        ds.to_zarr(tmp, mode="w", zarr_format=zarr_format, consolidated=zarr_format == 2)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_grid(grid: Any, path: str | os.PathLike, *, nodata: float | None = None, zarr_format: int = 2) -> Path:
    """Write a grid to GeoTIFF, NetCDF or Zarr, chosen by the suffix of ``path``.

    Args:
        grid: a ``DataArray`` (or ``Dataset``) on a lon/lat grid, e.g. from
            :func:`grid_dataarray`, :func:`predict_grid` or ``EmbeddingGrid.to_xarray()``.
        path: ``.tif``/``.tiff``: GeoTIFF (rioxarray), float32, north-up, one band per entry
            of a leading ``output``/``class``/``embedding`` dimension (its labels as band
            descriptions), ``units`` as band unit, other attributes as tags, DEFLATE
            compressed; ``.nc``: NetCDF-4 (h5netcdf engine), CF-1.8, zlib level 4; ``.zarr``:
            a Zarr store (directory). Parent folders are created; the file is written to a
            temporary name first and then moved into place.
        nodata: GeoTIFF only: the value marking cells without data (NaN cells). Default
            NaN itself (GDAL reads NaN nodata); give e.g. ``-9999.0`` for tools that want a
            number (it must not occur among the values).
        zarr_format: 2 (default: every Zarr reader and GDAL know it; metadata consolidated)
            or 3.

    Returns:
        The path written.

    Raises:
        ValueError: an unknown suffix (the known ones listed); a grid without lon/lat
            dims; a GeoTIFF from a Dataset of several variables or with more than one
            non-spatial dim; ``.zarr`` naming an existing directory that is not a Zarr store.
        MissingDependencyError (an ImportError): rioxarray/rasterio, h5netcdf or zarr not
            installed (``pip install geoviz[grids]``).
    """
    path = Path(path)
    fmt = require_grid_format(path)
    if fmt == "geotiff":
        _write_geotiff(grid, path, nodata)
    elif fmt == "netcdf":
        _write_netcdf(grid, path)
    else:
        if zarr_format not in (2, 3):
            raise ValueError(f"zarr_format must be 2 or 3, got {zarr_format!r}")
        _write_zarr(grid, path, zarr_format)
    return path
