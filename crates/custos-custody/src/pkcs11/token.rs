//! The token itself: loading the PKCS#11 module once per process, a small pool of logged-in
//! sessions, and the handful of token operations the backend needs (generate, find, read the
//! public half, relabel, sign). Everything here blocks; callers run it on the blocking pool.
use super::naming::{self, Owner};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use custos_core::{CustodyError, KeyScheme};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// DER of the secp256k1 curve OID 1.3.132.0.10, the `CKA_EC_PARAMS` for `CKM_EC_KEY_PAIR_GEN`.
const SECP256K1_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
/// DER of the Ed25519 OID 1.3.101.112 (RFC 8410), the `CKA_EC_PARAMS` for
/// `CKM_EC_EDWARDS_KEY_PAIR_GEN`.
const ED25519_OID_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// DER PrintableString "edwards25519", the other encoding PKCS#11 3.0 allows; tried when a
/// token refuses the OID.
const ED25519_NAME_PARAMS: &[u8] = b"\x13\x0cedwards25519";
/// How long a request waits for a free session before the token is reported unavailable.
const SESSION_WAIT: Duration = Duration::from_secs(30);

/// Errors inside the token layer: the module's own return values, or ours.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    /// A PKCS#11 call failed.
    #[error("{0}")]
    Pkcs11(#[from] P11Error),
    /// A Custos-level failure (bad object found, wrong shape).
    #[error(transparent)]
    Custody(#[from] CustodyError),
}

impl TokenError {
    /// Whether the session that produced this error can no longer be trusted and must be
    /// closed rather than returned to the pool.
    fn breaks_session(&self) -> bool {
        matches!(
            self,
            Self::Pkcs11(P11Error::Pkcs11(
                RvError::SessionHandleInvalid
                    | RvError::SessionClosed
                    | RvError::DeviceRemoved
                    | RvError::DeviceError
                    | RvError::TokenNotPresent
                    | RvError::UserNotLoggedIn
                    | RvError::OperationActive,
                _
            ))
        )
    }
}

impl From<TokenError> for CustodyError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Custody(c) => c,
            // Return values and function names only: PKCS#11 errors never carry key material
            // or the PIN.
            TokenError::Pkcs11(P11Error::Pkcs11(
                rv @ (RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::TokenNotPresent
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::PinIncorrect
                | RvError::PinLocked),
                f,
            )) => CustodyError::Unavailable(format!("PKCS#11 token: {f}: {rv}")),
            TokenError::Pkcs11(e) => CustodyError::Internal(format!("PKCS#11: {e}")),
        }
    }
}

/// Loads and initialises `module` once per process and returns the shared context.
///
/// PKCS#11 allows one `C_Initialize` per module per process, and `C_Finalize` would pull the
/// module out from under every other user in the process. So contexts are kept in a process-wide
/// table and never finalised; a second [`super::Pkcs11Custody`] on the same module (a restart in
/// tests, two tokens on one module) shares the context and opens its own sessions.
pub(crate) fn module(path: &Path) -> Result<Pkcs11, CustodyError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    if !path.is_file() {
        return Err(CustodyError::Unavailable(format!(
            "PKCS#11 module {} not found",
            path.display()
        )));
    }
    let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut modules = lock(MODULES.get_or_init(Default::default));
    if let Some(ctx) = modules.get(&key) {
        return Ok(ctx.clone());
    }
    let unavailable =
        |e: P11Error| CustodyError::Unavailable(format!("PKCS#11 module {}: {e}", path.display()));
    let ctx = Pkcs11::new(&key).map_err(unavailable)?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Another library in this process may have initialised the module already; its state
        // is then shared, which is what we want.
        Ok(()) | Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(unavailable(e)),
    }
    modules.insert(key, ctx.clone());
    Ok(ctx)
}

/// The slot holding the initialised token labelled `label`.
pub(crate) fn find_slot(ctx: &Pkcs11, label: &str) -> Result<Slot, CustodyError> {
    let _objects = object_lock();
    let slots = ctx
        .get_slots_with_initialized_token()
        .map_err(|e| CustodyError::Unavailable(format!("PKCS#11 slot list: {e}")))?;
    let mut found = Vec::new();
    for slot in slots {
        let info = ctx
            .get_token_info(slot)
            .map_err(|e| CustodyError::Unavailable(format!("PKCS#11 token info: {e}")))?;
        if info.label().trim_end() == label {
            found.push(slot);
        }
    }
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(CustodyError::Unavailable(format!(
            "no initialised PKCS#11 token labelled {label:?}"
        ))),
        _ => Err(CustodyError::Unavailable(format!(
            "more than one PKCS#11 token labelled {label:?}"
        ))),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded state (a list of idle sessions, a counter) is consistent at every await-free
    // point, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct PoolState {
    idle: Vec<Session>,
    open: usize,
}

