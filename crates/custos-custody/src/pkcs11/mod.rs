//! The PKCS#11 custody backend (feature `pkcs11`): agent keys generated on, and never leaving,
//! a PKCS#11 token — an HSM, or SoftHSM2 for development and tests.
//!
//! [`Pkcs11Custody`] implements [`custos_core::Custody`] with the same conventions as the enclave
//! ([`crate::signer`]): Ed25519 public keys and Solana addresses, 33-byte compressed secp256k1
//! keys with EIP-55 addresses, `r || s || v` ECDSA over the EIP-191 digest, always low-S. It
//! applies the same boundary check ([`crate::boundary_check::check_request`]) before every
//! signature, so a compromised server gets no more out of an HSM than out of the enclave.
//!
//! - **Keys** are generated on the token (`CKM_EC_KEY_PAIR_GEN` on secp256k1,
//!   `CKM_EC_EDWARDS_KEY_PAIR_GEN` on edwards25519, `CKM_RSA_PKCS_KEY_PAIR_GEN` for an agent's
//!   2048-bit Kalshi key) with `CKA_TOKEN`, `CKA_PRIVATE`,
//!   `CKA_SENSITIVE` set and `CKA_EXTRACTABLE` clear, so no PKCS#11 call can read them out. They
//!   are named as [`naming`] describes and found again after a restart by label.
//! - **Signing** is `C_SignInit` + `C_Sign` on a pooled, logged-in session with a cached object
//!   handle: `CKM_EDDSA` for Ed25519, `CKM_ECDSA` over the 32-byte digest for secp256k1,
//!   `CKM_SHA256_RSA_PKCS_PSS` over a Kalshi request's text (checked with OpenSSL). The
//!   token's ECDSA output is normalised to low-S and its recovery id found by recovering the
//!   public key from each candidate (0, 1) and comparing it with the key's own, which also checks
//!   the signature; Ed25519 output is checked with `verify_strict` before it is returned, so a
//!   faulty token never hands out a bad signature.
//! - **Rotation** relabels the old pair `…:receive-only:{until_ms}` (the grace period, default
//!   30 days, is in the label itself) and generates a new active pair; no metadata file exists.
//! - **The identity key** (attestation documents, audit checkpoints) is one more Ed25519 pair on
//!   the token, owner `identity`.
//! - **Attestation**: a `pkcs11` document, honest that it is not hardware-backed; see
//!   [`statement`].
//!
//! What it deliberately does not do:
//! - **BIP-340 Schnorr**: PKCS#11 has no BIP-340 mechanism and `CKM_ECDSA` cannot produce one,
//!   so every `Secp256k1Schnorr` request is refused with [`CustodyError::InvalidPayload`]; Taproot
//!   keys stay with the enclave backend.
//! - It assumes one Custos instance per token: another process rotating the same agent's key
//!   would not invalidate this instance's handle cache.
//! - It never calls `C_Finalize` (see [`token::module`]).
mod boundary;
mod identity;
mod naming;
mod statement;
mod token;

pub use boundary::run_pkcs11;
pub use statement::{verify_pkcs11_attestation, TokenDescription, FORMAT};

use crate::boundary_check;
use crate::signer::{eip191_digest, evm_address, solana_address};
use cryptoki::object::ObjectHandle;
use custos_core::{
    AgentId, AttestationDocument, AuditCheckpoint, Clock, Custody, CustodyError, KeyScheme,
    KeyStatus, PublicKeyInfo, SecretString, SignPayload, SignRequest, Signature, SystemClock,
};
use naming::Owner;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use token::{Persistence, SessionPool, TokenError};
use tracing::info;

/// Where Debian's `softhsm2` package installs the SoftHSM2 module.
pub const SOFTHSM2_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// Longest nonce accepted for an attestation document (as the enclave).
pub const MAX_NONCE_LEN: usize = crate::enclave::MAX_NONCE_LEN;

