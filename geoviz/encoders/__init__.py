"""Positional encodings (lon/lat degrees → features)."""
from .spherical_harmonics import SphericalHarmonics, spherical_harmonics, sh_index, sh_degrees_orders, convention_scale
