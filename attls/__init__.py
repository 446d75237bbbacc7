"""AT-TLS domain library: policy syntax, effective settings, matching, lint, ciphers, reports.

Pure Python: nothing here imports Django or any other part of the portal.
"""
