"""The z/OSMF REST subset of one LPAR, over HTTPS (aiohttp).

* Every request needs the `X-CSRF-ZOSMF-HEADER` header (any value) or is refused with
  403 and z/OSMF's IZUG846W error (reference §8.1).
* HTTP basic authentication against the users in the configuration (`/zosmf/info` too).
* `GET /zosmf/info`
* `GET /zosmf/restfiles/fs?path=<dir>` lists a directory; `GET|PUT /zosmf/restfiles/fs/<path>`
  reads and writes a z/OS UNIX file (text or binary, ETag / If-Match); a missing path gives
  404 with z/OSMF's error document (`category`, `rc`, `reason`, `message`, `details`).
* `PUT /zosmf/restconsoles/consoles/<name>` issues a console command and answers
  `cmd-response` (lines separated by `\\r`), `cmd-response-key`, `cmd-response-url`,
  `cmd-response-uri` and, when a `sol-key` was given, `sol-key-detected`;
  `GET /zosmf/restconsoles/consoles/<name>/solmsgs/<key>` reads a response again.
* The jobs REST subset and the data set download: `lparsim.jobs`.

Faults: every request answered with a chosen status (503) or delayed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import datetime as dt
import hashlib
import json
import secrets
import ssl
from typing import TYPE_CHECKING, Any

from aiohttp import web

from lparsim import commands, pki
from lparsim.fsys import ZosPathError, normalise
from lparsim.jobs import USER_KEY, JobsApi

if TYPE_CHECKING:
    from lparsim.lpar import Lpar

CSRF_HEADER = "X-CSRF-ZOSMF-HEADER"
MAX_BODY = 8 * 1024 * 1024
# zos_version / zosmf_version by release; one step per release from 2.3 = 26 (an assumption
# drawn from public samples, see README).
ZOS_VERSIONS = {
    release: (f"04.{number}.00", str(number))
    for release, number in (("2.3", 26), ("2.4", 27), ("2.5", 28), ("3.1", 29), ("3.2", 30))
}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def _file_error(status: int, rc: int, reason: int, message: str, detail: str) -> web.Response:
    # z/OSMF's error report document for the data set and file REST interface (category 1:
    # service layer). rc 4 / reason 8 with "Path name not found" is what clients see for a
    # missing z/OS UNIX path.
    return _json(
        status,
        {"category": 1, "rc": rc, "reason": reason, "message": message, "details": [detail]},
    )


class ZosmfFront:
    def __init__(self, lpar: Lpar) -> None:
        self.lpar = lpar
        self.runner: web.AppRunner | None = None
        self.responses: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self.port = 0

    # --- server ----------------------------------------------------------------------------------

    def _tls(self) -> ssl.SSLContext:
        path = self.lpar.directory / "zosmf.pem"
        address = self.lpar.config.address
        issued: pki.Issued | None = None
        if path.is_file():
            issued = pki.Issued.read(path)
            days_left = (issued.not_after - pki.now()).days
            if days_left < 30 or issued.certificate.issuer != self.lpar.ca.certificate.subject:
                issued = None
        if issued is None:
            issued = pki.issue(
                self.lpar.ca,
                common_name=f"{self.lpar.name.lower()}.lparsim.test",
                not_after=pki.days_from_now(397),
                dns_names=("localhost", f"{self.lpar.name.lower()}.lparsim.test"),
                ip_addresses=tuple(dict.fromkeys([address, "127.0.0.1"])),
            )
            issued.write(path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(path))
        return context

    async def start(self) -> None:
        app = web.Application(middlewares=[self._gate], client_max_size=MAX_BODY)
        app.router.add_get("/zosmf/info", self.info)
        app.router.add_get("/zosmf/restfiles/fs", self.list_files)
        app.router.add_route("GET", "/zosmf/restfiles/fs/{path:.*}", self.read_file)
        app.router.add_route("PUT", "/zosmf/restfiles/fs/{path:.*}", self.write_file)
        app.router.add_put("/zosmf/restconsoles/consoles/{console}", self.issue_command)
        app.router.add_get("/zosmf/restconsoles/consoles/{console}/solmsgs/{key}", self.solicited)
        JobsApi(self).register(app)  # jobs, and the data set download of their output
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(
            self.runner,
            self.lpar.config.address,
            self.lpar.config.zosmf_port,
            ssl_context=self._tls(),
            backlog=512,
        )
        await site.start()
        # The bound port, when 0 (any free port) was asked for.
        self.port = int(self.runner.addresses[0][1])
        self.lpar.config.zosmf_port = self.port

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    # --- gate: faults, CSRF, authentication ------------------------------------------------------

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        faults = self.lpar.faults
        if faults.zosmf_delay:
            await asyncio.sleep(faults.zosmf_delay)
        if faults.zosmf_status is not None:
            if faults.zosmf_status_remaining is not None:
                faults.zosmf_status_remaining -= 1
                if faults.zosmf_status_remaining <= 0:
                    faults.zosmf_status_remaining = None
                    status = faults.zosmf_status
                    faults.zosmf_status = None
                    return self._unavailable(status)
            return self._unavailable(faults.zosmf_status)
        failing = faults.failing_request(request.method, request.path)
        if failing is not None:
            return self._unavailable(failing)
        if CSRF_HEADER not in request.headers:
            return _json(
                403,
                {
                    "errorID": "IZUG846W",
                    "errorMsg": "IZUG846W: An HTTP request for a z/OSMF REST service was "
                    "received from a remote site. The request was rejected, however, because "
                    'the remote site "" is not permitted to z/OSMF server "IZUSVR" on target '
                    f'system "{self.lpar.name}" .',
                },
            )
        user = self._authenticate(request)
        if user is None:
            return _json(
                401,
                {"errorMsg": "Authentication failed: a valid user ID and password are required."},
                headers={"WWW-Authenticate": 'Basic realm="zOSMF"'},
            )
        request[USER_KEY] = user
        return await handler(request)

    @staticmethod
    def _unavailable(status: int) -> web.Response:
        return _json(
            status,
            {"errorMsg": f"The z/OSMF server is not available (HTTP {status}, lparsim fault)."},
            headers={"Retry-After": "5"} if status == 503 else None,
        )

    def _authenticate(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, _, password = decoded.partition(":")
        user = self.lpar.simulator_config.user(name)
        if user is None or user.password is None:
            return None
        if not secrets.compare_digest(user.password.encode(), password.encode()):
            return None
        return user.name

    # --- info ------------------------------------------------------------------------------------

    async def info(self, request: web.Request) -> web.Response:
        zos_version, zosmf_version = ZOS_VERSIONS.get(self.lpar.config.release, ("04.28.00", "28"))
        return _json(
            200,
            {
                "api_version": "1",
                "zos_version": zos_version,
                "zosmf_version": zosmf_version,
                "zosmf_full_version": f"{zosmf_version}.0",
                "zosmf_hostname": request.url.host or self.lpar.config.address,
                "zosmf_port": str(self.port),
                "zosmf_saf_realm": "SAFRealm",
                "plugins": [
                    {
                        "pluginVersion": "HSMA280",
                        "pluginDefaultName": "Network Configuration Assistant",
                        "pluginStatus": "ACTIVE",
                    },
                ],
                "lparsim": {"system": self.lpar.name, "sysplex": self.lpar.config.sysplex},
            },
        )

    # --- files -----------------------------------------------------------------------------------

    @staticmethod
    def _etag(data: bytes) -> str:
        return '"' + hashlib.sha256(data).hexdigest()[:32].upper() + '"'

    @staticmethod
    def _binary(request: web.Request) -> bool:
        return request.headers.get("X-IBM-Data-Type", "text").lower().startswith("binary")

    async def list_files(self, request: web.Request) -> web.Response:
        raw = request.query.get("path")
        if not raw:
            return _file_error(400, 4, 1, "Required parameter 'path' is missing", "path")
        path = normalise(raw)
        try:
            entries = self.lpar.fs.list(path)
        except ZosPathError as error:
            return self._path_error(error)
        items = [
            {"name": ".", "mode": "drwxr-xr-x", "size": 0},
            {"name": "..", "mode": "drwxr-xr-x", "size": 0},
        ]
        for entry in entries:
            items.append(
                {
                    "name": entry.name,
                    "mode": ("d" if entry.is_dir else "-") + "rw-r--r--",
                    "size": entry.size,
                    "uid": 0,
                    "user": "TCPIP",
                    "gid": 1,
                    "group": "SYS1",
                    "mtime": f"{dt.datetime.fromtimestamp(entry.mtime):%Y-%m-%dT%H:%M:%S}",
                }
            )
        return _json(
            200,
            {"items": items, "returnedRows": len(items), "totalRows": len(items), "JSONversion": 1},
        )

    def _path_error(self, error: ZosPathError) -> web.Response:
        if error.errno == 2:
            return _file_error(404, 4, 8, "Path name not found", f"{error.strerror}")
        if error.errno == 13:
            return _file_error(403, 8, 13, "Permission denied", f"{error.strerror}")
        return _file_error(400, 4, error.errno or 1, "Request failed", f"{error.strerror}")

    async def read_file(self, request: web.Request) -> web.Response:
        path = normalise(request.match_info["path"])
        try:
            data = self.lpar.fs.read_bytes(path)
        except ZosPathError as error:
            return self._path_error(error)
        etag = self._etag(data)
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        if self._binary(request):
            return web.Response(
                body=data, content_type="application/octet-stream", headers={"ETag": etag}
            )
        return web.Response(
            text=data.decode("utf-8", errors="replace"),
            content_type="text/plain",
            charset="UTF-8",
            headers={"ETag": etag},
        )

    async def write_file(self, request: web.Request) -> web.Response:
        path = normalise(request.match_info["path"])
        body = await request.read()
        if request.content_type == "application/json":
            # Utility requests (chtag, chmod, ...) are accepted and do nothing here.
            try:
                utility = json.loads(body or b"{}")
            except ValueError:
                return _file_error(400, 4, 1, "The request body is not valid JSON", "JSON")
            if not isinstance(utility, dict) or "request" not in utility:
                return _file_error(400, 4, 1, "A utility request needs 'request'", "request")
            if not self.lpar.fs.exists(path):
                return self._path_error(
                    ZosPathError(2, "EDC5129I No such file or directory.", path)
                )
            return _json(200, {"stdout": [], "stderr": []})
        if not self._binary(request):
            charset = request.charset or "utf-8"
            try:
                body = body.decode(charset).encode("utf-8")
            except (LookupError, UnicodeDecodeError):
                return _file_error(400, 4, 1, f"The body is not valid {charset} text", charset)
            if "crlf=true" in request.headers.get("X-IBM-Data-Type", "").lower():
                body = body.replace(b"\r\n", b"\n")
        if_match = request.headers.get("If-Match")
        if if_match is not None:
            try:
                current = self.lpar.fs.read_bytes(path)
            except ZosPathError as error:
                return self._path_error(error)
            if self._etag(current) != if_match:
                return _file_error(412, 8, 2, "The file was changed by someone else", if_match)
        try:
            created = self.lpar.fs.write_bytes(path, body)
        except ZosPathError as error:
            return self._path_error(error)
        return web.Response(status=201 if created else 204, headers={"ETag": self._etag(body)})

    # --- console ---------------------------------------------------------------------------------

    async def issue_command(self, request: web.Request) -> web.Response:
        console = request.match_info["console"]
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _json(
                400,
                {
                    "return-code": 8,
                    "reason-code": 1,
                    "reason": "The request body is not valid JSON",
                },
            )
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("cmd"), str)
            or not body["cmd"].strip()
        ):
            return _json(
                400,
                {
                    "return-code": 8,
                    "reason-code": 2,
                    "reason": "The required property 'cmd' is missing or empty",
                },
            )
        if len(body["cmd"]) > 126:
            return _json(
                400,
                {
                    "return-code": 8,
                    "reason-code": 3,
                    "reason": "A console command is at most 126 characters",
                },
            )
        lines = commands.console(self.lpar, body["cmd"])
        response = "\r".join(lines) + "\r"
        key = f"C{secrets.randbelow(10**7):07d}"
        uri = f"/zosmf/restconsoles/consoles/{console}/solmsgs/{key}"
        url = f"https://{request.host}{uri}"
        sol_key = body.get("sol-key")
        stored: dict[str, Any] = {"cmd-response": response, "sol-key": sol_key}
        self.responses[key] = stored
        while len(self.responses) > 1000:
            self.responses.popitem(last=False)
        answer: dict[str, Any] = {
            "cmd-response-key": key,
            "cmd-response-url": url,
            "cmd-response-uri": uri,
        }
        if str(body.get("async", "N")).upper() != "Y":
            answer["cmd-response"] = response
        if isinstance(sol_key, str) and sol_key:
            answer["sol-key-detected"] = sol_key.upper() in response.upper()
        return _json(200, answer)

    async def solicited(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        stored = self.responses.get(key)
        if stored is None:
            return _json(
                404,
                {
                    "return-code": 8,
                    "reason-code": 4,
                    "reason": f"No response is kept for key {key}",
                },
            )
        answer: dict[str, Any] = {"cmd-response": stored["cmd-response"]}
        sol_key = stored.get("sol-key")
        if isinstance(sol_key, str) and sol_key:
            answer["sol-key-detected"] = sol_key.upper() in stored["cmd-response"].upper()
        return _json(200, answer)
