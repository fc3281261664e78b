"""The clinic's knowledge as pure Python: no Django, no database.

Scoring, eligibility, dosing, monitoring thresholds and outcome statistics take
plain values and return plain values, so they can be tested exhaustively.
"""
