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
        if 300 <= status < 400:  # the receiver has moved
            self.send_header("Location", "/moved")
        self.end_headers()

    def do_GET(self):  # noqa: N802
        """A GET is what a redirected POST becomes in urllib (301-303): recorded, answered 200."""
        self.server.gets = [*getattr(self.server, "gets", []), self.path]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: fails DATA with 451 while `server.failures` > 0.

    A message is kept (`received`) only once its final "." has arrived, as a real server keeps it;
    a client that goes away before that (a killed worker) leaves nothing behind. Subclasses change
    what happens when DATA comes (`data_ready`) and where a message goes (`received`).
    """

    greeting = "220 localhost test SMTP"

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def data_ready(self) -> bool:
        """Return whether to take the message now; if not, say why (a 4xx) and return False."""
        if self.server.failures > 0:
            self.server.failures -= 1
            self.reply("451 4.3.0 try again later")
            return False
        return True

    def received(self, message: str) -> None:
        self.server.messages.append(message)

    def handle(self):
        try:
            self.converse()
        except OSError:
            pass  # the client was killed mid-conversation

    def converse(self) -> None:
        self.reply(self.greeting)
        while line := self.rfile.readline().decode():
            verb = line.strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 localhost")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "DATA":
                if not self.data_ready():
                    continue
                self.reply("354 end with .")
                data = []
                while (chunk := self.rfile.readline().decode()) != ".\r\n":
                    if not chunk:
                        return  # the connection ended mid-message: nothing was handed over
                    data.append(chunk)
                self.received("".join(data))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")
