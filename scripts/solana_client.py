"""Drives a Solana JSON-RPC endpoint (the embedded devnet) with solana-py, a real client.

Usage: python3 scripts/solana_client.py URL [WS_URL]

Airdrops to a new keypair, sends a SOL transfer with preflight, confirms it, checks both
balances, then sends and simulates a transfer the runtime refuses and checks that the client
parses the structured error. With WS_URL (the PubSub WebSocket) it also waits for a slot
notification and confirms a transfer through signatureSubscribe. Prints a JSON summary; exits
non-zero on the first surprise.
"""
import asyncio
import json
import sys

from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
from solana.rpc.websocket_api import SignatureNotification, SolanaWsClient
from solders.keypair import Keypair
from solders.message import Message
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

LAMPORTS = 1_000_000_000


async def signed_transfer(client, payer, to, lamports):
    blockhash = (await client.get_latest_blockhash()).value.blockhash
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))
    msg = Message.new_with_blockhash([ix], payer.pubkey(), blockhash)
    return VersionedTransaction(msg, [payer])


async def next_notification(ws, kind):
    """The next notification of type `kind`, skipping others; 10 s at most."""
    while True:
        note = await asyncio.wait_for(ws.recv(), 10)
        if isinstance(note, kind):
            return note


async def websocket_checks(client, ws_url, payer, bob):
    async with SolanaWsClient(ws_url) as ws:
        slots = await ws.slot_subscribe()
        slot_note = await asyncio.wait_for(ws.recv(), 10)
        await ws.unsubscribe(slots)
        tx = await signed_transfer(client, payer, bob.pubkey(), 1_000)
        sig = (await client.send_transaction(tx)).value
        await ws.signature_subscribe(signature=sig)
        note = await next_notification(ws, SignatureNotification)
        assert note.result.value.err is None, note
        return {"slot_notification": type(slot_note).__name__, "ws_confirmed": str(sig)}


async def main():
    client = AsyncClient(sys.argv[1])
    payer, bob = Keypair(), Keypair()
    sig = (await client.request_airdrop(payer.pubkey(), 2 * LAMPORTS)).value
    await client.confirm_transaction(sig)
    assert (await client.get_balance(payer.pubkey())).value == 2 * LAMPORTS

    tx = await signed_transfer(client, payer, bob.pubkey(), LAMPORTS // 2)
    sig = (await client.send_transaction(tx)).value
    confirmed = (await client.confirm_transaction(sig)).value[0]
    assert confirmed is not None and confirmed.err is None, confirmed
    statuses = (await client.get_signature_statuses([sig])).value
    assert statuses[0] is not None and statuses[0].err is None, statuses
    assert (await client.get_balance(bob.pubkey())).value == LAMPORTS // 2

    bad = await signed_transfer(client, payer, bob.pubkey(), 10 * LAMPORTS)
    sim = (await client.simulate_transaction(bad)).value
    assert sim.err is not None, sim
    preflight = None
    try:
        await client.send_transaction(bad)
    except RPCException as e:
        preflight = e.args[0]
    assert preflight is not None, "a transfer beyond the balance was accepted"
    ws = await websocket_checks(client, sys.argv[2], payer, bob) if len(sys.argv) > 2 else {}
    print(json.dumps({
        **ws,
        "sent": str(sig),
        "bob": (await client.get_balance(bob.pubkey())).value,
        "simulated_error": str(sim.err),
        "preflight_error": type(preflight).__name__,
        "preflight_detail": str(getattr(getattr(preflight, "data", None), "err", None)),
        "logs": len(getattr(getattr(preflight, "data", None), "logs", None) or []),
    }))


if __name__ == "__main__":
    asyncio.run(main())
