"""Hypothesis strategies for report models that render and parse back to themselves.

The constraints here are the format's own: a value-less label with no children reads back as a
list only when it is a known list label, a keyword list needs a known list label, root-level
`Version`/`Status`/`Scope`/`Policy created`/`Policy updated` belong to the action itself, and
no value may hold a line break.
"""

from __future__ import annotations

import string

from hypothesis import strategies as st

from attls.reports import (
    ActionRef,
    AddrPair,
    AllConnRow,
    ConditionSummary,
    Field,
    ListField,
    ListItem,
    NetstatAllConnReport,
    NetstatGroupReport,
    NetstatTtlsReport,
    Node,
    PasearchReport,
    PasearchRule,
    Section,
    SocketAddr,
    TtlsAction,
    TtlsConnection,
    TtlsGroupRow,
)
from attls.reports.pasearch import ADDR_SECOND_LABELS, LIST_LABELS

NAME_CHARS = string.ascii_letters + string.digits + "_#@$*-."
names = st.text(NAME_CHARS, min_size=1, max_size=12)
tokens = st.text(NAME_CHARS + ":/", min_size=1, max_size=12)
# Free text for values: single blanks, colons and punctuation inside, never at either end.
_words = st.text(string.ascii_letters + string.digits + "_.:/()'*-", min_size=1, max_size=8)
phrases = st.lists(_words, min_size=1, max_size=3).map(" ".join)
colonless = st.lists(
    st.text(string.ascii_letters + string.digits + "_.'()-", min_size=1, max_size=8),
    min_size=1,
    max_size=3,
).map(" ".join)

RESERVED_ROOT = {"Version", "Status", "Scope", "Policy created", "Policy updated", "ConnID"}
labels = st.text(string.ascii_letters + string.digits + "_.", min_size=1, max_size=14).filter(
    lambda label: label not in LIST_LABELS and label not in RESERVED_ROOT
)
list_labels = st.sampled_from(sorted(LIST_LABELS))
codes = st.text(string.hexdigits.upper()[:16], min_size=4, max_size=4)
items = st.builds(ListItem, codes, st.one_of(st.just(""), names))


def _list_fields() -> st.SearchStrategy[ListField]:
    return st.one_of(
        st.builds(
            ListField,
            st.one_of(labels, list_labels),
            st.lists(items, min_size=1, max_size=4).map(tuple),
        ),
        st.builds(ListField, list_labels, st.just(()), names),
        st.builds(ListField, list_labels),
    )


nodes: st.SearchStrategy[Node] = st.recursive(
    st.one_of(st.builds(Field, labels, phrases), _list_fields()),
    lambda children: st.builds(Section, labels, st.lists(children, max_size=4).map(tuple)),
    max_leaves=12,
)
trees = st.lists(nodes, max_size=6).map(tuple)
optional_phrase = st.one_of(st.none(), phrases)

actions = st.builds(
    TtlsAction,
    name=names,
    version=st.one_of(st.none(), st.integers(0, 99)),
    status=optional_phrase,
    scope=st.one_of(st.none(), st.sampled_from(["Group", "Environment", "Connection"]), names),
    fields=trees,
    created=optional_phrase,
    updated=optional_phrase,
)

ports = st.integers(0, 65535)
addr_pairs = st.builds(AddrPair, tokens, tokens, st.sampled_from(ADDR_SECOND_LABELS))
conditions = st.builds(
    ConditionSummary,
    negative_indicator=names,
    local_addr=addr_pairs,
    remote_addr=addr_pairs,
    local_port_from=ports,
    local_port_to=ports,
    remote_port_from=ports,
    remote_port_to=ports,
    job_name=st.one_of(st.just(""), names),
    user_id=st.one_of(st.just(""), names),
    direction=names,
)

_single_period = st.tuples(
    st.sampled_from(
        [
            "Day of Month Mask",
            "First to Last",
            "Last to First",
            "Month of Yr Mask",
            "Day of Week Mask",
            "Start Date Time",
            "End Date Time",
            "TimeZone",
        ]
    ),
    st.one_of(st.just(""), colonless, st.just("1111111  (Sunday - Saturday)")),
).map(lambda pair: [pair])
_times = st.sampled_from(["00:00", "24:00", "08:30", "17:45"])
_pair_period = st.tuples(st.sampled_from(["", " UTC"]), _times, _times).map(
    lambda t: [(f"Fr TimeOfDay{t[0]}", t[1]), (f"To TimeOfDay{t[0]}", t[2])]
)
time_periods = st.lists(st.one_of(_single_period, _pair_period), max_size=5).map(
    lambda groups: [pair for group in groups for pair in group]
)
created = st.one_of(st.just(""), st.just("Mon Dec 23 04:52:19 2024"), phrases)

