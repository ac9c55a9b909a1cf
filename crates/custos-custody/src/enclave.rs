//! The enclave server: opens the sealed keystore, binds the Unix socket, and answers protocol
//! requests. This code runs only in the `custos enclave` process.
//!
//! Each connection gets its own task and may pipeline requests. A signature with a key already
//! unsealed is answered on the connection's task (it is pure CPU, tens of microseconds);
//! everything else runs on the blocking pool (KMS calls and file I/O block), so slow requests
//! never stall others. Unsealed keys stay cached in memory (in the libraries' zeroize-on-drop
//! types) after first use.
use crate::attestation;
use crate::boundary_check;
use crate::keyfiles::{KeyFiles, KmsAndFiles};
use crate::keystore::{create_private_dir, KeyOwner, Keystore, UnsealedKey};
use crate::kms::{local_kms_dir, KmsProvider, LocalKms};
use crate::protocol::{Op, Outcome, Reply};
use crate::recorded::envelope_error;
use crate::signer::AgentSigningKey;
use custos_core::{
    AgentId, AttestationDocument, AuditCheckpoint, Clock, CustodyError, KeyScheme, KeyStatus,
    PublicKeyInfo, SecretString, SignPayload, SignRequest, Signature, SystemClock,
};
use custos_signer::decisions::DecisionLog;
use custos_signer::PolicyBook;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tracing::info;

/// Longest nonce accepted for an attestation document.
pub const MAX_NONCE_LEN: usize = 1024;

/// Where the master key that wraps data keys comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KmsChoice {
    /// A random 32-byte key file `kms/master.key` (mode 0600) in the data dir, created on first
    /// start. The default: protects against copies of the key files alone, not of the whole dir.
    LocalKeyFile,
    /// A key derived with scrypt from a passphrase read from the environment variable named
    /// here (salt and parameters in `kms/master.json`).
    LocalPassphraseEnv {
        /// Name of the environment variable holding the passphrase.
        var: String,
    },
    /// OpenBao / Vault: Transit wraps the data keys; with `kv_mount`, the sealed key documents
    /// are kept in that KV v2 mount instead of the data dir. Needs the `openbao` feature.
    OpenBao {
        /// Base address, e.g. `https://bao.internal:8200` (`http://` only for loopback).
        addr: String,
        /// Name of the environment variable holding the token (never the token itself).
        token_env: String,
        /// Transit key that wraps data keys (created if missing).
        transit_key: String,
        /// KV v2 mount for sealed key documents (e.g. `secret`); `None` keeps them on disk.
        kv_mount: Option<String>,
        /// Extra PEM CA certificate to trust for `https://`.
        ca_cert: Option<PathBuf>,
    },
}

/// How to run the enclave.
#[derive(Clone, Debug)]
pub struct EnclaveConfig {
    /// The Unix socket to listen on. Its directory should be owner-only.
    pub socket_path: PathBuf,
    /// The enclave data dir (sealed keys, local KMS files). Created 0700 if missing.
    pub data_dir: PathBuf,
    /// Master key source.
    pub kms: KmsChoice,
    /// How long a rotated-out key stays receive-only. Default 30 days.
    pub rotation_grace: Duration,
    /// Apply process hardening (no core dumps, not dumpable, mlockall) at start. Default true;
    /// tests running the enclave inside the test process turn it off.
    pub harden: bool,
    /// Concurrent connections accepted; more are closed at once. Default 256.
    pub max_connections: usize,
    /// Owner keys that may enrol a wallet's first policy (`--enrol-key`). Empty: a wallet's
    /// first envelope must carry its own authority's quorum (trust on first use).
    pub enrolment_keys: Vec<custos_signer::OwnerKey>,
}