/// How to reach the token.
#[derive(Clone, Debug)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (`.so`).
    pub module: PathBuf,
    /// Label of the initialised token to use.
    pub token_label: String,
    /// The user PIN.
    pub pin: SecretString,
    /// Logged-in sessions kept open and shared by requests. Default 4.
    pub sessions: usize,
    /// How long a rotated-out key stays receive-only. Default 30 days.
    pub rotation_grace: Duration,
    /// Where the owner-signed policy book is kept; `None` keeps it in memory only.
    pub policy_dir: Option<PathBuf>,
    /// The boundary's decision log (signed by the identity key on the token); `None` keeps
    /// none (an in-process backend in tests).
    pub decision_log: Option<PathBuf>,
    /// The boundary's freeze list (frozen agents, the kill switch); `None` keeps it in memory.
    pub freeze_file: Option<PathBuf>,
    /// Owner keys that may enrol a wallet's first policy (see `EnclaveConfig`).
    pub enrolment_keys: Vec<custos_signer::OwnerKey>,
}

impl Pkcs11Config {
    /// Defaults: 4 sessions, 30-day grace.
    pub fn new(
        module: impl Into<PathBuf>,
        token_label: impl Into<String>,
        pin: SecretString,
    ) -> Self {
        Self {
            module: module.into(),
            token_label: token_label.into(),
            pin,
            sessions: 4,
            rotation_grace: Duration::from_secs(30 * 24 * 3600),
            policy_dir: None,
            decision_log: None,
            freeze_file: None,
            enrolment_keys: Vec::new(),
        }
    }
}

/// Whether the token can hold keys of `scheme`: Ed25519, secp256k1 ECDSA and the Kalshi RSA
/// keys (`CKM_SHA256_RSA_PKCS_PSS`).
pub(crate) fn supported(scheme: KeyScheme) -> bool {
    scheme != KeyScheme::Secp256k1Schnorr
}

/// The error for every request of a scheme the token cannot serve.
pub(crate) fn unsupported(scheme: KeyScheme) -> CustodyError {
    CustodyError::InvalidPayload(format!(
        "{} is not supported by the PKCS#11 backend (PKCS#11 defines no BIP-340 mechanism); \
         keep Taproot keys in the enclave backend",
        scheme.as_str()
    ))
}

/// A public key ready to check the token's output.
enum Verifier {
    Ed25519(ed25519_dalek::VerifyingKey),
    Ecdsa(k256::ecdsa::VerifyingKey),
    /// The DER public key.
    Rsa(Vec<u8>),
}

/// A key pair found on the token, with everything a signature needs cached.
struct KeyEntry {
    key_id: String,
    created_ms: i64,
    scheme: KeyScheme,
    private: ObjectHandle,
    public_key: Vec<u8>,
    address: String,
    verifier: Verifier,
}

impl KeyEntry {
    fn info(&self) -> PublicKeyInfo {
        PublicKeyInfo {
            key_id: self.key_id.clone(),
            scheme: self.scheme,
            public_key: self.public_key.clone(),
            address: self.address.clone(),
            created_at_ms: self.created_ms,
            status: KeyStatus::Active,
        }
    }
}

/// Custody on a PKCS#11 token. Cheap to clone; clones share sessions and caches.
#[derive(Clone)]
pub struct Pkcs11Custody {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pkcs11Custody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Custody")
            .field("token", &self.inner.token.label)
            .field("key_id", &self.inner.identity.key_id)
            .finish_non_exhaustive()
    }
}