/// Up to `max` logged-in read/write sessions, reused across requests.
///
/// PKCS#11 sessions are single-threaded (`Send`, not `Sync`), so each request borrows one for
/// the length of its calls. Login state belongs to the application, not the session: the first
/// session's `C_Login` covers all of them, and keeping sessions open keeps it alive.
pub(crate) struct SessionPool {
    ctx: Pkcs11,
    slot: Slot,
    pin: AuthPin,
    max: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

impl SessionPool {
    /// A pool for `slot`, logging in with `pin`. Opens (and logs in) one session at once so a
    /// wrong PIN or missing token fails here, not on the first request.
    pub(crate) fn new(
        ctx: Pkcs11,
        slot: Slot,
        pin: AuthPin,
        max: usize,
    ) -> Result<Self, CustodyError> {
        let pool = Self {
            ctx,
            slot,
            pin,
            max: max.max(1),
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        };
        let first = pool.open_session()?;
        let mut st = lock(&pool.state);
        st.idle.push(first);
        st.open = 1;
        drop(st);
        Ok(pool)
    }

    fn open_session(&self) -> Result<Session, CustodyError> {
        let session = self
            .ctx
            .open_rw_session(self.slot)
            .map_err(|e| CustodyError::from(TokenError::from(e)))?;
        // C_Login updates the token's PIN counters on disk in SoftHSM2.
        let login = {
            let _objects = object_lock();
            session.login(UserType::User, Some(&self.pin))
        };
        match login {
            Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(TokenError::from(e).into()),
        }
    }

    /// Runs `f` on a pooled session. A session that fails in a way that leaves it unusable is
    /// closed instead of returned; the next borrower opens a fresh one.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, TokenError>,
    ) -> Result<T, CustodyError> {
        let session = self.acquire()?;
        let result = f(&session);
        let broken = matches!(&result, Err(e) if e.breaks_session());
        let mut st = lock(&self.state);
        if broken {
            st.open = st.open.saturating_sub(1);
            drop(st);
            drop(session);
        } else {
            st.idle.push(session);
            drop(st);
        }
        self.freed.notify_one();
        result.map_err(CustodyError::from)
    }

    fn acquire(&self) -> Result<Session, CustodyError> {
        let mut st = lock(&self.state);
        loop {
            if let Some(s) = st.idle.pop() {
                return Ok(s);
            }
            if st.open < self.max {
                st.open += 1;
                drop(st);
                return self.open_session().inspect_err(|_| {
                    lock(&self.state).open -= 1;
                    self.freed.notify_one();
                });
            }
            let (next, timeout) = self
                .freed
                .wait_timeout(st, SESSION_WAIT)
                .unwrap_or_else(|e| e.into_inner());
            st = next;
            if timeout.timed_out() && st.idle.is_empty() && st.open >= self.max {
                return Err(CustodyError::Unavailable(
                    "every PKCS#11 session is busy".into(),
                ));
            }
        }
    }

    /// The module context (for token and slot information).
    pub(crate) fn ctx(&self) -> &Pkcs11 {
        &self.ctx
    }

    /// The slot.
    pub(crate) fn slot(&self) -> Slot {
        self.slot
    }
}

/// Serialises, process-wide, every call that searches, creates, changes or destroys token
/// objects, and token-info reads; only signing runs concurrently.
///
/// SoftHSM2's file object store guards its files with `fcntl` locks, which exclude other
/// processes but not other threads: a `C_GenerateKeyPair` racing a `C_FindObjects` (which
/// re-indexes the token directory) fails with `CKR_GENERAL_ERROR` (softhsm/SoftHSMv2#573; Parsec
/// serialises for the same reason), as seen here in parallel tests even with writes alone
/// serialised. These calls happen only on key creation, rotation and cache fills, so one lock
/// costs nothing that matters.
pub(crate) fn object_lock() -> MutexGuard<'static, ()> {
    static WRITES: Mutex<()> = Mutex::new(());
    lock(&WRITES)
}

impl Drop for SessionPool {
    fn drop(&mut self) {
        // Closing the application's last session logs it out, which SoftHSM2 records in the
        // token's state: keep it away from concurrent object calls like any other token write.
        let idle = std::mem::take(&mut lock(&self.state).idle);
        let _objects = object_lock();
        drop(idle);
    }
}

