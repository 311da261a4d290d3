"""Listen for HL7 v2 ORU^R01 results over MLLP and answer each with an ACK (see monitoring/mllp.py)."""

from __future__ import annotations

import asyncio
import logging
import sys

from django.core.management.base import BaseCommand

from monitoring.labfeed.mllp import Listener


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

        asyncio.run(Listener(host, port, threads).serve(on_ready=ready))
