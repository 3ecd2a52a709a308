"""The journal: every call the engine answered, with assertion helpers in ``unittest.mock``'s vocabulary.

>>> calls = CallList()
>>> calls.called, calls.call_count
(False, 0)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, SupportsIndex, overload

if TYPE_CHECKING:
    from .engine import Call


class CallList(list["Call"]):
    """A list of :class:`~mockai.engine.Call` with ``last``, ``call_count``, ``called`` and filters."""

    @property
    def last(self) -> Call:
        __tracebackhide__ = True
        if not self:
            raise AssertionError("no call was made")
        return self[-1]

    @property
    def call_count(self) -> int:
        return len(self)

    @property
    def called(self) -> bool:
        return bool(self)

    @overload
    def __getitem__(self, index: SupportsIndex) -> Call: ...

    @overload
    def __getitem__(self, index: slice) -> CallList: ...

    def __getitem__(self, index: SupportsIndex | slice) -> Call | CallList:
        if isinstance(index, slice):
            return CallList(super().__getitem__(index))
        return super().__getitem__(index)

    def filter(self, *, route: str | None = None, model: str | None = None, status: int | None = None,
               stream: bool | None = None, where: Callable[[Call], bool] | None = None) -> CallList:
        """The calls matching every condition: ``calls.filter(route="chat", model="gpt-4o")``."""
        def keep(c: Call) -> bool:
            return (
                (route is None or c.route == route)
                and (model is None or (c.request is not None and c.request.model == model))
                and (status is None or c.response.status == status)
                and (stream is None or (c.request is not None and bool(c.request.stream) == stream))
                and (where is None or where(c))
            )

        return CallList(c for c in self if keep(c))

    # --- assertions -----------------------------------------------------------------------------------------

    def assert_called(self) -> None:
        __tracebackhide__ = True
        if not self:
            raise AssertionError("expected a call to the mock; none was made")

    def assert_not_called(self) -> None:
        __tracebackhide__ = True
        if self:
            raise AssertionError(f"expected no call; {len(self)} were made:\n{self.describe()}")

    def assert_called_once(self) -> None:
        __tracebackhide__ = True
        if len(self) != 1:
            raise AssertionError(f"expected 1 call; {len(self)} were made:\n{self.describe()}")

    def assert_call_count(self, count: int) -> None:
        __tracebackhide__ = True
        if len(self) != count:
            raise AssertionError(f"expected {count} calls; {len(self)} were made:\n{self.describe()}")

    def assert_any_call(self, *, model: str | None = None, last_user: str | re.Pattern[str] | None = None,
                        **params: Any) -> None:
        """Some call had this model, a last user message containing (or matching) ``last_user``, and these
        request parameters (compared with the JSON body: ``temperature=0``, ``tool_choice="required"``)."""
        __tracebackhide__ = True
        if any(_matches(c, model, last_user, params) for c in self):
            return
        want = ", ".join(f"{k}={v!r}" for k, v in {"model": model, "last_user": last_user, **params}.items()
                         if v is not None)
        raise AssertionError(f"no call with {want}; the calls were:\n{self.describe()}")

    def describe(self) -> str:
        return "\n".join(f"  [{i}] {c.describe()}" for i, c in enumerate(self)) or "  (none)"


def _matches(call: Call, model: str | None, last_user: str | re.Pattern[str] | None, params: dict[str, Any]) -> bool:
    if call.request is None or call.body is None:
        return False
    if model is not None and call.request.model != model:
        return False
    if last_user is not None:
        text = call.last_user_text
        if isinstance(last_user, re.Pattern) and not last_user.search(text):
            return False
        if isinstance(last_user, str) and last_user.lower() not in text.lower():
            return False
    return all(call.body.get(k) == v for k, v in params.items())


def summarize(body: Any, size: int = 160) -> str:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= size else text[: size - 1] + "…"

