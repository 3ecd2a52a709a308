"""Three views of a chat completions request, to judge mockai's by the other two: the enum values each place in
a request takes (``messages[]<user>.content[]<input_audio>.input_audio.format``), from mockai's wire models,
from the installed ``openai`` SDK's request types and from OpenAI's published schema; and a check of a request
body against the SDK's request types.

A path names object fields with ``.``, array items with ``[]``, and the branch of a union of objects told apart
by their ``role`` or ``type`` with ``<tag>``; the tags themselves are the values at ``<union path>.role``/``.type``.
"""

from __future__ import annotations

import collections.abc
import copy
import functools
import json
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import jsonschema
from pydantic import BaseModel
from typing_extensions import NotRequired, Required, is_typeddict

from mockai.enums import OpenEnum

SPEC = Path(__file__).resolve().parents[2] / "shared" / "openai-spec" / "openai-chat.schema.json"
SPEC_MISSING = f"the official schema is not here ({SPEC}): this checkout sits outside the shared workspace"
Enums = dict[str, set[str]]
_TAGS = ("role", "type")


def load_spec() -> dict[str, Any] | None:
    return json.loads(SPEC.read_text()) if SPEC.exists() else None


def request_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """``CreateChatCompletionRequest`` as a standalone JSON schema (its ``$ref``s resolve within it)."""
    return {"$schema": spec.get("$schema"), "$defs": spec["$defs"], "$ref": "#/$defs/CreateChatCompletionRequest"}


# --- mockai's wire models ----------------------------------------------------------------------------------


def wire_enums(model: type[BaseModel]) -> Enums:
    """The enum values mockai's wire models validate (closed ``Literal`` lists and open lists' known values)."""
    out: Enums = {}
    _wire_model(model, "", out, frozenset())
    return out


def _wire_model(model: type[BaseModel], path: str, out: Enums, skip: frozenset[str]) -> None:
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key in skip:
            continue
        for marker in info.metadata:
            if isinstance(marker, OpenEnum):
                out.setdefault(f"{path}.{key}".lstrip("."), set()).update(marker.values)
        _wire_type(info.annotation, f"{path}.{key}".lstrip("."), out)


def _wire_type(tp: Any, path: str, out: Enums) -> None:
    branches = _flatten(tp)
    models = [b for b in branches if isinstance(b, type) and issubclass(b, BaseModel)]
    for branch in branches:
        if get_origin(branch) is typing.Annotated:
            for marker in branch.__metadata__:
                if isinstance(marker, OpenEnum):
                    out.setdefault(path, set()).update(marker.values)
        elif get_origin(branch) is Literal:
            out.setdefault(path, set()).update(v for v in get_args(branch) if isinstance(v, str))
        elif get_origin(branch) in (list, tuple, collections.abc.Sequence):
            _wire_type(get_args(branch)[0], path + "[]", out)
    tag = _common_tag({m: _wire_tag(m) for m in models})
    for m in models:
        if tag is None:
            _wire_model(m, path, out, frozenset())
        else:
            value = _wire_tag(m)[tag]
            out.setdefault(f"{path}.{tag}", set()).add(value)
            _wire_model(m, f"{path}<{value}>", out, frozenset({tag}))


def _wire_tag(model: type[BaseModel]) -> dict[str, str]:
    tags = {}
    for name in _TAGS:
        info = model.model_fields.get(name)
        values = get_args(info.annotation) if info is not None and get_origin(info.annotation) is Literal else ()
        if len(values) == 1:
            tags[name] = values[0]
    return tags


def _common_tag(tags: dict[Any, dict[str, str]]) -> str | None:
    """The field (``role`` or ``type``) that tells two or more objects of a union apart, if any."""
    if len(tags) < 2:
        return None
    return next((t for t in _TAGS if all(t in found for found in tags.values())), None)


def _flatten(tp: Any) -> list[Any]:
    """The branches of a union (``X | Y``, ``Optional``), ``Annotated`` kept where it marks an open enum."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        if any(isinstance(m, OpenEnum) for m in tp.__metadata__):
            return [tp]
        return _flatten(tp.__origin__)
    if origin in (Union, types.UnionType):
        return [b for arg in get_args(tp) for b in _flatten(arg)]
    if origin in (Required, NotRequired):
        return _flatten(get_args(tp)[0])
    return [tp]


# --- the openai SDK's request types --------------------------------------------------------------------------


def _sdk_base() -> Any:
    from openai.types.chat.completion_create_params import CompletionCreateParamsBase

    return CompletionCreateParamsBase


def sdk_enums() -> Enums:
    """The ``Literal`` values of the SDK's ``CompletionCreateParams`` at each path."""
    out: Enums = {}
    _sdk_dict(_sdk_base(), "", out, frozenset(), ())
    return out


