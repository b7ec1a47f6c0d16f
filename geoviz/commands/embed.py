"""``geoviz embed MODEL POINTS -o OUT.parquet``: location embeddings of every row of a table.

MODEL is a pretrained name (``geoviz-bluemarble-l10``, ``geoviz-bluemarble-l40``,
``geoclip``, a SatCLIP name whose checkpoint is cached, e.g. ``satclip-resnet18-l10``; see
``geoviz models``) or a file: a model written by ``geoviz fit`` (its raw outputs), a
``geoviz-location-encoder`` file or a SatCLIP checkpoint. POINTS is a CSV or Parquet file
with longitude/latitude columns (detected, or ``--lon``/``--lat``). The output keeps every
input column and row and adds ``emb_0 … emb_{D-1}`` (float32; NaN for rows without
coordinates).

Two engines:

* ``memory`` (default): the input is streamed in chunks of ``--chunk-rows`` rows (pyarrow),
  each chunk embedded and appended to OUT as one Parquet row group: memory stays bounded by
  one chunk whatever the file size.
* ``dask``: dask.dataframe reads the input in partitions (Parquet row groups, or
  ``--blocksize`` bytes of CSV), embeds them in parallel and writes OUT as a Parquet
  *dataset* (a folder of part files, readable with ``pandas.read_parquet(OUT)``). With
  ``--scheduler ADDRESS`` it runs on an existing ``dask.distributed`` cluster (the model is
  broadcast to the workers once); without, on the local threaded scheduler.

Example::

    geoviz embed geoviz-bluemarble-l10 points.parquet -o points_emb.parquet
    geoviz embed geoviz-bluemarble-l10 big.parquet -o big_emb.parquet --engine dask --scheduler tcp://10.0.0.5:8786
"""

from __future__ import annotations

import argparse
import queue
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["register", "run_embed", "resolve_encoder", "embed_table_memory", "embed_table_dask"]


def resolve_encoder(spec: str, *, download: bool = False) -> tuple[Any, str]:
    """``(location encoder in eval mode, description)`` for a pretrained name or a model file
    (:func:`geoviz.pretrained.load_encoder`)."""
    from geoviz.pretrained import load_encoder

    return load_encoder(spec, download=download)


def _embed_chunk(model: Any, lonv: np.ndarray, latv: np.ndarray, batch_size: int, where: str) -> tuple[np.ndarray, int]:
    """``((n, D) float32 embeddings with NaN rows for missing coordinates, missing count)``."""
    import numpy as np

    from geoviz.data.points import check_coordinates
    from geoviz.embed import embed_points

    lonv = np.asarray(lonv, dtype=np.float64)
    latv = np.asarray(latv, dtype=np.float64)
    ok = np.isfinite(lonv) & np.isfinite(latv)
    if ok.all():
        lonlat = check_coordinates(lonv, latv, "lon", "lat", where, [])
        return embed_points(model, lonlat, batch_size=batch_size, out_dtype=np.float32), 0
    lonlat = check_coordinates(lonv[ok], latv[ok], "lon", "lat", where, [])
    emb = embed_points(model, lonlat, batch_size=batch_size, out_dtype=np.float32) if ok.any() else None
    dim = emb.shape[1] if emb is not None else _out_dim(model)
    full = np.full((len(lonv), dim), np.nan, dtype=np.float32)
    if emb is not None:
        full[ok] = emb
    return full, int((~ok).sum())


def _out_dim(model: Any) -> int:
    import numpy as np

    from geoviz.embed import embed_points

    return int(embed_points(model, np.zeros((1, 2))).shape[1])


