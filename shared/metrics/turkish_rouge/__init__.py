"""Makes the metric directory a package so `turkish_rouge.py` ships with `shared`."""
