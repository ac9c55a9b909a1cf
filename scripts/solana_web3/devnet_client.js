// Drives a Solana JSON-RPC endpoint (`custos devnet`) with @solana/web3.js 1.99 and
// @solana/spl-token 0.4.15, the clients most applications use.
//
// Usage: node scripts/solana_web3/devnet_client.js HTTP_URL
//
// web3.js finds the PubSub WebSocket itself, on the HTTP port + 1, and confirms every
// transaction through `signatureSubscribe`. The script airdrops, sends and confirms a SOL
// transfer, makes a mint, two associated token accounts, mints and transfers tokens, reads the
// results back (getTransaction, getSignaturesForAddress, getParsedAccountInfo,
// getProgramAccounts, getBlock, getBlockTime, getEpochInfo), sends a transaction that fails in
// preflight and one that fails with skipPreflight, waits for account and slot notifications,
// and lets a blockhash expire with the devnet's `custos_advanceSlots`. Prints one JSON summary
// on stdout; exits non-zero on the first surprise, and after 120 s in any case.
'use strict';

const web3 = require('@solana/web3.js');
const spl = require('@solana/spl-token');

const url = process.argv[2];
if (!url) {
  console.error('usage: devnet_client.js HTTP_URL');
  process.exit(2);
}
const deadline = setTimeout(() => {
  console.error(`timed out; last step: ${step}`);
  process.exit(3);
}, 120_000);

const LAMPORTS = web3.LAMPORTS_PER_SOL;
const timings = {};
let step = 'start';

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

async function timed(name, f) {
  step = name;
  const t0 = Date.now();
  const out = await f();
  timings[name] = Date.now() - t0;
  return out;
}

async function raw(method, params) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const v = await r.json();
  if (v.error) throw new Error(`${method}: ${JSON.stringify(v.error)}`);
  return v.result;
}

function waitFor(what, ms, subscribe) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    subscribe((v) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function base58(bytes) {
  let n = BigInt('0x' + (Buffer.from(bytes).toString('hex') || '0'));
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = '1' + out;
  }
  return out;
}

function transfer(from, to, lamports) {
  return new web3.Transaction().add(
    web3.SystemProgram.transfer({ fromPubkey: from.publicKey, toPubkey: to, lamports }),
  );
}

