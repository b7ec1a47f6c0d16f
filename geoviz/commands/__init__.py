"""Subcommands of the ``geoviz`` command line that work on the user's own data and models.

Each command lives in its own module and exposes ``register(sub)`` (adds its argparse
parser, with help on every option) for :data:`geoviz.cli.COMMANDS`:

* :mod:`geoviz.commands.fit`: ``geoviz fit SOURCE --save MODEL`` (a point file or ``field:NAME``);
* :mod:`geoviz.commands.predict`: ``geoviz predict MODEL POINTS -o OUT``;
* :mod:`geoviz.commands.embed`: ``geoviz embed MODEL POINTS -o OUT.parquet`` (in memory, or
  in chunks with dask.dataframe, optionally on a ``dask.distributed`` cluster).

Heavy imports (torch, pandas, dask, matplotlib) happen inside the command functions so
that ``geoviz --help`` stays fast.
"""
