"""The address a log-in comes from, for the log-in throttle (django-axes), behind the proxy too.

Behind nginx (deploy/nginx.conf) every request reaches gunicorn from 127.0.0.1, so a throttle keyed
by username and REMOTE_ADDR locked the username wherever the failures came from: anyone who knew a
nurse's username could keep her out with five wrong passwords every half hour. nginx appends the
address it was connected from to X-Forwarded-For (`$proxy_add_x_forwarded_for`): only that last entry
is the proxy's word; whatever comes before it is the client's. The header is read only from a proxy
in FORWARDED_ALLOW_IPS (the setting gunicorn reads too); from anyone else it is ignored.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """Return the address of the client: the proxy's last X-Forwarded-For entry, else REMOTE_ADDR."""
    remote = request.META.get("REMOTE_ADDR")
    trusted = settings.FORWARDED_ALLOW_IPS
    if remote in trusted or "*" in trusted:
        last = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:  # no header (a request made on the host itself), or not an address
            pass
    return remote