impl EnclaveConfig {
    /// Defaults: local key file KMS, 30-day grace, hardening on.
    pub fn new(socket_path: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            socket_path: socket_path.into(),
            data_dir: data_dir.into(),
            kms: KmsChoice::LocalKeyFile,
            rotation_grace: Duration::from_secs(30 * 24 * 3600),
            harden: true,
            max_connections: 256,
            enrolment_keys: Vec::new(),
        }
    }
}

/// Runs the enclave until the task is dropped or a fatal error occurs: hardens the process,
/// opens the keystore (creating the identity key on first start), binds `socket_path` (mode
/// 0600, replacing a stale socket file) and serves connections.
pub async fn run(cfg: EnclaveConfig) -> Result<(), CustodyError> {
    if cfg.harden {
        crate::harden::harden_process();
    }
    let open_cfg = cfg.clone();
    let enclave = tokio::task::spawn_blocking(move || Enclave::open(&open_cfg))
        .await
        .map_err(|e| CustodyError::Internal(format!("enclave start: {e}")))??;
    let listener = crate::serve::bind(&cfg.socket_path).await?;
    info!(socket = %cfg.socket_path.display(), "enclave listening");
    crate::serve::serve(listener, Arc::new(enclave), cfg.max_connections).await
}

/// The enclave's state: keystore, identity key, the cache of unsealed agent keys, and the
/// owner-signed policies it signs under.
pub(crate) struct Enclave {
    keystore: Keystore,
    book: PolicyBook,
    decisions: DecisionLog,
    freeze: custos_signer::FreezeList,
    identity: ed25519_dalek::SigningKey,
    active: Mutex<HashMap<(AgentId, KeyScheme), Arc<UnsealedKey>>>,
    /// Serialises key creation, rotation and cache fills, so two requests never both create a
    /// key for the same agent or observe a half-done rotation.
    write_lock: Mutex<()>,
    grace_ms: i64,
    measurement: String,
    clock: Arc<dyn Clock>,
}

impl Drop for Enclave {
    fn drop(&mut self) {
        self.keystore.kms().destroy();
    }
}

#[cfg(feature = "openbao")]
fn open_openbao(choice: &KmsChoice) -> Result<KmsAndFiles, CustodyError> {
    let KmsChoice::OpenBao {
        addr,
        token_env,
        transit_key,
        kv_mount,
        ca_cert,
    } = choice
    else {
        return Err(CustodyError::Internal("not an OpenBao KMS choice".into()));
    };
    let mut cfg = crate::openbao::OpenBaoConfig::new(addr, token_env, transit_key);
    cfg.kv_mount = kv_mount.clone();
    cfg.ca_cert = ca_cert.clone();
    crate::openbao::open(&cfg)
}

