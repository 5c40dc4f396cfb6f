"""The `baton` command: serve, check, import, demo, stats."""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
from pathlib import Path

import trio
from loguru import logger

import config as baton_config
from edge import logs
from edge.memory import return_large_blocks


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "baton"


def resolve_data_dir(flag: str | None) -> Path:
    return Path(flag or os.environ.get("BATON_DATA_DIR") or default_data_dir()).expanduser()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="baton", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument(
        "--config",
        type=Path,
        help="YAML config (default: ./baton.yaml, else "
        "built-in providers enabled by <NAME>_API_KEY variables)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--data-dir", help=f"state directory (default: $BATON_DATA_DIR, else {default_data_dir()})"
    )
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    serve.add_argument("--certfile", help="TLS certificate (PEM): serve HTTPS, HTTP/2 by ALPN")
    serve.add_argument("--keyfile", help="the certificate's private key (PEM)")
    serve.add_argument("--log-level", default="INFO")
    serve.add_argument(
        "--log-json", action="store_true", help="one JSON object per log line (on stderr)"
    )
    serve.add_argument(
        "--log-requests",
        type=Path,
        metavar="DIR",
        help="write each call's request, attempts and reply (or stream) to DIR/<date>/<id>/, "
        "secrets redacted (for debugging)",
    )

    check = commands.add_parser("check", help="validate a config and show what it resolves to")
    check.add_argument("--config", type=Path)

    demo = commands.add_parser("demo", help="simulated upstreams + the gateway, no keys needed")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument(
        "--once", action="store_true", help="show the failover walk-through, then exit"
    )
    demo.add_argument("--log-level", default="WARNING")
    demo.add_argument("--log-json", action="store_true", help="one JSON object per log line")

    imports = commands.add_parser(
        "import", help="write a baton.yaml from LLM-API-Key-Proxy's .env (and YAML) on stdout"
    )
    imports.add_argument("--env", type=Path, default=Path(".env"), help="default: ./.env")
    imports.add_argument("--virtual-models", type=Path, help="the fork's virtual_models.yaml")
    imports.add_argument("--router", type=Path, help="the fork's router_config.yaml")
    imports.add_argument("--rankings", type=Path, help="the fork's model_rankings.yaml")

    stats = commands.add_parser("stats", help="what a running gateway is doing (its /stats)")
    stats.add_argument("--url", default="http://127.0.0.1:8080", help="the gateway")
    stats.add_argument("--key", help="a client key (default: $BATON_API_KEY, else $PROXY_API_KEY)")
    stats.add_argument("--json", action="store_true", help="print the raw /stats JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        return _check(args)
    if args.command == "import":
        from edge.import_command import run_import

        return run_import(args.env, args.virtual_models, args.router, args.rankings)
    if args.command == "stats":
        from edge.stats_command import key_from_environment, run_stats

        return run_stats(args.url, args.key or key_from_environment(), args.json)
    if args.command == "demo":
        from edge.demo import run_demo

        logs.configure(args.log_level, json=args.log_json)
        return trio.run(run_demo, args.port, args.once)
    return _serve(args)


def _load(path: Path | None) -> baton_config.Loaded | None:
    try:
        return baton_config.load(path)
    except baton_config.ConfigError as error:
        print(f"baton: the configuration has problems:\n{error}", file=sys.stderr)
        return None
    except OSError as error:
        print(f"baton: cannot read the configuration: {error}", file=sys.stderr)
        return None


def _check(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    if loaded is None:
        return 1
    print(baton_config.describe(loaded))
    return 0


def _serve(args: argparse.Namespace) -> int:
    logs.configure(args.log_level, json=args.log_json)
    loaded = _load(args.config)
    if loaded is None:
        return 1
    logs.register_secrets(logs.config_secrets(loaded.config))
    for warning in loaded.warnings:
        logger.warning(warning)
    if loaded.config.server.open:
        logger.warning(
            "NO CLIENT KEYS CONFIGURED: anyone who can reach {}:{} can use every "
            "provider key. Set server.api_keys.",
            args.host,
            args.port,
        )
    if bool(args.certfile) != bool(args.keyfile):
        print("baton: --certfile and --keyfile go together", file=sys.stderr)
        return 1
    data_dir = resolve_data_dir(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    _raise_open_file_limit()
    return_large_blocks()
    if args.workers > 1:
        from edge.workers import run_workers

        return run_workers(args, data_dir, loaded.config)
    trio.run(_serve_until_signal, loaded.config, args, data_dir)
    return 0


def _raise_open_file_limit() -> None:
    """Every open stream holds two sockets (client and upstream): allow as many open files as
    the system lets this process have (workers inherit the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            logger.warning("could not raise the open-file limit from {}: {}", soft, exc)


async def _serve_until_signal(
    config: baton_config.Config, args: argparse.Namespace, data_dir: Path
) -> None:
    from edge.request_log import recording
    from edge.server import serve

    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with recording(args.log_requests), trio.open_nursery() as nursery:
            binds = await nursery.start(
                lambda task_status: serve(
                    config,
                    host=args.host,
                    port=args.port,
                    certfile=args.certfile,
                    keyfile=args.keyfile,
                    data_dir=data_dir,
                    shutdown_trigger=stop.wait,
                    task_status=task_status,
                )
            )
            logger.info("baton is serving on {}", ", ".join(f"{bind}/v1" for bind in binds))
            async for signum in signals:
                logger.info(
                    "{} received: finishing open calls, then stopping", signal.Signals(signum).name
                )
                stop.set()
                break


if __name__ == "__main__":
    sys.exit(main())
