"""Scenario files: the scripting API written as YAML or JSON, for the pytest marker, ``mockai serve --scenario``
and the control API.

.. code-block:: yaml

    rules:
      - name: weather call
        match: {last_user: weather, has_tools: true, tool_result: false}
        reply: {tool_calls: [{name: get_weather, arguments: {city: Oslo}}]}
      - match: {tool_result: get_weather}
        reply: "It is 12°C and clear in Oslo."
      - match: {api: responses, last_user: summary}   # only Responses API requests ("chat": only chat)
        reply: "A short summary."
      - match: {last_user: {regex: "^(hi|hello)\\\\b"}}
        replies: ["First answer", "Second answer"]     # one per match, in order
      - match: {model: gpt-error}
        error: {status: 429, code: rate_limit_exceeded}
        times: 2
      - match: {stream: true}
        fault: cut=3                                    # a fault (mockai.faults) on generated answers
    queue:
      - "Answer to the first unmatched request"
      - {json: {"name": "Ada", "age": 36}}
      - {fault: "429"}                                  # a queued fault, with or without a reply

A mistake fails at load with the file, the line and the path of the field: ``scenario.yaml:7: rules[1].reply:
unknown reply field(s) ['text']``.

>>> spec = parse_scenario({"rules": [{"match": {"model": "gpt-4o"}, "reply": "Hi"}]}, "inline")
>>> len(spec.rules)
1
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from .deferred import built
from .errors import param_path
from .rules import Script, error, short_form, short_form_fields
from .specs import header_fields
from .suggest import closest


class ScenarioError(ValueError):
    """A scenario file or document that cannot be loaded; the message says where and what."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # one validator, built by the first load


class Regex(_Strict):
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return value


def _tag(kinds: dict[type, str], error: bool = False) -> Callable[[Any], str | None]:
    """Which member of a union a value is meant for, so an error names what is wrong with it rather than why it
    is not the union's first member (a reply ``{text: hi}`` is a mapping with an unknown field, not "not a str")."""
    def tag(value: Any) -> str | None:
        if error and isinstance(value, Mapping) and "error" in value:
            return "ErrorReply"
        if error and isinstance(value, Mapping) and "fault" in value:
            return "FaultReply"
        for kind, name in kinds.items():
            if isinstance(value, kind):
                return name
        return None

    return tag


TextMatch = Annotated[
    Annotated[str, Tag("Text")] | Annotated["Regex", Tag("Regex")],
    Discriminator(_tag({str: "Text", dict: "Regex"}), custom_error_type="text_match",
                  custom_error_message="expected a string (a case-insensitive substring) or {regex: PATTERN}"),
]


class Match(_Strict):
    model: TextMatch | None = None
    last_user: TextMatch | None = None
    any_message: TextMatch | None = None
    has_tools: bool | None = None
    tool_result: str | bool | None = None
    stream: bool | None = None
    api: Literal["chat", "responses", "embeddings", "moderations"] | None = None


class ErrorSpec(_Strict):
    status: int = Field(ge=400, le=599)
    message: str | None = None
    code: str | None = None
    type: str | None = None
    param: str | None = None
    headers: dict[str, str] | None = None

    @field_validator("headers")
    @classmethod
    def _sendable(cls, headers: dict[str, str] | None) -> dict[str, str] | None:
        return None if headers is None else header_fields(headers)


class ToolCallSpec(_Strict):
    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)


