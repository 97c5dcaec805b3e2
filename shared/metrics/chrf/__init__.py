"""Makes the metric directory a package so `chrf.py` ships with `shared`."""
