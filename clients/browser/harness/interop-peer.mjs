/**
 * The user holder as a peer for the Rust holders' interoperability test
 * (crates/custos-threshold/tests/browser_interop.rs): one JSON request per stdin line, one JSON
 * answer per stdout line, bytes as hex. Not a server: a test harness around src/user-share.js.
 *
 *   {"op":"dkg1"}                                  -> {"round1": hex}
 *   {"op":"dkg2","round1":{"server":hex,"agent":hex}} -> {"round2":{"server":hex,"agent":hex}}
 *   {"op":"dkg3","round2":{"server":hex,"agent":hex}} -> {"group_key": hex}
 *   {"op":"commit"}                                -> {"commitment": hex}
 *   {"op":"sign","message":hex,"commitments":{holder:hex,…}} -> {"share": hex}
 *   anything refused                               -> {"error": message}
 */
import { createInterface } from 'node:readline';
import { commit, dkgFinish, dkgReceive, dkgStart, signShare } from '../src/user-share.js';

const hex = (s) => Uint8Array.from((s.match(/../g) ?? []).map((b) => parseInt(b, 16)));
const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const mapHex = (o, f) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));

let dkg = null;
let key = null;
let nonces = null;

function handle(req) {
  switch (req.op) {
    case 'dkg1': {
      const { state, round1 } = dkgStart('user');
      dkg = state;
      return { round1: toHex(round1) };
    }
    case 'dkg2':
      return { round2: mapHex(dkgReceive(dkg, mapHex(req.round1, hex)), toHex) };
    case 'dkg3': {
      const done = dkgFinish(dkg, mapHex(req.round2, hex));
      key = done.key;
      return { group_key: toHex(done.groupKey) };
    }
    case 'commit': {
      const c = commit(key);
      nonces = c.nonces;
      return { commitment: toHex(c.commitment) };
    }
    case 'sign': {
      const share = signShare(key, nonces, hex(req.message), mapHex(req.commitments, hex));
      nonces = null;
      return { share: toHex(share) };
    }
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  let answer;
  try {
    answer = handle(JSON.parse(line));
  } catch (e) {
    answer = { error: String(e.message ?? e) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