struct Inner {
    pool: Arc<SessionPool>,
    /// Active keys by (agent, scheme): a signature is one pooled session and one cached handle.
    keys: Mutex<HashMap<(AgentId, KeyScheme), Arc<KeyEntry>>>,
    /// Serialises key creation, rotation and cache fills, so two requests never both create a
    /// key for the same agent or observe a half-done rotation.
    write_lock: Mutex<()>,
    identity: KeyEntry,
    grace_ms: i64,
    measurement: String,
    token: TokenDescription,
    clock: Arc<dyn Clock>,
    /// The owner-signed policies signed under.
    book: custos_signer::PolicyBook,
    /// Every signature and envelope decided, when configured.
    decisions: Option<custos_signer::decisions::DecisionLog>,
    /// Frozen agents and the kill switch.
    freeze: custos_signer::FreezeList,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing holding these locks leaves state half-written in memory.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pkcs11Custody {
    /// Loads the module, finds the token, logs in, and loads (or on first use creates) the
    /// identity key. Blocking work runs on the blocking pool.
    pub async fn open(cfg: Pkcs11Config) -> Result<Self, CustodyError> {
        tokio::task::spawn_blocking(move || Self::open_blocking(&cfg))
            .await
            .map_err(|e| CustodyError::Internal(format!("pkcs11 open: {e}")))?
    }

    /// As [`Pkcs11Custody::open`], on the calling thread.
    pub fn open_blocking(cfg: &Pkcs11Config) -> Result<Self, CustodyError> {
        let ctx = token::module(&cfg.module)?;
        let slot = retry_token_info(|| token::find_slot(&ctx, &cfg.token_label))?;
        let measurement = std::fs::read(&cfg.module)
            .map(|b| hex::encode(custos_core::sha256(&b)))
            .map_err(|e| CustodyError::Unavailable(format!("read PKCS#11 module: {e}")))?;
        let pin = cryptoki::types::AuthPin::from(cfg.pin.expose());
        let pool = Arc::new(SessionPool::new(ctx, slot, pin, cfg.sessions)?);
        let token = retry_token_info(|| describe(&pool))?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let identity = {
            // Instances opened at once in one process (restarts in tests, two tokens on one
            // module) must not both create an identity key; across processes, one Custos
            // instance per token is assumed (see the module docs).
            static IDENTITY: Mutex<()> = Mutex::new(());
            let _one_at_a_time = lock(&IDENTITY);
            load_or_create(&pool, Owner::Identity, KeyScheme::Ed25519, clock.now_ms())?
        };
        let book = match &cfg.policy_dir {
            Some(dir) => custos_signer::PolicyBook::open(dir, cfg.enrolment_keys.clone())
                .map_err(crate::recorded::envelope_error)?,
            None => custos_signer::PolicyBook::in_memory(cfg.enrolment_keys.clone()),
        };
        let decisions = match (&cfg.decision_log, &identity.verifier) {
            (None, _) => None,
            (Some(path), Verifier::Ed25519(vk)) => Some(
                custos_signer::decisions::DecisionLog::open(
                    path,
                    identity::TokenIdentity {
                        pool: pool.clone(),
                        private: identity.private,
                        vk: *vk,
                    },
                )
                .map_err(|e| CustodyError::Internal(format!("decision log: {e}")))?,
            ),
            (Some(_), Verifier::Ecdsa(_) | Verifier::Rsa(_)) => {
                return Err(CustodyError::Internal(
                    "the token's identity key is not Ed25519".into(),
                ))
            }
        };
        let freeze = match &cfg.freeze_file {
            Some(path) => custos_signer::FreezeList::open(path)
                .map_err(|e| CustodyError::Internal(e.to_string()))?,
            None => custos_signer::FreezeList::in_memory(),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                book,
                decisions,
                freeze,
                pool,
                keys: Mutex::new(HashMap::new()),
                write_lock: Mutex::new(()),
                identity,
                grace_ms: i64::try_from(cfg.rotation_grace.as_millis()).unwrap_or(i64::MAX),
                measurement,
                token,
                clock,
            }),
        })
    }

    /// The boundary's Ed25519 identity public key (signs attestation documents and audit
    /// checkpoints).
    pub fn identity_public_key(&self) -> Vec<u8> {
        self.inner.identity.public_key.clone()
    }

    /// What the token says about itself.
    pub fn token_description(&self) -> &TokenDescription {
        &self.inner.token
    }

    /// Benchmark hook: a throwaway key pair of `scheme` and `kind` for measuring the token's raw
    /// signing cost without the pipeline (labelled `custos:v1:bench:…`; no agent key is touched;
    /// destroyed when the returned key is dropped). Created once, so the loops that sign with it
    /// do not change the token while a server on the same token is being measured. Blocking:
    /// call it from a plain or blocking thread.
    pub fn raw_bench_key(
        &self,
        scheme: KeyScheme,
        kind: RawKey,
    ) -> Result<RawBenchKey, CustodyError> {
        if !matches!(scheme, KeyScheme::Ed25519 | KeyScheme::Secp256k1Ecdsa) {
            return Err(CustodyError::InvalidPayload(format!(
                "no raw benchmark key of {}",
                scheme.as_str()
            )));
        }
        let persistence = match kind {
            RawKey::Session => Persistence::Session,
            RawKey::Token => Persistence::Token,
        };
        let tag = format!("custos:v1:bench:{}", scheme.as_str()).into_bytes();
        let (private, public) = self.inner.pool.with(|s| {
            let _objects = token::object_lock();
            token::generate(s, scheme, &tag, &tag, persistence)
        })?;
        Ok(RawBenchKey {
            inner: self.inner.clone(),
            scheme,
            private,
            public,
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, CustodyError> + Send + 'static,
    ) -> Result<T, CustodyError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| CustodyError::Internal(format!("pkcs11 task: {e}")))?
    }
}

