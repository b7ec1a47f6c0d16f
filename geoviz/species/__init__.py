"""Species ranges from presence-only observations (SINR-style multi-species range models).

- :mod:`~geoviz.species.losses`: "assume negative" (``an``) and "full assume negative"
  (``an-full``) losses, vectorised over species.
- :mod:`~geoviz.species.background`: background samplers (uniform, land, target-group).
- :mod:`~geoviz.species.model`: :class:`SpeciesModel` (one encoder, one logit per species),
  save/load, fast probability maps.
- :mod:`~geoviz.species.train`: :func:`fit_species` / :class:`SpeciesConfig`.
- :mod:`~geoviz.species.estimator`: :class:`SpeciesRangeEstimator`, the same fit as a
  scikit-learn estimator (presence-only ``fit(X, species)``, ``predict_proba`` per species).
- :mod:`~geoviz.species.virtual`: virtual species with known true ranges.
- :mod:`~geoviz.species.evaluate`: mAP/AUC against true ranges, KDE baseline, held-out AUC.
- :mod:`~geoviz.species.data`: observations from CSV/Parquet (GBIF columns) and elapid's
  *Ariolimax buttoni*.
"""

from .background import get_background, list_backgrounds
from .data import Observations, load_ariolimax, make_observations, read_observations, utm_to_lonlat
from .estimator import SpeciesRangeEstimator
from .evaluate import KDEBaseline, evaluate_virtual, evaluation_points, presence_background_auc, range_metrics
from .losses import LOSSES, assume_negative_loss, full_assume_negative_loss, get_loss, list_losses
from .model import SpeciesModel, load_species_model
from .train import SpeciesConfig, fit_species
from .virtual import VirtualSpecies, make_virtual_species

__all__ = [
    "LOSSES", "KDEBaseline", "Observations", "SpeciesConfig", "SpeciesModel", "SpeciesRangeEstimator", "VirtualSpecies",
    "assume_negative_loss", "evaluate_virtual", "evaluation_points", "fit_species", "full_assume_negative_loss",
    "get_background", "get_loss", "list_backgrounds", "list_losses", "load_ariolimax", "load_species_model",
    "make_observations", "make_virtual_species", "presence_background_auc", "range_metrics", "read_observations",
    "utm_to_lonlat",
]
