"""Fixtures for the report tests: our own handwritten reports, and the real z/OS sample.

The real `pasearch -t` report is third-party data kept outside the repository, beside it in
`../shared/reference/samples/`. Tests read it in place and skip when it is not there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
REPO_ROOT = Path(__file__).resolve().parents[3]
REAL_PASEARCH = REPO_ROOT.parent / "shared" / "reference" / "samples" / "pasearch-t-zos31.report"


@pytest.fixture
def real_pasearch_text() -> str:
    if not REAL_PASEARCH.is_file():
        pytest.skip(f"the real z/OS sample is not available at {REAL_PASEARCH}")
    return REAL_PASEARCH.read_text(encoding="utf-8")


@pytest.fixture
def handwritten_pasearch_text() -> str:
    return (DATA / "handwritten-pasearch.report").read_text(encoding="utf-8")


@pytest.fixture
def handwritten_conn_detail_text() -> str:
    return (DATA / "handwritten-netstat-conn-detail.txt").read_text(encoding="utf-8")
