"""Orchestrators above the stages: the whole loop (`pipeline.demo`) and one annotation round (`pipeline.round`).
They run every stage as a subprocess; nothing below imports them."""
