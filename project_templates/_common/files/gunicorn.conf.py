"""gunicorn's settings for production; gunicorn reads this file from the folder it starts in.

A sync worker serves one connection at a time, so two clients that send half a request and
wait freeze a two-worker server. Threaded workers hold a slow client on one thread while the
others answer: with ``-w 4`` and the threads below, 127 slow connections are held while a new
request is still answered. Past that, or against a slow-body flood, put a buffering reverse
proxy (nginx, a cloud load balancer) in front: it reads whole requests before passing them on.
Options given on the command line (``-w 4 -b ...``) override the values here.
"""

import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
# A worker accepts no more connections than it has threads: one whose threads are all held
# by slow clients stops accepting, and the kernel hands new connections to the others
# (otherwise a busy worker keeps accepting and queues them behind the slow ones).
worker_connections = threads
# A worker silent for this long is restarted; a request slower than this is a bug.
timeout = 30
graceful_timeout = 30
# No keep-alive: an idle connection would hold a thread's slot (worker_connections above);
# the proxy in front keeps its own connections to the browsers.
keepalive = 0
# Request line and headers: gunicorn's defaults, written down so a change is a decision.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# Which proxies may set X-Forwarded-* for gunicorn itself (the app reads TRUSTED_PROXIES).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
