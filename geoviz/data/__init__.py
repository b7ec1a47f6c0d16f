"""Data for geoviz: the embedded land/ocean mask, sphere samplers, benchmark tasks and the
built-in global fields (``list_fields()``, ``get_field(name)``: temperature, precipitation,
elevation, geoid, magnetic; see :mod:`geoviz.data.fields`).

Everything works offline: the Natural Earth 1:110m land polygon ships in ``assets/``
(see ``assets/README.md`` and ``assets/ne_110m_land.json`` for provenance).

Coordinates are ``(N, 2)`` float64 ``(lon, lat)`` in degrees throughout.
"""

from geoviz.data.imagery import blue_marble, blue_marble_patch
from geoviz.data.land import LAND_SOURCES, is_land, land_boundaries, land_polygon, land_provenance
from geoviz.data.sampling import (
    RegularGrid,
    ease2_to_lonlat,
    equal_area_test_grid,
    fibonacci_lattice,
    lonlat_to_ease2,
    lonlat_to_unit,
    regular_grid,
    uniform_sphere,
)
from geoviz.data.task import Split, Task
from geoviz.data.tasks import (
    BENCHMARK_TASKS,
    checkerboard,
    get_task,
    land_ocean,
    list_tasks,
    nearest_support_labels,
)
from geoviz.data.fields import FIELDS, Field, get_field, list_fields
from geoviz.data.points import PointData, load_points, task_from_points
from geoviz.data.splits import (
    CONTINENTS,
    parse_split,
    train_val_test_split,
    block_ids,
    block_kfold,
    block_split,
    continent_of,
    holdout_region_split,
    random_split,
    region_mask,
)
from geoviz.data.zones import IGBP_NAMES, KOPPEN_CODES, igbp_colors, koppen_colors, koppen_zones, modis_landcover

__all__ = [
    "FIELDS",
    "Field",
    "get_field",
    "list_fields",
    "IGBP_NAMES",
    "KOPPEN_CODES",
    "igbp_colors",
    "koppen_colors",
    "koppen_zones",
    "modis_landcover",
    "blue_marble",
    "blue_marble_patch",
    "LAND_SOURCES",
    "is_land",
    "land_boundaries",
    "land_polygon",
    "land_provenance",
    "RegularGrid",
    "ease2_to_lonlat",
    "equal_area_test_grid",
    "fibonacci_lattice",
    "lonlat_to_ease2",
    "lonlat_to_unit",
    "regular_grid",
    "uniform_sphere",
    "BENCHMARK_TASKS",
    "Split",
    "Task",
    "checkerboard",
    "get_task",
    "land_ocean",
    "list_tasks",
    "nearest_support_labels",
    "parse_split",
    "train_val_test_split",
    "PointData",
    "load_points",
    "task_from_points",
    "CONTINENTS",
    "block_ids",
    "block_kfold",
    "block_split",
    "continent_of",
    "holdout_region_split",
    "random_split",
    "region_mask",
]
