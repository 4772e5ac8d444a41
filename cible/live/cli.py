"""`cible live ...`: run the live path's parts, manage its API keys, rebuild its store, or run
the whole path on the demo warehouse (`cible live demo`, what `make live` runs).

    cible live demo [--rate 200] [--seconds 60] [--workers 2]
    cible live collector|lookup [--port P] [--host 127.0.0.1]
    cible live worker [--id w0] [--queues all|0,2|1/2]
    cible live bootstrap
    cible live keys add NAME [--scope collect|lookup ...] | revoke NAME | list

The broker and Redis are CIBLE_BROKER_URL and CIBLE_REDIS_URL; `demo` starts private ones.
"""

from __future__ import annotations

import argparse
import json
import sys

from cible import settings
from cible.live.config import LiveConfigError, load_live_config


def _serve(app, host: str, port: int) -> int:
    import uvicorn

    # uvicorn stops on SIGTERM after finishing the requests in hand.
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cible live", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("collector", "lookup"):
        api = commands.add_parser(name, help=f"run the {name} API")
        api.add_argument("--host", default="127.0.0.1")
        api.add_argument("--port", type=int, default=8010 if name == "collector" else 8011)
    worker = commands.add_parser("worker", help="run a stream worker")
    worker.add_argument("--id", default="w0", help="stable across restarts (its landing files)")
    worker.add_argument(
        "--queues", default="all", help="all, 0,2 or 1/2 (share 1 of 2, from 0: queues 1, 3...)"
    )
    commands.add_parser("bootstrap", help="rebuild the online store from the warehouse")
    keys = commands.add_parser("keys", help="API keys (stored hashed)")
    key_commands = keys.add_subparsers(dest="action", required=True)
    add = key_commands.add_parser("add", help="make a key and print it (shown once)")
    add.add_argument("name")
    add.add_argument("--scope", action="append", choices=("collect", "lookup"))
    key_commands.add_parser("revoke", help="revoke a key by name").add_argument("name")
    key_commands.add_parser("list", help="names, scopes, dates")
    demo = commands.add_parser("demo", help="the whole live path on the demo warehouse")
    demo.add_argument("--rate", type=float, default=200.0, help="events per second replayed")
    demo.add_argument("--seconds", type=float, default=60.0)
    demo.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    try:
        config = load_live_config()
    except LiveConfigError as error:
        print(f"cible live: {error}", file=sys.stderr)
        return 2

    if args.command == "collector":
        from cible.live.collector import create_collector_app

        return _serve(create_collector_app(config), args.host, args.port)
    if args.command == "lookup":
        from cible.live.lookup import create_lookup_app

        return _serve(create_lookup_app(config), args.host, args.port)
    if args.command == "worker":
        from cible.live.worker import parse_queues, run_worker

        try:
            queues = parse_queues(args.queues, config.broker.queues)
        except ValueError as error:
            print(f"cible live worker: {error}", file=sys.stderr)
            return 2
        return run_worker(
            args.id,
            queues,
            config,
            settings.broker_url(),
            settings.redis_url(),
            settings.landing_dir(),
        )
    if args.command == "bootstrap":
        from cible.live.bootstrap import bootstrap
        from cible.live.store import Store

        report = bootstrap(Store.connect(settings.redis_url(), config), config)
        print(json.dumps(report.__dict__, indent=2, default=str))
        return 0
    if args.command == "keys":
        from cible.live import keys as k

        path = config.collector.api_keys_path()
        try:
            if args.action == "add":
                print(k.add_key(path, args.name, tuple(args.scope or ["collect"])))
            elif args.action == "revoke":
                print(f"revoked {k.revoke_key(path, args.name)} key(s) named {args.name!r}")
            else:
                print(json.dumps(k.list_keys(path), indent=2))
        except k.KeysFileError as error:
            print(f"cible live keys: {error}", file=sys.stderr)
            return 2
        return 0
    from cible.live.demo import run_demo

    return run_demo(config, rate=args.rate, seconds=args.seconds, workers=args.workers)


if __name__ == "__main__":
    raise SystemExit(main())
