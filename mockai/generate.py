"""The default generator: deterministic, offline, plausible replies.

Content is a function of (seed, canonical request, choice index) only: the same inputs give the same reply in any
process. Text is English from Faker, seeded per request; its length varies with the request (a question asking
for a "long essay" gets more, "one word" or "briefly" less). Then the request's constraints are applied the way
the model's decoding would: a ``stop`` sequence cuts the text before it (``finish_reason: stop``), a token limit
cuts it at that many tokens (``finish_reason: length``).

Tools, function and custom alike: ``tool_choice`` ``none`` answers in text; ``required`` calls a tool (two in
parallel, often, when the last user message asks for several things: "Oslo and Paris"), a named function or custom
tool is called once; ``auto`` answers in text right after a tool result, calls a tool
whose name appears in the last user message, and otherwise calls one for about half of all requests (decided by
the seed). ``allowed_tools`` narrows the tools to its list, then works as its mode, ``auto`` or ``required``.
Function arguments are JSON valid against the function's ``parameters``; a custom tool's input follows its
``format`` (see :func:`custom_input`). ``response_format`` ``json_object`` gives a JSON object; ``json_schema``
gives JSON valid against the schema.

Reasoning models (:mod:`mockai.models`) spend reasoning tokens before they answer, and those count against the
token limit: a small ``max_completion_tokens`` leaves a short answer, or an empty one (``content: ""``,
``finish_reason: length``), as it does with the real API.

>>> from mockai.prompt import Prompt, Turn
>>> prompt = Prompt(api="chat", model="gpt-4o-mini", turns=(Turn("user", "Hi"),))
>>> reply = Generator().generate(prompt, key=b"example", seed=0)
>>> reply.choices[0].finish_reason
'stop'
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from typing import Any

from . import grammar, tokens
from .errors import APIError
from .models import reasoning_tokens
from .prompt import Prompt, ToolDef
from .reply import Choice, Reply, TokenLogprob, ToolCall
from .schema import DEFAULT_BUDGET, BudgetExceeded, RandomSource, SchemaError, value_for

_LONG_HINTS = ("long", "essay", "detailed", "in detail", "explain", "story", "article")
_SHORT_HINTS = ("one word", "one-word", "briefly", "short", "yes or no", "in a word")


def message_text(content: Any) -> str:
    """The text of a message's content, whether a string or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(getattr(p, "text", None) or getattr(p, "refusal", None) or "" for p in content)


