"""OpenAI-shaped errors: the envelope the real API sends, and the exception the engine raises to send one.

Every failure the server reports goes through :class:`APIError`, so each door (in-process, socket, cassette)
answers bad input the same way: a status, ``{"error": {"message", "type", "param", "code"}}`` and headers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from .enums import supported

# The error type OpenAI uses for each status it sends.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
    504: "server_error",
}


class APIError(Exception):
    """An error answered in OpenAI's envelope.

    >>> err = APIError(404, "The model `nope` does not exist.", param="model", code="model_not_found")
    >>> err.envelope()["error"]["code"]
    'model_not_found'
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def envelope(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def __repr__(self) -> str:
        return f"APIError({self.status}, {self.message!r}, param={self.param!r}, code={self.code!r})"


def invalid(message: str, param: str | None = None, code: str | None = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def unparsable_json() -> APIError:
    return APIError(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
        "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
        code=None,
    )


def param_path(loc: Sequence[int | str]) -> str:
    """``("messages", 0, "role")`` -> ``"messages[0].role"``, the way OpenAI names a field."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


_TYPE_NAMES = {
    "string": "a string",
    "int": "an integer",
    "float": "a decimal",
    "bool": "a boolean",
    "list": "an array",
    "dict": "an object",
    "model": "an object",
}


def json_type(value: Any) -> str:
    """How the real API's messages name a JSON value's type: ``"a string"``, ``"an integer"``, ``"null"``…

    >>> json_type(True), json_type(1.5), json_type([])
    ('a boolean', 'a decimal', 'an array')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def from_validation(errors: Sequence[Mapping[str, Any]], body: Any) -> APIError:
    """Turn the first pydantic validation error into the error OpenAI would send for it."""
    err = _most_specific(errors)
    loc = _field_path([p for p in err["loc"] if not _is_union_branch(p)], body)
    kind: str = err["type"]
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    value = err.get("input")
    if kind == "union_tag_invalid":
        param = param_path([*loc, ctx.get("discriminator", "'type'").strip("'")])
        tags = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
        return invalid(f"Invalid value: '{ctx.get('tag')}'. Supported values are: {supported(tags)}.", param)
    if kind == "union_tag_not_found":
        param = param_path([*loc, ctx.get("discriminator", "'type'").strip("'")])
        return APIError(400, f"Missing required parameter: '{param}'.", param=param,
                        code="missing_required_parameter")
    param = param_path(loc)
    if kind == "missing":
        return APIError(400, f"Missing required parameter: '{param}'.", param=param,
                        code="missing_required_parameter")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        number = "integer" if isinstance(value, int) else "decimal"
        below = kind.startswith("greater")
        bound = ctx.get("ge", ctx.get("gt", ctx.get("le", ctx.get("lt"))))
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        where = "below minimum" if below else "above maximum"
        return invalid(
            f"Invalid '{param}': {number} {where} value. Expected a value {op} {bound}, but got {value} instead.",
            param,
            f"{number}_{'below_min' if below else 'above_max'}_value",
        )
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        what = "string" if kind.startswith("string") else "array"
        a_what = f"a {what}" if what == "string" else f"an {what}"
        if kind.endswith("too_short"):
            limit = ctx.get("min_length")
            if not value:
                return invalid(f"Invalid '{param}': empty {what}. Expected {a_what} with minimum length {limit}, "
                               f"but got an empty {what} instead.", param, f"empty_{what}")
            return invalid(f"Invalid '{param}': {what} too short. Expected {a_what} with minimum length {limit}, "
                           f"but got {a_what} with length {_length(value)} instead.", param, f"{what}_below_min_length")
        return invalid(f"Invalid '{param}': {what} too long. Expected {a_what} with maximum length "
                       f"{ctx.get('max_length')}, but got {a_what} with length {_length(value)} instead.",
                       param, f"{what}_above_max_length")
    if kind in ("literal_error", "enum"):
        values = re.findall(r"'((?:[^'\\]|\\.)*)'", str(ctx.get("expected", "")))
        return invalid(f"Invalid value: '{value}'. Supported values are: {supported(values)}.", param)
    if kind == "string_pattern_mismatch":
        return invalid(
            f"Invalid '{param}': string does not match pattern. Expected a string that matches the pattern "
            f"'{ctx.get('pattern')}'.",
            param,
            "invalid_value",
        )
    if kind == "extra_forbidden":
        return invalid(f"Unrecognized request argument supplied: {loc[-1] if loc else param}", param or None,
                       "unknown_parameter")
    wanted = _expected_type(kind)
    if wanted is not None:
        return invalid(
            f"Invalid type for '{param}': expected {wanted}, but got {json_type(value)} instead.",
            param,
            "invalid_type",
        )
    if kind == "value_error":
        message = str(ctx.get("error", err.get("msg", "invalid value")))
        return invalid(message if message.endswith(".") else message + ".", param)
    return invalid(f"Invalid value for '{param}': {err.get('msg', 'invalid value')}.", param)


def _length(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple, dict)) else 0


def _expected_type(kind: str) -> str | None:
    for prefix, name in _TYPE_NAMES.items():
        if kind.startswith(prefix + "_") or kind == prefix + "_type":
            return name
    if kind in ("model_type", "model_attributes_type", "dataclass_type", "typed_dict_type"):
        return "an object"
    if kind == "union_type" or kind == "tagged_union_type":
        return "one of the allowed types"
    return None


def _field_path(loc: Sequence[int | str], body: Any) -> list[int | str]:
    """Drop the tags pydantic puts in ``loc`` for discriminated unions (``messages.0.user.content``).

    A tag is the value of the object's ``role`` or ``type`` at that level, followed by a field of that object;
    it is dropped once per level, so ``tools.0.function.function.name`` becomes ``tools[0].function.name`` while
    ``prediction.content`` (whose ``type`` is ``"content"``, but no union) stays as it is.
    """
    out: list[int | str] = []
    current: Any = body
    tag_dropped = False
    for i, part in enumerate(loc):
        following = loc[i + 1] if i + 1 < len(loc) else None
        if (isinstance(part, str) and isinstance(current, Mapping) and not tag_dropped
                and part in (current.get("role"), current.get("type"))
                and isinstance(following, str)):
            tag_dropped = True
            continue
        out.append(part)
        tag_dropped = False
        if isinstance(current, Mapping) and isinstance(part, str):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        else:
            current = None
    return out


def _is_union_branch(part: Any) -> bool:
    """pydantic names union branches in ``loc`` (``'str'``, ``'list[...]'``, a tag); OpenAI's ``param`` does not."""
    return isinstance(part, str) and (
        part in ("str", "int", "float", "bool", "dict", "none", "function-after", "function-before")
        or part.startswith(("list[", "dict[", "literal[", "function-", "union[", "tagged-union["))
        or part[:1].isupper()
    )


def _most_specific(errors: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """With unions pydantic reports each branch; prefer the deepest error that is not a plain type mismatch."""
    def score(err: Mapping[str, Any]) -> tuple[int, int]:
        is_type = _expected_type(str(err["type"])) is not None
        return (0 if is_type else 1, len(err["loc"]))

    return max(errors, key=score) if len(errors) > 1 else errors[0]


# Set while the socket door (mockai.server) answers: there an exception in scripted code cannot reach the test.
SOCKET_DOOR: ContextVar[bool] = ContextVar("mockai_socket_door", default=False)
# Not the test's business: everything else scripted code raises is (pytest.fail and pytest.skip are BaseExceptions).
PASSED_ON = (KeyboardInterrupt, SystemExit, GeneratorExit)
_log = logging.getLogger("mockai")


class CallbackError(Exception):
    """Scripted code raised while answering a request: a reply callable, a ``where=`` predicate, an exception
    given as the reply, a reply that cannot be sent, or a rule without a reply.

    Through the in-process door (a client from :meth:`mockai.MockAI.client`, patch mode, respx) the engine
    raises ``exception`` itself in the test, with its traceback, as respx and pytest-httpx do. Over a socket it
    cannot: the client gets a 500 naming the exception and the rule (with ``x-should-retry: false``, so the SDK
    does not call the callback again), the traceback goes to the ``mockai`` logger, and
    :meth:`mockai.MockAI.verify` (the pytest fixtures' teardown) raises it.
    """

    def __init__(self, exception: BaseException, source: str) -> None:
        super().__init__(f"{source} raised {type(exception).__name__}: {exception}")
        self.exception, self.source = exception, source
        self.call: Any = None  # the journal entry (mockai.journal.Call) of the request it answered
        self.raised = False  # the exception reached the test through the in-process door

    def api_error(self) -> APIError:
        """The 500 the journal keeps (and a socket's client gets), saying where the exception went."""
        where = ("The test fails with this exception at teardown; its traceback is logged (logger 'mockai')."
                 if SOCKET_DOOR.get() else "The exception was raised in the test, where its client made this request.")
        return APIError(500, f"mockai: {self}. {where}", code="mockai_callback_error",
                        headers={"x-should-retry": "false"})

    def deliver(self) -> BaseException | None:
        """The exception to raise in the test now; over a socket (``None``) it is logged and kept for verify."""
        if SOCKET_DOOR.get():
            _log.error("mockai: %s", self, exc_info=self.exception)
            return None
        self.raised = True
        return self.exception
