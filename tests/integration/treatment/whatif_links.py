"""The what-if table's "Apply as plan" links, read from the page as a clinician would follow them."""

from __future__ import annotations

import re

APPLY_LINK = re.compile(r'href="(/patients/\d+/whatif/apply/\?[^"]+)"')


def links(client, patient) -> dict[tuple[int, str], str]:
    """Return the what-if table's "Apply as plan" links, by (cycle id, scenario)."""
    table = client.get(f"/patients/{patient.pk}/whatif/").content.decode()
    found = {}
    for href in APPLY_LINK.findall(table):
        href = href.replace("&amp;", "&")
        query = dict(part.split("=") for part in href.split("?", 1)[1].split("&"))
        found[(int(query["cycle"]), query["scenario"])] = href
    return found


def form_of(href: str) -> dict:
    return dict(part.split("=") for part in href.split("?", 1)[1].split("&"))
