#!/usr/bin/env python3
"""A tiny SMTP server for the mailer tests: accepts every message and appends it to a file.

Usage: smtp_sink.py PORT OUTFILE

Listens on 127.0.0.1:PORT (no TLS, no auth); PORT 0 lets the kernel choose a free port, so no
other process can be listening there. Each received message is appended to OUTFILE as one JSON
line {"mail_from", "rcpt_tos", "subject", "body", "raw"}, where `body` is the decoded text of
every text/* part, so tests need not care how the sender encoded it. Prints "ready PORT" on
stdout once it accepts connections. aiosmtpd comes from PyPI (scripts/test-deps.sh).
"""
import asyncio
import email
import email.policy
import json
import signal
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, path):
        self.path = path

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "replace")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        texts = []
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                try:
                    texts.append(part.get_content())
                except Exception:  # undecodable part: keep the raw payload
                    texts.append(str(part.get_payload()))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(msg.get("Subject", "")),
            "body": "\n".join(texts),
            "raw": raw.decode("utf-8", "replace"),
        }
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return "250 Message accepted for delivery"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: smtp_sink.py PORT OUTFILE")
    port, path = int(sys.argv[1]), sys.argv[2]
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(Sink(path)), host="127.0.0.1", port=port)
    )
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