class ReplyFields(_Strict):
    @model_validator(mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            short_form_fields(value)
        return value

    content: str | None = None
    tool_calls: list[ToolCallSpec] | None = None
    json_: Any = Field(default=None, alias="json")
    refusal: str | None = None
    finish_reason: str | None = None


class ErrorReply(_Strict):
    error: ErrorSpec


def _fault_spec(value: str) -> str:
    from .faults import Fault

    return str(Fault.parse(value))  # raises ValueError naming the known kinds


class FaultReply(_Strict):
    """``{fault: "cut=3"}`` or ``{fault: "cut=3", reply: "Hello"}``: a reply (generated when absent) with a fault."""

    fault: str
    reply: Annotated[Annotated[str, Tag("Text")] | Annotated[ReplyFields, Tag("ReplyFields")],
                     Discriminator(_tag({str: "Text", dict: "ReplyFields"}), custom_error_type="reply",
                                   custom_error_message="expected a reply: a string or a mapping of content, "
                                                        "tool_calls, json, refusal and finish_reason")] | None = None

    @field_validator("fault")
    @classmethod
    def _check(cls, value: str) -> str:
        return _fault_spec(value)


ReplyItem = Annotated[
    Annotated[str, Tag("Text")] | Annotated[ErrorReply, Tag("ErrorReply")] | Annotated[ReplyFields, Tag("ReplyFields")]
    | Annotated[FaultReply, Tag("FaultReply")],
    Discriminator(_tag({str: "Text", dict: "ReplyFields"}, error=True), custom_error_type="reply",
                  custom_error_message="expected a reply: a string, or a mapping of content, tool_calls, json, "
                                       "refusal and finish_reason, or {error: {status: ...}}, or {fault: KIND}"),
]


class RuleSpec(_Strict):
    name: str | None = None
    match: Match = Field(default_factory=Match)
    reply: ReplyItem | None = None
    replies: list[ReplyItem] | None = None
    error: ErrorSpec | None = None
    fault: str | None = None
    times: int | None = Field(default=None, ge=1)

    @field_validator("fault")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        return None if value is None else _fault_spec(value)


class Scenario(_Strict):
    version: int = 1
    rules: list[RuleSpec] = Field(default_factory=list)
    queue: list[ReplyItem] = Field(default_factory=list)


# The model each tag of a tagged union names (they appear in pydantic's error locations).
_TAGGED: dict[str, type[_Strict]] = {"Regex": Regex, "ReplyFields": ReplyFields, "ErrorReply": ErrorReply,
                                     "FaultReply": FaultReply}


def _text(value: TextMatch | None) -> str | re.Pattern[str] | None:
    return re.compile(value.regex) if isinstance(value, Regex) else value


def _reply(item: ReplyItem) -> Any:
    if isinstance(item, str):
        return item
    if isinstance(item, FaultReply):
        from .faults import fault

        return fault(item.fault, reply=None if item.reply is None else _reply(item.reply))
    if isinstance(item, ErrorReply):
        e = item.error
        return error(e.status, e.message, code=e.code, type=e.type, param=e.param, headers=e.headers)
    spec = item.model_dump(by_alias=True, exclude_unset=True)
    if spec.get("tool_calls") is not None:
        spec["tool_calls"] = [{"name": t["name"], "arguments": t.get("arguments") or {}} for t in spec["tool_calls"]]
    short_form(spec)  # validates the combination now, not at the first request
    return spec


def parse_scenario(data: Any, source: str, lines: Mapping[tuple[Any, ...], int] | None = None) -> Scenario:
    """Validate a loaded document; errors name ``source``, the line (when known) and the field's path."""
    if not isinstance(data, Mapping):  # (an empty file is None)
        what = "empty" if data is None else "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise ScenarioError(_where(source, lines, ()) + f"a scenario is a mapping with `rules:` (and `queue:`), e.g. "
                            f"`rules: [{{match: {{last_user: hi}}, reply: Hello}}]`; this one is {what}")
    try:
        scenario = built(Scenario).model_validate(data)
        for i, rule in enumerate(scenario.rules):
            given = [k for k in ("reply", "replies", "error") if getattr(rule, k) is not None]
            if len(given) != 1 and not (rule.fault is not None and not given):
                raise _located(("rules", i), f"a rule needs exactly one of reply, replies or error, or a fault (got "
                                             f"{given or 'none'})")
            if rule.replies == []:  # (sequence() needs one: this was a 500 from the control API, half applied)
                raise _located(("rules", i, "replies"), "needs at least one reply")
            for key in ("reply", "replies"):
                items = getattr(rule, key)
                for j, item in enumerate(items if isinstance(items, list) else [items] if items else []):
                    try:
                        _reply(item)
                    except ValueError as exc:
                        raise _located(("rules", i, key, *([j] if key == "replies" else [])), str(exc)) from None
        _strictly(data)
        return scenario
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # A misspelled key also makes a required one missing: name the misspelling, it says more.
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = _document_loc(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = _unknown_field(err["loc"])
        raise ScenarioError(_where(source, lines, loc) + f"{param_path(loc) or '(document)'}: {msg}") from None
    except _Located as exc:
        raise ScenarioError(_where(source, lines, exc.loc) + f"{param_path(exc.loc)}: {exc.reason}") from None




VERSION = 1  # the scenario document's version this mockai reads

_KINDS = {"int_type": "a whole number (not true, false, a string or a fraction)",
          "bool_type": "true or false (not a string or a number)", "string_type": "a string"}


def _strictly(data: Mapping[str, Any]) -> None:
    """Refuse what the lax reading took for something else: ``times: true`` (a count), ``stream: "yes"`` (a flag),
    ``status: "429"``, and a ``version`` this mockai does not read."""
    if "version" in data and (type(data["version"]) is not int or data["version"] != VERSION):
        raise _located(("version",), f"unsupported scenario version {json.dumps(data['version'], default=str)}: "
                                     f"this mockai reads version {VERSION}")
    try:
        built(Scenario).model_validate(_plain(data), strict=True)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = _document_loc(err["loc"])
        kind = _KINDS.get(err["type"])
        raise _located(loc, f"expected {kind}, got {json.dumps(err.get('input'), default=str)}" if kind
                       else err["msg"].removeprefix("Value error, ")) from None


def _plain(value: Any) -> Any:
    """A document built in Python as a file would give it: any mapping a dict, any tuple a list (strictness is
    about scalars, not about the containers Python code uses)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _document_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic's location of an error, without the union members it tried (``Regex``, ``str``, ``int``…): the
    path in the document."""
    return tuple(p for p in loc if not (isinstance(p, str) and (p[:1].isupper() or "[" in p or p in (
        "str", "int", "bool", "float", "function-after"))))


def _unknown_field(loc: tuple[Any, ...]) -> str:
    """The message for an unknown key at ``loc`` (pydantic's, tags included): the nearest valid key, and all."""
    model: type[_Strict] = Scenario
    for part in loc[:-1]:
        if isinstance(part, str) and part in _TAGGED:
            model = _TAGGED[part]
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        inner = _models_in(field.annotation) if field is not None else []
        if len(inner) == 1:
            model = inner[0]
    valid = [f.alias or n for n, f in model.model_fields.items()]
    key = str(loc[-1])
    best = closest(key, valid)
    return f"unknown field {key!r}{f' (did you mean {best!r}?)' if best else ''}; expected one of {', '.join(valid)}"


def _models_in(annotation: Any) -> list[type[_Strict]]:
    if isinstance(annotation, type) and issubclass(annotation, _Strict):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


class _Located(Exception):
    def __init__(self, loc: tuple[Any, ...], reason: str) -> None:
        super().__init__(reason)
        self.loc, self.reason = loc, reason


def _located(loc: tuple[Any, ...], reason: str) -> _Located:
    return _Located(loc, reason)


def _where(source: str, lines: Mapping[tuple[Any, ...], int] | None, loc: tuple[Any, ...]) -> str:
    if lines:
        for depth in range(len(loc), -1, -1):
            if loc[:depth] in lines:
                return f"{source}:{lines[loc[:depth]]}: "
    return f"{source}: "


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a ``.yaml``/``.yml``/``.json`` scenario file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        try:
            return parse_scenario(data, str(path))
        except ScenarioError:
            lines = _json_lines(text, data)
            if lines is None:
                raise
            return parse_scenario(data, str(path), lines)  # raises again, now with the line
    data, lines = yaml_with_lines(text, str(path))
    return parse_scenario(data, str(path), lines)


def _json_lines(text: str, data: Any) -> dict[tuple[Any, ...], int] | None:
    """The lines of a JSON document's fields, read as YAML (which JSON nearly always is), when that reading gives
    the same document; else ``None``."""
    try:
        again, lines = yaml_with_lines(text, "")
    except ScenarioError:
        return None
    return lines if again == data else None


def yaml_with_lines(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ScenarioError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    lines: dict[tuple[Any, ...], int] = {}

    def walk(n: Any, path: tuple[Any, ...]) -> None:
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                sub = (*path, key.value)
                walk(value, sub)
                lines[sub] = key.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, (*path, i))

    if node is not None:
        walk(node, ())
    return data, lines


def apply(scenario: Scenario, script: Script) -> None:
    """Add a scenario's rules and queue to a script."""
    for rule in scenario.rules:
        m = rule.match
        target = script.on(model=_text(m.model), last_user=_text(m.last_user), any_message=_text(m.any_message),
                           has_tools=m.has_tools, tool_result=m.tool_result, stream=m.stream, api=m.api,
                           name=rule.name, times=rule.times)
        if rule.replies is not None:
            target.sequence(*[_reply(r) for r in rule.replies])
        elif rule.error is not None:
            e = rule.error
            target.respond(error(e.status, e.message, code=e.code, type=e.type, param=e.param, headers=e.headers))
        elif rule.reply is not None:
            target.respond(_reply(rule.reply))
        if rule.fault is not None:
            target.fault(rule.fault)
    script.queue(*[_reply(r) for r in scenario.queue])
