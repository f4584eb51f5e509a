"""Airflow Crawler System: crawler package (fetchers, storage, self-healing, API)."""

__version__ = "0.1.0"
