"""Billing: charges proposed from the record, superbills, X12 837P claims, payments and balances."""
