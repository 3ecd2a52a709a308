"""The ``mockai`` command.

    $ mockai serve --port 8000 --seed 42
    mockai serving on http://127.0.0.1:8000/v1  (seed 42, 1 worker)
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import os
import re
import sys

import click

from .config import SERVE_JOURNAL_BYTES, SERVE_JOURNAL_SIZE
from .models import DEFAULT_MODELS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pytest-mockai", prog_name="mockai")
def main() -> None:
    """mockai: a faithful, deterministic fake of OpenAI's API for tests (chat completions, Responses, embeddings,
    moderations)."""


def _check_faults(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from .faults import parse_schedule

    try:
        parse_schedule(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _existing_cassette(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``value`` when a cassette is there: its file, or only the journal a killed recorder left (``NAME.journal``),
    which every reader folds in."""
    from .cassettes.store import exists, journal_path

    if not exists(value):
        raise click.BadParameter(f"no cassette at {value} (neither the file nor its journal {journal_path(value).name} "
                                 "exists); check the path.")
    return value


def _check_latency(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from .latency import Latency

    try:
        Latency.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind. Keep the loopback default unless other machines must reach it.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one (the chosen port is printed).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of every generated reply: the same seed and request give the same reply.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes sharing the port and one state (a temporary SQLite file unless --state): the "
                   "journal, rules and queue, stored responses, rate limits and ids are the same for all.")
@click.option("--state", default=None, metavar="URL",
              help="Where the state lives, for several workers or replicas: sqlite:///PATH (one machine) or "
                   "redis://HOST:PORT/DB (any number of replicas; pip install 'pytest-mockai[redis]').")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              help="Logging threshold; 'info' logs one line per request (model, who answered, status, fault, "
                   "tokens, timing).")
@click.option("--log-format", default="text", show_default=True, type=click.Choice(["text", "json"]),
              help="Log lines as text, or as one JSON object per line (the same fields) for log pipelines.")
@click.option("--api-key", default=None, metavar="KEY",
              help="Require exactly this API key (Authorization: Bearer KEY, or Azure's api-key header). "
                   "By default any non-empty key is accepted.")
@click.option("--no-auth", is_flag=True, help="Accept requests without any API key.")
@click.option("--models", default=None, metavar="A,B,...",
              help=f"Comma-separated models listed by GET /v1/models (default: {', '.join(DEFAULT_MODELS[:4])}, "
                   "…).")
@click.option("--strict-models", is_flag=True,
              help="Answer 404 model_not_found for a model not in the list, as the real API does.")
@click.option("--max-body", default=16 * 1024 * 1024, show_default=True, type=click.IntRange(1),
              metavar="BYTES", help="Largest request body accepted; larger ones get 413.")
@click.option("--freeze-time", default=None, type=int, metavar="UNIX_TIME",
              help="Use this fixed 'created' timestamp, so replies are byte-identical run to run.")
@click.option("--scenario", "scenarios", multiple=True, type=click.Path(exists=True, dir_okay=False),
              metavar="FILE", help="Scripted rules and replies from a YAML or JSON scenario file (repeatable).")
@click.option("--strict", is_flag=True,
              help="Answer unscripted requests with a 400 listing why each rule missed, instead of generating.")
@click.option("--control/--no-control", default=None,
              help="Serve the control API under /_mockai/ (default: on when bound to loopback or with a token).")
@click.option("--control-token", default=None, metavar="TOKEN",
              help="Require this token (Authorization: Bearer TOKEN) on control API requests.")
@click.option("--faults", "faults", default=None, metavar="FAULT:P,...", callback=_check_faults,
              help="A seeded random fault schedule, e.g. 429:0.05,500:0.01,disconnect:0.02 (kinds: 4xx/5xx statuses, "
                   "quota, reset, hang, cut, error_event, malformed, stall, empty, length, content_filter, refusal, "
                   "empty_content; an argument goes after '=': cut=3:0.01). The same --seed repeats it exactly "
                   "(with one worker).")
