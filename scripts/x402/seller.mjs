// A real x402 v2 seller and facilitator, from the reference packages (@x402/express,
// @x402/core, @x402/evm and @x402/svm 2.27), for Custos' tests. On EVM the facilitator verifies
// and settles EIP-3009 payments on the given chain (anvil) with the given key; on Solana it
// verifies the payer's SPL TransferChecked transaction, co-signs it as fee payer and sends it to
// the given RPC (custos devnet). The seller charges for GET /weather through @x402/express's
// paymentMiddleware. Nothing here is Custos code.
//
//   node scripts/x402/seller.mjs '{"rpc": URL, "chainId": 31337, "token": ADDR,
//        "payTo": ADDR, "amount": "10000", "facilitatorKey": "0x…"}'
//   node scripts/x402/seller.mjs '{"solana": true, "rpc": URL, "network": "solana:<genesis>",
//        "token": MINT, "payTo": OWNER, "amount": "10000", "facilitatorKey": [64 bytes]}'
//
// Prints one JSON line {"seller": URL, "facilitator": URL, "feePayer": ADDR (Solana)} once both
// listen on loopback ports of their own choosing, then logs each request as a JSON line
// {"seen": "METHOD PATH", "payment": the PAYMENT-SIGNATURE header or null}. `POST /_variant
// {"name"}` switches what GET /weather asks for, so a test can change the requirements between
// a quote and a payment: `honest`, `amount` (twice the price), `payTo` (to the facilitator's
// address instead), `asset` (another token), `network` (the chain family's mainnet).
import express from "express";
import { createWalletClient, http, publicActions, defineChain, nonceManager } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createKeyPairSignerFromBytes, createSolanaRpc } from "@solana/kit";
import { x402Facilitator } from "@x402/core/facilitator";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import { registerExactEvmScheme } from "@x402/evm/exact/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { ExactSvmScheme } from "@x402/svm/exact/server";
import { ExactSvmScheme as ExactSvmFacilitatorScheme } from "@x402/svm/exact/facilitator";
import { toFacilitatorSvmSigner, SOLANA_MAINNET_CAIP2 } from "@x402/svm";

const cfg = JSON.parse(process.argv[2]);
const facilitator = new x402Facilitator();
// Per chain family: the network, the other network a variant may ask for, the facilitator's
// address, the seller's scheme, and the option's `extra`.
let network, otherNetwork, facilitatorAddress, sellerScheme, extra, otherAsset;
if (cfg.solana) {
  // Any `solana:<genesis>` works when the facilitator is given an RPC per network ("*": all);
  // the seller's scheme then needs no RPC of its own.
  network = cfg.network;
  otherNetwork = SOLANA_MAINNET_CAIP2;
  const feePayer = await createKeyPairSignerFromBytes(Uint8Array.from(cfg.facilitatorKey));
  facilitator.register(
    [network, otherNetwork],
    new ExactSvmFacilitatorScheme(toFacilitatorSvmSigner(feePayer, { "*": createSolanaRpc(cfg.rpc) })),
  );
  facilitatorAddress = feePayer.address;
  sellerScheme = () => new ExactSvmScheme();
  extra = {};
  otherAsset = "So11111111111111111111111111111111111111112";
} else {
  network = `eip155:${cfg.chainId}`;
  otherNetwork = "eip155:1";
  const chain = defineChain({
    id: cfg.chainId,
    name: "local",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [cfg.rpc] } },
  });
  // Settlements run concurrently: the nonce manager hands out the facilitator's nonces in order.
  const account = privateKeyToAccount(cfg.facilitatorKey, { nonceManager });
  const wallet = createWalletClient({ account, chain, transport: http(cfg.rpc) }).extend(publicActions);
  registerExactEvmScheme(facilitator, {
    signer: toFacilitatorEvmSigner(Object.assign(wallet, { address: account.address })),
    networks: [network, otherNetwork],
  });
  facilitatorAddress = account.address;
  sellerScheme = () => new ExactEvmScheme();
  extra = { name: "USD Coin", version: "2" };
  otherAsset = "0x000000000000000000000000000000000000dEaD";
}

const listen = (app) =>
  new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${s.address().port}`));
  });

// The facilitator, over HTTP as sellers reach one.
const fapp = express();
fapp.use(express.json());
fapp.get("/supported", (_q, r) => r.json(facilitator.getSupported()));
for (const op of ["verify", "settle"]) {
  fapp.post(`/${op}`, async (q, r) => {
    try {
      r.json(await facilitator[op](q.body.paymentPayload, q.body.paymentRequirements));
    } catch (e) {
      r.status(500).json({ error: String(e) });
    }
  });
}
const facilitatorUrl = await listen(fapp);

// The seller: one paid route, in several variants.
const variants = {
  honest: { amount: cfg.amount, payTo: cfg.payTo, asset: cfg.token, network },
  amount: { amount: String(BigInt(cfg.amount) * 2n), payTo: cfg.payTo, asset: cfg.token, network },
  payTo: { amount: cfg.amount, payTo: facilitatorAddress, asset: cfg.token, network },
  asset: { amount: cfg.amount, payTo: cfg.payTo, asset: otherAsset, network },
  network: { amount: cfg.amount, payTo: cfg.payTo, asset: cfg.token, network: otherNetwork },
};
const middlewares = {};
for (const [name, v] of Object.entries(variants)) {
  const rs = new x402ResourceServer(new HTTPFacilitatorClient({ url: facilitatorUrl }))
    .register(network, sellerScheme())
    .register(otherNetwork, sellerScheme());
  middlewares[name] = paymentMiddleware(
    {
      "GET /weather": {
        accepts: {
          scheme: "exact",
          network: v.network,
          payTo: v.payTo,
          maxTimeoutSeconds: 120,
          price: { amount: v.amount, asset: v.asset, extra },
        },
        description: "Weather data",
        mimeType: "application/json",
      },
    },
    rs,
  );
}
let current = "honest";
const app = express();
app.post("/_variant", express.json(), (q, r) => {
  current = q.body.name;
  r.json({ variant: current });
});
app.use((q, _r, next) => {
  const payment = q.headers["payment-signature"] ?? null;
  process.stdout.write(JSON.stringify({ seen: `${q.method} ${q.path}`, payment }) + "\n");
  next();
});
app.use((q, r, next) => middlewares[current](q, r, next));
app.get("/weather", (_q, r) => r.json({ report: { weather: "sunny", temperature: 21 } }));
const sellerUrl = await listen(app);
process.stdout.write(
  JSON.stringify({ seller: sellerUrl, facilitator: facilitatorUrl, feePayer: facilitatorAddress }) + "\n",
);
