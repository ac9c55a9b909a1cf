#!/usr/bin/env python3
"""EVM helper for Custos' tests and benchmarks, independent of Custos' own Rust code.

    evm_chain.py deploy RPC_URL
        Deploys, from anvil's first (unlocked) account, two ERC-20 tokens (OpenZeppelin 4.9
        ERC20PresetMinterPauser), WETH9, the Uniswap V2 factory and router from the compiled
        artifacts published on npm (installed into .tools/ by scripts/test-deps.sh), and adds
        ETH liquidity for both tokens. Prints the addresses as JSON.

    evm_chain.py deploy-usdc RPC_URL
        Compiles scripts/contracts/TestUSDC.sol (solc from npm, scripts/contracts/compile.cjs)
        and deploys it from anvil's first account as "USD Coin" / "USDC", EIP-712 version "2".
        Prints {"token", "owner"}.

    evm_chain.py authorize RPC_URL < authorization.json
        Submits an EIP-3009 authorization from anvil's second account, as any relayer (an x402
        facilitator) would: {"token", "authorization": {from, to, value, validAfter,
        validBefore, nonce}, "signature": "0x…65 bytes"} -> {"status": "0x1" | "0x0", "tx"}
        via transferWithAuthorization(…, v, r, s). A revert is reported, not raised.

    evm_chain.py verify < requests.json
        Recovers signatures with eth-account (PyPI), an implementation independent of Custos:
        {"kind": "tx", "raw": "0x…"}                      -> {"from", "chain_id", "nonce", "type"}
        {"kind": "personal", "message", "signature"}      -> {"from"}
        {"kind": "typed", "typed_data", "signature"}      -> {"from"}
        Reads a JSON list, prints a JSON list.
"""
import json
import os
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NPM = os.path.join(ROOT, ".tools", "node_modules")


def rpc(url, method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        out = json.load(r)
    if "error" in out:
        raise RuntimeError(f"{method}: {out['error']}")
    return out["result"]


def artifact(path):
    with open(os.path.join(NPM, path)) as f:
        a = json.load(f)
    code = a.get("bytecode") or a["evm"]["bytecode"]["object"]
    if isinstance(code, dict):
        code = code["object"]
    return code if code.startswith("0x") else "0x" + code


def send(url, frm, to, data, value=0):
    tx = {"from": frm, "data": data, "value": hex(value), "gas": hex(8_000_000)}
    if to:
        tx["to"] = to
    h = rpc(url, "eth_sendTransaction", [tx])
    for _ in range(600):
        r = rpc(url, "eth_getTransactionReceipt", [h])
        if r:
            if r["status"] != "0x1":
                raise RuntimeError(f"transaction {h} reverted")
            return r
        time.sleep(0.05)
    raise RuntimeError(f"transaction {h} not mined")


def deploy(url):
    from eth_abi import encode
    from eth_utils import function_signature_to_4byte_selector as sel, to_checksum_address as cs

    def call(sig, types, args):
        return "0x" + (sel(sig) + encode(types, args)).hex()

    me = rpc(url, "eth_accounts", [])[0]
    tokens = []
    for name, sym in (("Token A", "TKA"), ("Token B", "TKB")):
        code = artifact("@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json")
        r = send(url, me, None, code + encode(["string", "string"], [name, sym]).hex())
        tokens.append(cs(r["contractAddress"]))
    weth = cs(send(url, me, None, artifact("@uniswap/v2-periphery/build/WETH9.json"))["contractAddress"])
    factory = cs(send(url, me, None, artifact("@uniswap/v2-core/build/UniswapV2Factory.json")
                      + encode(["address"], [me]).hex())["contractAddress"])
    router = cs(send(url, me, None, artifact("@uniswap/v2-periphery/build/UniswapV2Router02.json")
                     + encode(["address", "address"], [factory, weth]).hex())["contractAddress"])
    e18 = 10**18
    for t in tokens:
        send(url, me, t, call("mint(address,uint256)", ["address", "uint256"], [me, 10**9 * e18]))
        send(url, me, t, call("approve(address,uint256)", ["address", "uint256"], [router, 2**256 - 1]))
        # 1 ETH = 1000 tokens.
        send(url, me, router, call(
            "addLiquidityETH(address,uint256,uint256,uint256,address,uint256)",
            ["address", "uint256", "uint256", "uint256", "address", "uint256"],
            [t, 100_000 * e18, 0, 0, me, 2**40]), value=100 * e18)
    print(json.dumps({"deployer": cs(me), "tokens": tokens, "weth": weth, "factory": factory,
                      "router": router}))


def deploy_usdc(url):
    import subprocess
    from eth_abi import encode
    from eth_utils import to_checksum_address as cs
    art = json.loads(subprocess.run(
        ["node", os.path.join(ROOT, "scripts", "contracts", "compile.cjs")],
        check=True, capture_output=True).stdout)
    me = rpc(url, "eth_accounts", [])[0]
    args = encode(["string", "string", "string"], ["USD Coin", "USDC", "2"]).hex()
    r = send(url, me, None, art["bytecode"] + args)
    print(json.dumps({"token": cs(r["contractAddress"]), "owner": cs(me)}))


def authorize(url):
    from eth_abi import encode
    from eth_utils import function_signature_to_4byte_selector as sel
    req = json.load(sys.stdin)
    a = req["authorization"]
    sig = bytes.fromhex(req["signature"][2:])
    r, s_, v = sig[:32], sig[32:64], sig[64]
    data = "0x" + (sel("transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)")
                   + encode(["address", "address", "uint256", "uint256", "uint256", "bytes32", "uint8", "bytes32", "bytes32"],
                            [a["from"], a["to"], int(a["value"]), int(a["validAfter"]), int(a["validBefore"]),
                             bytes.fromhex(a["nonce"][2:]), v, r, s_])).hex()
    relayer = rpc(url, "eth_accounts", [])[1]
    h = rpc(url, "eth_sendTransaction", [{"from": relayer, "to": req["token"], "data": data, "gas": hex(300_000)}])
    for _ in range(600):
        rec = rpc(url, "eth_getTransactionReceipt", [h])
        if rec:
            print(json.dumps({"status": rec["status"], "tx": h}))
            return
        time.sleep(0.05)
    raise RuntimeError(f"transaction {h} not mined")


def verify():
    from eth_account import Account
    from eth_account.messages import encode_defunct, encode_typed_data
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes
    out = []
    for r in json.load(sys.stdin):
        try:
            if r["kind"] == "tx":
                raw = HexBytes(bytes.fromhex(r["raw"][2:]))
                d = TypedTransaction.from_bytes(raw).as_dict()
                out.append({"from": Account.recover_transaction(raw), "chain_id": d["chainId"],
                            "nonce": d["nonce"], "type": raw[0]})
            elif r["kind"] == "personal":
                m = encode_defunct(text=r["message"])
                out.append({"from": Account.recover_message(m, signature=r["signature"])})
            elif r["kind"] == "typed":
                m = encode_typed_data(full_message=r["typed_data"])
                out.append({"from": Account.recover_message(m, signature=r["signature"])})
            else:
                out.append({"error": "unknown kind"})
        except Exception as e:  # reported, not raised: the caller asserts on it
            out.append({"error": f"{type(e).__name__}: {e}"})
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "deploy":
        deploy(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "deploy-usdc":
        deploy_usdc(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "authorize":
        authorize(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "verify":
        verify()
    else:
        sys.exit(__doc__)
