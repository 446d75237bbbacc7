"""zERT collection: SMF 119 subtype 11 records read from each LPAR, stored, rolled up.

- `jcl`: the IFASMFDL dump job, a template the site edits;
- `collect`: one run per LPAR connection (submit, wait, download in binary, or read over
  SFTP), parse with `attls.reports.smf119`, ingest;
- `ingest`: idempotent bulk storage (COPY on PostgreSQL), daily roll-ups, pruning, monthly
  partitions;
- `inventory`: the traffic inventory's figures, scoped by user.
"""
