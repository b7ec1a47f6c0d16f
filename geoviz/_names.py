"""Registry names for the command line, without importing the registries.

The ``geoviz`` parsers offer these as choices and in their help so that ``geoviz --help``,
``geoviz CMD --help`` and argument errors need neither torch nor numpy. Each tuple mirrors a
registry that lives in a heavy module; ``tests/test_cli.py`` asserts that they agree, so a
new encoding, network, task, field or model must be added in both places.
"""

from __future__ import annotations

__all__ = [
    "POSITIONAL_ENCODINGS",
    "PE_ALIASES",
    "NETWORKS",
    "TRAIN_TASKS",
    "FIELDS",
    "PRETRAINED",
    "REPRODUCE_VARIANTS",
    "EVAL_TASKS",
    "EVAL_PROBES",
    "EVAL_SPLITS",
    "SPECIES_LOSSES",
    "SPECIES_BACKGROUNDS",
    "pe_choices",
]

POSITIONAL_ENCODINGS: tuple[str, ...] = (
    "sphericalharmonics", "direct", "cartesian3d", "wrap", "grid", "theory", "spherec", "spherec+", "spherem",
    "spherem+",
)
""":func:`geoviz.encoders.list_positional_encodings` (registry order)."""

PE_ALIASES: dict[str, str] = {"sh": "sphericalharmonics"}
""":data:`geoviz.encoders.ALIASES`."""

NETWORKS: tuple[str, ...] = ("linear", "fcnet", "siren")
"""The keys of :data:`geoviz.networks.NETWORKS` (simplest first)."""

TRAIN_TASKS: tuple[str, ...] = ("landocean", "checkerboard")
""":func:`geoviz.data.list_tasks` (the paper's two benchmark tasks)."""

FIELDS: tuple[str, ...] = ("temperature", "precipitation", "elevation", "geoid", "magnetic")
""":func:`geoviz.data.list_fields` (``field:NAME`` sources of ``geoviz fit``)."""

PRETRAINED: tuple[str, ...] = (
    "geoclip", "geoviz-bluemarble-l10", "geoviz-bluemarble-l40", "satclip-resnet18-l10", "satclip-resnet18-l40",
    "satclip-resnet50-l10", "satclip-resnet50-l40", "satclip-vit16-l10", "satclip-vit16-l40",
)
""":func:`geoviz.pretrained.list_pretrained` (sorted)."""

REPRODUCE_VARIANTS: tuple[str, ...] = (
    "correct_units", "float32", "no_early_stop", "reference", "restore_best", "sh_l20", "sh_l30",
)
"""Sorted keys of :data:`geoviz.training.reproduce.VARIANTS`."""

EVAL_TASKS: tuple[str, ...] = (
    "temperature", "precipitation", "elevation", "population", "countries", "koppen", "landcover", "continents",
)
""":func:`geoviz.evaluation.list_eval_tasks`."""

EVAL_PROBES: tuple[str, ...] = ("linear", "mlp")
"""The keys of :data:`geoviz.evaluation.PROBES`."""

EVAL_SPLITS: tuple[str, ...] = ("random", "blocks", "continents")
""":data:`geoviz.evaluation.SPLITS`."""

SPECIES_LOSSES: tuple[str, ...] = ("an", "an-full")
""":func:`geoviz.species.list_losses`."""

SPECIES_BACKGROUNDS: tuple[str, ...] = ("uniform", "land", "bias:FILE", "bias:flickr")
""":func:`geoviz.species.list_backgrounds`."""


def pe_choices() -> list[str]:
    """Every name a ``--pe`` option accepts: the encodings, then their aliases."""
    return [*POSITIONAL_ENCODINGS, *PE_ALIASES]