async function main() {
  const conn = new web3.Connection(url, 'confirmed');
  const payer = web3.Keypair.generate();
  const bob = web3.Keypair.generate();
  const summary = {};

  await timed('airdrop', async () => {
    const sig = await conn.requestAirdrop(payer.publicKey, 5 * LAMPORTS);
    const latest = await conn.getLatestBlockhash();
    const res = await conn.confirmTransaction({ signature: sig, ...latest });
    check(res.value.err === null, 'airdrop confirmed without error');
    check((await conn.getBalance(payer.publicKey)) === 5 * LAMPORTS, 'airdrop balance');
  });

  const solSig = await timed('sol_transfer', () =>
    web3.sendAndConfirmTransaction(conn, transfer(payer, bob.publicKey, LAMPORTS / 2), [payer]),
  );
  check((await conn.getBalance(bob.publicKey)) === LAMPORTS / 2, 'recipient balance');
  summary.sol_transfer = solSig;

  const epoch = await conn.getEpochInfo();
  check(typeof epoch.absoluteSlot === 'number', 'getEpochInfo parses');
  check(typeof (await conn.getTransactionCount()) === 'number', 'getTransactionCount');

  const tokens = await timed('spl_token', async () => {
    const mint = await spl.createMint(conn, payer, payer.publicKey, null, 6);
    const mine = await spl.getOrCreateAssociatedTokenAccount(conn, payer, mint, payer.publicKey);
    const theirs = await spl.getOrCreateAssociatedTokenAccount(conn, payer, mint, bob.publicKey);
    await spl.mintTo(conn, payer, mint, mine.address, payer, 1_000_000_000n);
    const sig = await spl.transfer(conn, payer, mine.address, theirs.address, payer, 250_000_000n);
    const after = await spl.getAccount(conn, theirs.address);
    check(after.amount === 250_000_000n, 'token transfer moved 250 tokens');
    return { mint, mine: mine.address, theirs: theirs.address, sig };
  });
  summary.token_transfer = tokens.sig;

  await timed('history', async () => {
    const tx = await conn.getTransaction(solSig, { maxSupportedTransactionVersion: 0 });
    check(tx && tx.meta && tx.meta.err === null, 'getTransaction meta.err is null');
    check(tx.meta.fee === 5000, `fee 5000, got ${tx && tx.meta.fee}`);
    const keys = tx.transaction.message.staticAccountKeys.map((k) => k.toBase58());
    const bobAt = keys.indexOf(bob.publicKey.toBase58());
    check(bobAt > 0, 'recipient among the account keys');
    check(tx.meta.postBalances[bobAt] - tx.meta.preBalances[bobAt] === LAMPORTS / 2, 'balances');
    check(Array.isArray(tx.meta.logMessages) && tx.meta.logMessages.length > 0, 'logs');
    const tokenTx = await conn.getTransaction(tokens.sig, { maxSupportedTransactionVersion: 0 });
    const post = tokenTx.meta.postTokenBalances.find(
      (b) => b.owner === bob.publicKey.toBase58(),
    );
    check(post && post.uiTokenAmount.uiAmount === 250, 'postTokenBalances');
    const parsedTx = await conn.getParsedTransaction(tokens.sig, {
      maxSupportedTransactionVersion: 0,
    });
    check(parsedTx && parsedTx.meta.err === null, 'getParsedTransaction');

    const sigs = await conn.getSignaturesForAddress(payer.publicKey);
    check(sigs.some((s) => s.signature === solSig), 'getSignaturesForAddress lists the transfer');
    check(sigs[0].signature === tokens.sig, 'newest first');
    const limited = await conn.getSignaturesForAddress(payer.publicKey, { limit: 1 });
    check(limited.length === 1, 'limit');

    const parsed = await conn.getParsedAccountInfo(tokens.theirs);
    const info = parsed.value && parsed.value.data.parsed && parsed.value.data.parsed.info;
    check(info && info.tokenAmount.amount === '250000000', 'jsonParsed token account');
    const mintInfo = await spl.getMint(conn, tokens.mint);
    check(mintInfo.supply === 1_000_000_000n && mintInfo.decimals === 6, 'getMint');
    const held = await conn.getParsedTokenAccountsByOwner(bob.publicKey, { mint: tokens.mint });
    check(held.value.length === 1, 'getParsedTokenAccountsByOwner');

    const owned = await conn.getProgramAccounts(spl.TOKEN_PROGRAM_ID, {
      filters: [{ dataSize: 165 }, { memcmp: { offset: 32, bytes: bob.publicKey.toBase58() } }],
    });
    check(
      owned.length === 1 && owned[0].pubkey.equals(tokens.theirs),
      'getProgramAccounts with dataSize and memcmp',
    );

    const block = await conn.getBlock(tx.slot, { maxSupportedTransactionVersion: 0 });
    check(block && block.transactions.some((t) => t.transaction.signatures[0] === solSig), 'getBlock');
    const time = await conn.getBlockTime(tx.slot);
    check(typeof time === 'number' && Math.abs(time - Date.now() / 1000) < 600, 'getBlockTime');
  });

  summary.preflight = await timed('failed_preflight', async () => {
    try {
      await web3.sendAndConfirmTransaction(conn, transfer(payer, bob.publicKey, 100 * LAMPORTS), [payer]);
    } catch (e) {
      check(e instanceof web3.SendTransactionError, `SendTransactionError, got ${e}`);
      const logs = e.logs || [];
      check(logs.some((l) => l.includes('insufficient lamports')), 'preflight logs');
      check(e.message.includes('custom program error: 0x1'), e.message);
      return { message: e.message.split('\n')[0], logs: logs.length };
    }
    throw new Error('a transfer beyond the balance was accepted');
  });

  summary.skip_preflight = await timed('failed_skip_preflight', async () => {
    const before = await conn.getBalance(payer.publicKey);
    const tx = transfer(payer, bob.publicKey, 100 * LAMPORTS);
    const latest = await conn.getLatestBlockhash();
    tx.recentBlockhash = latest.blockhash;
    tx.feePayer = payer.publicKey;
    tx.sign(payer);
    const sig = await conn.sendRawTransaction(tx.serialize(), { skipPreflight: true });
    // web3.js resolves with the error when the notification wins the race with its one
    // getSignatureStatuses call, and rejects with it when that call wins.
    let err = null;
    try {
      err = (await conn.confirmTransaction({ signature: sig, ...latest })).value.err;
    } catch (e) {
      check(!(e instanceof Error), `confirmation failed: ${e}`);
      err = e;
    }
    check(err && err.InstructionError, `the failure is reported on confirmation: ${err}`);
    const status = (await conn.getSignatureStatuses([sig])).value[0];
    check(status && status.err !== null, 'getSignatureStatuses err');
    const landed = await conn.getTransaction(sig, { maxSupportedTransactionVersion: 0 });
    check(landed && landed.meta.err !== null, 'getTransaction meta.err');
    const after = await conn.getBalance(payer.publicKey);
    check(before - after === landed.meta.fee && landed.meta.fee > 0, 'the fee is paid');
    return { err, fee: landed.meta.fee };
  });

  await timed('account_subscribe', async () => {
    let id;
    const seen = waitFor('accountNotification', 10_000, (done) => {
      id = conn.onAccountChange(bob.publicKey, (acc) => {
        if (acc.lamports === LAMPORTS / 2 + 1234) done(acc);
      });
    });
    // Let the subscription reach the devnet before the change.
    await new Promise((r) => setTimeout(r, 300));
    await web3.sendAndConfirmTransaction(conn, transfer(payer, bob.publicKey, 1234), [payer]);
    await seen;
    await conn.removeAccountChangeListener(id);
  });

  await timed('slot_subscribe', async () => {
    let id;
    const seen = waitFor('slotNotification', 10_000, (done) => {
      id = conn.onSlotChange((s) => done(s));
    });
    await new Promise((r) => setTimeout(r, 300));
    await raw('custos_advanceSlots', [1]);
    const s = await seen;
    check(s.slot === s.parent + 1 && s.root === s.slot, 'slotNotification fields');
    await conn.removeSlotChangeListener(id);
  });

  summary.expiry = await timed('blockhash_expiry', async () => {
    const latest = await conn.getLatestBlockhash();
    const tx = transfer(payer, bob.publicKey, 7);
    tx.recentBlockhash = latest.blockhash;
    tx.feePayer = payer.publicKey;
    tx.sign(payer);
    await raw('custos_advanceSlots', [151]);
    check((await conn.getBlockHeight()) > latest.lastValidBlockHeight, 'block height passed');
    check(!(await conn.isBlockhashValid(latest.blockhash)).value, 'isBlockhashValid false');
    let refused = null;
    try {
      await conn.sendRawTransaction(tx.serialize());
    } catch (e) {
      refused = e.message.replace(/\s+/g, ' ').trim();
    }
    check(refused && refused.includes('Blockhash not found'), `refused: ${refused}`);
    const sig = base58(tx.signature);
    let expired = null;
    try {
      await conn.confirmTransaction({ signature: sig, ...latest });
    } catch (e) {
      expired = e;
    }
    check(
      expired instanceof web3.TransactionExpiredBlockheightExceededError,
      `TransactionExpiredBlockheightExceededError, got ${expired}`,
    );
    return { refused, expired: expired.name };
  });

  summary.timings_ms = timings;
  console.log(JSON.stringify(summary));
  clearTimeout(deadline);
  process.exit(0);
}

main().catch((e) => {
  console.error(`step ${step}: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
