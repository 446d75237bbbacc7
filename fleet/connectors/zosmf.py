"""z/OSMF REST: z/OS UNIX files (`/zosmf/restfiles/fs`), the console, `/zosmf/info`, batch
jobs (`/zosmf/restjobs/jobs`) and MVS data sets read in binary (`/zosmf/restfiles/ds`).

Over HTTPS with httpx, TLS verified against the connection's CA bundle only (never the
system store, never unverified), HTTP basic authentication, and the
`X-CSRF-ZOSMF-HEADER` header on every request (z/OS V2R3 and later refuse REST calls
without it). Every call is bounded: connect and read timeouts from `base.Timeouts`.

Errors are classified here, once (base.py):

- timeouts, refused or reset connections, 408/429 and 5xx answers -> TransientError;
- 401 (the password was refused) and 403 (the user may not) -> AuthenticationFailed;
- 404 on a file or data set -> FileMissing, with z/OSMF's message;
- a job that is not there (HTTP 400, category 6 rc 4 reason 10 [doc: z/OSMF jobs REST
  interface error reporting]) -> PermanentError naming it;
- a data set download cut before its promised length -> TransientError (the next run reads
  it again; nothing of a partial download is used);
- any other 4xx -> PermanentError, with z/OSMF's error message;
- a certificate the configured CA did not issue (or one for another host) -> PermanentError.

The password is held by httpx's basic-auth header only and never appears in a message or a
repr; exceptions are re-raised without their httpx cause, which carries the request headers.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from fleet.connectors.base import (
    AuthenticationFailed,
    ConnectorError,
    ConsoleResponse,
    FileMissing,
    PermanentError,
    Timeouts,
    TransientError,
)

CSRF_HEADER = "X-CSRF-ZOSMF-HEADER"
# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH = {62, 64}
# Answers worth retrying besides 5xx: request timeout, too many requests.
_TRANSIENT_4XX = {408, 429}


def tls_context(ca_bundle: str) -> ssl.SSLContext:
    """A client context that trusts exactly the CA certificates of `ca_bundle` (PEM)."""
    if not ca_bundle or "-----BEGIN CERTIFICATE-----" not in ca_bundle:
        raise PermanentError(
            "no CA bundle is configured for z/OSMF: paste the PEM of the CA that issued "
            "the z/OSMF server certificate"
        )
    try:
        context = ssl.create_default_context(cadata=ca_bundle)
    except (ssl.SSLError, ValueError) as error:
        raise PermanentError(
            "the configured CA bundle cannot be read as PEM certificates", detail=str(error)
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def zosmf_message(response: httpx.Response) -> str:
    """The human part of a z/OSMF error document, whichever service answered."""
    try:
        body = response.json()
    except ValueError:
        body = None
    parts: list[str] = []
    if isinstance(body, dict):
        for key in ("message", "errorMsg", "reason", "error", "msg"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                parts.append(value.strip())
        details = body.get("details")
        if isinstance(details, list):
            parts += [str(detail).strip() for detail in details if str(detail).strip()]
        elif isinstance(details, str) and details.strip():
            parts.append(details.strip())
    if parts:
        return "; ".join(parts)
    text = response.text.strip() if response.content else ""
    return text[:300] if text else response.reason_phrase


@dataclass(frozen=True)
class JobStatus:
    """The parts of a z/OSMF job document the portal uses [doc: "Job document"]."""

    jobname: str
    jobid: str
    status: str  # INPUT, ACTIVE, OUTPUT
    retcode: str | None  # "CC 0000", "JCL ERROR", "ABEND S806", ... once it ended
    owner: str = ""

    @property
    def ended(self) -> bool:
        return self.status == "OUTPUT"

    @property
    def label(self) -> str:
        return f"{self.jobname}({self.jobid})"


@dataclass(frozen=True)
class SpoolFile:
    """One spool data set of a job: its DD, step and the lines it holds."""

    id: int
    ddname: str
    stepname: str
    text: str


class ZosmfClient:
    """One z/OSMF server, one user. Synchronous; `close()` (or `with`) when done."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        ca_bundle: str,
        *,
        timeouts: Timeouts | None = None,
        console_name: str = "defcn",
        http_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.host = host
        self.port = int(port)
        self.username = username
        self.timeouts = timeouts or Timeouts()
        self.console_name = console_name
        self.where = f"z/OSMF at {host}:{self.port}"
        url_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        self._http = httpx.Client(
            base_url=f"https://{url_host}:{self.port}",
            verify=tls_context(ca_bundle),
            auth=httpx.BasicAuth(username, password),
            headers={CSRF_HEADER: "", "Accept": "application/json, text/plain"},
            timeout=httpx.Timeout(
                self.timeouts.read,
                connect=self.timeouts.connect,
                write=self.timeouts.read,
                pool=self.timeouts.connect,
            ),
            follow_redirects=False,
            # No proxies, netrc or SSL_CERT_FILE from the environment: the connection's
            # settings are the whole truth.
            trust_env=False,
            default_encoding="utf-8",
            transport=http_transport,
        )

    def __repr__(self) -> str:
        return f"<ZosmfClient {self.username}@{self.host}:{self.port}>"

    # --- the interface ---------------------------------------------------------------------------

    def get_file(self, path: str) -> str:
        """The text of a z/OS UNIX file."""
        response = self._request(
            "GET",
            self._fs_url(path),
            path=path,
            expect=(200,),
            headers={"X-IBM-Data-Type": "text", "Accept": "text/plain, application/json"},
        )
        try:
            return response.content.decode(response.encoding or "utf-8")
        except (UnicodeDecodeError, LookupError) as error:
            raise PermanentError(
                f"{path} came back from {self.where} as undecodable text ({error})"
            ) from None

    def put_file(self, path: str, text: str) -> None:
        """Writes (creates or replaces) a z/OS UNIX file as text."""
        self._request(
            "PUT",
            self._fs_url(path),
            path=path,
            expect=(201, 204),
            content=text.encode("utf-8"),
            headers={"Content-Type": "text/plain; charset=utf-8", "X-IBM-Data-Type": "text"},
        )

    def console(self, command: str) -> ConsoleResponse:
        """Issues an operator command; the solicited response as z/OSMF returns it.

        The synchronous API waits a few seconds for the response; when `cmd-response` is
        still empty, `solmsgs/<key>` is polled `timeouts.console_polls` times. An empty
        text after that is returned as is: the caller decides what a silent command means.
        """
        console_path = f"/zosmf/restconsoles/consoles/{quote(self.console_name, safe='')}"
        response = self._request("PUT", console_path, expect=(200,), json={"cmd": command})
        data = self._json(response)
        key = data.get("cmd-response-key")
        key = key if isinstance(key, str) else ""
        text = self._response_text(data)
        uri = data.get("cmd-response-uri")
        if not (isinstance(uri, str) and uri.startswith("/zosmf/")):
            uri = f"{console_path}/solmsgs/{quote(key, safe='')}"
        polls = 0
        while not text.strip() and key and polls < self.timeouts.console_polls:
            polls += 1
            time.sleep(self.timeouts.console_poll_interval)
            text = self._response_text(self._json(self._request("GET", uri, expect=(200,))))
        return ConsoleResponse(command=command, text=text, response_key=key)

    # --- jobs and data sets (the zERT collector) -------------------------------------------

    def submit_job(self, jcl: str) -> JobStatus:
        """Submits JCL given as text [doc: "Submit a job", PUT /zosmf/restjobs/jobs]."""
        response = self._request(
            "PUT",
            "/zosmf/restjobs/jobs",
            expect=(201,),
            content=jcl.encode("utf-8"),
            headers={"Content-Type": "text/plain; charset=utf-8", "X-IBM-Intrdr-Class": "A"},
        )
        return self._job_status(self._json(response))

    def job_status(self, jobname: str, jobid: str) -> JobStatus:
        """The job's status [doc: "Obtain the status of a job"]."""
        response = self._request("GET", self._job_url(jobname, jobid), expect=(200,))
        return self._job_status(self._json(response))

    def job_spool(self, jobname: str, jobid: str) -> list[SpoolFile]:
        """Every spool file of the job with its text [doc: "List the spool files for a job",
        "Retrieve the contents of a job spool file"]."""
        url = self._job_url(jobname, jobid)
        listing = self._request("GET", f"{url}/files", expect=(200,))
        try:
            entries = listing.json()
        except ValueError:
            entries = None
        if not isinstance(entries, list):
            raise PermanentError(f"{self.where} listed the spool of {jobname}({jobid}) unreadably")
        files = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), int):
                continue
            records = self._request(
                "GET",
                f"{url}/files/{entry['id']}/records",
                expect=(200,),
                headers={"Accept": "text/plain, application/json"},
            )
            files.append(
                SpoolFile(
                    id=entry["id"],
                    ddname=str(entry.get("ddname") or ""),
                    stepname=str(entry.get("stepname") or ""),
                    text=records.text,
                )
            )
        return files

    def purge_job(self, jobname: str, jobid: str) -> None:
        """Purges the job's output [doc: "Cancel a job and purge its output"]."""
        self._request("DELETE", self._job_url(jobname, jobid), expect=(200, 202))

    def read_dataset_binary(self, dsn: str) -> bytes:
        """A sequential data set as its bytes, record descriptor words included
        (`X-IBM-Data-Type: binary` [doc: "Retrieve the contents of a z/OS data set"]).

        The whole body or an error: a download that stops before its promised length is a
        TransientError, never a shorter result.
        """
        response = self._request(
            "GET",
            self._ds_url(dsn),
            path=dsn,
            expect=(200,),
            headers={"X-IBM-Data-Type": "binary", "Accept": "application/octet-stream"},
        )
        promised = response.headers.get("Content-Length")
        if promised is not None and promised.isdigit() and int(promised) != len(response.content):
            raise TransientError(
                f"the download of {dsn} from {self.where} stopped after "
                f"{len(response.content)} of {promised} bytes"
            )
        return response.content

    def delete_dataset(self, dsn: str) -> None:
        """Deletes a data set [doc: "Delete a sequential or partitioned data set"]."""
        self._request("DELETE", self._ds_url(dsn), path=dsn, expect=(200, 204))

    def _job_url(self, jobname: str, jobid: str) -> str:
        return f"/zosmf/restjobs/jobs/{quote(jobname, safe='')}/{quote(jobid, safe='')}"

    def _ds_url(self, dsn: str) -> str:
        return "/zosmf/restfiles/ds/" + quote(dsn, safe="")

    def _job_status(self, data: dict[str, Any]) -> JobStatus:
        jobname, jobid, status = data.get("jobname"), data.get("jobid"), data.get("status")
        if not (isinstance(jobname, str) and isinstance(jobid, str) and isinstance(status, str)):
            raise PermanentError(f"{self.where} answered a job document without its name or id")
        retcode = data.get("retcode")
        return JobStatus(
            jobname=jobname,
            jobid=jobid,
            status=status,
            retcode=retcode if isinstance(retcode, str) else None,
            owner=str(data.get("owner") or ""),
        )

    def info(self) -> dict[str, Any]:
        """`/zosmf/info`: z/OS and z/OSMF versions, host name, plug-ins."""
        return self._json(self._request("GET", "/zosmf/info", expect=(200,)))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ZosmfClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the boundary ----------------------------------------------------------------------------

    def _fs_url(self, path: str) -> str:
        if not path.startswith("/"):
            raise PermanentError(f"a z/OS UNIX path must be absolute, got {path!r}")
        return "/zosmf/restfiles/fs" + quote(path, safe="/")

    def _request(
        self,
        method: str,
        url: str,
        *,
        expect: tuple[int, ...],
        path: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise self._transport_error(error) from None
        if response.status_code not in expect:
            raise self._status_error(response, path)
        return response

    def _transport_error(self, error: httpx.HTTPError) -> ConnectorError:
        detail = f"{type(error).__name__}: {error}"
        for cause in _causes(error):
            if isinstance(cause, ssl.SSLCertVerificationError):
                reason = cause.verify_message or str(cause)
                if cause.verify_code in _NAME_MISMATCH:
                    return PermanentError(
                        f"the certificate of {self.where} does not match the host name "
                        f"{self.host!r} ({reason})",
                        detail=detail,
                    )
                return PermanentError(
                    f"the certificate of {self.where} is not trusted by the configured CA "
                    f"bundle ({reason})",
                    detail=detail,
                )
        if isinstance(error, httpx.TimeoutException):
            phase = {
                httpx.ConnectTimeout: ("connect", self.timeouts.connect),
                httpx.PoolTimeout: ("connect", self.timeouts.connect),
            }.get(type(error), ("answer", self.timeouts.read))
            return TransientError(
                f"{self.where} did not {phase[0]} within {phase[1]:g} s", detail=detail
            )
        for cause in _causes(error):
            if isinstance(cause, ssl.SSLError) and not isinstance(
                cause, ssl.SSLEOFError | ssl.SSLZeroReturnError | ssl.SSLSyscallError
            ):
                return PermanentError(
                    f"the TLS handshake with {self.where} failed ({cause.reason or cause})",
                    detail=detail,
                )
        if isinstance(error, httpx.RemoteProtocolError):
            return TransientError(
                f"{self.where} closed the connection before the whole answer arrived "
                f"(a download cut in the middle): {error}",
                detail=detail,
            )
        if isinstance(error, httpx.TransportError):
            return TransientError(
                f"cannot reach {self.where}: {str(error) or type(error).__name__}", detail=detail
            )
        return PermanentError(f"{self.where} answered something unreadable: {error}", detail=detail)

    def _status_error(self, response: httpx.Response, path: str | None) -> ConnectorError:
        status = response.status_code
        message = zosmf_message(response)
        detail = f"HTTP {status} for {response.request.method} {response.request.url.path}"
        if status == 401:
            return AuthenticationFailed(
                f"{self.where} refused the password of user {self.username} (HTTP 401)",
                detail=f"{detail}: {message}",
            )
        if status == 403:
            return AuthenticationFailed(
                f"{self.where} refused user {self.username} (HTTP 403): {message}",
                detail=detail,
            )
        if status == 404 and path is not None:
            return FileMissing(f"{path}: {message}", detail=detail)
        if status >= 500 or status in _TRANSIENT_4XX:
            return TransientError(f"{self.where} answered HTTP {status}: {message}", detail=detail)
        return PermanentError(f"{self.where} answered HTTP {status}: {message}", detail=detail)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise PermanentError(
                f"{self.where} answered {response.request.url.path} with something other than "
                "a JSON object",
                detail=response.text[:300],
            )
        return data

    def _response_text(self, data: dict[str, Any]) -> str:
        text = data.get("cmd-response", "")
        if text is None:
            return ""
        if not isinstance(text, str):
            raise PermanentError(f"{self.where} answered a console command without text")
        return text
