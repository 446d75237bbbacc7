"""A verification reads each output whole or not at all, and checks the stack's z/OS release."""

import pytest

from attls.errors import ReportParseError
from fleet.readings import read_output
from policies.models import Lpar, Stack
from tests.attls.conftest import SAMPLE_PASEARCH

ALLCONN = """\
MVS TCP/IP NETSTAT CS V2R5       TCPIP Name: TCPIP           10:00:00
User Id  Conn     Local Socket           Foreign Socket         State
-------  ----     ------------           --------------         -----
FTPD1    0000002A 10.1.1.2..21           10.20.4.17..50312      Establsh
"""


@pytest.fixture
def stack(db: None) -> Stack:
    return Stack.objects.create(lpar=Lpar.objects.create(name="SYSA"), name="TCPIP")


def test_a_short_layout_nottlspolicy_listing_is_read_with_its_cleartext_connection(stack: Stack):
    reading = read_output("netstat_allconn", ALLCONN, stack=stack)
    assert [row.conn_id for row in reading.report.rows] == ["0000002A"]  # type: ignore[union-attr]


def test_a_listing_read_only_in_part_is_a_failed_read_not_fewer_connections(stack: Stack):
    with pytest.raises(ReportParseError, match="treated as a failed read"):
        read_output("netstat_allconn", ALLCONN + "TN3270B  0000003D 10.1.1.2..23\n", stack=stack)


def test_a_listing_in_an_unknown_layout_is_a_failed_read_not_zero_connections(stack: Stack):
    unknown = ALLCONN.replace("User Id  Conn     Local Socket", "Job      Id       Local Socket")
    with pytest.raises(ReportParseError):
        read_output("netstat_allconn", unknown, stack=stack)


def test_the_release_in_the_pasearch_header_is_compared_with_the_stacks(stack: Stack):
    if not SAMPLE_PASEARCH.is_file():
        pytest.skip("the real pasearch report is absent")
    text = SAMPLE_PASEARCH.read_text()

    assert read_output("pasearch", text, stack=stack).warning == ""  # declared 3.1, prints 3.1
    stack.zos_release = "3.2"
    warning = read_output("pasearch", text, stack=stack).warning
    assert "pasearch reports z/OS 3.1, but SYSA/TCPIP is declared as z/OS 3.2" in warning