#[cfg(not(feature = "openbao"))]
fn open_openbao(_: &KmsChoice) -> Result<KmsAndFiles, CustodyError> {
    Err(CustodyError::Internal(
        "this build has no OpenBao KMS; rebuild custos-custody with the `openbao` feature".into(),
    ))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing holding these locks leaves state half-written in memory, so a poisoned lock
    // is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Enclave {
    /// Opens the data dir: KMS, keystore, identity key (created on first start), measurement.
    pub(crate) fn open(cfg: &EnclaveConfig) -> Result<Self, CustodyError> {
        create_private_dir(&cfg.data_dir)?;
        let kms_dir = local_kms_dir(&cfg.data_dir);
        let mut key_files: Option<Box<dyn KeyFiles>> = None;
        let kms: Arc<dyn KmsProvider> = match &cfg.kms {
            KmsChoice::LocalKeyFile => Arc::new(LocalKms::from_key_file(&kms_dir)?),
            KmsChoice::LocalPassphraseEnv { var } => {
                let pass = SecretString::new(std::env::var(var).map_err(|_| {
                    CustodyError::Unavailable(format!("environment variable {var} is not set"))
                })?);
                Arc::new(LocalKms::from_passphrase(
                    &kms_dir,
                    pass.expose().as_bytes(),
                )?)
            }
            KmsChoice::OpenBao { .. } => {
                let (kms, files) = open_openbao(&cfg.kms)?;
                key_files = files;
                kms
            }
        };
        let keystore = match key_files {
            Some(files) => Keystore::with_files(files, kms),
            None => Keystore::new(&cfg.data_dir, kms)?,
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let identity = load_or_create_identity(&keystore, clock.now_ms())?;
        let book = PolicyBook::open(&cfg.data_dir.join("policies"), cfg.enrolment_keys.clone())
            .map_err(envelope_error)?;
        let decisions = DecisionLog::open(&cfg.data_dir.join("decisions.log"), identity.clone())
            .map_err(|e| CustodyError::Internal(format!("decision log: {e}")))?;
        let freeze = custos_signer::FreezeList::open(&cfg.data_dir.join("frozen.json"))
            .map_err(|e| CustodyError::Internal(e.to_string()))?;
        let grace_ms = i64::try_from(cfg.rotation_grace.as_millis()).unwrap_or(i64::MAX);
        Ok(Self {
            keystore,
            book,
            decisions,
            freeze,
            identity,
            active: Mutex::new(HashMap::new()),
            write_lock: Mutex::new(()),
            grace_ms,
            measurement: measurement()?,
            clock,
        })
    }
}

impl crate::serve::Boundary for Enclave {
    /// Answers `op` at once if it is a signature with a key already unsealed and the agent's
    /// policy in memory (no disk, no KMS); otherwise hands it back for `handle`.
    fn answer_now(&self, op: Op) -> Result<Outcome, Op> {
        match &op {
            Op::Sign(req)
                if self.book.is_loaded(req.agent_id)
                    && lock(&self.active).contains_key(&(req.agent_id, req.scheme)) =>
            {
                Ok(self.handle(op))
            }
            _ => Err(op),
        }
    }

    /// Answers one operation.
    fn handle(&self, op: Op) -> Outcome {
        let result = match op {
            Op::CreateKey { agent, scheme } => self.create_key(agent, scheme).map(Reply::PublicKey),
            Op::PublicKey { agent, scheme } => {
                self.public_key(agent, scheme).map(Reply::MaybePublicKey)
            }
            Op::Sign(req) => crate::recorded::sign(Some(&self.decisions), self.now(), &req, |v| {
                self.sign(&req, v)
            })
            .map(Reply::Signature),
            Op::SubmitPolicy { envelope } => {
                crate::recorded::submit(Some(&self.decisions), &self.book, self.now(), &envelope)
                    .map(Reply::PolicyApplied)
            }
            Op::HeldPolicy { agent } => self
                .book
                .held(agent, self.now())
                .map(Reply::HeldPolicy)
                .map_err(envelope_error),
            Op::Attestation { nonce } => self.attestation(&nonce).map(Reply::Attestation),
            Op::Rotate { agent, scheme } => self.rotate(agent, scheme).map(Reply::PublicKey),
            Op::SignCheckpoint { seq, head_hash } => {
                self.checkpoint(seq, &head_hash).map(Reply::Checkpoint)
            }
            Op::SetFrozen { target, frozen } => self
                .freeze
                .set(target, frozen)
                .map(Reply::Frozen)
                .map_err(|e| CustodyError::Internal(e.to_string())),
            Op::Frozen => Ok(Reply::Frozen(self.freeze.state())),
            Op::Health => self.keystore.kms().health().map(|()| Reply::Healthy),
        };
        match result {
            Ok(r) => Outcome::Ok(r),
            Err(e) => Outcome::Err(e.into()),
        }
    }
}

impl Enclave {
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The active key, from the cache or (under the write lock) from disk.
    fn active(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<Option<Arc<UnsealedKey>>, CustodyError> {
        if let Some(k) = lock(&self.active).get(&(agent, scheme)) {
            return Ok(Some(k.clone()));
        }
        let _w = lock(&self.write_lock);
        self.active_locked(agent, scheme)
    }

    /// As [`Enclave::active`]; the caller holds the write lock.
    fn active_locked(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<Option<Arc<UnsealedKey>>, CustodyError> {
        if let Some(k) = lock(&self.active).get(&(agent, scheme)) {
            return Ok(Some(k.clone()));
        }
        let metas = self.keystore.list(KeyOwner::Agent(agent), scheme)?;
        let mut active = metas.iter().filter(|m| m.status() == KeyStatus::Active);
        let Some(meta) = active.next() else {
            return Ok(None);
        };
        if active.next().is_some() {
            return Err(CustodyError::Internal(format!(
                "more than one active {} key for agent {agent}",
                scheme.as_str()
            )));
        }
        let key = Arc::new(self.keystore.unseal(meta)?);
        lock(&self.active).insert((agent, scheme), key.clone());
        Ok(Some(key))
    }

    fn create_key(&self, agent: AgentId, scheme: KeyScheme) -> Result<PublicKeyInfo, CustodyError> {
        let _w = lock(&self.write_lock);
        if let Some(k) = self.active_locked(agent, scheme)? {
            return Ok(k.meta.info(self.now()));
        }
        let key = AgentSigningKey::generate(scheme)?;
        let meta =
            self.keystore
                .seal_new(KeyOwner::Agent(agent), &key, self.now(), KeyStatus::Active)?;
        let info = meta.info(self.now());
        lock(&self.active).insert((agent, scheme), Arc::new(UnsealedKey { meta, key }));
        info!(agent = %agent, scheme = scheme.as_str(), key_id = %info.key_id, "key created");
        Ok(info)
    }

    fn public_key(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<Option<PublicKeyInfo>, CustodyError> {
        Ok(self.active(agent, scheme)?.map(|k| k.meta.info(self.now())))
    }

    fn sign(
        &self,
        req: &SignRequest,
        version: &mut Option<u64>,
    ) -> Result<Signature, CustodyError> {
        if let Some(why) = self.freeze.refusal(req.agent_id) {
            return Err(CustodyError::PolicyRefused(why));
        }
        let policy = self
            .book
            .effective(req.agent_id, self.now())
            .map_err(envelope_error)?;
        *version = Some(policy.version);
        boundary_check::check_request(&policy.document, req)?;
        let key = self
            .active(req.agent_id, req.scheme)?
            .ok_or(CustodyError::NoKey {
                agent: req.agent_id,
                scheme: req.scheme,
            })?;
        let bytes = match &req.payload {
            SignPayload::Message { bytes } => key.key.sign_message(bytes)?,
            SignPayload::SolanaTransaction { bytes } => {
                crate::boundary_check::solana_message_for(req.scheme, key.meta.address(), bytes)
                    .and_then(|m| key.key.sign_message(&m))?
            }
            SignPayload::EvmTransaction { .. }
            | SignPayload::Eip712 { .. }
            | SignPayload::RawHash { .. } => {
                let digest = crate::boundary_check::evm_digest_for(req.scheme, &req.payload)?;
                key.key.sign_digest(&digest)?
            }
            SignPayload::KalshiRequest { request } => {
                let text = crate::boundary_check::kalshi_text(request, self.now())?;
                key.key.sign_kalshi(&text)?
            }
            _ => {
                return Err(CustodyError::InvalidPayload(
                    "payload passed the check but has no signer".into(),
                ))
            }
        };
        Ok(Signature {
            key_id: key.meta.key_id().to_string(),
            scheme: req.scheme,
            bytes,
            public_key: key.meta.public_key().to_vec(),
        })
    }

    fn rotate(&self, agent: AgentId, scheme: KeyScheme) -> Result<PublicKeyInfo, CustodyError> {
        let _w = lock(&self.write_lock);
        let old = self
            .active_locked(agent, scheme)?
            .ok_or(CustodyError::NoKey { agent, scheme })?;
        let now = self.now();
        let owner = KeyOwner::Agent(agent);
        // Old key first: a crash between the two writes leaves no active key (create_key
        // makes one), never two.
        self.keystore.set_status(
            owner,
            &old,
            KeyStatus::ReceiveOnly {
                until_ms: now.saturating_add(self.grace_ms),
            },
        )?;
        lock(&self.active).remove(&(agent, scheme));
        let key = AgentSigningKey::generate(scheme)?;
        let meta = self
            .keystore
            .seal_new(owner, &key, now, KeyStatus::Active)?;
        let info = meta.info(now);
        lock(&self.active).insert((agent, scheme), Arc::new(UnsealedKey { meta, key }));
        info!(agent = %agent, scheme = scheme.as_str(), old = %old.meta.key_id(),
            new = %info.key_id, "key rotated");
        Ok(info)
    }

    fn attestation(&self, nonce: &[u8]) -> Result<AttestationDocument, CustodyError> {
        if nonce.len() > MAX_NONCE_LEN {
            return Err(CustodyError::InvalidPayload(format!(
                "nonce longer than {MAX_NONCE_LEN} bytes"
            )));
        }
        attestation::dev_document(&self.measurement, nonce, self.now(), &self.identity)
    }

    fn checkpoint(&self, seq: u64, head_hash: &[u8]) -> Result<AuditCheckpoint, CustodyError> {
        let head: [u8; 32] = head_hash
            .try_into()
            .map_err(|_| CustodyError::InvalidPayload("head_hash must be 32 bytes".into()))?;
        Ok(attestation::checkpoint(
            seq,
            &head,
            self.now(),
            &self.identity,
        ))
    }
}

/// Hex SHA-256 of the running binary, computed once per process.
fn measurement() -> Result<String, CustodyError> {
    static MEASUREMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(m) = MEASUREMENT.get() {
        return Ok(m.clone());
    }
    // /proc/self/exe opens the image actually running even if the path was replaced since;
    // current_exe() is the portable fallback.
    let exe = std::fs::read("/proc/self/exe")
        .or_else(|_| std::env::current_exe().and_then(std::fs::read))
        .map_err(|e| CustodyError::Internal(format!("read own binary for measurement: {e}")))?;
    Ok(MEASUREMENT
        .get_or_init(|| hex::encode(custos_core::sha256(&exe)))
        .clone())
}

fn load_or_create_identity(
    keystore: &Keystore,
    now_ms: i64,
) -> Result<ed25519_dalek::SigningKey, CustodyError> {
    let metas = keystore.list(KeyOwner::Identity, KeyScheme::Ed25519)?;
    let mut active = metas.iter().filter(|m| m.status() == KeyStatus::Active);
    let key = match (active.next(), active.next()) {
        (Some(meta), None) => keystore.unseal(meta)?.key,
        (None, _) => {
            let key = AgentSigningKey::generate(KeyScheme::Ed25519)?;
            keystore.seal_new(KeyOwner::Identity, &key, now_ms, KeyStatus::Active)?;
            info!("enclave identity key created");
            key
        }
        (Some(_), Some(_)) => {
            return Err(CustodyError::Internal(
                "more than one active identity key".into(),
            ))
        }
    };
    match key {
        AgentSigningKey::Ed25519(k) => Ok(k),
        _ => Err(CustodyError::Integrity),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn identity_and_keys_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EnclaveConfig::new(dir.path().join("s.sock"), dir.path().join("data"));
        let agent = AgentId::new_random();
        let (id1, pk1) = {
            let e = Enclave::open(&cfg).unwrap();
            let pk = e.create_key(agent, KeyScheme::Ed25519).unwrap();
            (e.identity.verifying_key(), pk)
        };
        let e = Enclave::open(&cfg).unwrap();
        assert_eq!(e.identity.verifying_key(), id1);
        assert_eq!(e.public_key(agent, KeyScheme::Ed25519).unwrap(), Some(pk1));
    }
}
