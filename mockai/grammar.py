"""Sentences of a Lark grammar: the input a custom tool with a ``lark`` grammar ``format`` receives.

OpenAI constrains a custom tool's input with the grammar the tool declares (context-free grammar tools). mockai
reads the common part of Lark's grammar language and draws one sentence of it from ``start``:

- rules (``name: …``, ``?name``/``!name``, priorities ``name.2``) and terminals (``NAME: …``), alternatives on
  one line or on ``|`` lines, aliases (``-> name``) ignored;
- literals (``"select"``, ``"select"i``), ranges (``"a".."z"``), regular expressions (``/[0-9]+/``, drawn as
  :mod:`mockai.schema` draws ``pattern`` strings), groups ``( … )``, optionals ``[ … ]`` and ``?``, ``*``,
  ``+``, ``~n`` and ``~n..m``;
- ``%import common.X`` (and ``%import common (X, Y)``) for Lark's common terminals, ``%ignore``: when
  whitespace is ignored, the tokens of rules are joined by one space, otherwise they touch.

Recursion is bounded: past a depth, or once the sentence is long enough, the draw takes the way out of the
grammar that nests least, with the fewest repeats. What mockai
cannot read (templates, ``%declare``, a grammar without ``start``, a rule that never ends) gives ``None``, and the
caller falls back to plain text.

>>> import random
>>> from mockai.schema import RandomSource
>>> text = sample('start: "SELECT " COLUMN " FROM t"\\nCOLUMN: "a" | "b"', RandomSource(random.Random(1)))
>>> text in ("SELECT a FROM t", "SELECT b FROM t")
True
"""

from __future__ import annotations

import re
from typing import Any

from .schema import SchemaError, Source, value_for

# ("lit", text), ("re", pattern), ("ref", name), ("range", first, last), ("alt", [seq, ...]),
# ("seq", [node, ...]) or ("rep", node, lo, hi)
Node = tuple[Any, ...]

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"i?)
  | (?P<regexp>/(?:[^/\\\n]|\\.)+/[imslux]*)
  | (?P<arrow>->)
  | (?P<dots>\.\.)
  | (?P<number>\d+)
  | (?P<name>[?!]?[_A-Za-z][_A-Za-z0-9]*(?:\.-?\d+)?)
  | (?P<op>[()\[\]|?*+:~])