def _sdk_fields(td: Any) -> Iterator[tuple[str, Any]]:
    """A TypedDict's (JSON key, type) pairs, ``PropertyInfo(alias=...)`` applied."""
    for name, tp in typing.get_type_hints(td, include_extras=True).items():
        key = name
        inner = tp
        while get_origin(inner) in (Required, NotRequired, typing.Annotated):
            if get_origin(inner) is typing.Annotated:
                key = next((m.alias for m in inner.__metadata__ if getattr(m, "alias", None)), key)
                inner = inner.__origin__
            else:
                inner = get_args(inner)[0]
        yield key, inner


def _sdk_dict(td: Any, path: str, out: Enums, skip: frozenset[str], seen: tuple[Any, ...]) -> None:
    if td in seen:
        return
    for key, tp in _sdk_fields(td):
        if key not in skip:
            _sdk_type(tp, f"{path}.{key}".lstrip("."), out, (*seen, td))


def _is_sequence(tp: Any) -> bool:
    origin = get_origin(tp)
    return origin in (list, tuple, collections.abc.Iterable, collections.abc.Sequence) or (
        getattr(origin, "__name__", "") == "SequenceNotStr")


def _sdk_type(tp: Any, path: str, out: Enums, seen: tuple[Any, ...]) -> None:
    branches = _flatten(tp)
    dicts = [b for b in branches if is_typeddict(b)]
    for branch in branches:
        if get_origin(branch) is Literal:
            out.setdefault(path, set()).update(v for v in get_args(branch) if isinstance(v, str))
        elif _is_sequence(branch):
            _sdk_type(get_args(branch)[0], path + "[]", out, seen)
    tag = _common_tag({d: _sdk_tag(d) for d in dicts})
    for d in dicts:
        if tag is None:
            _sdk_dict(d, path, out, frozenset(), seen)
        else:
            value = _sdk_tag(d)[tag]
            out.setdefault(f"{path}.{tag}", set()).add(value)
            _sdk_dict(d, f"{path}<{value}>", out, frozenset({tag}), seen)


def _sdk_tag(td: Any) -> dict[str, str]:
    tags = {}
    for key, tp in _sdk_fields(td):
        values = get_args(tp) if get_origin(tp) is Literal else ()
        if key in _TAGS and len(values) == 1:
            tags[key] = values[0]
    return tags


def sdk_problems(body: Any) -> list[str]:
    """Where ``body`` breaks the SDK's request types (``CompletionCreateParams``): a missing required key, an
    unknown key, a value of the wrong type or outside a ``Literal``. Empty when it fits."""
    from openai.types.chat.completion_create_params import CompletionCreateParams

    return _fits(body, CompletionCreateParams, "body")


def _fits(value: Any, tp: Any, where: str) -> list[str]:
    origin = get_origin(tp)
    if origin in (Required, NotRequired, typing.Annotated):
        return _fits(value, tp.__origin__ if origin is typing.Annotated else get_args(tp)[0], where)
    if origin in (Union, types.UnionType):
        found = [_fits(value, branch, where) for branch in get_args(tp)]
        return [] if any(not f for f in found) else min(found, key=len)
    if origin is Literal:
        return [] if value in get_args(tp) else [f"{where}: {value!r} is not one of {get_args(tp)}"]
    if tp in (Any, object):
        return []
    if tp is type(None):
        return [] if value is None else [f"{where}: {value!r} is not null"]
    if tp in (str, int, float, bool):
        ok = isinstance(value, tp) and not (tp is not bool and isinstance(value, bool))
        ok = ok or (tp is float and isinstance(value, int) and not isinstance(value, bool))
        return [] if ok else [f"{where}: {value!r} is not a {tp.__name__}"]
    if _is_sequence(tp):
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not an array"]
        return [p for i, item in enumerate(value) for p in _fits(item, get_args(tp)[0], f"{where}[{i}]")]
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not an object"]
        return [p for k, v in value.items() for p in _fits(v, get_args(tp)[1], f"{where}.{k}")]
    if is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not an object"]
        fields = dict(_sdk_fields(tp))
        required = {k for k, t in typing.get_type_hints(tp, include_extras=True).items()
                    if get_origin(t) is Required or (k in tp.__required_keys__ and get_origin(t) is not NotRequired)}
        problems = [f"{where}: misses {k!r}" for k in sorted(required) if k not in value]
        problems += [f"{where}: {k!r} is not a parameter the SDK knows" for k in value if k not in fields]
        return problems + [p for k, v in value.items() if k in fields for p in _fits(v, fields[k], f"{where}.{k}")]
    return [f"{where}: no check for {tp!r}"]


# --- OpenAI's published schema -------------------------------------------------------------------------------


