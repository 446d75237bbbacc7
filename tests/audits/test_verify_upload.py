"""Verify a pack: an upload no pack could be is refused at once, before pyHanko reads it."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from weasyprint import HTML

from accounts.roles import Role
from audits.signing import sign_pdf

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(make_user: Callable[..., User]) -> Client:
    signed_in = Client()
    signed_in.force_login(make_user("olivia", Role.OPERATOR))
    return signed_in


@pytest.fixture(scope="module")
def plain_pdf() -> bytes:
    return HTML(string="<h1>Evidence</h1>").write_pdf()


def upload(client: Client, data: bytes, url: str = "/audits/verify/"):
    return client.post(url, {"file": SimpleUploadedFile("pack.pdf", data, "application/pdf")})


def junk_pdf(size: int) -> bytes:
    """What the tester sent: a PDF header, a signature's keyword, and megabytes of nothing."""
    body = b"%PDF-1.7\n/ByteRange [0 1 2 3]\n"
    return body + b"0" * (size - len(body) - 6) + b"\n%%EOF"


# The signed PDF of the 1,000-service estate of bench/audits_bench.py (settings.py says when).
LARGEST_PACK_BYTES = 743 * 1024


def test_the_cap_leaves_a_wide_margin_over_the_largest_pack() -> None:
    assert settings.EVIDENCE_VERIFY_MAX_BYTES >= 10 * LARGEST_PACK_BYTES
    assert settings.EVIDENCE_VERIFY_MAX_BYTES < 49 * 1000 * 1000


@pytest.mark.parametrize("url", ["/audits/verify/", "/audits/api/verify/"])
def test_a_49_mb_junk_pdf_is_refused_at_once(client: Client, url: str) -> None:
    # CPU time of this process (the test client runs the view in it): a busy machine's
    # wall clock says nothing about the work done.
    started = time.process_time()
    response = upload(client, junk_pdf(49 * 1000 * 1000), url)
    seconds = time.process_time() - started

    assert response.status_code in (400, 422)
    assert "larger than any evidence pack" in response.content.decode()
    assert seconds < 5  # the upload itself; pyHanko never saw it (it took 33 s)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"hello, this is not a pack", "does not start with the PDF header"),
        (b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 1000, "does not end with %%EOF"),
    ],
)
def test_a_file_that_is_not_a_complete_pdf_is_refused_before_pyhanko(
    client: Client, data: bytes, reason: str
) -> None:
    page = upload(client, data)
    api = upload(client, data, "/audits/api/verify/")

    assert page.status_code == 422 and reason in page.content.decode()
    assert api.status_code == 400 and reason in api.json()["file"][0]


def test_an_unsigned_pdf_is_refused_before_pyhanko(client: Client, plain_pdf: bytes) -> None:
    page = upload(client, plain_pdf)

    assert page.status_code == 422
    assert "Not a signed PDF" in page.content.decode()


def test_a_signed_pdf_under_the_cap_still_reaches_the_verification(
    client: Client, plain_pdf: bytes
) -> None:
    signed = sign_pdf(plain_pdf, reason="test").data

    page = upload(client, signed)
    api = upload(client, signed, "/audits/api/verify/")

    # Not a pack of the ledger, but pyHanko read its signature: intact, and who signed it.
    assert page.status_code == 200
    assert "Test Bank evidence signing (DEMO)" in page.content.decode()
    assert api.status_code == 200 and api.json()["intact"] is True


def test_a_junk_file_just_under_the_cap_is_refused_quickly(client: Client, settings) -> None:
    data = b"%PDF-1.7\n" + b"x" * (settings.EVIDENCE_VERIFY_MAX_BYTES - 20)

    started = time.process_time()
    response = upload(client, data)

    assert response.status_code == 422
    assert time.process_time() - started < 5
