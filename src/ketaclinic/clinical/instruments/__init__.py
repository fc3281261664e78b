"""Questionnaire instruments: definitions as validated YAML data, and their scoring.

instruments = load_instruments()
result = score(instruments["phq9"], [1, 1, 1, 1, 1, 1, 1, 1, 1])
result.total, result.severity  # (9, "mild")
"""

from __future__ import annotations

from .loader import InstrumentDefinitionError, load_instrument_file, load_instruments
from .schema import Instrument, Item, RemissionRule, SeverityBand
from .scoring import Alert, AnswerError, Score, score

__all__ = [
    "Alert",
    "AnswerError",
    "Instrument",
    "InstrumentDefinitionError",
    "Item",
    "RemissionRule",
    "Score",
    "SeverityBand",
    "load_instrument_file",
    "load_instruments",
    "score",
]
