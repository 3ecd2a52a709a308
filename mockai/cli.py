"""The ``mockai`` command.

    $ mockai serve --port 8000 --seed 42
    mockai serving on http://127.0.0.1:8000/v1  (seed 42, 1 worker)
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import sys

import click

from .models import DEFAULT_MODELS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mockai")
def main() -> None:
    """mockai: a faithful, deterministic fake of OpenAI's chat completions API for tests."""


def _check_faults(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from .faults import parse_schedule

    try:
        parse_schedule(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
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
              help="Worker processes sharing the port. Replies agree across workers; ids stay unique.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              help="Logging threshold; 'info' logs one line per request.")
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
                   "empty_content; an argument goes after '=': cut=3:0.01). The same --seed repeats it exactly.")
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
def serve(host: str, port: int, seed: int, workers: int, log_level: str, api_key: str | None, no_auth: bool,
          models: str | None, strict_models: bool, max_body: int, freeze_time: int | None,
          scenarios: tuple[str, ...], strict: bool, control: bool | None, control_token: str | None,
          faults: str | None = None, latency: str | None = None, rpm: int | None = None, tpm: int | None = None,
          fault_header: bool = False) -> None:
    """Serve the fake API until interrupted (Ctrl-C or SIGTERM).

    Point any OpenAI client at the printed base URL, e.g. OPENAI_BASE_URL=http://127.0.0.1:8000/v1.
    Routes answer with and without the /v1 prefix, and on Azure OpenAI's deployment paths.
    """
    from .scenario import ScenarioError, load_scenario
    from .server import serve as run

    for path in scenarios:
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
    try:
        run(options, host=host, port=port, workers=workers, log_level=log_level, scenarios=scenarios,
            announce=lambda text: click.echo(text, err=False))
    except OSError as exc:
        click.echo(f"mockai: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