@click.option("--latency", default=None, metavar="PROFILE", callback=_check_latency,
              help="Reply timing: none, realistic (350 ms to first token, 12 ms per token, ±25% seeded jitter), or "
                   "ttft=SECONDS,per_token=SECONDS,jitter=FRACTION.")
@click.option("--rpm", default=None, type=click.IntRange(1), metavar="N",
              help="Requests per minute per API key; more get 429 with retry-after. Adds x-ratelimit-* headers.")
@click.option("--tpm", default=None, type=click.IntRange(1), metavar="N",
              help="Tokens per minute per API key (prompt + max_tokens, or the reply's tokens).")
@click.option("--fault-header", is_flag=True,
              help="Honour the X-Mockai-Fault request header (e.g. 'X-Mockai-Fault: 429'), for clients in any "
                   "language.")
@click.option("--cassette", default=None, type=click.Path(dir_okay=False), metavar="PATH",
              help="Replay answers from this cassette file (JSON), and record into it as --record-mode allows.")
@click.option("--record-mode", default="none", show_default=True,
              type=click.Choice(["none", "once", "new_episodes", "all"]),
              help="none: replay only (a miss is a 400 naming the nearest recordings); once: record when the file "
                   "does not exist; new_episodes: record what the cassette lacks; all: record everything again "
                   "(the file is replaced once per run, workers included).")
@click.option("--upstream", default=None, metavar="URL",
              help="Base URL recording proxies to, with the caller's credentials (default https://api.openai.com/v1; "
                   "any OpenAI-compatible API).")
@click.option("--replay-speed", default=1.0, show_default=True, type=click.FloatRange(0), metavar="X",
              help="Replay recorded timing X times faster; 0 sends replies at once. Streams keep their recorded "
                   "timing; other replies answer at once unless --replay-elapsed.")
@click.option("--replay-elapsed", is_flag=True,
              help="Non-stream replies also wait the time the upstream took to answer them (divided by "
                   "--replay-speed).")
@click.option("--allow-playback-repeats", is_flag=True,
              help="When identical requests outnumber their recordings, replay the last one again instead of a "
                   "miss (POST /_mockai/reset starts playback over).")
@click.option("--match-on", default=None, metavar="A,B,...",
              help="Request parts a recording must match (default method,path,body; also query, model, messages, "
                   "last_user, tools).")
@click.option("--match-ignore", default=None, metavar="KEY,...",
              help="Body keys (JSON paths) to ignore when matching, e.g. user,metadata,temperature.")
@click.option("--match-normalize", multiple=True, metavar="REGEX",
              help="Volatile text to ignore when matching (a regex, or uuid, date, time, datetime, hex); repeatable.")
@click.option("--scrub-header", multiple=True, metavar="NAME",
              help="Another header to scrub from cassettes (credentials always are: Authorization, api-key, "
                   "OpenAI-Organization, OpenAI-Project, cookies, and names with api-key/token/secret); repeatable.")
@click.option("--scrub-path", multiple=True, metavar="PATH",
              help="A JSON path in bodies to scrub, e.g. user or messages[*].name; repeatable.")
@click.option("--scrub-pattern", multiple=True, metavar="REGEX", help="Text to scrub everywhere; repeatable.")
@click.option("--responder", default="default", show_default=True, type=click.Choice(["default", "fuzz"]),
              help="Who answers unscripted requests: the deterministic generator, or 'fuzz': a reply and stream "
                   "drawn for each request from every valid shape (seeded by --seed and the request).")
@click.option("--fuzz-fragments", default=0.25, show_default=True, type=click.FloatRange(0, 1), metavar="P",
              help="With --responder fuzz: the share of replies whose bytes are also fragmented on the wire "
                   "(events and multi-byte characters split between writes).")
@click.option("--journal-size", default=SERVE_JOURNAL_SIZE, show_default=True, type=click.IntRange(1), metavar="N",
              help="Calls the journal (GET /_mockai/calls) keeps, newest first out; bounds memory under load.")
@click.option("--journal-bytes", default=SERVE_JOURNAL_BYTES, show_default=True, type=click.IntRange(1),
              metavar="BYTES", help="Bytes the journal keeps at most (bodies, parsed requests, replies), oldest "
                                    "calls out first; the newest call always stays.")
