"""JSON values valid against a JSON schema: tool-call arguments and structured outputs.

One implementation serves both the default generator (driven by a seeded ``random.Random``) and, later, the
Hypothesis strategies (driven by draws): everything random goes through a :class:`Source`.

Supported: ``type`` (one or a list), ``enum``, ``const``, ``anyOf``/``oneOf``, ``allOf`` (merged), boolean
schemas, local ``$ref`` (recursion bounded): any JSON pointer into the schema (``#/$defs/a``,
``#/properties/a/anyOf/0``, as zod-to-json-schema writes them; percent-encoded or not) or an ``$anchor``; a
``$ref`` to another document, or to nothing, stands for any value. Objects (``properties``, ``required``,
``additionalProperties``, ``minProperties``), arrays (``items``, ``prefixItems`` or draft 7's list of ``items``
with ``additionalItems``, ``minItems``, ``maxItems``, ``uniqueItems``), strings (``minLength``, ``maxLength``,
common ``format`` values, ``pattern`` by drawing from the regular expression itself), numbers (``minimum``,
``maximum``, exclusive bounds, ``multipleOf``), booleans and ``null``; ``contains`` (``minContains``) and ``not``
as schemas write it (a ``type``, ``const`` or ``enum`` kept out). With ``strict`` every property is present,
as OpenAI's structured outputs require. Keywords beside ``anyOf``/``oneOf`` apply to the chosen branch too.

Numbers honour ``multipleOf`` as validators check it: ``v / multipleOf`` is a whole number in floating point
(jsonschema, Ajv), so ``multipleOf: 0.1`` gives ``0.2`` or ``0.5``, never ``0.30000000000000004`` nor ``0.3``.

Work is bounded by a budget of characters across all nesting levels (``budget``): a schema whose smallest value
is larger (``minItems: 1000`` arrays nested three deep) raises :class:`BudgetExceeded`, which carries the
value's JSON text as far as it was written. The default generator sends that text cut at the model's output
limit with ``finish_reason: "length"``, as the real model stops there.

>>> import random
>>> value_for({"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 3}},
...            "required": ["n"]}, RandomSource(random.Random(0)))
{'n': 2}
"""

from __future__ import annotations

import importlib
import json
import math
import random
import re
import string
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Protocol, TypeGuard, TypeVar
from urllib.parse import unquote

T = TypeVar("T")

WORDS = (
    "amber harbor river lantern quiet signal north meadow copper violet summit ember canyon willow atlas beacon "
    "cedar delta echo falcon garnet horizon island juniper kestrel lumen maple nova orbit pebble quartz raven "
    "sierra tundra umber vapor wander yarrow zephyr"
).split()

_MAX_DEPTH = 5
# The longest string a ``pattern`` is drawn to (a repeat beyond it is not drawn).
_MAX_SIZE = 10_000
# Characters of JSON (counting every value tried) that one call of value_for writes at most by default.
DEFAULT_BUDGET = 1 << 20


class Source(Protocol):
    """Where the randomness comes from: a seeded ``random.Random`` or Hypothesis draws."""

    def integer(self, lo: int, hi: int) -> int: ...

    def number(self, lo: float, hi: float) -> float: ...

    def boolean(self, p: float = 0.5) -> bool: ...

    def choice(self, options: Sequence[T]) -> T: ...

    def word(self) -> str: ...


class RandomSource:
    """A :class:`Source` over ``random.Random``; words come from ``words`` (a small built-in list by default)."""

    def __init__(self, rng: random.Random, words: Sequence[str] = WORDS) -> None:
        self.rng = rng
        self.words = words

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def number(self, lo: float, hi: float) -> float:
        return round(self.rng.uniform(lo, hi), 2)

    def boolean(self, p: float = 0.5) -> bool:
        return self.rng.random() < p

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def word(self) -> str:
        return self.words[self.rng.randrange(len(self.words))]


