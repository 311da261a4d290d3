"""The far ends of our deliveries, on 127.0.0.1 in threads: a webhook receiver and just enough SMTP."""

from __future__ import annotations

import socketserver
from http.server import BaseHTTPRequestHandler


class Receiver(BaseHTTPRequestHandler):
    """Answers each POST with the next status of `server.statuses` (then 200); records requests."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.headers, body))  # case-insensitive
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


class SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: fails DATA with 451 while `server.failures` > 0."""

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.reply("220 localhost test SMTP")
        while line := self.rfile.readline().decode():
            verb = line.strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 localhost")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "DATA":
                if self.server.failures > 0:
                    self.server.failures -= 1
                    self.reply("451 4.3.0 try again later")
                    continue
                self.reply("354 end with .")
                data = []
                while (chunk := self.rfile.readline().decode()) not in (".\r\n", ""):
                    data.append(chunk)
                self.server.messages.append("".join(data))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")
