"""scikit-learn estimators: geoviz's location encoders behind ``fit`` / ``predict`` / ``transform``.

Three estimators take ``X`` = ``(N, 2)`` **(lon, lat) in degrees** (a numpy array or a pandas
DataFrame; with a DataFrame the column names are recorded in ``feature_names_in_``, so a
DataFrame with swapped columns is refused at ``predict``/``transform`` time):

* :class:`GeoRegressor` — a location encoder (``encoder="sh:10+siren(64x2)"``, an
  :class:`~geoviz.spec.EncoderSpec` string) fitted to one target ``(N,)`` or several
  ``(N, K)`` by the project's training engine (:class:`geoviz.training.Trainer`; MSE on
  standardised targets, early stopping on a held-out part of the training data);
* :class:`GeoClassifier` — the same for class labels of any type (strings too):
  ``predict`` returns labels from ``classes_``, ``predict_proba`` ``(N, n_classes)``;
* :class:`LocationEmbedder` — a frozen pretrained encoder (``"geoviz-bluemarble-l10"``, any
  name of :func:`geoviz.pretrained.list_pretrained` or a model file) as a transformer:
  ``(N, 2)`` → ``(N, D)`` embeddings with column names ``emb_0 … emb_{D-1}``, so that
  ``set_output(transform="pandas")`` works.

``GeoRegressor.save(path)`` / ``GeoClassifier.save(path)`` write the one geoviz model file
(what ``geoviz fit`` writes and ``geoviz predict`` reads); :func:`load_estimator` reads such a
file, from either, back as a fitted estimator.

All three validate in ``fit`` (never in ``__init__``), accept nothing but two finite columns
with lon in [-180, 180] and lat in [-90, 90] (the error names the first bad row), pickle with
their weights on the CPU, and work with ``Pipeline``, ``clone``, ``GridSearchCV`` and
``cross_val_score`` (spatial blocks: ``GroupKFold`` with ``groups=geoviz.data.block_ids(X, 10)``).

Example::

    >>> from geoviz.estimators import GeoClassifier
    >>> from geoviz.data import is_land, uniform_sphere
    >>> X = uniform_sphere(2000, seed=0)
    >>> clf = GeoClassifier(random_state=0).fit(X, is_land(X))     # doctest: +SKIP
    >>> clf.score(uniform_sphere(2000, seed=1), is_land(uniform_sphere(2000, seed=1)))  # doctest: +SKIP
"""


from ._embedder import LocationEmbedder
from ._persist import load_estimator
from ._ridge import SHRidge
from ._supervised import GeoClassifier, GeoRegressor

__all__ = ["GeoRegressor", "GeoClassifier", "LocationEmbedder", "SHRidge", "load_estimator"]

# pickles and reprs name the public path, so that moving code between the private modules
# never breaks a saved estimator
for _cls in (GeoRegressor, GeoClassifier, LocationEmbedder, SHRidge):
    _cls.__module__ = __name__
del _cls
