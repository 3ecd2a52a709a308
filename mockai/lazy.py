"""Names a module loads on first use (PEP 562's module ``__getattr__``), so that importing it stays light.

A module maps each such name to the module that defines it (relative to its own package) and installs the pair
under ``if not TYPE_CHECKING:``; type checkers read its ``TYPE_CHECKING`` imports instead, so they still know
each name's type and still refuse a misspelled one. A name, once loaded, is kept in the module's namespace.

>>> namespace = {"__name__": "demo", "__package__": "json"}
>>> getattr_, dir_ = on_first_use(namespace, {"JSONDecoder": "decoder"})
>>> getattr_("JSONDecoder").__name__, "JSONDecoder" in namespace, "JSONDecoder" in dir_()
('JSONDecoder', True, True)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def on_first_use(namespace: dict[str, Any], later: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the module whose globals are ``namespace``: each name in ``later`` is
    imported from the module it maps to when first asked for; any other name is an ``AttributeError``."""

    def __getattr__(name: str) -> Any:
        if name in later:
            module = importlib.import_module(f".{later[name]}", namespace["__package__"])
            value = namespace[name] = getattr(module, name)
            return value
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *later})

    return __getattr__, __dir__
