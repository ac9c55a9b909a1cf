/** The three holders' rounds, all in JavaScript: no dealer, any two sign, bad input refused. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { commit, dkgFinish, dkgReceive, dkgStart, signShare } from '../src/user-share.js';
import { ed25519_FROST as FROST } from '@noble/curves/ed25519.js';

function dkg() {
  const names = ['server', 'agent', 'user'];
  const start = Object.fromEntries(names.map((h) => [h, dkgStart(h)]));
  const out = {};
  for (const me of names) {
    const round1 = Object.fromEntries(names.filter((h) => h !== me).map((h) => [h, start[h].round1]));
    out[me] = dkgReceive(start[me].state, round1);
  }
  const keys = {};
  for (const me of names) {
    const round2 = Object.fromEntries(names.filter((h) => h !== me).map((h) => [h, out[h][me]]));
    keys[me] = dkgFinish(start[me].state, round2);
  }
  return keys;
}

test('three holders agree on one key and any two sign with it', () => {
  const keys = dkg();
  const group = keys.server.groupKey;
  for (const k of Object.values(keys)) assert.deepEqual(k.groupKey, group);
  const message = new TextEncoder().encode('custos');
  for (const [a, b] of [['server', 'agent'], ['server', 'user'], ['agent', 'user']]) {
    const ca = commit(keys[a].key);
    const cb = commit(keys[b].key);
    const commitments = { [a]: ca.commitment, [b]: cb.commitment };
    const sa = signShare(keys[a].key, ca.nonces, message, commitments);
    const sb = signShare(keys[b].key, cb.nonces, message, commitments);
    const list = [[a, ca], [b, cb]].map(([h, c]) => ({
      identifier: keys[h].key.secret.identifier, hiding: c.commitment.slice(0, 32), binding: c.commitment.slice(32),
    }));
    const sig = FROST.aggregate(keys.server.key.public, list, message,
      { [keys[a].key.secret.identifier]: sa, [keys[b].key.secret.identifier]: sb });
    assert.ok(ed25519.verify(sig, message, group), `${a}+${b}`);
  }
});

test('wrong sizes, missing holders and a lone signer are refused', () => {
  const { state } = dkgStart('user');
  assert.throws(() => dkgReceive(state, { server: new Uint8Array(127), agent: new Uint8Array(128) }), /128 bytes/);
  assert.throws(() => dkgReceive(state, { server: new Uint8Array(128) }), /expected messages from agent and server/);
  const keys = dkg();
  const c = commit(keys.user.key);
  assert.throws(() => signShare(keys.user.key, c.nonces, new Uint8Array([1]), { user: c.commitment }), /two holders/);
  const s = commit(keys.server.key);
  assert.throws(() => signShare(keys.user.key, c.nonces, new Uint8Array([1]), { server: s.commitment, agent: s.commitment }), /own commitment/);
});
