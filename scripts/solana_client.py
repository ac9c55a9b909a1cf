"""Drives a Solana JSON-RPC endpoint (the embedded devnet) with solana-py, a real client.

Usage: python3 scripts/solana_client.py URL

Airdrops to a new keypair, sends a SOL transfer with preflight, confirms it, checks both
balances, then sends and simulates a transfer the runtime refuses and checks that the client
parses the structured error. Prints a JSON summary; exits non-zero on the first surprise.
"""
import asyncio
import json
import sys

from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
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
    print(json.dumps({
        "sent": str(sig),
        "bob": (await client.get_balance(bob.pubkey())).value,
        "simulated_error": str(sim.err),
        "preflight_error": type(preflight).__name__,
        "preflight_detail": str(getattr(getattr(preflight, "data", None), "err", None)),
        "logs": len(getattr(getattr(preflight, "data", None), "logs", None) or []),
    }))


if __name__ == "__main__":
    asyncio.run(main())
