"""Errors that teach: an unknown keyword or field names the nearest valid one and lists what is accepted.

>>> closest("last_usr", ["model", "last_user", "any_message"])
'last_user'
>>> @checked_keywords
... def on(*, model=None, last_user=None): ...
>>> on(last_usr="hi")
Traceback (most recent call last):
...
TypeError: on() got an unexpected keyword argument 'last_usr'; did you mean 'last_user'? It takes model, last_user.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name closest to ``name`` (a likely typo of it), or ``None`` when none is close."""
    import difflib

    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the valid name closest to ``name``, or ``"."`` when none is close."""
    best = closest(name, valid)
    return f"; did you mean {best!r}?" if best else "."


def unknown_keyword(where: str, name: str, valid: Sequence[str]) -> TypeError:
    """The ``TypeError`` for ``where`` given the keyword ``name``, which is not one of ``valid``."""
    return TypeError(f"{where} got an unexpected keyword argument {name!r}{did_you_mean(name, valid)} "
                     f"It takes {', '.join(valid)}.")


def checked_keywords(func: Callable[P, R]) -> Callable[P, R]:
    """Make an unknown keyword argument fail with the nearest valid name instead of Python's bare ``TypeError``.

    The signature is kept, so type checkers still check calls.
    """
    params = inspect.signature(func).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return func  # it takes any keyword
    names = [n for n, p in params.items()
             if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    accepted = frozenset(names)
    where = func.__qualname__.removesuffix(".__init__") + "()"

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for key in kwargs:
            if key not in accepted:
                raise unknown_keyword(where, key, names)
        return func(*args, **kwargs)

    return wrapper
