"""``sitelog pool``: look at resource pools and configure them through central's HTTP API.

Reads need a read token; changes need an admin token and go to central (the only
place configuration is authored), which checks them against the pool rules and
answers once they are projected. ``--url`` and ``--token`` default to
``SITELOG_URL`` and ``SITELOG_TOKEN``.

  sitelog pool list [--at TIME]
  sitelog pool show POOL [--at TIME]
  sitelog pool register SERVER --role management-server|gateway [--site SITE]
  sitelog pool create POOL [--default-observer] [--description TEXT]
  sitelog pool add-member|remove-member|add-observer|remove-observer POOL SERVER
  sitelog pool default-observer POOL on|off
  sitelog pool membership POOL automatic|manual
  sitelog pool assign POOL TARGET... --kind network-device|unix-agent|url-monitor
                      [--signing-root FINGERPRINT]
  sitelog pool unassign POOL TARGET...
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

import orjson

from engine.commands.options import add_command
from engine.errors import CommandError, ConfigError
from schemas.types import ServerRole, TargetKind


def _spelled(values: type[ServerRole] | type[TargetKind]) -> dict[str, str]:
    """Command-line spellings of an enum's values: MANAGEMENT_SERVER is management-server."""
    return {v.value.lower().replace("_", "-"): v.value for v in values}


ROLES, _KINDS = _spelled(ServerRole), _spelled(TargetKind)
_MEMBERSHIP = {
    "add-member": "PoolMemberAdded",
    "remove-member": "PoolMemberRemoved",
    "add-observer": "PoolObserverAdded",
    "remove-observer": "PoolObserverRemoved",
}


def register(commands: Any) -> None:
    parser = add_command(
        commands, "pool", "show and configure resource pools (through central's HTTP API)", __doc__
    )
    parser.add_argument("--url", default=os.environ.get("SITELOG_URL"), help="node API base URL")
    parser.add_argument("--token", default=os.environ.get("SITELOG_TOKEN"), help="bearer token")
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name in ("list", "show"):
        sub = actions.add_parser(name, help=f"{name} pools as of an instant")
        if name == "show":
            sub.add_argument("pool")
        sub.add_argument("--at", help="instant: RFC 3339 time or microseconds (default now)")
    sub = actions.add_parser("register", help="register a management or gateway server")
    sub.add_argument("server")
    sub.add_argument("--role", choices=sorted(ROLES), required=True)
    sub.add_argument("--site", default="")
    sub = actions.add_parser("create", help="create a pool (manual membership)")
    sub.add_argument("pool")
    sub.add_argument("--default-observer", action="store_true", help="let central vote")
    sub.add_argument("--description", default="")
    for name in _MEMBERSHIP:
        sub = actions.add_parser(name, help=f"{name.replace('-', ' ')} of a manual pool")
        sub.add_argument("pool")
        sub.add_argument("server")
    sub = actions.add_parser("default-observer", help="enable or disable central's vote")
    sub.add_argument("pool")
    sub.add_argument("switch", choices=("on", "off"))
    sub = actions.add_parser("membership", help="switch All Management Servers' membership")
    sub.add_argument("pool")
    sub.add_argument("mode", choices=("automatic", "manual"))
    sub = actions.add_parser("assign", help="assign workflow targets to a pool")
    sub.add_argument("pool")
    sub.add_argument("targets", nargs="+", metavar="TARGET")
    sub.add_argument("--kind", choices=sorted(_KINDS), required=True)
    sub.add_argument("--signing-root", help="fingerprint of the root that signed the agents")
    sub = actions.add_parser("unassign", help="remove workflow targets from a pool")
    sub.add_argument("pool")
    sub.add_argument("targets", nargs="+", metavar="TARGET")
    parser.set_defaults(run=run)


