"""The layout of `pasearch -t` reports: labels, and the columns the renderer writes to.

The layout follows real z/OS 3.1 output (reference §3.2, measured on the public sample
`samples/pasearch-t-zos31.report`):

* header and rule lines put the value at index 24; a second label on the same line starts at
  index 42 with its value at index 61;
* `TTLS Action:` and action-detail lines put the value at index 32, `GSK_*` lines at index 48,
  a list set to a keyword (`ClientECurves:              Any`) at index 33; a label too long for
  its column is followed by one blank;
* `Policy created:` / `Policy updated:` have one blank after the colon;
* list items print as `CODE  NAME`, one indentation level below their label.

The parser reads by label and indentation, never by these columns (see `parse`).
"""

from __future__ import annotations

# --- Layout of the real z/OS 3.1 report [observed: samples/pasearch-t-zos31.report] ---------

HEADER_PREFIX = "TCP/IP pasearch CS "
IMAGE_LABEL = "Image Name:"
NO_POLICIES = "No policies retrieved"  # [confirmed: IBM-NoPolicies]
RULE_LABEL = "policyRule:"
ACTION_LABEL = "TTLS Action:"
SECTION_STARTS = (ACTION_LABEL, RULE_LABEL)  # lines that end an action's details

RULE_VALUE_COLUMN = 24
SECOND_LABEL_COLUMN = 42
SECOND_VALUE_COLUMN = 61
ACTION_VALUE_COLUMN = 32
GSK_VALUE_COLUMN = 48
LIST_KEYWORD_COLUMN = 33
ACTION_INDENT = 2
ACTION_FIELD_INDENT = 4

# Labels that print a list of `CODE  NAME` items (or an inline keyword such as `Any`). A value-less
# label with no children is a list when it is one of these and a section otherwise.
LIST_LABELS = frozenset(
    {
        "v2CipherSuites",
        "v3CipherSuites",
        "ClientECurves",
        "ClientKeyShareGroups",
        "ServerKeyShareGroups",
        "ServerKexECurves",
        "SignaturePairs",
        "SignaturePairsCert",
        "OcspRequestSigalg",
    }
)

# Labels that print a second label on the same line, in the rule part of the report.
TIME_SECOND_LABELS = {"Fr TimeOfDay": "To TimeOfDay", "Fr TimeOfDay UTC": "To TimeOfDay UTC"}

# Address conditions print `FromAddr:` and then one of these [ToAddr observed; Prefix and Range
# are what the EasyAT-TLS parser expects for prefix and range forms, unconfirmed].
ADDR_SECOND_LABELS = ("ToAddr", "Prefix", "Range")

PROTOCOL_LABELS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
