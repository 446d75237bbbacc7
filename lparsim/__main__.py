"""Command line: `python -m lparsim run|check|status|fault|population ...`.

    python -m lparsim run CONFIG.yaml [--no-populations] [--workdir DIR] [--base-port N]
    python -m lparsim check CONFIG.yaml
    python -m lparsim status CONFIG.yaml [LPAR]
    python -m lparsim fault CONFIG.yaml LPAR KIND [options]
        KIND: drift [--stack S] [--text-file F] [--refresh]
              refresh-failure [--count N]
              expire-cert [--ring R] [--label L]
              renew-cert [--ring R] [--label L] [--days D]
              zosmf [--status 503] [--count N] [--delay SECONDS]
              request --method PUT [--path /zosmf/restfiles/] [--status 500] [--count N]
              lose-session [--command netstat] [--count N]
              ssh-auth (--refuse | --allow)
              drop [--service NAME]
              clear
    python -m lparsim population CONFIG.yaml LPAR NAME --clients N

`fault`, `status` and `population` talk to the running simulator's admin API, found through
the state file in the configuration's work directory (or `--admin URL`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from attls.errors import PolicySyntaxError
from attls.policy import parse_policy
from lparsim.config import Config, ConfigError, load_config
from lparsim.runner import STATE_FILE, Simulator


def _load(path: str, workdir: str | None = None, base_port: int | None = None) -> Config:
    try:
        return load_config(path, workdir=Path(workdir) if workdir else None, base_port=base_port)
    except ConfigError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as error:
        print(f"{path}: cannot read: {error.strerror}", file=sys.stderr)
        raise SystemExit(2) from None


def check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    problems = 0
    for lpar in config.lpars:
        for stack in lpar.stacks:
            try:
                parse_policy(stack.seed_policy)
            except PolicySyntaxError as error:
                for problem in error.problems:
                    print(f"{lpar.name} {stack.name} seed policy: {problem}", file=sys.stderr)
                    problems += 1
    services = sum(len(lpar.services) for lpar in config.lpars)
    if problems:
        print(f"{problems} problem(s) in seed policies", file=sys.stderr)
        return 1
    print(
        f"{config.source}: ok: {len(config.lpars)} LPAR(s), {services} service(s), "
        f"{len(config.partners)} partner(s), work directory {config.workdir}"
    )
    return 0


async def _run(config: Config, populations: bool) -> int:
    simulator = Simulator(config, populations=populations)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await simulator.start()
    except OSError as error:
        print(f"lparsim: cannot start: {error}", file=sys.stderr)
        await simulator.stop()
        return 1
    for line in simulator.ready_lines():
        print(line, flush=True)
    await stop.wait()
    print("lparsim: stopping", flush=True)
    await simulator.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    config = _load(args.config, args.workdir, args.base_port)
    return asyncio.run(_run(config, not args.no_populations))


def _admin(args: argparse.Namespace) -> str:
    if args.admin:
        return str(args.admin).rstrip("/")
    config = _load(args.config)
    state = config.workdir / STATE_FILE
    try:
        return str(json.loads(state.read_text())["admin"])
    except (OSError, ValueError, KeyError):
        print(
            f"lparsim is not running for {args.config} (no {state}); or give --admin URL",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


def _call(
    args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None
) -> int:
    url = _admin(args) + path
    try:
        response = httpx.request(method, url, json=body, timeout=30)
    except httpx.HTTPError as error:
        print(f"cannot reach lparsim at {url}: {error}", file=sys.stderr)
        return 2
    try:
        shown = json.dumps(response.json(), indent=2)
    except ValueError:
        shown = response.text
    print(shown, file=sys.stdout if response.is_success else sys.stderr)
    return 0 if response.is_success else 1


def status(args: argparse.Namespace) -> int:
    return _call(args, "GET", f"/lpars/{args.lpar}" if args.lpar else "/lpars")


def fault(args: argparse.Namespace) -> int:
    kind = args.kind
    body: dict[str, Any] = {}
    path = f"/lpars/{args.lpar}/faults/{kind}"
    if kind == "drift":
        if args.stack:
            body["stack"] = args.stack
        if args.text_file:
            body["text"] = Path(args.text_file).read_text()
        body["refresh"] = args.refresh
    elif kind == "refresh-failure":
        body["count"] = args.count or 1
    elif kind in ("expire-cert", "renew-cert"):
        if args.ring:
            body["ring"] = args.ring
        if args.label:
            body["label"] = args.label
        if kind == "renew-cert":
            body["days"] = args.days
            path = f"/lpars/{args.lpar}/certs/renew"
    elif kind == "zosmf":
        if args.status is not None:
            body["status"] = args.status
        if args.count is not None:
            body["count"] = args.count
        if args.delay is not None:
            body["delay"] = args.delay
    elif kind == "request":
        body["method"] = args.method or "PUT"
        if args.path:
            body["path"] = args.path
        if args.status is not None:
            body["status"] = args.status
        body["count"] = args.count or 1
    elif kind == "lose-session":
        body["command"] = args.ssh_command or "netstat"
        body["count"] = args.count or 1
    elif kind == "ssh-auth":
        if args.refuse == args.allow:
            print("ssh-auth needs --refuse or --allow", file=sys.stderr)
            return 2
        body["refuse"] = args.refuse
    elif kind == "drop" and args.service:
        body["service"] = args.service
    return _call(args, "POST", path, body)


def population(args: argparse.Namespace) -> int:
    return _call(
        args,
        "POST",
        f"/lpars/{args.lpar}/populations/{quote(args.name, safe='/')}",
        {"clients": args.clients},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lparsim", description="A software LPAR.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="start the LPARs of a configuration")
    p.add_argument("config")
    p.add_argument("--no-populations", action="store_true", help="start no client traffic")
    p.add_argument("--workdir", help="use this work directory instead of sim.workdir")
    p.add_argument(
        "--base-port", type=int, help="allocate host ports from here (0: any free ports)"
    )
    p.set_defaults(func=run)
    p = sub.add_parser("check", help="validate a configuration and its seed policies")
    p.add_argument("config")
    p.set_defaults(func=check)
    p = sub.add_parser("status", help="ports and state of a running simulator")
    p.add_argument("config")
    p.add_argument("lpar", nargs="?")
    p.add_argument("--admin")
    p.set_defaults(func=status)
    p = sub.add_parser("fault", help="inject a fault into a running LPAR")
    p.add_argument("config")
    p.add_argument("lpar")
    p.add_argument(
        "kind",
        choices=[
            "drift",
            "refresh-failure",
            "expire-cert",
            "renew-cert",
            "zosmf",
            "request",
            "lose-session",
            "ssh-auth",
            "drop",
            "clear",
        ],
    )
    p.add_argument("--admin")
    p.add_argument("--stack")
    p.add_argument("--text-file")
    p.add_argument("--refresh", action="store_true")
    p.add_argument("--count", type=int)
    p.add_argument("--ring")
    p.add_argument("--label")
    p.add_argument("--days", type=float, default=365)
    p.add_argument("--status", type=int)
    p.add_argument("--delay", type=float)
    p.add_argument("--refuse", action="store_true")
    p.add_argument("--allow", action="store_true")
    p.add_argument("--service")
    p.add_argument("--method", help="request: the z/OSMF method that fails (GET, PUT, ...)")
    p.add_argument("--path", help="request: the z/OSMF path prefix that fails")
    p.add_argument(
        "--command", dest="ssh_command", help="lose-session: the SSH command's first word"
    )
    p.set_defaults(func=fault)
    p = sub.add_parser("population", help="change the number of clients of a population")
    p.add_argument("config")
    p.add_argument("lpar")
    p.add_argument("name")
    p.add_argument("--clients", type=int, required=True)
    p.add_argument("--admin")
    p.set_defaults(func=population)
    args = parser.parse_args(argv)
    with contextlib.suppress(BrokenPipeError):
        return int(args.func(args))
    return 1


if __name__ == "__main__":
    sys.exit(main())
