"""The admin API: plain HTTP on loopback, for ports, state and fault injection.

    GET  /health
    GET  /lpars                                  ports of every LPAR and service
    GET  /lpars/{lpar}                           state: policy, sessions, certificates, faults
    POST /lpars/{lpar}/faults/drift              {"stack"?, "text"?, "refresh"?: bool}
    POST /lpars/{lpar}/faults/refresh-failure    {"count"?: 1}
    POST /lpars/{lpar}/faults/expire-cert        {"ring"?, "label"?}
    POST /lpars/{lpar}/faults/zosmf              {"status"?: 503, "count"?, "delay"?: seconds}
    POST /lpars/{lpar}/faults/request            {"method", "path"?, "status"?: 500, "count"?: 1}
    POST /lpars/{lpar}/faults/lose-session       {"command"?: "netstat", "count"?: 1}
    POST /lpars/{lpar}/faults/ssh-auth           {"refuse": true|false}
    POST /lpars/{lpar}/faults/drop               {"service"?}
    POST /lpars/{lpar}/faults/clear              clears z/OSMF, SSH and refresh faults
    POST /lpars/{lpar}/certs/renew               {"ring"?, "label"?, "days"?: 365}
    POST /lpars/{lpar}/populations/{name}        {"clients": n}

No authentication: it listens on a loopback address only and is meant for the machine that
runs the simulator. Errors are JSON `{"error": "..."}` with 400 or 404.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from attls.errors import PolicySyntaxError
from attls.policy import parse_policy, render_policy

if TYPE_CHECKING:
    from lparsim.lpar import Lpar
    from lparsim.runner import Simulator


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class AdminFront:
    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, address: str, port: int) -> None:
        app = web.Application(middlewares=[self._errors])
        app.router.add_get("/health", self.health)
        app.router.add_get("/lpars", self.lpars)
        app.router.add_get("/lpars/{lpar}", self.lpar_state)
        app.router.add_post("/lpars/{lpar}/faults/{kind}", self.fault)
        app.router.add_post("/lpars/{lpar}/certs/renew", self.renew)
        app.router.add_post("/lpars/{lpar}/populations/{name:.+}", self.population)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, address, port)
        await site.start()
        # The bound port, when 0 (any free port) was asked for.
        self.port = int(self.runner.addresses[0][1])

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except (KeyError, ValueError, TypeError) as error:
            message = error.args[0] if error.args else str(error)
            return _error(400, str(message))

    def _lpar(self, request: web.Request) -> Lpar:
        name = request.match_info["lpar"]
        lpar = self.simulator.lpars.get(name.upper())
        if lpar is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"no LPAR {name}"}), content_type="application/json"
            )
        return lpar

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            body = await request.json()
        except ValueError:
            raise ValueError("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "lpars": sorted(self.simulator.lpars)})

    async def lpars(self, request: web.Request) -> web.Response:
        return web.json_response(self.simulator.ports())

    async def lpar_state(self, request: web.Request) -> web.Response:
        return web.json_response(self._lpar(request).describe())

    async def fault(self, request: web.Request) -> web.Response:
        lpar = self._lpar(request)
        kind = request.match_info["kind"]
        body = await self._body(request)
        if kind == "drift":
            return web.json_response(
                drift(lpar, body.get("stack"), body.get("text"), bool(body.get("refresh", False)))
            )
        if kind == "refresh-failure":
            count = int(body.get("count", 1))
            if not 1 <= count <= 100:
                raise ValueError("count must be 1-100")
            lpar.pagent.fail_next += count
            return web.json_response({"refresh_failures_pending": lpar.pagent.fail_next})
        if kind == "expire-cert":
            record = lpar.keyrings.expire(body.get("ring"), body.get("label"))
            lpar.note(f"certificate {record.ring} {record.label} expired (fault)")
            return web.json_response(record.describe())
        if kind == "zosmf":
            status = body.get("status")
            delay = float(body.get("delay", lpar.faults.zosmf_delay))
            if not 0 <= delay <= 120:
                raise ValueError("delay must be 0-120 seconds")
            lpar.faults.zosmf_delay = delay
            if status is not None:
                status = int(status)
                if not 400 <= status <= 599:
                    raise ValueError("status must be an HTTP error status (400-599)")
                count = body.get("count")
                lpar.faults.zosmf_status = status
                lpar.faults.zosmf_status_remaining = int(count) if count is not None else None
            return web.json_response(lpar.faults.describe(lpar.pagent.fail_next))
        if kind == "garble":
            count = int(body.get("count", 1))
            if not 1 <= count <= 100:
                raise ValueError("count must be 1-100")
            lpar.faults.garble_command = str(body.get("command", "netstat"))
            lpar.faults.garble_remaining = count
            return web.json_response(lpar.faults.describe(lpar.pagent.fail_next))
        if kind == "request":
            count = int(body.get("count", 1))
            status = int(body.get("status", 500))
            method = str(body.get("method", "")).upper()
            if not 1 <= count <= 100:
                raise ValueError("count must be 1-100")
            if not 400 <= status <= 599:
                raise ValueError("status must be an HTTP error status (400-599)")
            if method not in ("GET", "PUT", "POST", "DELETE"):
                raise ValueError("method must be GET, PUT, POST or DELETE")
            lpar.faults.request_fail_method = method
            lpar.faults.request_fail_path = str(body.get("path", "/zosmf/"))
            lpar.faults.request_fail_status = status
            lpar.faults.request_fail_remaining = count
            return web.json_response(lpar.faults.describe(lpar.pagent.fail_next))
        if kind == "lose-session":
            count = int(body.get("count", 1))
            if not 1 <= count <= 100:
                raise ValueError("count must be 1-100")
            lpar.faults.lose_command = str(body.get("command", "netstat"))
            lpar.faults.lose_remaining = count
            return web.json_response(lpar.faults.describe(lpar.pagent.fail_next))
        if kind == "ssh-auth":
            lpar.faults.ssh_refuse = bool(body.get("refuse", True))
            return web.json_response(lpar.faults.describe(lpar.pagent.fail_next))
        if kind == "drop":
            service = body.get("service")
            count = sum(stack.drop(service) for stack in lpar.dataplane.stacks.values())
            return web.json_response({"dropped": count})
        if kind == "clear":
            lpar.faults = type(lpar.faults)()
            lpar.pagent.fail_next = 0
            return web.json_response(lpar.faults.describe(0))
        return _error(404, f"no fault {kind}")

    async def renew(self, request: web.Request) -> web.Response:
        lpar = self._lpar(request)
        body = await self._body(request)
        days = float(body.get("days", 365))
        if not 1 <= days <= 3650:
            raise ValueError("days must be 1-3650")
        record = lpar.keyrings.renew(body.get("ring"), body.get("label"), days)
        lpar.note(
            f"certificate {record.ring} {record.label} renewed until {record.not_after:%Y-%m-%d}"
        )
        return web.json_response(record.describe())

    async def population(self, request: web.Request) -> web.Response:
        lpar = self._lpar(request)
        name = request.match_info["name"]
        try:
            population = lpar.population(name)
        except KeyError as error:
            return _error(400, str(error.args[0]))
        if population is None:
            return _error(404, f"no population {name} on {lpar.name}")
        body = await self._body(request)
        clients = int(body.get("clients", population.target))
        if not 0 <= clients <= 5000:
            raise ValueError("clients must be 0-5000")
        population.set_clients(clients)
        return web.json_response({"population": population.key, "clients": population.target})


def drift(lpar: Lpar, stack: str | None, text: str | None, refresh: bool) -> dict[str, Any]:
    """Edits a stack's policy file out of band, as someone with an editor would.

    With `text`, the file becomes that text. Without, a weakening edit: TLSv1 is switched On
    in the first TTLSEnvironmentAdvancedParms (or, with none, the first rule's priority moves
    by one), and the file is written back in canonical form with a comment on top.
    """
    config = lpar.config.stack(stack)
    if config is None:
        raise KeyError(f"no stack {stack} on {lpar.name}")
    path = config.policy_file
    if text is None:
        current = lpar.fs.read_text(path)
        try:
            policy = parse_policy(current)
        except PolicySyntaxError as error:
            raise ValueError(f"the policy file does not parse, drift needs text: {error}") from None
        changed = _weaken(policy)
        stamp = dt.datetime.now().astimezone()
        text = render_policy(policy, header=f"edited by hand {stamp:%Y-%m-%d %H:%M} ({changed})")
    lpar.fs.write_text(path, text, make_parents=True)
    lpar.note(f"policy file {path} edited out of band")
    result: dict[str, Any] = {"stack": config.name, "file": path}
    if refresh:
        result["console"] = lpar.pagent.refresh()
    return result


def _weaken(policy: Any) -> str:
    for name, statement in policy.environment_advanced_parms.items():
        policy.environment_advanced_parms[name] = dataclasses.replace(statement, tlsv1=True)
        return f"TLSv1 On in {name}"
    for name, env in policy.environment_actions.items():
        if env.advanced is not None:
            policy.environment_actions[name] = dataclasses.replace(
                env, advanced=dataclasses.replace(env.advanced, tlsv1=True)
            )
            return f"TLSv1 On in {name}"
    for name, rule in policy.rules.items():
        policy.rules[name] = dataclasses.replace(rule, priority=rule.effective_priority + 1)
        return f"priority of {name} raised"
    raise ValueError("the policy is empty; give the drifted text")
