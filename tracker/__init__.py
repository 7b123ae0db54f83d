"""tracker: the legal status of kratom in every jurisdiction, as a cited bitemporal history."""

from __future__ import annotations

__version__ = "0.1.0"
