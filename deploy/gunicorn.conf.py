"""gunicorn settings for NeutroWatch behind a TLS-terminating reverse proxy (deploy/nginx.conf).

gunicorn -c deploy/gunicorn.conf.py neutrowatch.wsgi
Every value can be overridden from the environment (the systemd unit reads /etc/neutrowatch/neutrowatch.env).
"""
import multiprocessing
import os

# Only the proxy talks to gunicorn: listen on loopback (or a unix socket: "unix:/run/neutrowatch/web.sock").
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Pages are short requests: the usual 2 x cores + 1 sync workers.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# The slowest page (ward of 300 patients) takes well under a second; an import of a 20 MB file
# takes longer, hence a generous limit.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200
# Trust X-Forwarded-* only from the proxy on this host; Django reads X-Forwarded-Proto itself
# (SECURE_PROXY_SSL_HEADER), so this only affects gunicorn's own logging of the scheme.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Path without the query string: ward searches (?q=) carry patient names, which do not belong in logs.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