""", re.VERBOSE)
_DEFINITION = re.compile(r"^\s*([?!]?[_A-Za-z][_A-Za-z0-9]*)(?:\.-?\d+)?\s*:(?!:)")

# Lark's common.lark terminals, as regular expressions.
COMMON: dict[str, str] = {
    "DIGIT": "[0-9]", "HEXDIGIT": "[0-9a-fA-F]", "INT": "[0-9]+", "SIGNED_INT": "[+-]?[0-9]+",
    "DECIMAL": "[0-9]+\\.[0-9]+", "FLOAT": "[0-9]+\\.[0-9]+", "SIGNED_FLOAT": "[+-]?[0-9]+\\.[0-9]+",
    "NUMBER": "[0-9]+(\\.[0-9]+)?", "SIGNED_NUMBER": "[+-]?[0-9]+(\\.[0-9]+)?",
    "LCASE_LETTER": "[a-z]", "UCASE_LETTER": "[A-Z]", "LETTER": "[A-Za-z]", "WORD": "[A-Za-z]+",
    "CNAME": "[_A-Za-z][_A-Za-z0-9]*", "ESCAPED_STRING": '"[A-Za-z0-9 ]*"', "WS": " ", "WS_INLINE": " ",
    "NEWLINE": "\n", "CR": "\r", "LF": "\n", "SH_COMMENT": "# [a-z ]+", "CPP_COMMENT": "// [a-z ]+",
}
_MAX_DEPTH = 8
_SOFT_CHARS = 120  # past this many characters the draw heads for the end: fewest repeats, least nesting
_MAX_CHARS = 4000


class _Unreadable(Exception):
    pass


def sample(definition: str, src: Source) -> str | None:
    """One sentence of the Lark grammar ``definition``, or ``None`` when mockai cannot read or end it."""
    try:
        rules, spaced = _parse(definition)
        if "start" not in rules:
            return None
        heights = _heights(rules)
        if heights.get("start") is None:
            return None
        pieces = _Sampler(rules, heights, src).rule("start", 0)
    except (_Unreadable, RecursionError, SchemaError, ValueError, KeyError):
        return None
    text = (" " if spaced else "").join(p for p in pieces if p)
    return text if len(text) <= _MAX_CHARS else None


# --- reading -------------------------------------------------------------------------------------------------


def _parse(definition: str) -> tuple[dict[str, Node], bool]:
    rules: dict[str, Node] = {}
    spaced = False
    chunks: list[tuple[str, str]] = []
    for line in definition.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("//"):
            continue
        if stripped.startswith("%"):
            spaced |= _directive(stripped, rules)
            continue
        found = _DEFINITION.match(line)
        if found:
            chunks.append((found.group(1).lstrip("?!"), line[found.end():]))
        elif chunks and stripped.startswith("|"):
            chunks[-1] = (chunks[-1][0], chunks[-1][1] + " " + stripped)
        else:
            raise _Unreadable(line)
    for name, body in chunks:
        tokens = _tokens(body)
        node, rest = _alternatives(tokens)
        if rest:
            raise _Unreadable(body)
        rules[name] = node
    return rules, spaced


def _directive(line: str, rules: dict[str, Node]) -> bool:
    """Apply ``%import``; return whether this is an ``%ignore`` of whitespace."""
    words = line.split(None, 1)
    if words[0] == "%ignore":
        return True
    if words[0] != "%import" or len(words) < 2:
        raise _Unreadable(line)
    target = words[1].strip()
    found = re.fullmatch(r"common\s*\.\s*(\w+)(?:\s*->\s*(\w+))?|common\s*\(([\w\s,]+)\)", target)
    if not found:
        raise _Unreadable(line)
    names = [found.group(1)] if found.group(1) else [n.strip() for n in found.group(3).split(",") if n.strip()]
    for name in names:
        if name not in COMMON:
            raise _Unreadable(name)
        rules[found.group(2) or name] = ("re", COMMON[name])
    return False


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        found = _TOKEN.match(text, pos)
        if not found or found.lastgroup is None:
            raise _Unreadable(text[pos:])
        if found.lastgroup not in ("ws", "comment"):
            out.append((found.lastgroup, found.group()))
        pos = found.end()
    return out


def _alternatives(tokens: list[tuple[str, str]]) -> tuple[Node, list[tuple[str, str]]]:
    options = []
    while True:
        seq, tokens = _sequence(tokens)
        options.append(seq)
        if tokens and tokens[0] == ("op", "|"):
            tokens = tokens[1:]
            continue
        return ("alt", options), tokens


def _sequence(tokens: list[tuple[str, str]]) -> tuple[Node, list[tuple[str, str]]]:
    items: list[Any] = []
    while tokens and tokens[0] not in (("op", "|"), ("op", ")"), ("op", "]")):
        if tokens[0][0] == "arrow":  # an alias names the tree node: nothing to draw
            tokens = tokens[2:]
            continue
        item, tokens = _item(tokens)
        items.append(item)
    return ("seq", items), tokens


def _item(tokens: list[tuple[str, str]]) -> tuple[Node, list[tuple[str, str]]]:
    atom, tokens = _atom(tokens)
    if tokens and tokens[0][0] == "op" and tokens[0][1] in "?*+":
        lo, hi = {"?": (0, 1), "*": (0, 3), "+": (1, 3)}[tokens[0][1]]
        return ("rep", atom, lo, hi), tokens[1:]
    if tokens and tokens[0] == ("op", "~") and len(tokens) > 1 and tokens[1][0] == "number":
        lo = hi = int(tokens[1][1])
        tokens = tokens[2:]
        if len(tokens) > 1 and tokens[0][0] == "dots" and tokens[1][0] == "number":
            hi = int(tokens[1][1])
            tokens = tokens[2:]
        return ("rep", atom, lo, hi), tokens
    return atom, tokens


def _atom(tokens: list[tuple[str, str]]) -> tuple[Node, list[tuple[str, str]]]:
    if not tokens:
        raise _Unreadable("an item is missing")
    kind, text = tokens[0]
    rest = tokens[1:]
    if (kind, text) in (("op", "("), ("op", "[")):
        inner, rest = _alternatives(rest)
        close = ")" if text == "(" else "]"
        if not rest or rest[0] != ("op", close):
            raise _Unreadable(f"unclosed {text}")
        return (inner if text == "(" else ("rep", inner, 0, 1)), rest[1:]
    if kind == "string":
        literal = _literal(text)
        if len(rest) > 1 and rest[0][0] == "dots" and rest[1][0] == "string":
            return ("range", literal, _literal(rest[1][1])), rest[2:]
        return ("lit", literal), rest
    if kind == "regexp":
        body, _, flags = text[1:].rpartition("/")
        prefix = "(?i)" if "i" in flags else ""
        return ("re", prefix + body.replace("\\/", "/")), rest
    if kind == "name":
        return ("ref", text.lstrip("?!")), rest
    raise _Unreadable(text)


def _literal(text: str) -> str:
    body = text[1:-2] if text.endswith('"i') else text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


# --- drawing -------------------------------------------------------------------------------------------------


def _heights(rules: dict[str, Node]) -> dict[str, int | None]:
    """How deep each rule must nest at least to end (``None``: it never ends), by fixpoint."""
    heights: dict[str, int | None] = dict.fromkeys(rules)
    for _ in range(len(rules) + 1):
        changed = False
        for name, node in rules.items():
            height = _height(node, heights)
            if height is not None and (heights[name] is None or height < heights[name]):  # type: ignore[operator]
                heights[name], changed = height, True
        if not changed:
            break
    return heights


def _height(node: Any, heights: dict[str, int | None]) -> int | None:
    kind = node[0]
    if kind in ("lit", "re", "range"):
        return 0
    if kind == "ref":
        if node[1] not in heights:
            raise _Unreadable(f"undefined {node[1]}")
        inner = heights[node[1]]
        return None if inner is None else inner + 1
    if kind == "rep":
        return 0 if node[2] == 0 else _height(node[1], heights)
    parts = [_height(n, heights) for n in node[1]]
    if kind == "alt":
        known = [p for p in parts if p is not None]
        return min(known) if known else None
    return None if any(p is None for p in parts) else max(parts, default=0)  # type: ignore[type-var]


class _Sampler:
    def __init__(self, rules: dict[str, Node], heights: dict[str, int | None], src: Source) -> None:
        self.rules, self.heights, self.src = rules, heights, src
        self.chars = 0

    def rule(self, name: str, depth: int) -> list[str]:
        if name.lstrip("_")[:1].isupper():  # a terminal: one token, its parts touching
            return ["".join(self.node(self.rules[name], depth + 1))]
        return self.node(self.rules[name], depth + 1)

    def node(self, node: Any, depth: int) -> list[str]:
        kind = node[0]
        if kind == "lit":
            return self._emit(node[1])
        if kind == "range":
            return self._emit(chr(self.src.integer(ord(node[1][:1] or " "), ord(node[2][:1] or " "))))
        if kind == "re":
            drawn = value_for({"type": "string", "pattern": f"^(?:{node[1]})$"}, self.src)
            return self._emit(drawn if isinstance(drawn, str) else "")
        if kind == "ref":
            return self.rule(node[1], depth)
        if kind == "seq":
            return [piece for item in node[1] for piece in self.node(item, depth)]
        if kind == "alt":
            options = node[1]
            if self._ending(depth):
                options = [min(options, key=lambda o: _height(o, self.heights) or 0)]
            usable = [o for o in options if _height(o, self.heights) is not None]
            return self.node(self.src.choice(usable), depth)
        lo, hi = node[2], node[3]
        count = lo if self._ending(depth) else self.src.integer(lo, hi)
        return [piece for _ in range(count) for piece in self.node(node[1], depth)]

    def _ending(self, depth: int) -> bool:
        return depth >= _MAX_DEPTH or self.chars > _SOFT_CHARS

    def _emit(self, text: str) -> list[str]:
        self.chars += len(text)
        if self.chars > _MAX_CHARS:
            raise _Unreadable("too long")
        return [text]