/// Whether a generated pair lives on the token or only for the session.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// `CKA_TOKEN = true`: survives restarts.
    Token,
    /// `CKA_TOKEN = false`: gone when the session closes (benchmark keys).
    Session,
}

/// Generates a non-extractable, sensitive key pair on the token. Returns (private, public).
pub(crate) fn generate(
    s: &Session,
    scheme: KeyScheme,
    id: &[u8],
    label: &[u8],
    persistence: Persistence,
) -> Result<(ObjectHandle, ObjectHandle), TokenError> {
    let on_token = persistence == Persistence::Token;
    // Both halves named alike; the private one sensitive, never extractable, sign-only. `key`
    // is what describes the key itself (its curve, or its modulus size and exponent).
    let pair = |key: Vec<Attribute>| {
        let mut public = vec![
            Attribute::Token(on_token),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.to_vec()),
        ];
        public.extend(key);
        let private = vec![
            Attribute::Token(on_token),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Derive(false),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.to_vec()),
        ];
        (public, private)
    };
    let template = |params: &[u8]| pair(vec![Attribute::EcParams(params.to_vec())]);
    match scheme {
        KeyScheme::Secp256k1Ecdsa => {
            let (public, private) = template(SECP256K1_PARAMS);
            let (pub_h, priv_h) =
                s.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)?;
            Ok((priv_h, pub_h))
        }
        KeyScheme::Ed25519 => {
            let (public, private) = template(ED25519_OID_PARAMS);
            let generated =
                match s.generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private) {
                    Err(P11Error::Pkcs11(
                        RvError::TemplateInconsistent
                        | RvError::AttributeValueInvalid
                        | RvError::CurveNotSupported
                        | RvError::DomainParamsInvalid,
                        _,
                    )) => {
                        let (public, private) = template(ED25519_NAME_PARAMS);
                        s.generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private)
                    }
                    other => other,
                };
            let (pub_h, priv_h) = generated?;
            Ok((priv_h, pub_h))
        }
        KeyScheme::RsaPssSha256 => {
            let (public, mut private) = pair(vec![
                Attribute::ModulusBits(u64::from(crate::rsa_key::BITS).into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ]);
            private.push(Attribute::Decrypt(false));
            let (pub_h, priv_h) =
                s.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)?;
            Ok((priv_h, pub_h))
        }
        KeyScheme::Secp256k1Schnorr => Err(super::unsupported(scheme).into()),
    }
}

/// Private-key objects carrying exactly `label`.
pub(crate) fn find_private(s: &Session, label: &[u8]) -> Result<Vec<ObjectHandle>, TokenError> {
    Ok(s.find_objects(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::Label(label.to_vec()),
    ])?)
}

/// The `CKA_ID` of an object.
pub(crate) fn object_id(s: &Session, h: ObjectHandle) -> Result<Vec<u8>, TokenError> {
    for attr in s.get_attributes(h, &[AttributeType::Id])? {
        if let Attribute::Id(id) = attr {
            return Ok(id);
        }
    }
    Err(internal("key object has no CKA_ID"))
}

/// The public-key object paired with `id`.
pub(crate) fn find_public(s: &Session, id: &[u8]) -> Result<ObjectHandle, TokenError> {
    let found = s.find_objects(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::Id(id.to_vec()),
    ])?;
    match found.as_slice() {
        [h] => Ok(*h),
        [] => Err(internal("public half of a key pair is missing")),
        _ => Err(internal("more than one public key object for one key id")),
    }
}

/// The public key of a public-key object, in the encoding of
/// [`custos_core::PublicKeyInfo::public_key`] before compression: the raw point (32 bytes for
/// Ed25519, 65-byte uncompressed SEC1 for secp256k1).
pub(crate) fn public_point(
    s: &Session,
    h: ObjectHandle,
    scheme: KeyScheme,
) -> Result<Vec<u8>, TokenError> {
    let expected = match scheme {
        KeyScheme::Ed25519 => 32,
        _ => 65,
    };
    for attr in s.get_attributes(h, &[AttributeType::EcPoint])? {
        if let Attribute::EcPoint(p) = attr {
            return unwrap_ec_point(&p, expected)
                .ok_or_else(|| internal("CKA_EC_POINT has an unexpected encoding"));
        }
    }
    Err(internal("public key object has no CKA_EC_POINT"))
}