/// A benchmark key on the token ([`Pkcs11Custody::raw_bench_key`]); destroyed on drop.
pub struct RawBenchKey {
    inner: Arc<Inner>,
    scheme: KeyScheme,
    private: cryptoki::object::ObjectHandle,
    public: cryptoki::object::ObjectHandle,
}

impl std::fmt::Debug for RawBenchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBenchKey")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl RawBenchKey {
    /// On one pooled session, `C_SignInit` + `C_Sign` `iterations` times over a fixed 32-byte
    /// input, with no boundary check, no low-S normalisation and no recovery; each call's
    /// latency. Blocking.
    pub fn sign_loop(&self, iterations: usize) -> Result<Vec<Duration>, CustodyError> {
        let input = custos_core::sha256(b"custos raw sign loop");
        self.inner.pool.with(|s| {
            let mut out = Vec::with_capacity(iterations);
            for _ in 0..iterations {
                let t = Instant::now();
                token::sign_raw(s, self.scheme, self.private, &input)?;
                out.push(t.elapsed());
            }
            Ok(out)
        })
    }
}

impl Drop for RawBenchKey {
    fn drop(&mut self) {
        let gone = self.inner.pool.with(|s| {
            let _objects = token::object_lock();
            s.destroy_object(self.private)
                .and_then(|()| s.destroy_object(self.public))
                .map_err(TokenError::from)
        });
        if let Err(e) = gone {
            tracing::warn!(error = %e, "benchmark key not destroyed");
        }
    }
}

/// The kind of key [`Pkcs11Custody::raw_bench_key`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKey {
    /// `CKA_TOKEN = false`: lives in the session's memory only.
    Session,
    /// `CKA_TOKEN = true`, as every agent key is: a persistent token object (on SoftHSM2, a
    /// file it keeps encrypted under the token's key and checks for changes on use).
    Token,
}

