/**
 * RFC 9591 Appendix E.1, FROST(Ed25519, SHA-512), through this package's signing round: with
 * the RFC's shares and fixed nonces, the user holder's `signShare` (on @noble/curves) yields the
 * RFC's signature shares, and they aggregate to the RFC's signature, which Ed25519 verifies.
 * Participants 1 and 3 are the server and user holders.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ed25519, ed25519_FROST as FROST } from '@noble/curves/ed25519.js';
import { commit, signShare, HOLDERS } from '../src/user-share.js';

const hex = (s) => Uint8Array.from(s.match(/../g).map((b) => parseInt(b, 16)));
const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

const GROUP_KEY = hex('15d21ccd7ee42959562fc8aa63224c8851fb3ec85a3faf66040d380fb9738673');
const MESSAGE = hex('74657374');
const SIGNATURE = '154fb694ee7fcb37bf2381d94488c2a84b03b3352ad085feca81ad26d45852b7ecfe971ce4da95c4a95db93ac376b053897fca212ef85f99cf696bffeb178f07';
const SIGNERS = [
  { id: 1, holder: 'server', share: '929dcc590407aae7d388761cddb0c0db6f5627aea8e217f4a033f2ec83d93509', hiding: 'ef6599dea4010581a72b3018c37c29a4341d7cab0773e8687ca74dcf14009701', binding: '2baadfa0c69aa60d517ad4751de372a73f9d89cfc39026601f18458cdec12605', sigShare: '60997f0142e43e8005027fe5ab7447dac00d22c2d7ddd9571a02613ba7d81c08' },
  { id: 3, holder: 'user', share: 'd3cb090a075eb154e82fdb4b3cb507f110040905468bb9c46da8bdea643a9a02', hiding: '80f8d9a4b8f9366e1a0b618107c907cd3ee29fa9bb40b4691cc1bde696240005', binding: '2610b664a5a187b4855e87d2ff485bebdf043dc2f161fcd4854cd01dc0276404', sigShare: '79390e78bc59699c7af831f8f5fb478ec871a85f561a8641b5670ac4443f720f' },
];

function keyOf(p) {
  const Fn = FROST.utils.Fn;
  const verifyingShares = {};
  for (const s of SIGNERS) {
    const scalar = Fn.fromBytes(hex(s.share));
    verifyingShares[FROST.Identifier.fromNumber(s.id)] = ed25519.Point.BASE.multiply(scalar).toBytes();
  }
  return {
    public: { signers: { min: 2, max: 3 }, commitments: [GROUP_KEY], verifyingShares },
    secret: { identifier: FROST.Identifier.fromNumber(p.id), signingShare: hex(p.share) },
  };
}

test('the RFC 9591 E.1 signature shares and signature come out of signShare', () => {
  const commitments = {};
  for (const p of SIGNERS) {
    const Fn = FROST.utils.Fn;
    const G = ed25519.Point.BASE;
    const c = new Uint8Array(64);
    c.set(G.multiply(Fn.fromBytes(hex(p.hiding))).toBytes(), 0);
    c.set(G.multiply(Fn.fromBytes(hex(p.binding))).toBytes(), 32);
    commitments[p.holder] = c;
  }
  const shares = {};
  const list = [];
  for (const p of SIGNERS) {
    const key = keyOf(p);
    const nonces = { hiding: hex(p.hiding), binding: hex(p.binding) };
    const share = signShare(key, nonces, MESSAGE, commitments);
    assert.equal(toHex(share), p.sigShare, `participant ${p.id}`);
    shares[FROST.Identifier.fromNumber(p.id)] = share;
    const c = commitments[p.holder];
    list.push({ identifier: FROST.Identifier.fromNumber(p.id), hiding: c.slice(0, 32), binding: c.slice(32) });
  }
  const sig = FROST.aggregate(keyOf(SIGNERS[0]).public, list, MESSAGE, shares);
  assert.equal(toHex(sig), SIGNATURE);
  assert.ok(ed25519.verify(sig, MESSAGE, GROUP_KEY));
  assert.equal(HOLDERS.user, 3);
  // Fresh nonces give a different, still valid, share (no fixed-nonce path outside tests).
  const fresh = commit(keyOf(SIGNERS[1]));
  assert.equal(fresh.commitment.length, 64);
});
