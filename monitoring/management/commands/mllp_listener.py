"""Listen for HL7 v2 ORU^R01 results over MLLP and answer each with an ACK (see monitoring/mllp.py)."""

from __future__ import annotations

import asyncio
import logging
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from monitoring import health
from monitoring.labfeed.mllp import Listener

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "HL7 v2 MLLP listener: stores each ORU^R01 like an import and answers AA, AE or AR."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2575, help="0 picks a free port (printed at start).")
        parser.add_argument("--threads", type=int, default=4, help="Database threads (concurrent connections).")

    def handle(self, *args, host, port, threads, **options):
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")

        def ready(address):
            self.stdout.write(f"MLLP listener on {address[0]}:{address[1]}")
            self.stdout.flush()

        asyncio.run(serve_with_heartbeat(Listener(host, port, threads), ready))


async def serve_with_heartbeat(listener: Listener, ready) -> None:
    """Serve, and record the "mllp" heartbeat every HEARTBEAT_INTERVAL_SECONDS while serving (issue 25).

    Written from the listener's own database threads, so a heartbeat also says the listener can
    reach the database; /healthz and the banner name the listener when it stops.
    """
    beating = asyncio.create_task(_beat(listener))
    try:
        await listener.serve(on_ready=ready)
    finally:
        beating.cancel()


async def _beat(listener: Listener) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            await loop.run_in_executor(listener.executor, health.record_heartbeat, "mllp")
        except Exception:  # a database hiccup: log it; the heartbeat going stale says the rest
            log.warning("could not record the MLLP listener's heartbeat", exc_info=True)
        await asyncio.sleep(settings.HEARTBEAT_INTERVAL_SECONDS)
