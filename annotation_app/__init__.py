"""Annotation app for agronomists: storage (SQLAlchemy) → service → Gradio UI, plus generation and exports."""