/// The DER `SubjectPublicKeyInfo` of an RSA public-key object, from its `CKA_MODULUS` and
/// `CKA_PUBLIC_EXPONENT`.
pub(crate) fn public_rsa(s: &Session, h: ObjectHandle) -> Result<Vec<u8>, TokenError> {
    let (mut n, mut e) = (None, None);
    for attr in s.get_attributes(h, &[AttributeType::Modulus, AttributeType::PublicExponent])? {
        match attr {
            Attribute::Modulus(v) => n = Some(v),
            Attribute::PublicExponent(v) => e = Some(v),
            _ => {}
        }
    }
    match (n, e) {
        (Some(n), Some(e)) => Ok(crate::rsa_key::spki_from_components(&n, &e)?),
        _ => Err(internal("RSA public key object has no modulus or exponent")),
    }
}

/// `CKA_EC_POINT` is specified as a DER OCTET STRING around the point, but some modules return
/// the bare point; accept both, and nothing else.
fn unwrap_ec_point(p: &[u8], expected: usize) -> Option<Vec<u8>> {
    if p.len() == expected {
        return Some(p.to_vec());
    }
    // Short-form DER length suffices: both points are under 128 bytes.
    match p {
        [0x04, len, rest @ ..] if usize::from(*len) == expected && rest.len() == expected => {
            Some(rest.to_vec())
        }
        _ => None,
    }
}

/// Rewrites the label of every object carrying `id` (both halves of the pair).
pub(crate) fn relabel(s: &Session, id: &[u8], label: &[u8]) -> Result<(), TokenError> {
    for h in s.find_objects(&[Attribute::Id(id.to_vec())])? {
        s.update_attributes(h, &[Attribute::Label(label.to_vec())])?;
    }
    Ok(())
}

/// `C_SignInit` + `C_Sign` with the scheme's mechanism: `CKM_EDDSA` over the message for
/// Ed25519, `CKM_ECDSA` over the 32-byte digest for secp256k1 (raw `r || s`, not yet low-S),
/// `CKM_SHA256_RSA_PKCS_PSS` (MGF1-SHA-256, 32-byte salt) over the message for RSA.
pub(crate) fn sign_raw(
    s: &Session,
    scheme: KeyScheme,
    key: ObjectHandle,
    data: &[u8],
) -> Result<Vec<u8>, TokenError> {
    let mechanism = match scheme {
        KeyScheme::Ed25519 => Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
        KeyScheme::Secp256k1Ecdsa => Mechanism::Ecdsa,
        KeyScheme::RsaPssSha256 => Mechanism::Sha256RsaPkcsPss(PkcsPssParams {
            hash_alg: MechanismType::SHA256,
            mgf: PkcsMgfType::MGF1_SHA256,
            s_len: 32u64.into(),
        }),
        KeyScheme::Secp256k1Schnorr => return Err(super::unsupported(scheme).into()),
    };
    Ok(s.sign(&mechanism, key, data)?)
}

/// Generates a pair labelled as `owner`'s active key for `scheme`. Returns the key id and the
/// private handle.
pub(crate) fn create_active(
    s: &Session,
    owner: Owner,
    scheme: KeyScheme,
    now_ms: i64,
) -> Result<(String, ObjectHandle), TokenError> {
    let key_id = naming::new_key_id(now_ms);
    let id = naming::object_id(owner, scheme, &key_id);
    let (private, _) = generate(
        s,
        scheme,
        &id,
        &naming::active_label(owner, scheme),
        Persistence::Token,
    )?;
    Ok((key_id, private))
}

fn internal(msg: &str) -> TokenError {
    TokenError::Custody(CustodyError::Internal(msg.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_points_are_accepted_bare_or_der_wrapped_only() {
        let point = [7u8; 32];
        assert_eq!(unwrap_ec_point(&point, 32), Some(point.to_vec()));
        let der = [&[0x04, 32][..], &point].concat();
        assert_eq!(unwrap_ec_point(&der, 32), Some(point.to_vec()));
        assert_eq!(unwrap_ec_point(&der[..33], 32), None);
        assert_eq!(unwrap_ec_point(&[0x04, 31, 1, 2], 32), None);
        let mut sec1 = vec![0x04];
        sec1.extend([9u8; 64]);
        assert_eq!(unwrap_ec_point(&sec1, 65), Some(sec1.clone()));
        let der = [&[0x04, 65][..], &sec1].concat();
        assert_eq!(unwrap_ec_point(&der, 65), Some(sec1));
    }
}
