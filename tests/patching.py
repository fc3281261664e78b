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
    prefix = module.__name__ + "."
    modules = [
        loaded
        for loaded_name, loaded in sorted(sys.modules.items())
        if loaded is not None and (loaded is module or loaded_name.startswith(prefix))
    ]
    holders = [m for m in modules if name in m.__dict__]
    if not holders:
        raise AttributeError(f"{module.__name__} and its submodules have no {name!r}")
    original = module.__dict__.get(name, holders[0].__dict__[name])
    for holder in holders:
        if holder.__dict__[name] is original:
            monkeypatch.setattr(holder, name, value)