class SchemaError(ValueError):
    """The schema asks for something no value can satisfy, or uses a feature this generator lacks."""


class BudgetExceeded(SchemaError):
    """The value would be larger than the budget. ``text`` is its compact JSON as far as it was written: a prefix
    of the JSON of a value valid against the schema (as a model's reply cut by its token limit is)."""

    def __init__(self, budget: int, text: str) -> None:
        super().__init__(f"a value for this schema is larger than {budget} characters")
        self.text = text


def value_for(schema: Mapping[str, Any] | bool, source: Source, *, strict: bool = False,
              budget: int = DEFAULT_BUDGET) -> Any:
    """A JSON value valid against ``schema``, writing at most about ``budget`` characters of JSON."""
    root = schema if isinstance(schema, Mapping) else {}
    try:
        return _Builder(root, source, strict, budget).value(schema, 0)
    except _Exhausted as exc:
        raise BudgetExceeded(budget, exc.text) from None


def dumps(value: Any) -> str:
    """Compact JSON, as a model writes it (and as :class:`BudgetExceeded` texts are written)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class _Exhausted(Exception):
    """Raised where the budget ran out; each container it passes through puts its own start in front of ``text``."""

    def __init__(self, text: str = "") -> None:
        self.text = text

    def within(self, start: str) -> _Exhausted:
        self.text = start + self.text
        return self


def _cost(value: Any) -> int:
    """About how many characters a leaf takes in JSON (exactly, for strings without escapes)."""
    if isinstance(value, str):
        return len(value) + 2
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, (int, float)):
        return len(repr(value))
    return len(dumps(value))


# Keywords that say nothing of which values are valid.
_ANNOTATIONS = frozenset({"title", "description", "$comment", "examples", "default", "$defs", "definitions",
                          "$schema", "$id", "deprecated", "readOnly", "writeOnly"})


class _Builder:
    def __init__(self, root: Mapping[str, Any], source: Source, strict: bool, budget: int) -> None:
        self.root = root
        self.src = source
        self.strict = strict
        self.left = budget

    def spend(self, size: int, text: str = "") -> None:
        self.left -= size
        if self.left < 0:
            raise _Exhausted(text)

    def leaf(self, value: T) -> T:
        self.left -= _cost(value)
        if self.left < 0:
            raise _Exhausted(dumps(value))
        return value

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any] | bool:
        """``schema`` with its ``$ref`` followed (keywords beside it kept) and its ``allOf`` merged; ``True`` or
        ``False`` when it comes to a boolean schema."""
        seen = 0
        while "$ref" in schema:
            ref = schema["$ref"]
            target = self._target(ref)
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            if target is False:
                return False
            if target is True:
                if not extra:
                    return True
                target = {}
            if not isinstance(target, Mapping):
                raise SchemaError(f"$ref {ref!r} names {type(target).__name__}, not a schema")
            schema = {**target, **extra}
            seen += 1
            if seen > 32:
                raise SchemaError(f"$ref cycle at {ref!r}")
        if "allOf" in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for raw_part in schema["allOf"]:
                part = self.resolve(raw_part) if isinstance(raw_part, Mapping) else raw_part
                if part is False:
                    return False
                if part is True:
                    continue
                for key, val in part.items():
                    if key in ("properties",) and key in merged:
                        merged[key] = {**merged[key], **val}
                    elif key == "required" and key in merged:
                        merged[key] = [*merged[key], *[r for r in val if r not in merged[key]]]
                    else:
                        merged.setdefault(key, val)
            schema = merged
        return schema

    def _target(self, ref: Any) -> Any:
        """What a ``$ref`` names: a JSON pointer into the root schema (``#/$defs/a``, ``#/properties/a/anyOf/0``,
        percent-encoded or not) or an ``$anchor`` (``#name``). A reference this schema cannot resolve (to another
        document, or to nothing) stands for any value: a model writing arguments does not fetch schemas either,
        and the API does not refuse them."""
        if not isinstance(ref, str) or not ref.startswith("#"):
            return True
        fragment = unquote(ref[1:])
        if fragment and not fragment.startswith("/"):
            return _anchored(self.root, fragment)
        target: Any = self.root
        for part in [p for p in fragment.split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, Mapping) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                return True
        return target

    def value(self, schema: Mapping[str, Any] | bool, depth: int) -> Any:
        if schema is True or schema == {}:
            return self.leaf(self.src.word())
        if schema is False:
            raise SchemaError("schema `false` admits no value")
        if not isinstance(schema, Mapping):
            raise SchemaError(f"a schema must be an object or a boolean, got {type(schema).__name__}")
        resolved = self.resolve(schema)
        if isinstance(resolved, bool):
            return self.value(resolved, depth)
        schema = resolved
        if "not" in schema:
            return self._outside(schema, depth)
        if "const" in schema:
            return self.leaf(schema["const"])
        if "enum" in schema:
            if not schema["enum"]:
                raise SchemaError("an empty enum admits no value")
            return self.leaf(self.src.choice(list(schema["enum"])))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [o for o in schema[key] if self._admits(o)]  # (a `false` branch admits no value)
                if not options:
                    raise SchemaError(f"no branch of {key} admits a value")
                if depth >= _MAX_DEPTH:  # prefer a branch that ends the recursion
                    options = [o for o in options if self._is_leaf(o)] or options
                branch = self.src.choice(options)
                # Keywords beside anyOf apply too ({"properties": ..., "anyOf": [{"required": ["a"]}, ...]}):
                # merged under the branch, whose own keywords (its type) come first.
                rest = {k: v for k, v in schema.items() if k != key and k not in _ANNOTATIONS}
                if rest and branch is not False:
                    branch = {"allOf": [branch, rest]} if isinstance(branch, Mapping) else rest
                return self.value(branch, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] if depth >= _MAX_DEPTH and len(kind) > 1 else kind
            kind = self.src.choice(kinds or kind)
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        make = getattr(self, f"_{kind}", None)
        if make is None:
            raise SchemaError(f"unknown type {kind!r}")
        if kind in ("array", "object"):
            return make(schema, depth)
        return self.leaf(make(schema, depth))

    def _outside(self, schema: Mapping[str, Any], depth: int) -> Any:
        """A value for ``schema`` that ``not`` does not plainly match: drawn again while it does (``not`` as
        schemas write it: a ``type``, ``const`` or ``enum`` to keep out; other keywords in it are not checked)."""
        banned, rest = schema["not"], {k: v for k, v in schema.items() if k != "not"}
        banned = self.resolve(banned) if isinstance(banned, Mapping) else banned
        kinds = banned.get("type") if isinstance(banned, Mapping) else None
        if kinds is not None and "type" not in rest and isinstance(banned, Mapping) and set(banned) <= {
                "type", *_ANNOTATIONS}:
            out = set(kinds if isinstance(kinds, list) else [kinds])
            out |= {"integer"} if "number" in out else set()
            rest["type"] = [k for k in _TYPES if k not in out] or "null"  # (every type kept out: no value)
        for _ in range(_REDRAWS):
            try:
                value = self.value(rest, depth)
            except _Exhausted as exc:
                exc.text = ""  # the value being made might have been kept out, and made again
                raise
            if not _plainly_matches(value, banned):
                return value
        raise SchemaError(f"no value found outside not={schema['not']!r}")

    def _admits(self, schema: Any) -> bool:
        return schema is not False and not (isinstance(schema, Mapping) and self.resolve(schema) is False)

    def _is_leaf(self, schema: Any) -> bool:
        if not isinstance(schema, Mapping):
            return True
        s = self.resolve(schema)
        if isinstance(s, bool):
            return True
        return s.get("type") in ("string", "integer", "number", "boolean", "null") or "enum" in s or "const" in s

    def _null(self, schema: Mapping[str, Any], depth: int) -> None:
        return None

    def _boolean(self, schema: Mapping[str, Any], depth: int) -> bool:
        return self.src.boolean()

    def _integer(self, schema: Mapping[str, Any], depth: int) -> int:
        lo, hi = _bounds(schema, integer=True)
        step = schema.get("multipleOf")
        if _is_step(step):
            return int(self._multiple(lo, hi, step, integer=True))
        return self.src.integer(int(lo), int(hi))

    def _number(self, schema: Mapping[str, Any], depth: int) -> float | int:
        lo, hi = _bounds(schema, integer=False)
        step = schema.get("multipleOf")
        if _is_step(step):
            return self._multiple(lo, hi, step, integer=False)
        value = self.src.number(lo, hi)
        return min(max(value, lo), hi)

    def _multiple(self, lo: float, hi: float, step: float, *, integer: bool) -> float | int:
        """A multiple of ``step`` in ``[lo, hi]`` that passes a validator's floating-point check.

        The multiples are exact (fractions); a drawn one whose nearest float fails the check (``0.3`` for 0.1:
        ``0.3 / 0.1`` is ``2.9999999999999996``) gives way to the nearest that passes.
        """
        exact = Fraction(repr(step)) if isinstance(step, float) else Fraction(step)
        unit = Fraction(exact.numerator) if integer else exact  # k·p/q is whole exactly when k·p/q = m·p
        first, last = math.ceil(Fraction(lo) / unit), math.floor(Fraction(hi) / unit)
        if first > last:
            raise SchemaError(f"no multiple of {step} in [{lo}, {hi}]")
        drawn = self.src.integer(first, last)
        for offset in range(64):
            for k in (drawn + offset, drawn - offset):
                if first <= k <= last:
                    value = unit * k
                    candidate = int(value) if value.denominator == 1 else float(value)
                    if is_multiple(candidate, step):
                        return candidate
        raise SchemaError(f"no multiple of {step} in [{lo}, {hi}] passes a floating-point check")

    def _string(self, schema: Mapping[str, Any], depth: int) -> str:
        lo = _size(schema, "minLength")
        hi = int(schema.get("maxLength", max(lo, 40)))
        if lo > hi:
            raise SchemaError(f"minLength {lo} is above maxLength {hi}")
        # Too long to build (a pattern's draw, padding): write as much of it as the budget holds. A shorter one is
        # built and cut like any leaf, so what is cut is the start of the very value (its pattern, its format).
        if lo > self.left and lo > _MAX_SIZE:
            start = self._words(0, 40)
            self.spend(lo, '"' + (start + "x" * max(0, self.left - len(start)))[: max(0, self.left)])
        fmt = schema.get("format")
        pattern = schema.get("pattern")
        text = self._formatted(fmt) if fmt else self._words(lo, hi)
        if len(text) < lo:
            text = text + "x" * (lo - len(text))
        text = text[:hi]
        if not isinstance(pattern, str):
            return text
        compiled = _compile(pattern)
        if compiled is None:  # a dialect Python's ``re`` cannot read (``\p{L}``, ``(?<name>``): it is not checked
            return text
        if compiled.search(text):
            return text
        limit = int(schema["maxLength"]) if "maxLength" in schema else _MAX_SIZE
        drawn = _matching(_python_dialect(pattern), compiled, self.src, lo, limit)
        return text if drawn is None else drawn

    def _words(self, lo: int, hi: int) -> str:
        words = [self.src.word() for _ in range(self.src.integer(1, 3))]
        text = " ".join(words)
        return text if len(text) <= hi else text[: max(hi, lo)]

    def _formatted(self, fmt: str) -> str:
        src = self.src
        if fmt == "date-time":
            return f"2025-{src.integer(1, 12):02d}-{src.integer(1, 28):02d}T{src.integer(0, 23):02d}:00:00Z"
        if fmt == "date":
            return f"2025-{src.integer(1, 12):02d}-{src.integer(1, 28):02d}"
        if fmt == "time":  # RFC 3339 full-time, as JSON schema's "time" wants: with its offset
            return f"{src.integer(0, 23):02d}:{src.integer(0, 59):02d}:00Z"
        if fmt == "duration":  # ISO 8601, as JSON schema's "duration"
            return f"P{src.integer(1, 30)}DT{src.integer(1, 23)}H"
        if fmt == "email":
            return f"{src.word()}@example.com"
        if fmt in ("uri", "url"):
            return f"https://example.com/{src.word()}"
        if fmt == "hostname":
            return f"{src.word()}.example.com"
        if fmt == "ipv4":
            return f"192.0.2.{src.integer(1, 254)}"
        if fmt == "ipv6":
            return f"2001:db8::{src.integer(1, 65535):x}"
        if fmt == "uuid":
            return str(uuid.UUID(int=src.integer(0, 2**128 - 1), version=4))
        return self._words(0, 40)

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        prefix = list(schema.get("prefixItems", []))
        items = schema.get("items", {})
        if isinstance(items, list):  # drafts 4-7: a list of "items" is prefixItems, "additionalItems" the rest
            prefix, items = prefix or items, schema.get("additionalItems", {})
        lo = _size(schema, "minItems")
        contains, least = schema.get("contains"), 0
        if contains is not None and contains is not True:
            least = int(schema.get("minContains", 1))  # the first items are drawn from `contains` too
            lo = max(lo, least)
        hi = int(schema.get("maxItems", max(lo, len(prefix), 3)))
        if depth >= _MAX_DEPTH:
            hi = max(lo, min(hi, len(prefix)))
        size = self.src.integer(max(lo, min(len(prefix), hi)), max(lo, hi)) if hi >= lo else lo
        out: list[Any] = []
        self.spend(2)
        for i in range(size):
            sub = prefix[i] if i < len(prefix) else items
            if sub is False:
                break
            if i < least:
                sub = {"allOf": [sub, contains]}
            try:
                self.spend(1)
                value = self.value(sub, depth + 1)
                if schema.get("uniqueItems"):
                    for _ in range(100):
                        if value not in out:
                            break
                        value = self.value(sub, depth + 1)
                    else:
                        break
            except _Exhausted as exc:
                if schema.get("uniqueItems"):
                    exc.text = ""  # the item being made might have been a duplicate, dropped and made again
                raise exc.within("[" + "".join(dumps(v) + "," for v in out)) from None
            out.append(value)
        if len(out) < lo:
            raise SchemaError(f"cannot make {lo} items for {schema!r}")
        return out

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        props: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        out: dict[str, Any] = {}
        self.spend(2)

        def written() -> str:
            return "{" + "".join(f"{dumps(k)}:{dumps(v)}," for k, v in out.items())

        def put(name: str, sub: Any) -> None:
            try:
                self.spend(len(name) + 4)
                out[name] = self.value(sub, depth + 1)
            except _Exhausted as exc:
                raise exc.within(written() + dumps(name) + ":") from None

        for name, sub in props.items():
            keep = (
                name in required
                or self.strict
                or (depth < _MAX_DEPTH and self.src.boolean(0.6))
            )
            if keep:
                put(name, sub)
        for name in sorted(required - set(out)):
            put(name, schema.get("additionalProperties") or {})
        extra = schema.get("additionalProperties", not self.strict and not props)
        want = _size(schema, "minProperties")
        for attempt in range(want * 20 + 20):
            if len(out) >= want or extra is False:
                break
            try:
                self.spend(1)  # a drawn key may be taken already: each try is work all the same
            except _Exhausted as exc:
                raise exc.within(written()) from None
            key = self.src.word() if attempt < want * 10 else f"{self.src.word()}_{attempt}"
            if key not in out:
                put(key, extra if isinstance(extra, Mapping) else {})
        return out


# --- strings from a `pattern` -------------------------------------------------------------------------------

# Python's regular expression parser: ``re._parser`` from 3.11 on, ``sre_parse`` (deprecated there) before.
_PARSER: Any = importlib.import_module("re._parser" if sys.version_info >= (3, 11) else "sre_parse")
_ALNUM = string.ascii_letters + string.digits
_PRINTABLE = "".join(chr(c) for c in range(32, 127))
_CATEGORIES = {
    "CATEGORY_DIGIT": string.digits,
    "CATEGORY_NOT_DIGIT": string.ascii_letters,
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": _ALNUM,
    "CATEGORY_WORD": _ALNUM + "_",
    "CATEGORY_NOT_WORD": " -.,:;!?@#/",
    "CATEGORY_LINEBREAK": "\n",
    "CATEGORY_NOT_LINEBREAK": _ALNUM,
}
_IN_CATEGORY: dict[str, Callable[[str], bool]] = {
    "CATEGORY_DIGIT": str.isdecimal,
    "CATEGORY_NOT_DIGIT": lambda c: not c.isdecimal(),
    "CATEGORY_SPACE": str.isspace,
    "CATEGORY_NOT_SPACE": lambda c: not c.isspace(),
    "CATEGORY_WORD": lambda c: c.isalnum() or c == "_",
    "CATEGORY_NOT_WORD": lambda c: not (c.isalnum() or c == "_"),
    "CATEGORY_LINEBREAK": lambda c: c == "\n",
    "CATEGORY_NOT_LINEBREAK": lambda c: c != "\n",
}
# Each retry draws unbounded repeats (``+``, ``*``, ``{2,}``) up to this many beyond their minimum; a bounded
# repeat up to this many or 8 beyond. Small spreads suit ``maxLength``, large ones ``minLength``.
_SPREADS = (6, 3, 0, 12, 24)
_ATTEMPTS = 10


class _Unusable(Exception):
    """This draw cannot go on: a construct the walker lacks, a class with no usable character, too long a text."""


def _never(char: str) -> bool:
    return False


def _python_dialect(pattern: str) -> str:
    """ECMA-262's named groups (``(?<name>...)``, ``\\k<name>``) as Python's ``re`` spells them."""
    pattern = re.sub(r"(?<!\\)\(\?<(?=[A-Za-z_])", "(?P<", pattern)
    return re.sub(r"\\k<(\w+)>", r"(?P=\1)", pattern)


def _compile(pattern: str) -> re.Pattern[str] | None:
    for dialect in (pattern, _python_dialect(pattern)):
        try:
            return re.compile(dialect)
        except (re.error, RecursionError, OverflowError, ValueError):
            continue
    return None


def _matching(pattern: str, compiled: re.Pattern[str], src: Source, lo: int, hi: int) -> str | None:
    """A string ``compiled.search`` accepts, drawn from the pattern's parse tree (so the same draws make the same
    string), of ``lo`` to ``hi`` characters where that can be done in a few tries.

    Lookarounds are checked, and every other try draws a positive one's text in place: a draw that misses one is
    drawn again. After the tries: the best string made (one that matches but is the wrong length, else one that
    does not match), or ``None`` when the walker could make none at all; never an error, since the real API
    accepts the schema."""
    try:
        parsed = _PARSER.parse(pattern)
    except Exception:  # re.compile read it, so this is not expected; the caller falls back to words
        return None
    ignore_case = bool(getattr(getattr(parsed, "state", None), "flags", 0) & re.IGNORECASE)
    matched: str | None = None
    drawn: str | None = None
    for attempt in range(_ATTEMPTS):
        spread = _SPREADS[attempt % len(_SPREADS)]
        if attempt >= len(_SPREADS) and lo:
            spread = max(spread, lo)
        try:
            text = _RegexWalk(src, spread, ignore_case, lookarounds=attempt % 2 == 1).sequence(parsed)
        except (_Unusable, RecursionError):
            continue
        if drawn is None:
            drawn = text
        if not compiled.search(text):
            continue
        if len(text) < lo:
            pad = "x" * (lo - len(text))
            text = next((t for t in (text + pad, pad + text) if compiled.search(t)), text)
        if lo <= len(text) <= hi:
            return text
        if matched is None:
            matched = text
    return drawn if matched is None else matched


class _RegexWalk:
    """One string from a parsed regular expression, every choice drawn from a :class:`Source`."""

    def __init__(self, src: Source, spread: int, ignore_case: bool, lookarounds: bool = False) -> None:
        self.src = src
        self.spread = spread
        self.ignore_case = ignore_case
        self.lookarounds = lookarounds  # draw what a positive lookaround wants, in place (a guess)
        self.groups: dict[int, str] = {}

    def sequence(self, items: Any) -> str:
        return "".join(self.item(op, arg) for op, arg in items)

    def item(self, op: Any, arg: Any) -> str:
        name = getattr(op, "name", str(op))
        if name == "LITERAL":
            return chr(arg)
        if name == "NOT_LITERAL":
            return self.src.choice([c for c in _ALNUM + " -." if ord(c) != arg])
        if name == "ANY":
            return self.src.choice(_ALNUM)
        if name == "IN":
            return self.one_of(arg)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            return self.repeat(*arg)
        if name == "BRANCH":
            return self.sequence(self.src.choice(list(arg[1])))
        if name == "SUBPATTERN":
            group, sub = arg[0], arg[-1]
            text = self.sequence(sub)
            if group:
                self.groups[group] = text
            return text
        if name == "ATOMIC_GROUP":
            return self.sequence(arg)
        if name == "GROUPREF":
            return self.groups.get(arg, "")
        if name == "GROUPREF_EXISTS":
            group, yes, no = arg
            branch = yes if group in self.groups else no
            return self.sequence(branch) if branch else ""
        if name == "ASSERT" and self.lookarounds:
            return self.sequence(arg[1])
        if name in ("AT", "ASSERT", "ASSERT_NOT"):  # anchors and lookarounds: checked afterwards
            return ""
        raise _Unusable(name)

    def repeat(self, lo: int, hi: int, sub: Any) -> str:
        if lo > _MAX_SIZE:
            raise _Unusable("repeat")
        top = lo + self.spread if hi == _PARSER.MAXREPEAT else min(hi, lo + max(self.spread, 8))
        parts: list[str] = []
        size = 0
        for _ in range(self.src.integer(lo, max(lo, top))):
            part = self.sequence(sub)
            size += len(part)
            if size > _MAX_SIZE:
                raise _Unusable("too long")
            parts.append(part)
        return "".join(parts)

    def one_of(self, items: Any) -> str:
        """A character of a class ``[...]``: one of its members, or (negated) a printable one outside it."""
        items = list(items)
        if items and getattr(items[0][0], "name", "") == "NEGATE":
            rest = items[1:]
            for pool in (_PRINTABLE, "".join(map(chr, range(0xA1, 0x250)))):
                outside = [c for c in pool if not self.within(rest, c)]
                if outside:
                    return self.src.choice(outside)
            raise _Unusable("empty class")
        op, arg = self.src.choice(items)
        name = getattr(op, "name", str(op))
        if name == "LITERAL":
            return chr(arg)
        if name == "RANGE":
            first, last = arg
            if max(first, 32) <= min(last, 126):  # prefer printable ASCII
                return chr(self.src.integer(max(first, 32), min(last, 126)))
            spans = [(a, b) for a, b in ((first, min(last, 0xD7FF)), (max(first, 0xE000), last)) if a <= b]
            if not spans:  # only surrogates: no text can hold one
                raise _Unusable("surrogates")
            a, b = self.src.choice(spans)
            return chr(self.src.integer(a, b))
        if name == "CATEGORY":
            return self.src.choice(_CATEGORIES.get(getattr(arg, "name", ""), _ALNUM))
        raise _Unusable(name)

    def within(self, items: Any, char: str) -> bool:
        forms = {char, char.lower(), char.upper()} if self.ignore_case else {char}
        for op, arg in items:
            name = getattr(op, "name", str(op))
            for c in forms:
                if name == "LITERAL" and ord(c) == arg:
                    return True
                if name == "RANGE" and arg[0] <= ord(c) <= arg[1]:
                    return True
                if name == "CATEGORY" and _IN_CATEGORY.get(getattr(arg, "name", ""), _never)(c):
                    return True
        return False


_REDRAWS = 20  # draws of a value with `not` before no value is said to exist
_TYPES = ("string", "integer", "number", "boolean", "null", "array", "object")


def _plainly_matches(value: Any, schema: Any) -> bool:
    """Whether ``value`` matches ``schema`` by what can be told at once: ``type``, ``const``, ``enum`` (and
    ``true``/``{}``, which match everything). A schema with other keywords is not said to match."""
    if schema is True or schema == {}:
        return True
    if not isinstance(schema, Mapping) or set(schema) - {"type", "const", "enum", *_ANNOTATIONS}:
        return False
    if "const" in schema and not _same(value, schema["const"]):
        return False
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        return False
    kinds = schema.get("type")
    if kinds is not None and not any(_is_type(value, k) for k in (kinds if isinstance(kinds, list) else [kinds])):
        return False
    return bool({"type", "const", "enum"} & set(schema))


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == 1.0``, but ``True`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "boolean": bool, "null": type(None), "array": list,
                              "object": dict}.get(kind, ()))


def _anchored(root: Any, name: str) -> Any:
    """The subschema of ``root`` named ``name`` by ``$anchor`` (or draft 7's ``"$id": "#name"``); ``True`` (any
    value) when there is none."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            if node.get("$anchor") == name or node.get("$id") == "#" + name:
                return node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


