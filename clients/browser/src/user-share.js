/**
 * The user share holder of a Custos 2-of-3 threshold wallet, as it runs in the owner's
 * browser: FROST(Ed25519, SHA-512) (RFC 9591) key generation and signing rounds on
 * @noble/curves' audited `ed25519_FROST`, speaking the byte layout of the Rust holders
 * (`custos-threshold`'s `wire` module) so that the browser, the enclave and the cosigner
 * interoperate byte for byte:
 *
 *   DKG round 1   C0 ‖ C1 ‖ R ‖ z      128 bytes (broadcast)
 *   DKG round 2   signing share         32 bytes (secret, for one recipient)
 *   commitment    hiding ‖ binding      64 bytes
 *   sig share     z_i                   32 bytes
 *
 * Holders and their FROST identifiers: server 1, agent 2, user 3. Nothing here stores the
 * share: the page encrypts `key.secret.signingShare` under its passkey-derived key.
 */
import { ed25519_FROST as FROST } from '@noble/curves/ed25519.js';

/** The holders' FROST identifiers. */
export const HOLDERS = Object.freeze({ server: 1, agent: 2, user: 3 });
const SIGNERS = Object.freeze({ min: 2, max: 3 });

function id(holder) {
  const n = HOLDERS[holder];
  if (!n) throw new Error(`unknown holder ${holder}`);
  return FROST.Identifier.fromNumber(n);
}

function exactly(bytes, n, what) {
  if (!(bytes instanceof Uint8Array) || bytes.length !== n) {
    throw new Error(`${what}: expected ${n} bytes, got ${bytes?.length}`);
  }
  return bytes;
}

function others(me, byHolder, what) {
  const names = Object.keys(byHolder).sort();
  const want = Object.keys(HOLDERS).filter((h) => h !== me).sort();
  if (names.join() !== want.join()) {
    throw new Error(`${what}: expected messages from ${want.join(' and ')}, got ${names.join(', ')}`);
  }
  return want;
}

/** DKG round 1: the holder's state and its 128-byte broadcast. */
export function dkgStart(me = 'user') {
  const { public: pub, secret } = FROST.DKG.round1(id(me), SIGNERS);
  const [c0, c1] = pub.commitment;
  const round1 = new Uint8Array(128);
  round1.set(c0, 0);
  round1.set(c1, 32);
  round1.set(pub.proofOfKnowledge, 64);
  return { state: { me, secret, round1: null }, round1 };
}

function decodeRound1(holder, bytes) {
  exactly(bytes, 128, `${holder}'s DKG round-1 message`);
  return {
    identifier: id(holder),
    commitment: [bytes.slice(0, 32), bytes.slice(32, 64)],
    proofOfKnowledge: bytes.slice(64, 128),
  };
}

/**
 * DKG round 2: checks the other two broadcasts (`{server: bytes, agent: bytes}` for the user)
 * and returns the secret 32-byte share for each of them.
 */
export function dkgReceive(state, round1ByHolder) {
  const from = others(state.me, round1ByHolder, 'DKG round 1');
  const packages = from.map((h) => decodeRound1(h, round1ByHolder[h]));
  const out = FROST.DKG.round2(state.secret, packages);
  state.round1 = packages;
  const shares = {};
  for (const h of from) shares[h] = Uint8Array.from(out[id(h)].signingShare);
  return shares;
}

/** The end of the DKG: the holder's key and the group's 32-byte Ed25519 public key. */
export function dkgFinish(state, round2ByHolder) {
  const from = others(state.me, round2ByHolder, 'DKG round 2');
  const round2 = from.map((h) => ({
    identifier: id(h),
    signingShare: exactly(round2ByHolder[h], 32, `${h}'s DKG round-2 message`),
  }));
  const key = FROST.DKG.round3(state.secret, state.round1, round2);
  FROST.DKG.clean(state.secret);
  return { key, groupKey: key.public.commitments[0] };
}

/** Signing round 1: secret nonces (use once) and the 64-byte commitment to send. */
export function commit(key) {
  const { nonces, commitments } = FROST.commit(key.secret);
  const commitment = new Uint8Array(64);
  commitment.set(commitments.hiding, 0);
  commitment.set(commitments.binding, 32);
  return { nonces, commitment };
}

/**
 * Signing round 2: this holder's 32-byte share of the signature of `message`, given both
 * signers' commitments (`{server: bytes, user: bytes}`). The nonces are wiped afterwards.
 */
export function signShare(key, nonces, message, commitmentsByHolder) {
  const names = Object.keys(commitmentsByHolder).sort();
  if (names.length !== 2) throw new Error('a signature takes two holders\' commitments');
  const list = names.map((h) => {
    const c = exactly(commitmentsByHolder[h], 64, `${h}'s commitment`);
    return { identifier: id(h), hiding: c.slice(0, 32), binding: c.slice(32, 64) };
  });
  if (!list.some((c) => c.identifier === key.secret.identifier)) {
    throw new Error('this holder\'s own commitment is missing');
  }
  const share = FROST.signShare(key.secret, key.public, nonces, list, message);
  nonces.hiding.fill(0);
  nonces.binding.fill(0);
  return share;
}
