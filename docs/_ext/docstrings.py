"""A Griffe extension for the API reference: mockai's docstrings are written for ``help()`` and doctest, so
their ``>>>`` examples become fenced ``pycon`` blocks and their Sphinx roles (``:meth:`verify```) plain code."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:meth|func|class|mod|attr|data|exc|obj):`~?([^`]+)`")


def fence_doctests(text: str) -> str:
    """Wrap each run of doctest lines (``>>>``, ``...`` and the output up to a blank line) in a pycon fence.

    >>> print(fence_doctests("Text.\\n\\n>>> 1 + 1\\n2"))
    Text.
    <BLANKLINE>
    ```pycon
    >>> 1 + 1
    2
    ```
    """
    out: list[str] = []
    in_example = False
    for line in text.splitlines():
        if not in_example and line.lstrip().startswith(">>>"):
            out.append("```pycon")
            in_example = True
        elif in_example and not line.strip():
            out.append("```")
            in_example = False
        out.append(line)
    if in_example:
        out.append("```")
    return "\n".join(out)


class DocstringsForMarkdown(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(ROLE.sub(r"`\1`", obj.docstring.value))
