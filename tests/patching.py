"""Patch a name in a module and in every module that imported the same object from it.

`monkeypatch.setattr(services, "send_mail", fake)` changes only the attribute of the
module object it is given. Once a module becomes a package of submodules, the function
that calls `send_mail` lives in a submodule with its own reference; this patches that
one too (every loaded module under the package holding the very same object).
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import pytest


def patch_everywhere(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str, value: Any
) -> None:
    original = getattr(module, name)
    prefix = module.__name__ + "."
    for loaded_name, loaded in list(sys.modules.items()):
        if loaded is module or loaded_name.startswith(prefix):
            if loaded is not None and loaded.__dict__.get(name) is original:
                monkeypatch.setattr(loaded, name, value)