def rng_for(key: bytes, seed: int, *salt: object) -> random.Random:
    digest = hashlib.sha256(b"%d|%s|%s" % (seed, key, "|".join(map(str, salt)).encode())).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class Generator:
    """Makes a :class:`~mockai.reply.Reply` for a :class:`~mockai.prompt.Prompt`."""

    def __init__(self, locale: str = "en_US") -> None:
        self.locale = locale

    def generate(self, prompt: Prompt, *, key: bytes, seed: int) -> Reply:
        choices = [self.choice(prompt, key=key, seed=seed, index=i) for i in range(prompt.n)]
        return Reply(choices)

    def choice(self, prompt: Prompt, *, key: bytes, seed: int, index: int) -> Choice:
        rng = rng_for(key, seed, index)
        thinking = reasoning_tokens(prompt.model, prompt.reasoning_effort, key, seed, index)
        calls = self._tool_calls(prompt, rng)
        if calls:
            return limit(Choice(content=None, tool_calls=calls, finish_reason="tool_calls"), prompt, thinking)
        legacy = self._function_call(prompt, rng)
        if legacy is not None:
            return limit(Choice(content=None, function_call=legacy, finish_reason="function_call"), prompt,
                         thinking)
        fmt = prompt.format
        if fmt is not None and fmt.kind == "json_schema":
            value = self._from_schema(fmt.schema or {"type": "object"}, rng, fmt.strict, f"{fmt.param} '{fmt.name}'",
                                      fmt.param, "invalid_json_schema", budget=schema_budget(prompt))
            content = compact(value)
        elif fmt is not None and fmt.kind == "json_object":
            content = compact(self._json_object(rng))
        else:
            content = self._text(prompt, rng)
        choice = limit(cut_at_stop(Choice(content=content), list(prompt.stop)), prompt, thinking)
        if prompt.reasoning_summary and thinking:
            choice.reasoning = self._sentence(rng, rng.randint(8, 16))
        return choice

    def _source(self, rng: random.Random) -> RandomSource:
        return RandomSource(rng, self._words())

    def _from_schema(self, schema: Any, rng: random.Random, strict: bool, what: str, param: str,
                     code: str, budget: int = DEFAULT_BUDGET) -> Any:
        """A value for a schema the user sent; a schema no value can be made for is a 400, never a 500. A value
        larger than ``budget`` characters is the :class:`Partial` JSON written so far (:func:`limit` cuts it)."""
        try:
            return value_for(schema, self._source(rng), strict=strict, budget=budget)
        except BudgetExceeded as exc:
            return Partial(exc.text)
        except (SchemaError, LookupError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            reason = "its $ref recursion has no end" if isinstance(exc, RecursionError) else str(exc) or repr(exc)
            raise APIError(400, f"Invalid schema for {what}: {reason}.", param=param, code=code) from None

    def _words(self) -> list[str]:
        return english_words(self.locale)

    def _sentence(self, rng: random.Random, size: int) -> str:
        text = " ".join(rng.choices(self._words(), k=size))
        return text[:1].upper() + text[1:] + "."

    def _text(self, prompt: Prompt, rng: random.Random) -> str:
        last = prompt.last_user_text.lower()
        if any(h in last for h in _SHORT_HINTS):
            count = 1
        elif any(h in last for h in _LONG_HINTS):
            count = rng.randint(6, 12)
        else:
            count = rng.randint(1, 5)
        return " ".join(self._sentence(rng, rng.randint(4, 14)) for _ in range(count))

    def _json_object(self, rng: random.Random) -> dict[str, Any]:
        return {
            "answer": self._sentence(rng, rng.randint(4, 10)),
            "confidence": round(rng.uniform(0.5, 1.0), 2),
            "tags": rng.sample(self._words(), rng.randint(1, 3)),
        }

    def _tool_calls(self, prompt: Prompt, rng: random.Random) -> list[ToolCall]:
        candidates = list(prompt.callable_tools())
        if not candidates:
            return []
        mode = prompt.choosing.mode
        if mode == "named":
            return [self._call(prompt, candidates[0], rng)]
        if mode == "auto":
            if prompt.tool_result is not None:
                return []
            last = prompt.last_user_text.lower()
            mentioned = [t for t in candidates
                         if t.name.lower() in last or t.name.lower().replace("_", " ") in last]
            if mentioned:
                candidates = mentioned
            elif rng.random() < 0.5:
                return []
        count = 1
        if prompt.parallel_tool_calls and _several(prompt.last_user_text) and rng.random() < 0.6:
            count = 2  # parallel calls when the message asks for several things, as a model would
        return [self._call(prompt, candidates[rng.randrange(len(candidates))], rng) for _ in range(count)]

    def _function_call(self, prompt: Prompt, rng: random.Random) -> ToolCall | None:
        """The deprecated ``functions``/``function_call`` API: at most one call, decided like ``tool_choice``."""
        functions = list(prompt.functions)
        choice = prompt.function_choice
        if not functions or prompt.tools or choice.mode == "none":
            return None
        if choice.only is not None:
            candidates = [f for f in functions if f.name in choice.only]
        elif prompt.tool_result is not None:
            return None
        else:
            last = prompt.last_user_text.lower()
            candidates = [f for f in functions if f.name.lower() in last or f.name.lower().replace("_", " ") in last]
            if not candidates and rng.random() < 0.5:
                return None
            candidates = candidates or functions
        if not candidates:
            return None
        function = candidates[rng.randrange(len(candidates))]
        params = function.parameters or {"type": "object", "properties": {}}
        value = self._from_schema(params, rng, function.strict, f"function '{function.name}'", function.param,
                                  "invalid_function_parameters", budget=schema_budget(prompt))
        return ToolCall(name=function.name, arguments=compact(value))

    def _call(self, prompt: Prompt, tool: ToolDef, rng: random.Random) -> ToolCall:
        if tool.custom:
            return ToolCall(name=tool.name, arguments=custom_input(tool, self._source(rng)), type="custom")
        params = tool.parameters or {"type": "object", "properties": {}}
        value = self._from_schema(params, rng, tool.strict, f"function '{tool.name}'", tool.param,
                                  "invalid_function_parameters", budget=schema_budget(prompt))
        return ToolCall(name=tool.name, arguments=compact(value))


def _several(text: str) -> bool:
    """The message asks for more than one thing ("Oslo and Paris", "a, b"): what makes a model call in parallel."""
    lowered = f" {text.lower()} "
    return any(joint in lowered for joint in (" and ", ", ", " & ", " both ", " each "))


def custom_input(tool: ToolDef, src: RandomSource) -> str:
    """An input for a custom tool that fits its ``format``.

    - no format, or ``{"type": "text"}``: a sentence of plain text;
    - a ``regex`` grammar: a string the whole expression matches, drawn from the pattern itself (as
      :mod:`mockai.schema` draws ``pattern`` strings); a pattern Python's ``re`` cannot read gives plain text;
    - a ``lark`` grammar: a sentence of the grammar when :mod:`mockai.grammar` can read it (rules, literals,
      regular expressions, groups, ``?``/``*``/``+``/``[…]``, common imports), otherwise plain text.
    """
    fmt = tool.format or {}
    spec = fmt.get("grammar") if fmt.get("type") == "grammar" else None
    if isinstance(spec, dict) and isinstance(spec.get("definition"), str):
        definition = spec["definition"]
        if spec.get("syntax") == "regex":
            try:
                drawn = value_for({"type": "string", "pattern": f"^(?:{definition})$"}, src)
            except (SchemaError, RecursionError, ValueError):
                drawn = None
            if isinstance(drawn, str):
                return drawn
        elif spec.get("syntax") == "lark":
            sample = grammar.sample(definition, src)
            if sample is not None:
                return sample
    words = [src.word() for _ in range(src.integer(4, 12))]
    text = " ".join(words)
    return text[:1].upper() + text[1:] + "."


@functools.lru_cache(maxsize=8)
def english_words(locale: str = "en_US") -> list[str]:
    """Faker's word list for ``locale`` (its lorem provider), loaded once per process.

    Sentences are drawn from it with the request's own seeded RNG: the same words Faker would use, without
    paying for re-seeding a Faker instance on every request.

    >>> words = english_words()
    >>> len(words) > 100, all(word.strip() == word != "" for word in words)
    (True, True)
    """
    words = _lorem_words(locale)
    if words is None:
        from faker import Faker

        provider = Faker(locale).provider("faker.providers.lorem")
        words = list(getattr(provider, "word_list", []) or [])
    return words or ["lighthouse", "keeper", "light", "sea", "night", "signal"]


def _lorem_words(locale: str) -> list[str] | None:
    """The ``word_list`` written in Faker's lorem provider for ``locale``, read as data, without importing Faker.

    ``import faker`` imports every one of its providers to list the locales (~150 ms, paid by the first generated
    answer). The list is a literal in the locale's module, so it is read from there: ``None`` when the locale has no
    module of its own (spelled exactly so), or its ``Provider`` does not bind the list once, to a literal (then
    Faker itself is asked, as before).
    """
    import ast
    import importlib.util
    import locale as pylocale
    import os
    from pathlib import Path

    if not isinstance(locale, str) or not locale.isidentifier():
        return None
    if pylocale.normalize(locale).split(".")[0] != locale:  # Faker would read another locale's words
        return None
    try:
        spec = importlib.util.find_spec("faker")
        if spec is None or not spec.submodule_search_locations:
            return None
        root = Path(next(iter(spec.submodule_search_locations))) / "providers" / "lorem"
        if locale not in os.listdir(root):  # (exactly: a case-insensitive file system would find "LA" as "la")
            return None
        tree = ast.parse((root / locale / "__init__.py").read_text(encoding="utf-8"))
    except (OSError, ValueError, SyntaxError, ImportError):
        return None
    providers = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Provider"]
    if len(providers) != 1:
        return None
    bindings = [statement for statement in providers[0].body if "word_list" in _bound(statement)]
    if len(bindings) != 1 or not isinstance(bindings[0], (ast.Assign, ast.AnnAssign)) or bindings[0].value is None:
        return None
    try:
        value = ast.literal_eval(bindings[0].value)
    except (ValueError, TypeError, RecursionError):  # not a literal after all (or an unhashable key): ask Faker
        return None
    if isinstance(value, (tuple, list)) and value and all(isinstance(w, str) for w in value):
        return list(value)
    return None


def _bound(statement: Any) -> set[str]:
    """The names a statement of a class body binds (any statement that could bind one: assignments of every kind,
    and the rest by the names they mention, so nothing that might rebind ``word_list`` goes unnoticed)."""
    import ast

    if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    return {n.id for n in ast.walk(statement) if isinstance(n, ast.Name)}


def compact(value: Any) -> str:
    return value if isinstance(value, Partial) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Partial(str):
    """JSON for a schema, cut where the generation budget ran out: the reply ends with ``length``."""


def schema_budget(prompt: Prompt) -> int:
    """Characters of JSON one schema value may take: 6 per token the choice may hold, more than JSON takes (about
    4 for words, 2 for numbers), so the cut at the token limit nearly always comes first."""
    return 6 * tokens.output_limit(prompt.model, prompt.token_limit, prompt.n)


def cut_at_stop(choice: Choice, stops: list[str]) -> Choice:
    """Cut content before the first stop sequence; the sequence itself is not returned."""
    text = choice.content
    if not text or not stops:
        return choice
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    if hits:
        choice.content = text[: min(hits)]
        choice.tokens = None
        choice.finish_reason = "stop"
    return choice


def limit(choice: Choice, prompt: Prompt, reasoning: int = 0) -> Choice:
    """Cut a choice where decoding stops (``finish_reason: length``): at the request's token limit, the model's
    output limit, or its share of mockai's limit per reply (:func:`mockai.tokens.output_limit`).

    ``reasoning`` tokens were spent first and count against the limit; a choice left with nothing to say says
    ``""``, as a reasoning model does when its reasoning used the whole limit."""
    texts = [choice.content, *(c.arguments for c in choice.tool_calls),
             choice.function_call.arguments if choice.function_call is not None else None]
    budget = tokens.output_limit(prompt.model, prompt.token_limit, prompt.n)
    if reasoning:
        budget = max(budget - reasoning, 0)
    choice = cut_to_tokens(choice, budget)
    if any(isinstance(t, Partial) for t in texts):
        choice.finish_reason = "length"
    if choice.content is None and not choice.tool_calls and choice.function_call is None:
        choice.content = ""
    return choice


def cut_to_tokens(choice: Choice, budget: int | None) -> Choice:
    """Cut a choice at ``budget`` completion tokens (``finish_reason: length``); ``None`` leaves it whole.

    Shared with :mod:`mockai.shapes`, so generated and drawn replies are cut the same way.
    """
    if budget is None or choice.completion_tokens() <= budget:
        return choice
    if choice.content:
        pieces = choice.content_tokens()[:budget]
        choice.content = "".join(pieces)
        choice.tokens = pieces
        budget -= len(pieces)
    kept: list[ToolCall] = []
    for call in choice.tool_calls:
        if budget <= 0:
            break
        pieces = tokens.split(call.arguments)
        call.arguments = "".join(pieces[:budget])
        budget -= len(pieces)
        kept.append(call)
    choice.tool_calls = kept
    if choice.function_call is not None:
        pieces = tokens.split(choice.function_call.arguments)
        choice.function_call.arguments = "".join(pieces[: max(budget, 0)])
    choice.finish_reason = "length"
    return choice


def logprobs_for(tokens_: list[str], top_n: int, rng: random.Random, words: list[str]) -> list[TokenLogprob]:
    """Plausible logprobs for tokens that spell the content; the chosen token is always the most likely."""
    out: list[TokenLogprob] = []
    for tok in tokens_:
        lp = -round(rng.expovariate(4.0), 6)
        top = [(tok, lp)]
        lead = " " if tok.startswith(" ") else ""
        alt_lp = lp
        while len(top) < top_n:
            alt = lead + words[rng.randrange(len(words))]
            if any(alt == t for t, _ in top):
                continue
            alt_lp = round(alt_lp - rng.uniform(0.5, 3.0), 6)
            top.append((alt, alt_lp))
        out.append(TokenLogprob(tok, lp, top[:top_n]))
    return out