def events_for(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The configuration events a changing action appends."""
    action = args.action

    def event(type_name: str, **payload: Any) -> dict[str, Any]:
        return {"type": type_name, "payload": payload}

    if action == "register":
        return [
            event(
                "ServerRegistered",
                server_name=args.server,
                role=ROLES[args.role],
                site_name=args.site,
            )
        ]
    if action == "create":
        return [
            event(
                "PoolDefined",
                pool_name=args.pool,
                default_observer=args.default_observer,
                description=args.description,
            )
        ]
    if action in _MEMBERSHIP:
        return [event(_MEMBERSHIP[action], pool_name=args.pool, server_name=args.server)]
    if action == "default-observer":
        kind = "DefaultObserverEnabled" if args.switch == "on" else "DefaultObserverDisabled"
        return [event(kind, pool_name=args.pool)]
    if action == "membership":
        return [
            event("PoolMembershipModeChanged", pool_name=args.pool, membership=args.mode.upper())
        ]
    if action == "assign":
        return [
            event(
                "PoolTargetAssigned",
                pool_name=args.pool,
                target_name=t,
                kind=_KINDS[args.kind],
                signing_root=args.signing_root,
            )
            for t in args.targets
        ]
    return [event("PoolTargetRemoved", pool_name=args.pool, target_name=t) for t in args.targets]


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    if not args.url:
        raise ConfigError("no API URL: pass --url or set SITELOG_URL")
    if not args.token:
        raise ConfigError("no API token: pass --token or set SITELOG_TOKEN")
    request = urllib.request.Request(
        args.url.rstrip("/") + path,
        method=method,
        data=None if body is None else orjson.dumps(body),
        headers={"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return orjson.loads(answer.read())
    except urllib.error.HTTPError as exc:
        try:
            error = orjson.loads(exc.read())["error"]
            message = f"{error['message']} ({exc.code} {error['code']})"
        except (orjson.JSONDecodeError, KeyError, TypeError):
            message = f"HTTP {exc.code} {exc.reason}"
        raise CommandError(message) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"cannot reach {args.url}: {reason}") from None


def _when(micros: int | None) -> str:
    if micros is None:
        return "never"
    return datetime.fromtimestamp(micros / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _print_pool(pool: dict[str, Any], out: Any) -> None:
    observer = pool["default_observer"]
    print(
        f"{pool['name']}: {pool['membership']} membership, "
        f"{'quorum' if pool['has_quorum'] else 'NO QUORUM'} "
        f"({pool['available_votes']} of {pool['votes']} votes up, {pool['quorum']} needed, "
        f"{pool['may_fail']} may fail), default observer "
        f"{'votes' if observer['votes'] else 'enabled, no vote' if observer['enabled'] else 'off'}",
        file=out,
    )
    if pool["reason"]:
        print(f"  {pool['reason']}", file=out)
    for m in pool["members"]:
        role = "observer" if m["observer"] else m["role"].replace("_", " ")
        state = "available" if m["available"] else "UNAVAILABLE"
        line = (
            f"  {m['server']:<24} {role:<18} {state:<12} lease until {_when(m['lease_expires_at'])}"
        )
        if m["missing_roots"]:
            line += f"  missing roots: {', '.join(m['missing_roots'])}"
        print(line, file=out)
    for name in pool["unregistered"]:
        print(f"  {name:<24} not registered: no vote", file=out)
    print(f"  {pool['assigned']} of {pool['targets']} targets assigned", file=out)
    for t in pool.get("assignment", ()):
        print(f"  target {t['name']:<30} {t['kind']:<15} -> {t['owner'] or '-'}", file=out)


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.action in ("list", "show"):
        query = "" if args.at is None else "?" + urllib.parse.urlencode({"at": args.at})
        path = "/api/v1/pools"
        if args.action == "show":
            path += "/" + urllib.parse.quote(args.pool, safe="")
        answer = _call(args, "GET", path + query)
        if args.json:
            print(orjson.dumps(answer).decode(), file=out)
            return 0
        for pool in answer["pools"] if args.action == "list" else [answer["pool"]]:
            _print_pool(pool, out)
        return 0
    events = events_for(args)
    answer = _call(args, "POST", "/api/v1/configuration?wait=projected", {"events": events})
    if args.json:
        print(orjson.dumps(answer).decode(), file=out)
    else:
        state = "projected" if answer.get("projected") else "appended (not yet projected)"
        print(f"{len(answer['events'])} event(s) {state}", file=out)
    return 0
