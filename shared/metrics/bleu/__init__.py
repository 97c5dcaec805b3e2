"""Makes the metric directory a package so `bleu.py` ships with `shared`."""
