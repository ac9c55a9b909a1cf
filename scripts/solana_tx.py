#!/usr/bin/env python3
"""Builds and verifies Solana transactions with `solders` (PyPI), a Solana library independent of
the Rust crates Custos uses, for the integration tests.

  solana_tx.py transfer --from ADDR --to ADDR --lamports N --blockhash HASH [--v0]
      prints the base64 of an unsigned SOL transfer whose fee payer and signer is --from
      (signature slots zero), as an agent would hand it to `POST /v1/wallets/me/actions/sign`.
  solana_tx.py memo --from ADDR --blockhash HASH --program ADDR
      an unsigned transaction calling --program (any program id) with --from as signer.
  solana_tx.py decode BASE64
      prints the transaction as JSON: {"blockhash", "instructions": [{"program", "accounts",
      "data" (hex)}]} (static account keys; enough for legacy transactions).
  solana_tx.py verify BASE64
      checks every signature of the transaction against its message; prints a JSON line
      {"ok": bool, "signers": [...], "signature": "<first signature, base58>"}; exit 0 if ok.
"""
import argparse
import base64
import json
import sys

from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction


def unsigned(payer: Pubkey, ixs, blockhash: str, v0: bool) -> str:
    bh = Hash.from_string(blockhash)
    msg = MessageV0.try_compile(payer, ixs, [], bh) if v0 else Message.new_with_blockhash(ixs, payer, bh)
    n = msg.header.num_required_signatures
    tx = VersionedTransaction.populate(msg, [Signature.default()] * n)
    return base64.b64encode(bytes(tx)).decode()


def main() -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("transfer")
    t.add_argument("--from", dest="frm", required=True)
    t.add_argument("--to", required=True)
    t.add_argument("--lamports", type=int, required=True)
    t.add_argument("--blockhash", required=True)
    t.add_argument("--v0", action="store_true")
    m = sub.add_parser("memo")
    m.add_argument("--from", dest="frm", required=True)
    m.add_argument("--blockhash", required=True)
    m.add_argument("--program", required=True)
    v = sub.add_parser("verify")
    v.add_argument("tx")
    d = sub.add_parser("decode")
    d.add_argument("tx")
    a = p.parse_args()

    if a.cmd == "decode":
        msg = VersionedTransaction.from_bytes(base64.b64decode(a.tx)).message
        keys = msg.account_keys
        ixs = [
            {
                "program": str(keys[ix.program_id_index]),
                "accounts": [str(keys[i]) for i in bytes(ix.accounts)],
                "data": bytes(ix.data).hex(),
            }
            for ix in msg.instructions
        ]
        print(json.dumps({"blockhash": str(msg.recent_blockhash), "instructions": ixs}))
        return 0

    if a.cmd == "transfer":
        frm = Pubkey.from_string(a.frm)
        ix = transfer(TransferParams(from_pubkey=frm, to_pubkey=Pubkey.from_string(a.to), lamports=a.lamports))
        print(unsigned(frm, [ix], a.blockhash, a.v0))
        return 0
    if a.cmd == "memo":
        frm = Pubkey.from_string(a.frm)
        ix = Instruction(Pubkey.from_string(a.program), b"hello", [AccountMeta(frm, True, True)])
        print(unsigned(frm, [ix], a.blockhash, False))
        return 0
    tx = VersionedTransaction.from_bytes(base64.b64decode(a.tx))
    results = tx.verify_with_results()
    keys = tx.message.account_keys[: tx.message.header.num_required_signatures]
    ok = bool(results) and all(results)
    print(json.dumps({"ok": ok, "signers": [str(k) for k in keys], "signature": str(tx.signatures[0])}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
