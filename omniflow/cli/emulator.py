"""``omniflow emulator serve``: the embedded OmniRouters emulator over HTTP."""

from __future__ import annotations

import click

from omniflow.cli._common import handles_errors


@click.group()
def emulator() -> None:
    """The embedded OmniRouters emulator (docs/emulator.md)."""


@emulator.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port; 0 picks a free one (printed on stderr).")
@click.option("--latency", type=float, default=None, help="Emulator seconds from create to completion [default: 45].")
@click.option("--tick", type=float, default=None, help="Gateway poller period in emulator seconds [default: 15].")
@click.option("--speed", type=float, default=None, help="Emulator seconds per real second [default: 30].")
@click.option("--faults", default="", help='Fault rates, e.g. "create_429=0.1,create_drop=0.03,task_fail=0.02".')
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for fault draws and rendered media.")
@click.option("--keys", default=None, help="Comma-separated accepted keys (default: any sk- key; env OMNIFLOW_EMULATOR_KEYS).")
@click.option("--retry-after", type=float, default=None, help="Add Retry-After (seconds) to 429 answers.")
@click.option("--url-ttl", type=float, default=None, help="Output URL lifetime in emulator seconds [default: 86400].")
@click.option("--full-size", is_flag=True, help="Render at the model's full size instead of a 320 px proxy.")
@click.option("--public-url", default=None, help="Origin for handed-out URLs (default: the one the client used).")
@click.option("--proxy-size", type=int, default=None, help="Long side of proxy renders in pixels [default: 320].")
@click.option("--fps", type=int, default=None, help="Frames per second of rendered videos [default: 4].")
@click.option("--prerender", is_flag=True,
              help="Render each output in the background when its task is created (as a real service has it "
                   "ready at completion), instead of on first download.")
@click.option("--models", "models", default="",
              help='Change what GET /v1/models offers, for tests: "-ID" hides a catalogue id (its creates get 503), '
                   '"+ID" lists one the catalogue lacks; comma-separated.')
@handles_errors
def serve(
    host: str,
    port: int,
    latency: float | None,
    tick: float | None,
    speed: float | None,
    faults: str,
    seed: int,
    keys: str | None,
    retry_after: float | None,
    url_ttl: float | None,
    full_size: bool,
    public_url: str | None,
    proxy_size: int | None,
    fps: int | None,
    prerender: bool,
    models: str,
) -> None:
    """Serve the emulator on HTTP; point any client at the printed URL."""
    from omniflow.emulator.config import EmulatorConfig, parse_faults, parse_keys, parse_models
    from omniflow.emulator.server import serve as run

    try:
        hidden, extra = parse_models(models)
        config = EmulatorConfig.from_env(
            hidden_models=hidden,
            extra_models=extra,
            faults=parse_faults(faults),
            keys=parse_keys(keys),
            seed=seed,
            latency=latency,
            tick=tick,
            speed=speed,
            retry_after=retry_after,
            url_ttl=url_ttl,
            full_size=full_size or None,
            public_url=public_url,
            proxy_long_side=proxy_size,
            fps=fps,
            prerender=prerender or None,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        run(config, host, port)
    except OSError as exc:
        raise click.UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        pass
