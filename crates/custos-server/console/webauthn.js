// Custos operator console: passkeys. Turns the WebAuthn options the server sends (webauthn-rs
// JSON, binary fields as unpadded base64url) into what navigator.credentials wants, and the
// credential the browser returns into the JSON webauthn-rs reads back. No state, no network.

/** Unpadded base64url text → ArrayBuffer (padding and the standard alphabet are accepted). */
export function b64urlToBuf(text) {
  if (typeof text !== "string") throw new TypeError("expected base64url text");
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

/** ArrayBuffer or view → unpadded base64url text. */
export function bufToB64url(buf) {
  const bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf)
    : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// WebIDL dictionaries refuse `null` for members that are not nullable; serde may write them.
function dropNulls(v) {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (v && typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = dropNulls(x);
    return out;
  }
  return v;
}

function credentialDescriptors(list) {
  return (list || []).map((c) => ({ ...c, id: b64urlToBuf(c.id) }));
}

/** `{publicKey: PublicKeyCredentialCreationOptions JSON}` → options for credentials.create. */
export function creationOptions(options) {
  const pk = dropNulls((options && options.publicKey) || options || {});
  if (!pk.challenge || !pk.user || !pk.user.id) throw new Error("the server sent incomplete passkey options");
  const publicKey = {
    ...pk,
    challenge: b64urlToBuf(pk.challenge),
    user: { ...pk.user, id: b64urlToBuf(pk.user.id) },
  };
  if (pk.excludeCredentials) publicKey.excludeCredentials = credentialDescriptors(pk.excludeCredentials);
  return { publicKey };
}

/** `{publicKey: PublicKeyCredentialRequestOptions JSON}` → options for credentials.get. */
export function requestOptions(options) {
  const pk = dropNulls((options && options.publicKey) || options || {});
  if (!pk.challenge) throw new Error("the server sent incomplete passkey options");
  const publicKey = { ...pk, challenge: b64urlToBuf(pk.challenge) };
  if (pk.allowCredentials) publicKey.allowCredentials = credentialDescriptors(pk.allowCredentials);
  return { publicKey };
}

function supported() {
  if (!window.isSecureContext || !window.PublicKeyCredential || !navigator.credentials) {
    throw new Error("Passkeys need a secure page (https, or http://localhost) and a browser that supports WebAuthn.");
  }
}

// A DOMException from WebAuthn → an Error a person can act on.
function explain(e, what) {
  const name = e && e.name;
  if (name === "NotAllowedError") return new Error(`The ${what} was cancelled, timed out, or no matching passkey was found.`);
  if (name === "InvalidStateError") return new Error("This authenticator already holds a passkey for this account.");
  if (name === "SecurityError") return new Error("The browser refused the passkey for this site (check the server's WebAuthn origin and RP id).");
  if (name === "NotSupportedError") return new Error("This authenticator supports none of the algorithms the server accepts.");
  return new Error(`The ${what} failed: ${(e && e.message) || e}`);
}

/** Registers a passkey; returns the RegisterPublicKeyCredential JSON for enrol/finish. */
export async function createCredential(options) {
  supported();
  let cred;
  try {
    cred = await navigator.credentials.create(creationOptions(options));
  } catch (e) {
    throw explain(e, "passkey registration");
  }
  if (!cred) throw new Error("The browser returned no passkey.");
  return {
    id: cred.id,
    rawId: bufToB64url(cred.rawId),
    type: cred.type,
    response: {
      attestationObject: bufToB64url(cred.response.attestationObject),
      clientDataJSON: bufToB64url(cred.response.clientDataJSON),
    },
    extensions: {},
  };
}

/** Signs in with a passkey; returns the PublicKeyCredential JSON for login/finish. */
export async function getAssertion(options) {
  supported();
  let cred;
  try {
    cred = await navigator.credentials.get(requestOptions(options));
  } catch (e) {
    throw explain(e, "passkey sign-in");
  }
  if (!cred) throw new Error("The browser returned no passkey.");
  const r = cred.response;
  return {
    id: cred.id,
    rawId: bufToB64url(cred.rawId),
    type: cred.type,
    response: {
      authenticatorData: bufToB64url(r.authenticatorData),
      clientDataJSON: bufToB64url(r.clientDataJSON),
      signature: bufToB64url(r.signature),
      userHandle: r.userHandle && r.userHandle.byteLength ? bufToB64url(r.userHandle) : null,
    },
    extensions: {},
  };
}
