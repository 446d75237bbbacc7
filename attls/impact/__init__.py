"""Change impact: before a policy change, which peers will break.

A prediction compares a candidate policy with the current one (or with none: "no AT-TLS
policy yet") against what every peer was seen doing, and gives per peer a verdict, the rule
that would apply, the reasons in words and the observations behind them:

* will-break: the peer only ever used something the candidate removes — cleartext on a port
  that becomes TLS (an inbound rule refuses a cleartext client with RC 5003), only protocol
  versions the candidate's effective settings switch off (RC 412), only suites the candidate
  drops while we chose from its offer (RC 402), no client certificate where one becomes
  required (RC 5001);
* at-risk: the evidence does not settle it — the peer's suite is dropped but it may offer
  others, a server certificate from another issuer, a certificate now checked against SAF;
* untested: as a client we will offer something the partner has never been offered (a
  partner that aborts on a TLS 1.3 ClientHello it has never seen);
* safe: the peer was seen succeeding with what the candidate keeps;
* no-data: no observation in the window.

Which rule applies to a peer's connection is `attls.matching`'s answer; what the rule does
is `attls.effective`'s (protocol defaults, cipher lists): nothing here restates a default.
Observations are daily roll-ups (or single rows); they are folded per peer as they stream
in, so memory grows with the number of peers, not of observations.
"""

from attls.impact.model import (
    CLEARTEXT,
    NO_RULE,
    VERSION_WORDS,
    ImpactInputError,
    PeerObservation,
    PeerPrediction,
    Prediction,
    ServicePrediction,
    Verdict,
)
from attls.impact.predict import predict

__all__ = [
    "CLEARTEXT",
    "NO_RULE",
    "VERSION_WORDS",
    "ImpactInputError",
    "PeerObservation",
    "PeerPrediction",
    "Prediction",
    "ServicePrediction",
    "Verdict",
    "predict",
]
