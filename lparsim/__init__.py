"""lparsim: a software LPAR with z/OSMF REST, SSH, PAGENT and an AT-TLS data plane.

One asyncio process runs one or more simulated LPARs from a YAML file. Each LPAR has
real listeners: an HTTPS z/OSMF REST subset, an SSH server (pasearch, netstat, cat,
SFTP), and one loopback listener per service whose TLS is decided per connection by
the AT-TLS policy PAGENT has installed. See lparsim/README.md.

lparsim imports only `attls` from the project; nothing in the portal imports lparsim.
"""
