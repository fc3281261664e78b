"""Exceptions every app's services may raise (accounts is the lowest layer, so all can)."""

from __future__ import annotations


class StaleVersion(Exception):
    """The record changed since the editor loaded it; their save would overwrite it.

    The one version-conflict exception: a service that compares a posted version with the
    stored one raises it before writing anything; pages say so, the API answers 409.
    """
