"""The z/OSMF REST front, over HTTPS with httpx."""

from __future__ import annotations

import time

import httpx

from tests.lparsim.policies import TN3270, policy
from tests.lparsim.support import Sim


def test_a_request_without_the_csrf_header_is_refused_as_zosmf_refuses_it(shared_sim: Sim) -> None:
    with shared_sim.zosmf(csrf=False) as client:
        response = client.get("/zosmf/info")
    assert response.status_code == 403
    assert response.json()["errorID"] == "IZUG846W"


def test_a_request_without_credentials_is_refused(shared_sim: Sim) -> None:
    with shared_sim.zosmf(auth=False) as client:
        response = client.get("/zosmf/info")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    with shared_sim.zosmf(auth=False) as client:
        wrong = client.get("/zosmf/info", auth=("ATTLSADM", "not-the-password"))
    assert wrong.status_code == 401


def test_info_names_the_system_and_the_zosmf_level(shared_sim: Sim) -> None:
    with shared_sim.zosmf() as client:
        info = client.get("/zosmf/info").json()
    assert info["zosmf_port"] == str(shared_sim.lpar().config.zosmf_port)
    assert info["zos_version"].startswith("04.")
    assert info["lparsim"]["system"] == "SYSA"


def test_the_server_certificate_is_issued_by_the_configured_ca(shared_sim: Sim) -> None:
    # httpx verifies against the simulator's CA file only; a wrong CA fails the handshake.
    port = shared_sim.lpar().config.zosmf_port
    try:
        httpx.get(f"https://127.0.0.1:{port}/zosmf/info", timeout=5)
    except httpx.ConnectError as error:
        assert "CERTIFICATE_VERIFY_FAILED" in str(error)
    else:
        raise AssertionError("the system trust store should not know the simulator's CA")


def test_files_are_written_and_read_back_with_etags(shared_sim: Sim) -> None:
    with shared_sim.zosmf() as client:
        created = client.put(
            "/zosmf/restfiles/fs/tmp/portal/note.txt",
            content=b"first\n",
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        assert created.status_code == 404  # no directory /tmp/portal
        created = client.put("/zosmf/restfiles/fs/tmp/note.txt", content=b"first\n")
        assert created.status_code in (201, 204)
        read = client.get("/zosmf/restfiles/fs/tmp/note.txt")
        assert read.text == "first\n"
        etag = read.headers["ETag"]
        stale = client.put(
            "/zosmf/restfiles/fs/tmp/note.txt",
            content=b"second\n",
            headers={"If-Match": '"0000"'},
        )
        assert stale.status_code == 412
        replaced = client.put(
            "/zosmf/restfiles/fs/tmp/note.txt", content=b"second\n", headers={"If-Match": etag}
        )
        assert replaced.status_code == 204
        listing = client.get("/zosmf/restfiles/fs", params={"path": "/tmp"}).json()
    assert "note.txt" in [item["name"] for item in listing["items"]]


def test_a_missing_path_gives_zosmfs_error_document(shared_sim: Sim) -> None:
    with shared_sim.zosmf() as client:
        response = client.get("/zosmf/restfiles/fs/etc/no/such/file")
    assert response.status_code == 404
    body = response.json()
    assert {key: body[key] for key in ("category", "rc", "reason")} == {
        "category": 1,
        "rc": 4,
        "reason": 8,
    }
    assert body["message"] == "Path name not found"
    assert "EDC5129I" in body["details"][0]


def test_paths_cannot_climb_out_of_the_lpar(shared_sim: Sim) -> None:
    with shared_sim.zosmf() as client:
        response = client.get("/zosmf/restfiles/fs/../../../../etc/passwd")
        encoded = client.get("/zosmf/restfiles/fs/%2E%2E/%2E%2E/%2E%2E/etc/hostname")
    assert response.status_code == 404
    assert encoded.status_code == 404


def test_the_pagent_configuration_is_seeded_and_readable(shared_sim: Sim) -> None:
    with shared_sim.zosmf() as client:
        conf = client.get("/zosmf/restfiles/fs/etc/pagent.conf").text
        image = client.get("/zosmf/restfiles/fs/etc/pagent/TCPIP.image").text
    assert "TcpImage TCPIP /etc/pagent/TCPIP.image" in conf
    assert "TTLSConfig /etc/pagent/TCPIP.policy" in image


def test_a_console_command_answers_with_key_url_and_lines_separated_by_cr(shared_sim: Sim) -> None:
    with shared_sim.zosmf() as client:
        response = client.put(
            "/zosmf/restconsoles/consoles/defcn",
            json={"cmd": "D TCPIP,,NETSTAT,ALLCONN", "sol-key": "END OF THE REPORT"},
        ).json()
        again = client.get(response["cmd-response-uri"]).json()
    lines = response["cmd-response"].split("\r")
    assert lines[0].startswith("EZD0101I NETSTAT CS V3R1 TCPIP")
    assert "TN3270A" in response["cmd-response"]
    assert response["sol-key-detected"] is True
    assert response["cmd-response-url"].endswith(response["cmd-response-uri"])
    assert response["cmd-response-key"].startswith("C")
    assert again["cmd-response"] == response["cmd-response"]


def test_refresh_answers_ezz8771i_and_a_bad_policy_ezz8434i(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    good = sim.install(policy(TN3270))
    assert "EZZ8771I PAGENT CONFIG POLICY PROCESSING COMPLETE FOR TCPIP : TTLS" in good
    bad = sim.install("TTLSRule broken\n{\n  Direction Sideways\n}\n")
    assert "EZZ8434I PAGENT POLICY DEFINITIONS CONTAIN ERRORS FOR TCPIP : TTLS" in bad
    # The installed policy stays: pasearch still shows the rule.
    assert "rule_TN3270" in sim.run("pasearch -t").stdout


def test_bad_console_requests_get_400_and_the_lpar_keeps_serving(shared_sim: Sim) -> None:
    with shared_sim.zosmf() as client:
        no_body = client.put(
            "/zosmf/restconsoles/consoles/defcn",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        no_cmd = client.put("/zosmf/restconsoles/consoles/defcn", json={"command": "D T"})
        unknown = client.put("/zosmf/restconsoles/consoles/defcn", json={"cmd": "XYZZY"})
        missing = client.get("/zosmf/restconsoles/consoles/defcn/solmsgs/C0000000")
        info = client.get("/zosmf/info")
    assert no_body.status_code == 400
    assert no_cmd.status_code == 400
    assert unknown.status_code == 200 and "IEE305I" in unknown.json()["cmd-response"]
    assert missing.status_code == 404
    assert info.status_code == 200


def test_zosmf_faults_answer_503_then_recover_and_can_be_slow(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    assert sim.admin("POST", "/lpars/SYSA/faults/zosmf", {"status": 503, "count": 2}).is_success
    with sim.zosmf() as client:
        statuses = [client.get("/zosmf/info").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert sim.admin("POST", "/lpars/SYSA/faults/zosmf", {"delay": 0.4}).is_success
    with sim.zosmf() as client:
        began = time.monotonic()
        assert client.get("/zosmf/info").status_code == 200
        assert time.monotonic() - began >= 0.4
    assert sim.admin("POST", "/lpars/SYSA/faults/clear").is_success