def serve(host: str, port: int, seed: int, workers: int, log_level: str, log_format: str, api_key: str | None,
          no_auth: bool, models: str | None, strict_models: bool, max_body: int, freeze_time: int | None,
          scenarios: tuple[str, ...], strict: bool, control: bool | None, control_token: str | None,
          faults: str | None = None, latency: str | None = None, rpm: int | None = None, tpm: int | None = None,
          fault_header: bool = False, cassette: str | None = None, record_mode: str = "none",
          upstream: str | None = None, replay_speed: float = 1.0, replay_elapsed: bool = False,
          allow_playback_repeats: bool = False, match_on: str | None = None,
          match_ignore: str | None = None, match_normalize: tuple[str, ...] = (), scrub_header: tuple[str, ...] = (),
          scrub_path: tuple[str, ...] = (), scrub_pattern: tuple[str, ...] = (), responder: str = "default",
          fuzz_fragments: float = 0.25, journal_size: int = SERVE_JOURNAL_SIZE,
          journal_bytes: int = SERVE_JOURNAL_BYTES, state: str | None = None) -> None:
    """Serve the fake API until interrupted (Ctrl-C or SIGTERM).

    Point any OpenAI client at the printed base URL, e.g. OPENAI_BASE_URL=http://127.0.0.1:8000/v1.
    Routes answer with and without the /v1 prefix, and on Azure OpenAI's deployment paths.
    """
    # A server of its own: its request checks are no place for pydantic plugins (a tracer would record every
    # validation of the fake's), and finding plugins reads every installed package's metadata at the first
    # validation (10-20 ms of start-up). Setting the variable yourself keeps your choice.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from .server import serve as run

    _check_cassette_only(cassette)
    if state is not None:
        _check_state(state)
    for path in scenarios:
        from .scenario import ScenarioError, load_scenario  # (only when asked: ~8 ms of start-up)

        try:
            load_scenario(path)
        except ScenarioError as exc:
            raise click.UsageError(str(exc)) from None
    options: dict[str, object] = {"seed": seed, "auth": not no_auth, "api_key": api_key,
                                  "strict_models": strict_models, "max_body": max_body, "strict": strict,
                                  "control": control, "control_token": control_token}
    if models:
        options["models"] = [m.strip() for m in models.split(",") if m.strip()]
    if freeze_time is not None:
        options["clock"] = freeze_time
    options.update({"faults": faults, "latency": latency, "rpm": rpm, "tpm": tpm, "fault_header": fault_header})
    if cassette is not None:
        options.update(_cassette_options(cassette, record_mode, upstream, replay_speed, match_on, match_ignore,
                                         match_normalize, scrub_header, scrub_path, scrub_pattern))
        options.update({"replay_elapsed": replay_elapsed, "allow_playback_repeats": allow_playback_repeats})
    options.update({"responder": responder, "fuzz_fragments": fuzz_fragments, "journal_size": journal_size,
                    "journal_bytes": journal_bytes, "state": state})
    try:
        run(options, host=host, port=port, workers=workers, log_level=log_level, scenarios=scenarios,
            announce=lambda text: click.echo(text, err=False), log_format=log_format)
    except OSError as exc:
        from .server import busy_port_hint

        click.echo(f"mockai: cannot listen on {host}:{port}: {exc.strerror or exc}. {busy_port_hint(exc, '--port 0')}",
                   err=True)
        sys.exit(1)
    if cassette is not None:  # uvicorn ends worker processes by their signal, before their exit hooks run
        from .cassettes.writer import fold

        fold(cassette)


CASSETTE_ONLY = ("record_mode", "upstream", "replay_speed", "replay_elapsed", "allow_playback_repeats", "match_on",
                 "match_ignore", "match_normalize", "scrub_header", "scrub_path", "scrub_pattern")