/// Runs a token-info read up to three times. SoftHSM2 occasionally answers `C_GetTokenInfo`
/// with `CKR_GENERAL_ERROR` while another process (another Custos instance, `pkcs11-tool`)
/// is rewriting the token's state file; it happens only at start-up, and a second read
/// succeeds. Other failures (no such token, wrong PIN) are returned at once.
fn retry_token_info<T>(mut f: impl FnMut() -> Result<T, CustodyError>) -> Result<T, CustodyError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match f() {
            Err(CustodyError::Unavailable(m)) if attempt < 3 && m.contains("GetTokenInfo") => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn describe(pool: &SessionPool) -> Result<TokenDescription, CustodyError> {
    let unavailable =
        |e: cryptoki::error::Error| CustodyError::Unavailable(format!("PKCS#11: {e}"));
    let _objects = token::object_lock();
    let t = pool
        .ctx()
        .get_token_info(pool.slot())
        .map_err(unavailable)?;
    let s = pool.ctx().get_slot_info(pool.slot()).map_err(unavailable)?;
    Ok(TokenDescription {
        label: t.label().trim_end().to_string(),
        manufacturer: t.manufacturer_id().trim_end().to_string(),
        model: t.model().trim_end().to_string(),
        serial: t.serial_number().trim_end().to_string(),
        hardware_slot_claimed: s.hardware_slot(),
    })
}

/// Reads a pair from the token given its private handle. The `CKA_ID` must name the owner and
/// scheme the label did, so an object relabelled to impersonate another agent's key is refused.
fn load_entry(
    s: &cryptoki::session::Session,
    owner: Owner,
    scheme: KeyScheme,
    private: ObjectHandle,
) -> Result<KeyEntry, TokenError> {
    let bad = |m: &str| TokenError::Custody(CustodyError::Internal(m.into()));
    let id = token::object_id(s, private)?;
    let key_id = naming::key_id_of(owner, scheme, &id)
        .ok_or_else(|| bad("key object's CKA_ID does not match its label"))?;
    let created_ms = naming::created_ms(&key_id).unwrap_or_default();
    let public = token::find_public(s, &id)?;
    let (public_key, address, verifier) = match scheme {
        KeyScheme::RsaPssSha256 => {
            let der = token::public_rsa(s, public)?;
            let fingerprint = hex::encode(custos_core::sha256(&der));
            (der.clone(), fingerprint, Verifier::Rsa(der))
        }
        KeyScheme::Ed25519 => {
            let point = token::public_point(s, public, scheme)?;
            let bytes: [u8; 32] = point
                .as_slice()
                .try_into()
                .map_err(|_| bad("ed25519 public key is not 32 bytes"))?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map_err(|_| bad("token returned an invalid ed25519 public key"))?;
            (
                bytes.to_vec(),
                solana_address(&bytes),
                Verifier::Ed25519(vk),
            )
        }
        KeyScheme::Secp256k1Ecdsa => {
            let point = token::public_point(s, public, scheme)?;
            let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                .map_err(|_| bad("token returned an invalid secp256k1 public key"))?;
            (
                vk.to_encoded_point(true).as_bytes().to_vec(),
                evm_address(&vk),
                Verifier::Ecdsa(vk),
            )
        }
        KeyScheme::Secp256k1Schnorr => return Err(unsupported(scheme).into()),
    };
    Ok(KeyEntry {
        key_id,
        created_ms,
        scheme,
        private,
        public_key,
        address,
        verifier,
    })
}

/// The owner's active pair on the token, if any.
fn find_active(
    pool: &SessionPool,
    owner: Owner,
    scheme: KeyScheme,
) -> Result<Option<KeyEntry>, CustodyError> {
    pool.with(|s| {
        let _objects = token::object_lock();
        match token::find_private(s, &naming::active_label(owner, scheme))?.as_slice() {
            [] => Ok(None),
            [h] => load_entry(s, owner, scheme, *h).map(Some),
            _ => Err(CustodyError::Internal(format!(
                "more than one active {} key for {owner}",
                scheme.as_str()
            ))
            .into()),
        }
    })
}

fn create(
    pool: &SessionPool,
    owner: Owner,
    scheme: KeyScheme,
    now_ms: i64,
) -> Result<KeyEntry, CustodyError> {
    pool.with(|s| {
        let _objects = token::object_lock();
        let (_, private) = token::create_active(s, owner, scheme, now_ms)?;
        load_entry(s, owner, scheme, private)
    })
}

fn load_or_create(
    pool: &SessionPool,
    owner: Owner,
    scheme: KeyScheme,
    now_ms: i64,
) -> Result<KeyEntry, CustodyError> {
    match find_active(pool, owner, scheme)? {
        Some(k) => Ok(k),
        None => {
            let k = create(pool, owner, scheme, now_ms)?;
            info!(owner = %owner, scheme = scheme.as_str(), key_id = %k.key_id, "PKCS#11 key created");
            Ok(k)
        }
    }
}

/// Normalises the token's `r || s` to low-S and appends the recovery id (0 or 1) under which
/// the digest recovers to `vk`; a signature that recovers to no candidate is refused.
fn finish_ecdsa(
    vk: &k256::ecdsa::VerifyingKey,
    digest: &[u8; 32],
    raw: &[u8],
) -> Result<Vec<u8>, CustodyError> {
    use k256::ecdsa::{RecoveryId, Signature as EcdsaSig, VerifyingKey};
    let sig = EcdsaSig::from_slice(raw)
        .map_err(|_| CustodyError::Internal("token returned a malformed ECDSA signature".into()))?;
    let sig = sig.normalize_s().unwrap_or(sig);
    // Ids 2 and 3 (r reduced mod n) are unrepresentable in EVM `v` and occur with probability
    // ~2^-128; treating them as failure is correct.
    let recid = [false, true]
        .into_iter()
        .map(|odd| RecoveryId::new(odd, false))
        .find(|id| VerifyingKey::recover_from_prehash(digest, &sig, *id).is_ok_and(|k| &k == vk))
        .ok_or_else(|| {
            CustodyError::Internal("token's ECDSA signature does not verify under its key".into())
        })?;
    let mut out = sig.to_bytes().to_vec();
    out.push(recid.to_byte());
    Ok(out)
}

impl Inner {
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A session answers.
    fn health(&self) -> Result<(), CustodyError> {
        self.pool
            .with(|s| s.get_session_info().map(|_| ()).map_err(TokenError::from))
    }

    fn active(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<Option<Arc<KeyEntry>>, CustodyError> {
        if let Some(k) = lock(&self.keys).get(&(agent, scheme)) {
            return Ok(Some(k.clone()));
        }
        let _w = lock(&self.write_lock);
        self.active_locked(agent, scheme)
    }

    /// As [`Inner::active`]; the caller holds the write lock.
    fn active_locked(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<Option<Arc<KeyEntry>>, CustodyError> {
        if let Some(k) = lock(&self.keys).get(&(agent, scheme)) {
            return Ok(Some(k.clone()));
        }
        let Some(entry) = find_active(&self.pool, Owner::Agent(agent), scheme)? else {
            return Ok(None);
        };
        let entry = Arc::new(entry);
        lock(&self.keys).insert((agent, scheme), entry.clone());
        Ok(Some(entry))
    }

    fn create_key(&self, agent: AgentId, scheme: KeyScheme) -> Result<PublicKeyInfo, CustodyError> {
        if !supported(scheme) {
            return Err(unsupported(scheme));
        }
        let _w = lock(&self.write_lock);
        if let Some(k) = self.active_locked(agent, scheme)? {
            return Ok(k.info());
        }
        let entry = Arc::new(create(&self.pool, Owner::Agent(agent), scheme, self.now())?);
        lock(&self.keys).insert((agent, scheme), entry.clone());
        info!(agent = %agent, scheme = scheme.as_str(), key_id = %entry.key_id, "PKCS#11 key created");
        Ok(entry.info())
    }

    fn public_key(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<Option<PublicKeyInfo>, CustodyError> {
        if !supported(scheme) {
            return Err(unsupported(scheme));
        }
        Ok(self.active(agent, scheme)?.map(|k| k.info()))
    }

    fn sign_with(&self, key: &KeyEntry, message: &[u8]) -> Result<Vec<u8>, CustodyError> {
        match &key.verifier {
            Verifier::Ed25519(vk) => {
                identity::sign_ed25519(&self.pool, key.private, vk, message).map(Vec::from)
            }
            Verifier::Ecdsa(vk) => {
                let digest = eip191_digest(message);
                let raw = self.pool.with(|s| {
                    token::sign_raw(s, KeyScheme::Secp256k1Ecdsa, key.private, &digest)
                })?;
                finish_ecdsa(vk, &digest, &raw)
            }
            Verifier::Rsa(_) => Err(CustodyError::InvalidPayload(
                "the rsa key signs kalshi requests only".into(),
            )),
        }
    }

    /// [`Inner::sign`], recorded in the decision log (when there is one) before it is answered.
    fn sign_recorded(&self, req: &SignRequest) -> Result<Signature, CustodyError> {
        crate::recorded::sign(self.decisions.as_ref(), self.now(), req, |v| {
            self.sign(req, v)
        })
    }

    /// Verifies and keeps an envelope, recorded like a signature.
    fn submit_recorded(
        &self,
        envelope: &custos_core::PolicyJson,
    ) -> Result<custos_core::PolicyApplied, CustodyError> {
        crate::recorded::submit(self.decisions.as_ref(), &self.book, self.now(), envelope)
    }

    fn sign(
        &self,
        req: &SignRequest,
        version: &mut Option<u64>,
    ) -> Result<Signature, CustodyError> {
        if !supported(req.scheme) {
            return Err(unsupported(req.scheme));
        }
        if let Some(why) = self.freeze.refusal(req.agent_id) {
            return Err(CustodyError::PolicyRefused(why));
        }
        let policy = self
            .book
            .effective(req.agent_id, self.clock.now_ms())
            .map_err(crate::recorded::envelope_error)?;
        *version = Some(policy.version);
        boundary_check::check_request(&policy.document, req)?;
        let key = self
            .active(req.agent_id, req.scheme)?
            .ok_or(CustodyError::NoKey {
                agent: req.agent_id,
                scheme: req.scheme,
            })?;
        let bytes = match &req.payload {
            SignPayload::Message { bytes } => self.sign_with(&key, bytes)?,
            SignPayload::SolanaTransaction { bytes } => {
                let message = boundary_check::solana_message_for(req.scheme, &key.address, bytes)?;
                self.sign_with(&key, &message)?
            }
            SignPayload::EvmTransaction { .. }
            | SignPayload::Eip712 { .. }
            | SignPayload::RawHash { .. } => {
                let digest = boundary_check::evm_digest_for(req.scheme, &req.payload)?;
                let Verifier::Ecdsa(vk) = &key.verifier else {
                    return Err(CustodyError::InvalidPayload(
                        "only the secp256k1 ecdsa key signs evm digests".into(),
                    ));
                };
                let raw = self.pool.with(|s| {
                    token::sign_raw(s, KeyScheme::Secp256k1Ecdsa, key.private, &digest)
                })?;
                finish_ecdsa(vk, &digest, &raw)?
            }
            SignPayload::KalshiRequest { request } => {
                let text = boundary_check::kalshi_text(request, self.clock.now_ms())?;
                let Verifier::Rsa(der) = &key.verifier else {
                    return Err(CustodyError::InvalidPayload(
                        "kalshi requests are signed with the rsa_pss_sha256 key".into(),
                    ));
                };
                let sig = self
                    .pool
                    .with(|s| token::sign_raw(s, KeyScheme::RsaPssSha256, key.private, &text))?;
                // The token's output is checked like every signature it makes.
                if !crate::rsa_key::verify_pss(der, &text, &sig) {
                    return Err(CustodyError::Internal(
                        "the token's RSA-PSS signature does not verify".into(),
                    ));
                }
                sig
            }
            _ => {
                return Err(CustodyError::InvalidPayload(
                    "payload passed the check but has no signer".into(),
                ))
            }
        };
        Ok(Signature {
            key_id: key.key_id.clone(),
            scheme: req.scheme,
            bytes,
            public_key: key.public_key.clone(),
        })
    }

    fn set_frozen(
        &self,
        target: custos_core::FreezeTarget,
        frozen: bool,
    ) -> Result<custos_core::FreezeState, CustodyError> {
        self.freeze
            .set(target, frozen)
            .map_err(|e| CustodyError::Internal(e.to_string()))
    }

    fn rotate(&self, agent: AgentId, scheme: KeyScheme) -> Result<PublicKeyInfo, CustodyError> {
        if !supported(scheme) {
            return Err(unsupported(scheme));
        }
        let _w = lock(&self.write_lock);
        let old = self
            .active_locked(agent, scheme)?
            .ok_or(CustodyError::NoKey { agent, scheme })?;
        let now = self.now();
        let owner = Owner::Agent(agent);
        // Old key first: a crash between the two steps leaves no active key (create_key makes
        // one), never two.
        let label = naming::receive_only_label(owner, scheme, now.saturating_add(self.grace_ms));
        self.pool.with(|s| {
            let _objects = token::object_lock();
            token::relabel(s, &naming::object_id(owner, scheme, &old.key_id), &label)
        })?;
        lock(&self.keys).remove(&(agent, scheme));
        let entry = Arc::new(create(&self.pool, owner, scheme, now)?);
        lock(&self.keys).insert((agent, scheme), entry.clone());
        info!(agent = %agent, scheme = scheme.as_str(), old = %old.key_id,
            new = %entry.key_id, "PKCS#11 key rotated");
        Ok(entry.info())
    }

    fn attestation(&self, nonce: &[u8]) -> Result<AttestationDocument, CustodyError> {
        if nonce.len() > MAX_NONCE_LEN {
            return Err(CustodyError::InvalidPayload(format!(
                "nonce longer than {MAX_NONCE_LEN} bytes"
            )));
        }
        let public: [u8; 32] = self
            .identity
            .public_key
            .as_slice()
            .try_into()
            .map_err(|_| CustodyError::Internal("identity key is not Ed25519".into()))?;
        statement::document(
            &self.measurement,
            &self.token,
            nonce,
            self.now(),
            &public,
            |body| self.sign_with(&self.identity, body),
        )
    }

    fn checkpoint(&self, seq: u64, head_hash: [u8; 32]) -> Result<AuditCheckpoint, CustodyError> {
        let head_hash = hex::encode(head_hash);
        let timestamp_ms = self.now();
        let sig = self.sign_with(
            &self.identity,
            &AuditCheckpoint::signed_bytes(seq, &head_hash, timestamp_ms),
        )?;
        Ok(AuditCheckpoint {
            seq,
            head_hash,
            timestamp_ms,
            public_key: hex::encode(&self.identity.public_key),
            signature: hex::encode(sig),
        })
    }
}

#[async_trait::async_trait]
impl Custody for Pkcs11Custody {
    async fn create_key(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<PublicKeyInfo, CustodyError> {
        self.blocking(move |i| i.create_key(agent, scheme)).await
    }

    async fn public_key(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<Option<PublicKeyInfo>, CustodyError> {
        self.blocking(move |i| i.public_key(agent, scheme)).await
    }

    async fn sign(&self, req: SignRequest) -> Result<Signature, CustodyError> {
        self.blocking(move |i| i.sign_recorded(&req)).await
    }

    async fn submit_policy(
        &self,
        envelope: custos_core::PolicyJson,
    ) -> Result<custos_core::PolicyApplied, CustodyError> {
        self.blocking(move |i| i.submit_recorded(&envelope)).await
    }

    async fn held_policy(
        &self,
        agent: AgentId,
    ) -> Result<Option<custos_core::HeldPolicy>, CustodyError> {
        self.blocking(move |i| {
            i.book
                .held(agent, i.now())
                .map_err(crate::recorded::envelope_error)
        })
        .await
    }

    async fn attestation(&self, nonce: &[u8]) -> Result<AttestationDocument, CustodyError> {
        let nonce = nonce.to_vec();
        self.blocking(move |i| i.attestation(&nonce)).await
    }

    async fn rotate(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<PublicKeyInfo, CustodyError> {
        self.blocking(move |i| i.rotate(agent, scheme)).await
    }

    async fn sign_audit_checkpoint(
        &self,
        seq: u64,
        head_hash: [u8; 32],
    ) -> Result<AuditCheckpoint, CustodyError> {
        self.blocking(move |i| i.checkpoint(seq, head_hash)).await
    }

    async fn health(&self) -> Result<(), CustodyError> {
        self.blocking(|i| i.health()).await
    }

    async fn set_frozen(
        &self,
        target: custos_core::FreezeTarget,
        frozen: bool,
    ) -> Result<custos_core::FreezeState, CustodyError> {
        self.blocking(move |i| i.set_frozen(target, frozen)).await
    }

    async fn frozen(&self) -> Result<custos_core::FreezeState, CustodyError> {
        Ok(self.inner.freeze.state())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use k256::ecdsa::SigningKey;

    #[test]
    fn high_s_from_a_token_is_normalised_with_the_right_recovery_id() {
        // Forge what a token may return: a valid but high-S signature.
        let sk = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let vk = *sk.verifying_key();
        let digest = eip191_digest(b"hello");
        for i in 0..32u8 {
            let d = custos_core::sha256(&[i]);
            let (sig, _) = sk.sign_prehash_recoverable(&d).unwrap();
            let (r, s) = sig.split_scalars();
            let high = k256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
            assert!(high.normalize_s().is_some());
            let out = finish_ecdsa(&vk, &d, &high.to_bytes()).unwrap();
            let low = k256::ecdsa::Signature::from_slice(&out[..64]).unwrap();
            assert!(low.normalize_s().is_none());
            let id = k256::ecdsa::RecoveryId::from_byte(out[64]).unwrap();
            let rec = k256::ecdsa::VerifyingKey::recover_from_prehash(&d, &low, id).unwrap();
            assert_eq!(rec, vk);
        }
        let other = SigningKey::from_slice(&[8u8; 32]).unwrap();
        let (sig, _) = other.sign_prehash_recoverable(&digest).unwrap();
        assert!(finish_ecdsa(&vk, &digest, &sig.to_bytes()).is_err());
        assert!(finish_ecdsa(&vk, &digest, &[0u8; 63]).is_err());
    }
}