def _batches(path: Path, chunk_rows: int) -> Any:
    """Iterate pyarrow RecordBatches of a Parquet or CSV file (streamed)."""
    import pyarrow as pa

    from ._tables import table_kind

    if table_kind(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{path} is not a readable Parquet file: {exc}") from exc
        yield from pf.iter_batches(batch_size=chunk_rows)
        return
    import pyarrow.csv as pcsv

    try:
        reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 24),
                               parse_options=pcsv.ParseOptions(delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    except pa.ArrowInvalid as exc:
        raise ValueError(f"{path} is not a readable CSV file (or is empty): {exc}") from exc
    while True:
        try:
            b = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise ValueError(f"{path}: {exc}. The streaming CSV reader takes column types from the first "
                             f"16 MB; convert the file to Parquet (or use --engine dask) if a column changes type "
                             f"further down") from None
        for s in range(0, b.num_rows, chunk_rows):
            yield b.slice(s, chunk_rows)


def _emb_columns(emb: np.ndarray) -> list[Any]:
    import numpy as np
    import pyarrow as pa

    cols = np.ascontiguousarray(emb.T)
    return [pa.array(cols[j]) for j in range(cols.shape[0])]


def embed_table_memory(model: Any, src: str | Path, out: str | Path, *, lon: str | None = None, lat: str | None = None,
                       chunk_rows: int = 131072, batch_size: int = 65536, compression: str = "snappy",
                       progress: bool = True) -> dict[str, Any]:
    """Stream ``src`` (CSV/Parquet) through ``model`` into the Parquet file ``out``.

    Returns:
        ``{"rows", "dim", "missing", "seconds"}``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm import tqdm

    from geoviz.data.points import detect_lonlat_columns

    from ._tables import table_kind

    src, out = Path(src), Path(out)
    if not src.is_file():
        raise FileNotFoundError(f"no such file: {src}")
    if table_kind(out) != "parquet":
        raise ValueError(f"the embedding output must be a .parquet file, got {out}")
    total = None
    if table_kind(src) == "parquet":
        try:
            total = pq.ParquetFile(src).metadata.num_rows
        except Exception:
            total = None
    t0 = time.perf_counter()
    writer = None
    rows = missing = 0
    dim = 0
    lon_col = lat_col = None
    tmp = out.with_name(f".{out.name}.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=total, desc="embed", unit="pt", unit_scale=True, disable=not progress)
    # chunk k is written by a background thread while chunk k+1 is embedded (pyarrow's
    # writer releases the GIL); at most one finished chunk waits in the queue
    pending: queue.Queue = queue.Queue(maxsize=1)
    failure: list[BaseException] = []

    def write_loop() -> None:
        while True:
            item = pending.get()
            if item is None:
                return
            if failure:
                continue
            try:
                writer.write_table(item, row_group_size=len(item))
            except BaseException as exc:  # reported by the main thread
                failure.append(exc)

    thread = None
    try:
        for batch in _batches(src, chunk_rows):
            if lon_col is None:
                lon_col, lat_col = detect_lonlat_columns(batch.schema.names, lon, lat)
            lonv = batch.column(lon_col).to_numpy(zero_copy_only=False)
            latv = batch.column(lat_col).to_numpy(zero_copy_only=False)
            emb, miss = _embed_chunk(model, lonv, latv, batch_size, f"{src} (rows {rows}..{rows + batch.num_rows - 1})")
            dim = emb.shape[1]
            names = list(batch.schema.names) + [f"emb_{j}" for j in range(dim)]
            clash = set(batch.schema.names) & {f"emb_{j}" for j in range(dim)}
            if clash:
                raise ValueError(f"{src} already has column(s) {sorted(clash)[:5]}; rename them first")
            table = pa.Table.from_arrays(list(batch.columns) + _emb_columns(emb), names=names)
            if writer is None:
                # dictionary encoding and statistics only for the input columns: on float
                # embeddings they cost ~10x the write time and gain nothing
                inputs = list(batch.schema.names)
                writer = pq.ParquetWriter(tmp, table.schema, compression=compression, use_dictionary=inputs,
                                          write_statistics=inputs)
                thread = threading.Thread(target=write_loop, name="geoviz-embed-writer", daemon=True)
                thread.start()
            if failure:
                raise failure[0]
            pending.put(table)
            rows += batch.num_rows
            missing += miss
            bar.update(batch.num_rows)
        if writer is None:
            raise ValueError(f"{src} has no rows")
        pending.put(None)
        thread.join()
        thread = None
        if failure:
            raise failure[0]
        writer.close()
        writer = None
        tmp.replace(out)
    finally:
        bar.close()
        if thread is not None:
            pending.put(None)
            thread.join()
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return {"rows": rows, "dim": dim, "missing": missing, "seconds": time.perf_counter() - t0}


def _embed_partition(df: Any, model: Any, lon_col: str, lat_col: str, batch_size: int, dim: int) -> Any:
    """One dask partition: the input columns + emb_0..emb_{D-1} (runs on a worker)."""
    import numpy as np
    import pandas as pd
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)  # one torch thread per dask thread: no oversubscription
    if len(df) == 0:
        emb = np.zeros((0, dim), dtype=np.float32)
    else:
        emb, _ = _embed_chunk(model, df[lon_col].to_numpy(), df[lat_col].to_numpy(), batch_size, "partition")
    e = pd.DataFrame(emb, columns=[f"emb_{j}" for j in range(emb.shape[1])], index=df.index)
    return pd.concat([df, e], axis=1)


def embed_table_dask(model: Any, src: str | Path, out: str | Path, *, lon: str | None = None, lat: str | None = None,
                     scheduler: str | None = None, client: Any = None, workers: int | None = None,
                     blocksize: str = "64MB", batch_size: int = 65536, compression: str = "snappy",
                     overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Embed ``src`` with dask.dataframe into the Parquet dataset (folder) ``out``.

    Args:
        scheduler: address of a running ``dask.distributed`` scheduler, or None.
        client: an existing ``distributed.Client`` (instead of ``scheduler``).
        workers: threads of the local threaded scheduler (no cluster); default: CPU count.
        blocksize: CSV partition size.

    Returns:
        ``{"rows", "dim", "partitions", "seconds"}``.
    """
    import dask
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd

    from geoviz.data.points import detect_lonlat_columns

    from ._tables import table_kind

    src, out = Path(src), Path(out)
    if not src.is_file() and not src.is_dir():
        raise FileNotFoundError(f"no such file: {src}")
    if out.exists() and not overwrite:
        raise ValueError(f"{out} exists; pass --overwrite to replace it")
    t0 = time.perf_counter()
    own_client = None
    if client is None and scheduler:
        from distributed import Client

        client = own_client = Client(scheduler)
    try:
        if table_kind(src) == "parquet":
            ddf = dd.read_parquet(src, split_row_groups=True)
        else:
            ddf = dd.read_csv(src, blocksize=blocksize, sep="\t" if src.suffix.lower() == ".tsv" else ",")
        lon_col, lat_col = detect_lonlat_columns(list(ddf.columns), lon, lat)
        dim = _out_dim(model)
        clash = set(ddf.columns) & {f"emb_{j}" for j in range(dim)}
        if clash:
            raise ValueError(f"{src} already has column(s) {sorted(clash)[:5]}; rename them first")
        meta = pd.concat([ddf._meta, pd.DataFrame({f"emb_{j}": pd.Series(dtype=np.float32) for j in range(dim)})], axis=1)
        if client is not None:
            model_ref = client.scatter(model, broadcast=True, hash=False)
        else:
            model_ref = dask.delayed(model, pure=False, traverse=False)
        res = ddf.map_partitions(_embed_partition, model_ref, lon_col, lat_col, batch_size, dim, meta=meta,
                                 align_dataframes=False)
        inputs = [str(c) for c in ddf.columns]
        write = res.to_parquet(out, write_index=False, compression=compression, overwrite=overwrite, compute=False,
                               use_dictionary=inputs, write_statistics=inputs)
        nparts = int(res.npartitions)
        if client is not None:
            fut = client.compute(write)
            if progress:
                from distributed import progress as dprogress

                dprogress(fut)
                print()
            fut.result()
        else:
            from dask.diagnostics import ProgressBar

            cfg = {"scheduler": "threads"} if workers is None else {"scheduler": "threads", "num_workers": workers}
            with dask.config.set(cfg):
                if progress:
                    with ProgressBar():
                        dask.compute(write)
                else:
                    dask.compute(write)
        import pyarrow.parquet as pq

        rows = pq.ParquetDataset(out).read(columns=[]).num_rows if progress is not None else None
    finally:
        if own_client is not None:
            own_client.close()
    return {"rows": rows, "dim": dim, "partitions": nparts, "seconds": time.perf_counter() - t0}


def run_embed(args: argparse.Namespace) -> int:
    """Body of ``geoviz embed`` (an unknown MODEL or a missing POINTS file is refused before torch is imported)."""
    from geoviz._names import PRETRAINED

    if args.model.strip().lower() not in PRETRAINED and not Path(args.model).expanduser().is_file():
        raise ValueError(f"MODEL {args.model!r} is neither a pretrained name ({list(PRETRAINED)}) nor an existing file")
    if not Path(args.points).exists():
        raise FileNotFoundError(f"no such file: {args.points}")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    model, desc = resolve_encoder(args.model, download=args.download)
    if args.dtype:
        model = model.to(getattr(torch, args.dtype))
    engine = args.engine
    if engine == "auto":
        engine = "dask" if args.scheduler else "memory"
    if engine == "memory":
        if args.scheduler:
            raise ValueError("--scheduler needs --engine dask (or auto)")
        r = embed_table_memory(model, args.points, args.output, lon=args.lon, lat=args.lat, chunk_rows=args.chunk_rows,
                               batch_size=args.batch_size, compression=args.compression, progress=not args.quiet)
        extra = f", {r['missing']} row(s) without coordinates left NaN" if r["missing"] else ""
    else:
        r = embed_table_dask(model, args.points, args.output, lon=args.lon, lat=args.lat, scheduler=args.scheduler,
                             workers=args.workers, blocksize=args.blocksize, batch_size=args.batch_size,
                             compression=args.compression, overwrite=args.overwrite, progress=not args.quiet)
        extra = f", {r['partitions']} partitions (a Parquet dataset folder)"
    print(f"wrote {r['rows']} rows × {r['dim']} embedding columns ({desc}) to {args.output} in {r['seconds']:.1f} s "
          f"({r['rows'] / max(r['seconds'], 1e-9):,.0f} points/s{extra})")
    return 0


def register(sub: Any) -> None:
    """Add ``geoviz embed`` to the sub-parsers."""
    p = sub.add_parser("embed", help="location embeddings of the points of a CSV/Parquet file (Parquet out)",
                       description=__doc__.split("\n\n")[1], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", help="pretrained name (geoviz-bluemarble-l10, geoclip, a cached SatCLIP name; "
                                 "see `geoviz models`) or a model/checkpoint file")
    p.add_argument("points", help="CSV or Parquet file with longitude/latitude columns")
    p.add_argument("-o", "--output", required=True, metavar="OUT.parquet", help="output Parquet file (dask: a folder)")
    p.add_argument("--lon", help="longitude column (default: detected)")
    p.add_argument("--lat", help="latitude column (default: detected)")
    p.add_argument("--engine", choices=["auto", "memory", "dask"], default="auto",
                   help="memory: streamed chunks in this process; dask: dask.dataframe partitions "
                        "(auto: dask when --scheduler is given)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="address of a running dask.distributed scheduler, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--workers", type=int, default=None, help="dask without --scheduler: local threads")
    p.add_argument("--blocksize", default="64MB", help="dask: CSV partition size")
    p.add_argument("--chunk-rows", type=int, default=131072, help="memory engine: rows per chunk / row group")
    p.add_argument("--batch-size", type=int, default=65536, help="points per forward pass")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None,
                   help="compute dtype (default: the model's); output columns are float32")
    p.add_argument("--compression", default="snappy", help="Parquet compression (snappy, zstd, none, ...)")
    p.add_argument("--overwrite", action="store_true", help="dask: replace an existing output folder")
    p.add_argument("--download", action="store_true", help="allow downloading a SatCLIP checkpoint that is not cached")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_embed)
