#!/usr/bin/env python3
"""Log in, transfer, read the audit — with the custos_client library.

    AGENT_EMAIL=agent@example.com python3 login_transfer_audit.py BASE_URL RECIPIENT AMOUNT

The login code is read from stdin (type it from the email; on a development server it is in the
data dir's outbox). Prints a JSON summary on stdout.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from custos_client import Client, connect, new_idempotency_key, raise_for_error  # noqa: E402
from custos_client.generated.api.auth import request_otp, verify_otp  # noqa: E402
from custos_client.generated.api.wallet import action_transfer, my_audit  # noqa: E402
from custos_client.generated.models import (  # noqa: E402
    Confirmed,
    OtpRequest,
    TransferBody,
    VerifyRequest,
)


def main() -> None:
    base_url, recipient, amount = sys.argv[1], sys.argv[2], sys.argv[3]
    email = os.environ["AGENT_EMAIL"]

    # 1. Log in: a code goes to the email address; exchange it for a session token.
    anonymous = Client(base_url=base_url)
    raise_for_error(request_otp.sync_detailed(client=anonymous, body=OtpRequest(email=email)))
    print("login code: ", end="", file=sys.stderr, flush=True)
    code = sys.stdin.readline().strip()
    session = verify_otp.sync_detailed(client=anonymous, body=VerifyRequest(email=email, code=code))
    token = raise_for_error(session).parsed.token
    client = connect(base_url, token)

    # 2. Transfer, with an idempotency key; the retry returns the same transaction.
    key = new_idempotency_key()
    body = TransferBody(chain="solana", to=recipient, asset="SOL", amount=amount)
    first = raise_for_error(action_transfer.sync_detailed(client=client, body=body, idempotency_key=key))
    again = raise_for_error(action_transfer.sync_detailed(client=client, body=body, idempotency_key=key))
    assert isinstance(first.parsed, Confirmed), first.content
    tx = first.parsed.tx

    # 3. Read the audit trail and find the transfer in it.
    records = json.loads(raise_for_error(my_audit.sync_detailed(client=client, limit=1000)).content)["records"]
    entries = [r.get("entry", r) for r in records]
    print(json.dumps({
        "tx": tx,
        "status": first.parsed.status,
        "same_tx_on_retry": again.parsed.tx == tx,
        "audit_actions": [e["action"] for e in entries if e.get("tx") == tx],
    }))


if __name__ == "__main__":
    main()
