from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
# ../shared beside the repository: third-party reference data, read in place, never copied.
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SAMPLE_PASEARCH = SHARED / "reference" / "samples" / "pasearch-t-zos31.report"


@pytest.fixture
def fixture_text():
    def read(name: str) -> str:
        return (FIXTURES / name).read_text()

    return read


@pytest.fixture
def sample_pasearch_text() -> str:
    if not SAMPLE_PASEARCH.is_file():
        pytest.skip(f"the real z/OS report is not at {SAMPLE_PASEARCH}")
    return SAMPLE_PASEARCH.read_text()
