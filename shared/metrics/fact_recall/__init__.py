"""Makes the metric directory a package so `fact_recall.py` ships with `shared`."""
