"""gunicorn's configuration for the portal, shared by `make serve`, the systemd unit and the
container image. Everything a site changes comes from the environment:

  GUNICORN_BIND       where to listen (default 127.0.0.1:8443 for make serve, 0.0.0.0:8000
                      in the container)
  GUNICORN_WORKERS    processes (default: 2 x CPUs + 1, gunicorn's own rule of thumb)
  GUNICORN_THREADS    threads per process (default 4): gthread workers keep connections
                      alive and let a slow client not hold a whole process. A thread waits
                      for a new connection's first request once its TLS handshake is done,
                      and browsers open sockets ahead of need: with 1 thread, those held
                      whole processes and a browser's page load timed out. Python runs one
                      thread of a process at a time, so more threads do not add CPU.
  GUNICORN_WORKER_CONNECTIONS
                      open connections a process holds at most (default 16). Kept-alive
                      connections stay with the process that accepted them, and whichever
                      process wakes first accepts: without a cap one process held 41 of 50
                      clients' connections while three idled (dashboard p95 435 ms; with
                      16: 226 ms, bench/serving_bench.py). A process at its cap leaves new
                      connections to the others; beyond workers x this they wait in the
                      listen backlog until one closes (idle ones after `keepalive`). Raise
                      it, or GUNICORN_WORKERS, for more browsers at once per host.
  GUNICORN_CERTFILE / GUNICORN_KEYFILE
                      serve HTTPS directly (make serve does, with a loopback certificate);
                      unset behind a proxy or balancer that terminates TLS
  GUNICORN_TIMEOUT    seconds before a stuck request's worker is restarted (default 60;
                      evidence packs are built by Celery, never in a request)

Read by gunicorn with `--config deploy/gunicorn.conf.py` (gunicorn executes it as Python).
"""

import multiprocessing
import os

wsgi_app = "portal.wsgi:application"
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8443")]
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "16"))
# The application (Django, every view: portal/wsgi.py) is imported once in the master and
# forked: a worker, also one that replaces another after max_requests, serves its first
# request at once instead of spending seconds importing. A new release needs a restart: a HUP
# forks new workers from the master, which holds the old code (deploy/README.md).
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests (with jitter, so not all at once): bounds
# the damage of any slow leak in a long-running process.
max_requests = 5000
max_requests_jitter = 500
certfile = os.environ.get("GUNICORN_CERTFILE") or None
keyfile = os.environ.get("GUNICORN_KEYFILE") or None
# Logs to stderr: systemd's journal or the container runtime collects them.
# GUNICORN_ACCESSLOG= (empty) turns the access log off (the benchmark does).
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
errorlog = "-"
# The client address and the time taken (microseconds) with every request.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus "%(a)s"'
# Only the balancer or proxy of our own may set X-Forwarded-*; the portal's
# DJANGO_TRUSTED_PROXIES decides which address is the client's (accounts/client.py).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "attls-portal"
# gunicorn 27's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl),
# which two servers of one user would fight over; the portal does not use it.
control_socket_disable = True
