"""The layouts of the netstat reports: every label, header string and column, in one place.

Sources (public material, paraphrased):
* Report header `MVS TCP/IP NETSTAT CS V2R4       TCPIP Name: TCPIP           16:40:39`:
  real TSO output on colinpaice.blog/2022/06/01/netstat-ttls-and-at-tls/ (after its EZZ2350I
  message id) and real z/OS UNIX `netstat` output quoted in a comment of
  OpenLiberty/open-liberty dev/fattest.simplicity/src/componenttest/topology/impl/
  PortDetectionUtil.java (release `V1R10`, same gaps). [observed]
* ALLCONN rows (`User Id  Conn     State`, a dashes line, then per connection
  `JOBNAME  CONNID   State` with indented `Local Socket:` / `Foreign Socket:`): the same
  OpenLiberty comment. [observed] State abbreviations (`Listen`, `Establsh`, ...): IBM's
  "TCP connection status" table for the TSO and z/OS UNIX reports. [confirmed, in part]
* TTLS CONN labels `LocalSocket:`, `RemoteSocket:`, `SecLevel:`, `Cipher: <code> <name>`: a
  production REXX (ATTLSRPT) that parses them, per reference §4.2. [confirmed] Every other CONN
  label, the `ConnID:` block start and all of the DETAIL layout are reconstructed. [unconfirmed]
* GROUP columns `TTLSGrpAction  Group ID  Conns`: the console form of the report quoted in
  Virtel's documentation, with its line breaks lost. [observed; column widths reconstructed]
"""

from __future__ import annotations

import re

from attls.reports.pasearch.layout import SECTION_STARTS

# --- Layout constants -------------------------------------------------------------------------

# Header [observed]: release, then seven blanks, then the stack name padded to 16, then the time.
HEADER_PREFIX = "MVS TCP/IP NETSTAT CS "
# Console header after its EZD0101I message id [observed]: `NETSTAT CS V1R12 TCPIP 378`.
CONSOLE_HEADER_PREFIX = "NETSTAT CS "
# TSO and console message ids at the start of a line [observed: EZZ2350I, EZZ2550I, EZD0101I].
_MESSAGE_ID = re.compile(r"(?m)^[ \t]*EZ[A-Z]\d{4}[A-Z][ \t]?")
# A leading echo of the command that produced the report (`D TCPIP,,NETSTAT,TTLS,GROUP`,
# `$ netstat -a`, `NETSTAT ALLCONN`).
_COMMAND_ECHO = re.compile(
    r"^\s*(?:[$#>]\s*)?(?:D(?:ISPLAY)?\s+TCPIP\b|netstat\b|onetstat\b)", re.IGNORECASE
)
HEADER_RELEASE_GAP = " " * 7
TCPIP_NAME_LABEL = "TCPIP Name:"
TCPIP_NAME_WIDTH = 16

NOT_APPLICABLE = "N/A"  # printed for an action or value that does not apply [unconfirmed]

# Console / TSO trailers; the z/OS UNIX form may not print them. Recognised and ignored.
TRAILER_SUFFIXES = ("RECORDS DISPLAYED", "END OF THE REPORT")

# TTLS CONN [labels LocalSocket/RemoteSocket/SecLevel/Cipher confirmed; the rest reconstructed]
CONN_ID_LABEL = "ConnID"
CONN_FIELD_INDENT = 2
CONN_VALUE_COLUMN = 16
CONN_ACTION_VALUE_COLUMN = 18
CONN_JOB_NAME = "JobName"
CONN_LOCAL_SOCKET = "LocalSocket"
CONN_REMOTE_SOCKET = "RemoteSocket"
CONN_SEC_LEVEL = "SecLevel"
CONN_CIPHER = "Cipher"
CONN_CERT_USER_ID = "CertUserID"
CONN_MAP_TYPE = "MapType"
CONN_FIPS140 = "FIPS140"
CONN_RULE = "TTLSRule"
CONN_GROUP_ACTION = "TTLSGrpAction"
CONN_ENV_ACTION = "TTLSEnvAction"
CONN_CONN_ACTION = "TTLSConnAction"
# DETAIL appends, after a blank line, the rule (as a pasearch-like tree under this label) and
# then each action in pasearch's `TTLS Action:` form. [reconstructed]
DETAIL_RULE_LABEL = "TTLS Rule:"
_DETAIL_STOPS = (*SECTION_STARTS, DETAIL_RULE_LABEL)

# GROUP [column names observed; widths reconstructed]
GROUP_COLUMNS_TITLE = "TTLSGrpAction"
GROUP_HEADING = f"{GROUP_COLUMNS_TITLE:<33} {'Group ID':<17} Conns"
GROUP_NAME_WIDTH = 33
GROUP_ID_WIDTH = 17

# ALLCONN [observed]
ALLCONN_HEADING = "User Id  Conn     State"
ALLCONN_RULE = "-------  ----     -----"
ALLCONN_USER_WIDTH = 8
# Short layout heading [observed in IBM's z/OS UNIX netstat examples; one line per connection].
ALLCONN_SHORT_HEADING = "User Id  Conn     Local Socket           Foreign Socket         State"
# TSO long layout [observed: Colin Paice's blog, EZZ2550I/EZZ2551I lines].
_TSO_CLIENT = re.compile(r"Client Name:\s*(\S+)\s+Client Id:\s*(\S+)", re.IGNORECASE)
_TSO_SOCKETS = re.compile(r"Local Socket:\s*(\S+)\s+Foreign Socket:\s*(\S+)", re.IGNORECASE)
ALLCONN_LOCAL_SOCKET = "Local Socket"
ALLCONN_FOREIGN_SOCKET = "Foreign Socket"
ALLCONN_SOCKET_PREFIXES = {
    ALLCONN_LOCAL_SOCKET: "  Local Socket:   ",
    ALLCONN_FOREIGN_SOCKET: "  Foreign Socket: ",
}
NOTTLSPOLICY = "NOTTLSPOLICY"
# TSO / z/OS UNIX state abbreviations, for reference; the parser accepts any word. Listen ..
# ClosWait [confirmed: IBM "TCP connection status" table]; LastAck .. Closed [assumed, by pattern].
TCP_STATES = (
    "Listen",
    "SynSent",
    "SynRcvd",
    "Establsh",
    "FinWait1",
    "FinWait2",
    "ClosWait",
    "LastAck",
    "Closing",
    "TimeWait",
    "Closed",
)
