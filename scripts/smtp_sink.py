#!/usr/bin/env python3
"""A tiny SMTP server for the mailer tests: accepts every message and appends it to a file.

Usage: smtp_sink.py PORT OUTFILE

Listens on 127.0.0.1:PORT (no TLS, no auth). Each received message is appended to OUTFILE as one
JSON line {"mail_from", "rcpt_tos", "subject", "body", "raw"}, where `body` is the decoded text of
every text/* part, so tests need not care how the sender encoded it. Prints "ready" on stdout once
it accepts connections. Installed by scripts/test-deps.sh (aiosmtpd from PyPI).
"""
import asyncio
import email
import email.policy
import json
import signal
import sys

from aiosmtpd.controller import Controller


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
    controller = Controller(Sink(path), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop = asyncio.new_event_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        stop.add_signal_handler(sig, stop.stop)
    try:
        stop.run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