def _size(schema: Mapping[str, Any], key: str) -> int:
    value = schema.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SchemaError(f"{key} must be a non-negative integer, got {value!r}")
    return value


def _is_step(step: Any) -> TypeGuard[float]:
    return isinstance(step, (int, float)) and not isinstance(step, bool) and math.isfinite(step) and step > 0


def is_multiple(value: float, step: float) -> bool:
    """``value`` is a multiple of ``step`` as JSON schema validators compute it (jsonschema's ``multipleOf``):
    for a float step, ``value / step`` is a whole number; for an integer step, ``value % step == 0``.

    >>> is_multiple(0.2, 0.1), is_multiple(0.3, 0.1), is_multiple(15, 2.5)
    (True, False, True)
    """
    if isinstance(step, float):
        try:
            quotient = value / step
        except OverflowError:
            return False
        return math.isfinite(quotient) and quotient.is_integer()
    return value % step == 0


def _bounds(schema: Mapping[str, Any], *, integer: bool) -> tuple[float, float]:
    lo = schema.get("minimum", 0 if "maximum" not in schema else min(0, schema["maximum"] - 100))
    hi = schema.get("maximum", lo + 100)
    if "exclusiveMinimum" in schema:
        ex = schema["exclusiveMinimum"]
        lo = max(lo, ex + 1 if integer else ex + 0.01) if not isinstance(ex, bool) else lo + 0.01
    if "exclusiveMaximum" in schema:
        ex = schema["exclusiveMaximum"]
        hi = min(hi, ex - 1 if integer else ex - 0.01) if not isinstance(ex, bool) else hi - 0.01
    if integer:
        lo, hi = math.ceil(lo), math.floor(hi)
    if lo > hi:
        raise SchemaError(f"empty range [{lo}, {hi}]")
    return lo, hi