def spec_enums(spec: dict[str, Any]) -> Enums:
    """The string ``enum`` values of ``CreateChatCompletionRequest`` at each path."""
    out: Enums = {}
    _spec(spec["$defs"], {"$ref": "#/$defs/CreateChatCompletionRequest"}, "", out, (), frozenset())
    return out


Node = tuple[dict[str, Any], tuple[str, ...]]  # a schema node and the $defs resolved on the way to it


def _resolve(defs: dict[str, Any], node: dict[str, Any], seen: tuple[str, ...]) -> Node:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return {}, seen
        node, seen = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}, (*seen, name)
    return node, seen


def _branches(defs: dict[str, Any], node: dict[str, Any], seen: tuple[str, ...]) -> list[Node]:
    """A node's alternatives (``anyOf``/``oneOf`` flattened, ``null`` left out), each resolved."""
    node, seen = _resolve(defs, node, seen)
    alternatives = node.get("anyOf") or node.get("oneOf")
    if not alternatives:
        return [(node, seen)] if node.get("type") != "null" else []
    rest = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
    return [b for alt in alternatives for b in _branches(defs, {**rest, **alt}, seen)]


def _spec_tag(defs: dict[str, Any], node: dict[str, Any], seen: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for name in _TAGS:
        for prop, _ in _properties(defs, node, seen).get(name, []):
            values = _resolve(defs, prop, seen)[0].get("enum") or []
            if len(values) == 1:
                tags[name] = values[0]
    return tags


def _properties(defs: dict[str, Any], node: dict[str, Any], seen: tuple[str, ...]) -> dict[str, list[Node]]:
    """An object's properties, ``allOf`` parts merged."""
    node, seen = _resolve(defs, node, seen)
    out: dict[str, list[Node]] = {}
    for part in node.get("allOf", []):
        for key, found in _properties(defs, part, seen).items():
            out.setdefault(key, []).extend(found)
    for key, prop in (node.get("properties") or {}).items():
        out.setdefault(key, []).append((prop, seen))
    return out


def _spec(defs: dict[str, Any], node: dict[str, Any], path: str, out: Enums, seen: tuple[str, ...],
          skip: frozenset[str]) -> None:
    branches = _branches(defs, node, seen)
    objects = [(b, s) for b, s in branches if "properties" in b or "allOf" in b]
    for branch, branch_seen in branches:
        if isinstance(branch.get("enum"), list) and branch.get("type", "string") == "string":
            out.setdefault(path, set()).update(v for v in branch["enum"] if isinstance(v, str))
        if branch.get("type") == "array" and isinstance(branch.get("items"), dict):
            _spec(defs, branch["items"], path + "[]", out, branch_seen, frozenset())
    tags = [_spec_tag(defs, b, s) for b, s in objects]
    tag = _common_tag(dict(enumerate(tags)))
    for (branch, branch_seen), found in zip(objects, tags, strict=True):
        where, skipped = (path, skip) if tag is None else (f"{path}<{found[tag]}>", frozenset({tag}))
        if tag is not None:
            out.setdefault(f"{path}.{tag}", set()).add(found[tag])
        for key, props in _properties(defs, branch, branch_seen).items():
            if key not in skipped:
                for prop, prop_seen in props:
                    _spec(defs, prop, f"{where}.{key}".lstrip("."), out, prop_seen, frozenset())


def widened_request_schema(spec: dict[str, Any], sdk: Enums) -> dict[str, Any]:
    """:func:`request_schema` with each enum widened by the values the installed SDK adds to it (its schema is
    newer than the published one now and then: ``detail: "original"``), as mockai's own lists are."""
    spec = copy.deepcopy(spec)
    published = spec_enums(spec)
    wider = {frozenset(values): sorted(values | sdk[path]) for path, values in published.items()
             if path in sdk and not sdk[path] <= values}
    stack: list[Any] = [spec]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            values = node.get("enum")
            if isinstance(values, list) and all(isinstance(v, str) for v in values) and frozenset(values) in wider:
                node["enum"] = wider[frozenset(values)]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return request_schema(spec)


@functools.cache
def official() -> jsonschema.Draft202012Validator | None:
    """A validator of the official request schema, widened by the SDK's values; ``None`` without the schema."""
    spec = load_spec()
    return None if spec is None else jsonschema.Draft202012Validator(widened_request_schema(spec, sdk_enums()))


def schema_problems(body: Any) -> list[str]:
    """Where ``body`` breaks the official request schema (widened as :func:`official`); empty when it fits or
    when the schema is not here (a test that needs it says so with ``SPEC_MISSING``)."""
    validator = official()
    if validator is None:
        return []
    return [f"{'.'.join(map(str, e.absolute_path)) or 'body'}: {e.message[:300]}" for e in validator.iter_errors(body)]