rules = st.builds(
    PasearchRule,
    name=names,
    priority=st.integers(0, 2_000_000_000),
    rule_type=colonless,
    version=st.integers(0, 9),
    status=colonless,
    weight=st.integers(0, 2_000_000_000),
    for_load_dist=colonless,
    sequence_actions=st.one_of(st.just("Don't Care"), colonless),
    actions=st.lists(
        st.builds(
            ActionRef,
            names,
            st.sampled_from(["TTLS Group", "TTLS Environment", "TTLS Connection"]),
            st.integers(0, 9),
        ),
        max_size=3,
    ),
    time_periods=time_periods,
    condition=conditions,
    created=created,
    updated=created,
    action_details=st.lists(actions, max_size=3),
    blank_lines_before=st.integers(1, 2),
)


@st.composite
def pasearch_reports(draw: st.DrawFn) -> PasearchReport:
    if draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()):
        return PasearchReport(None, None, None, None, None, no_policies=True)
    dated = draw(st.booleans())
    no_policies = draw(st.integers(0, 9)) == 0
    return PasearchReport(
        release=draw(st.sampled_from(["3.1", "2.5", "2.4"])),
        image=draw(names),
        date=draw(st.just("12/23/2024")) if dated else None,
        time=draw(_times) + ":29" if dated else None,
        instance_id=draw(st.one_of(st.none(), st.integers(0, 2**40))),
        rules=[] if no_policies else draw(st.lists(rules, max_size=4)),
        no_policies=no_policies,
    )


# --- netstat --------------------------------------------------------------------------------

_ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda parts: ".".join(map(str, parts)))
ips = st.one_of(
    _ipv4,
    _ipv4.map(lambda ip: f"::FFFF:{ip}"),
    _ipv4.map(lambda ip: f"::ffff:{ip}"),
    st.sampled_from(["::", "::1", "2001:db8::17", "0.0.0.0"]),
)
sockets = st.builds(SocketAddr, ips, ports)
conn_ids = st.text("0123456789ABCDEF", min_size=8, max_size=8)
optional_name = st.one_of(st.none(), names)


@st.composite
def connections(draw: st.DrawFn, detail: bool) -> TtlsConnection:
    cipher = draw(
        st.one_of(
            st.none(),
            st.tuples(codes, st.one_of(st.none(), names)),
        )
    )
    return TtlsConnection(
        conn_id=draw(conn_ids),
        job_name=draw(names),
        local_socket=draw(sockets),
        remote_socket=draw(sockets),
        sec_level=draw(
            st.one_of(
                st.none(),
                st.sampled_from(["TLS Version 1.3", "TLS Version 1.2", "SSL Version 3"]),
            )
        ),
        cipher_code=None if cipher is None else cipher[0],
        cipher_name=None if cipher is None else cipher[1],
        cert_user_id=draw(optional_name),
        map_type=draw(st.one_of(st.none(), st.sampled_from(["Primary", "Secondary"]))),
        fips140=draw(st.one_of(st.none(), st.sampled_from(["On", "Off"]))),
        rule=draw(optional_name),
        group_action=draw(optional_name),
        env_action=draw(optional_name),
        conn_action=draw(optional_name),
        rule_detail=draw(st.one_of(st.none(), trees)) if detail else None,
        action_details=tuple(draw(st.lists(actions, max_size=3))) if detail else (),
    )


releases = st.sampled_from(["V3R1", "V2R5", "V2R4", "V1R10"])
times = st.one_of(st.none(), st.sampled_from(["10:15:02", "23:59:59"]))


def netstat_ttls_reports(detail: bool) -> st.SearchStrategy[NetstatTtlsReport]:
    return st.builds(
        NetstatTtlsReport,
        releases,
        names,
        times,
        st.lists(connections(detail), max_size=4),
    )


netstat_group_reports = st.builds(
    NetstatGroupReport,
    releases,
    names,
    times,
    st.lists(st.builds(TtlsGroupRow, names, conn_ids, st.integers(0, 10**6)), max_size=5),
)

_states = st.sampled_from(["Listen", "Establsh", "SynSent", "ClosWait", "TimeWait", "UDP"])
netstat_allconn_reports = st.builds(
    NetstatAllConnReport,
    releases,
    names,
    times,
    st.lists(
        st.builds(
            AllConnRow,
            st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=8),
            conn_ids,
            _states,
            sockets,
            st.one_of(sockets, st.just(SocketAddr("*", None))),
        ),
        max_size=5,
    ),
    st.sampled_from([None, "NOTTLSPOLICY"]),
)
