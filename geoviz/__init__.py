"""geoviz."""
