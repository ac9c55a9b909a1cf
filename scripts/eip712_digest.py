#!/usr/bin/env python3
"""EIP-712 digests computed by eth-account (PyPI), independently of Custos.

    eip712_digest.py < documents.json

Reads a JSON list of EIP-712 documents; prints a JSON list with, for each, either
{"digest": "<64 hex>"} (keccak256(0x19 0x01 || domainSeparator || hashStruct(message))) or
{"error": "<why eth-account refused it>"}.
"""
import json
import sys

from eth_account.messages import _hash_eip191_message, encode_typed_data


def digest(doc):
    try:
        return {"digest": _hash_eip191_message(encode_typed_data(full_message=doc)).hex()}
    except Exception as e:  # eth-account refuses with several exception types
        return {"error": f"{type(e).__name__}: {e}"}


print(json.dumps([digest(d) for d in json.load(sys.stdin)]))