def _check_cassette_only(cassette: str | None) -> None:
    """A usage error when options that only shape a cassette are given without ``--cassette`` (the server would
    start, and silently record or replay nothing)."""
    if cassette is not None:
        return
    ctx = click.get_current_context()
    given = [p.opts[0] for p in ctx.command.params if p.name in CASSETTE_ONLY
             and ctx.get_parameter_source(p.name) not in (None, click.core.ParameterSource.DEFAULT)]
    if given:
        raise click.UsageError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} --cassette PATH: "
                               f"{'it shapes' if len(given) == 1 else 'they shape'} how a cassette records and "
                               "replays, and without one nothing is recorded or replayed.")


def _check_state(url: str) -> None:
    """A usage error, before anything is served, when the state at ``url`` cannot be used."""
    from .shared import StateError, open_backend

    try:
        open_backend(url).close()
    except StateError as exc:  # its messages start "--state URL", which the hint already says
        raise click.BadParameter(str(exc).removeprefix("--state "), param_hint="'--state'") from None


def _check_regexes(option: str, patterns: tuple[str, ...]) -> None:
    """A usage error naming ``option``, the pattern and the regex error, for the first pattern that does not
    compile (instead of a traceback when the Scrubber or Matcher compiles it)."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise click.BadParameter(f"not a valid regular expression {pattern!r}: {exc}",
                                     param_hint=f"'{option}'") from None


def _matchers(given: str) -> list[str]:
    """The request parts ``--match-on`` names, or a usage error naming the option and the parts it takes."""
    from .cassettes.matching import NAMES
    from .suggest import closest

    names = [m.strip() for m in given.split(",") if m.strip()]
    expected = f"it takes a comma-separated list of {', '.join(NAMES)}"
    if not names:
        raise click.BadParameter(f"no request part named; {expected}.", param_hint="'--match-on'")
    for name in names:
        if name not in NAMES:
            best = closest(name, NAMES)
            guess = f" (did you mean {best!r}?)" if best else ""
            raise click.BadParameter(f"unknown matcher {name!r}{guess}; {expected}.", param_hint="'--match-on'")
    return names


def _check_paths(option: str, paths: tuple[str, ...]) -> None:
    """A usage error naming ``option`` for the first JSON path that does not parse."""
    from .cassettes.scrub import parse_path

    for path in paths:
        try:
            parse_path(path)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None


def _cassette_options(path: str, record_mode: str, upstream: str | None, replay_speed: float, match_on: str | None,
                      match_ignore: str | None, normalize: tuple[str, ...], headers: tuple[str, ...],
                      paths: tuple[str, ...], patterns: tuple[str, ...]) -> dict[str, object]:
    """The Config fields for a cassette (JSON, for worker processes), checked now so mistakes fail at startup."""
    import uuid

    from .cassettes import Cassette, CassetteError
    from .cassettes.store import exists

    match: dict[str, object] = {}
    if match_on is not None:
        match["on"] = _matchers(match_on)
    if match_ignore:
        match["ignore"] = [m.strip() for m in match_ignore.split(",") if m.strip()]
    _check_regexes("--match-normalize", normalize)
    _check_regexes("--scrub-pattern", patterns)
    _check_paths("--scrub-path", paths)
    if normalize:
        match["normalize"] = list(normalize)
    scrub = {"headers": list(headers), "paths": list(paths), "patterns": list(patterns)}
    options: dict[str, object] = {"cassette": path, "record_mode": record_mode, "upstream": upstream,
                                  "replay_speed": replay_speed, "match_on": match or None, "scrub": scrub,
                                  "cassette_run": uuid.uuid4().hex}  # one record-mode-all run for every worker
    try:
        Cassette(path, record_mode=record_mode, upstream=upstream, match_on=match or None, scrub=scrub,
                 replay_speed=replay_speed)
    except (CassetteError, ValueError, re.error) as exc:
        raise click.UsageError(str(exc)) from None
    if record_mode == "none" and not exists(path):
        raise click.BadParameter(f"{path} does not exist, and --record-mode none (the default) only replays. Record "
                                 "it first with --record-mode once (add --upstream URL to record from another API than "
                                 "api.openai.com), or check the path.", param_hint="'--cassette'")
    return options


@main.group()
def cassette() -> None:
    """Inspect, import and scrub cassette files."""


@cassette.command()
@click.argument("path", type=click.Path(dir_okay=False), callback=_existing_cassette)
def show(path: str) -> None:
    """Print a readable transcript of the cassette at PATH (streams folded into text)."""
    from .cassettes import CassetteError, load, transcript

    try:
        click.echo(transcript(load(path), path))
    except CassetteError as exc:
        raise click.ClickException(str(exc)) from None


@cassette.command(name="import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("target", required=False, type=click.Path(dir_okay=False))
@click.option("--scrub-header", multiple=True, metavar="NAME", help="Another header to scrub; repeatable.")
@click.option("--scrub-path", multiple=True, metavar="PATH", help="A JSON path in bodies to scrub; repeatable.")
@click.option("--scrub-pattern", multiple=True, metavar="REGEX", help="Text to scrub everywhere; repeatable.")
@click.option("--force", is_flag=True, help="Replace TARGET if it exists.")
def import_(source: str, target: str | None, scrub_header: tuple[str, ...], scrub_path: tuple[str, ...],
            scrub_pattern: tuple[str, ...], force: bool) -> None:
    """Convert a VCR.py / pytest-recording YAML cassette SOURCE into a mockai cassette TARGET (default: SOURCE
    with a .json suffix). Gzip-encoded bodies are decoded; secrets are scrubbed. An existing TARGET is kept
    unless --force."""
    from pathlib import Path

    import yaml

    from .cassettes import Scrubber, import_vcr, save
    from .cassettes.store import exists

    out = Path(target) if target else Path(source).with_suffix(".json")
    if exists(out) and not force:  # (a cassette edited by hand, or recorded since, is not lost to a re-import)
        raise click.ClickException(f"{out} exists; pass --force to replace it, or name another TARGET")

    try:
        doc = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or "interactions" not in doc:
            raise ValueError("not a VCR.py cassette (no 'interactions')")
        interactions = import_vcr(doc)
    except (yaml.YAMLError, ValueError, OSError) as exc:
        raise click.ClickException(f"{source}: {exc}") from None
    _check_regexes("--scrub-pattern", scrub_pattern)
    _check_paths("--scrub-path", scrub_path)
    try:
        scrubber = Scrubber(headers=scrub_header, paths=scrub_path, patterns=scrub_pattern)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    interactions = [scrubber.interaction(i) for i in interactions]
    save(out, interactions, replace=True)
    click.echo(f"{out}: {len(interactions)} interaction{'s' if len(interactions) != 1 else ''} imported")


@cassette.command()
@click.argument("path", type=click.Path(dir_okay=False), callback=_existing_cassette)
@click.option("--header", "headers", multiple=True, metavar="NAME", help="Another header to scrub; repeatable.")
@click.option("--path", "paths", multiple=True, metavar="PATH",
              help="A JSON path in bodies to scrub, e.g. user or messages[*].name; repeatable.")
@click.option("--pattern", "patterns", multiple=True, metavar="REGEX", help="Text to scrub everywhere; repeatable.")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Write the scrubbed cassette here instead of replacing PATH.")
def scrub(path: str, headers: tuple[str, ...], paths: tuple[str, ...], patterns: tuple[str, ...],
          output: str | None) -> None:
    """Scrub secrets from the cassette at PATH, in place (atomically) unless --output is given. The default
    secret headers are always scrubbed, and so are the credentials found in them, wherever they appear."""
    from .cassettes import CassetteError, Scrubber, load, save

    _check_regexes("--pattern", patterns)
    _check_paths("--path", paths)
    try:
        interactions = load(path)
        scrubber = Scrubber(headers=headers, paths=paths, patterns=patterns)
    except (CassetteError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    cleaned = [scrubber.interaction(i) for i in interactions]
    changed = sum(a != b for a, b in zip(interactions, cleaned, strict=True))
    save(output or path, cleaned, replace=True)
    click.echo(f"{output or path}: {changed} of {len(cleaned)} interaction{'s' if len(cleaned) != 1 else ''} "
               "changed")


if __name__ == "__main__":  # pragma: no cover
    main()
