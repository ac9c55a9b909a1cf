//! The signer's own decision log: every signature it made or refused, and every policy envelope
//! it accepted or refused, as one JSON line each, hash-chained and signed with the signer's
//! identity key (the key its attestation binds). It is the signer's record, kept apart from the
//! coordinator's audit log, so a coordinator that rewrites its own log cannot rewrite this one.
//!
//! A line is `{"seq","time_ms","wallet","event","subject","policy_version","outcome","reason",
//! "prev_hash","hash","signature"}`. `hash` is SHA-256 of `custos-decision:v1\n` followed by
//! the body in a fixed binary form (see `hash_of`: the previous hash, so each hash covers the
//! whole chain before it, then every other body field, length-prefixed; compact so the chain
//! costs the signer as little as possible). `signature` — the identity
//! key's Ed25519 signature over `hash` — is on every [`SIGN_EVERY`]th record, on every policy
//! decision, and on a final `checkpoint` record when the log is closed: a signature vouches for
//! its record and, through the chain, every record before it, at a 64th of the cost of signing
//! each. [`verify`] checks a whole log against a trusted identity key and says how far the
//! signatures reach. Lines are written (not synced) before the decision is answered; on start
//! the log is read back to continue its chain, and a torn last line (a crash mid-write) is
//! dropped.
use custos_core::AgentId;
use ed25519_dalek::Signer as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Records between two signed ones (at most).
pub const SIGN_EVERY: u64 = 64;

/// What signs the log: the signer's Ed25519 identity key, wherever it lives (in memory in the
/// enclave, on the token behind the PKCS#11 boundary).
pub trait IdentitySigner: Send + Sync {
    /// The Ed25519 signature over `message`.
    fn sign_identity(&self, message: &[u8]) -> std::io::Result<[u8; 64]>;
}

impl IdentitySigner for ed25519_dalek::SigningKey {
    fn sign_identity(&self, message: &[u8]) -> std::io::Result<[u8; 64]> {
        Ok(self.sign(message).to_bytes())
    }
}

/// What was decided about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A signature.
    Sign,
    /// A policy envelope.
    Policy,
    /// The log was closed: a signed record covering everything before it.
    Checkpoint,
}

/// The body of one record: what is hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// 1, 2, 3… with no gap.
    pub seq: u64,
    /// When the signer decided.
    pub time_ms: i64,
    /// The wallet (agent).
    pub wallet: AgentId,
    /// Signature or policy.
    pub event: Event,
    /// Hex SHA-256 of what was decided on: the signing payload's bytes as sent
    /// (`SignPayload::bytes`), or an envelope's body hash.
    pub subject: String,
    /// The policy version in force (for a policy event, the envelope's version).
    pub policy_version: Option<u64>,
    /// `signed`, `refused`, `accepted`, `pending`.
    pub outcome: String,
    /// Why it was refused.
    pub reason: Option<String>,
    /// Hex hash of the previous record (zeros for the first).
    pub prev_hash: String,
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The body.
    #[serde(flatten)]
    pub body: Body,
    /// Hex SHA-256 chaining this record to the previous one.
    pub hash: String,
    /// Hex Ed25519 signature by the identity key over `hash`, on signed records only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A record's hash: SHA-256 of `custos-decision:v1\n` ‖ prev_hash (32 bytes; a malformed hex
/// value hashes as its text, so it can never match) ‖ seq (u64 BE) ‖ time_ms (i64 BE) ‖ wallet
/// (16 bytes) ‖ event (u8: 0 sign, 1 policy, 2 checkpoint) ‖ subject (u16 BE length ‖ UTF-8) ‖
/// policy_version (u8 0, or u8 1 ‖ u64 BE) ‖ outcome (u8 length ‖ UTF-8) ‖ reason (u8 0, or u8 1 ‖
/// u32 BE length ‖ UTF-8).
fn hash_of(body: &Body) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"custos-decision:v1\n");
    match <[u8; 32]>::try_from(hex::decode(&body.prev_hash).unwrap_or_default().as_slice()) {
        Ok(raw) => h.update(raw),
        Err(_) => h.update(body.prev_hash.as_bytes()),
    }
    h.update(body.seq.to_be_bytes());
    h.update(body.time_ms.to_be_bytes());
    h.update(body.wallet.0.as_bytes());
    h.update([match body.event {
        Event::Sign => 0u8,
        Event::Policy => 1,
        Event::Checkpoint => 2,
    }]);
    let subject = body.subject.as_bytes();
    h.update((subject.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    h.update(&subject[..subject.len().min(usize::from(u16::MAX))]);
    match body.policy_version {
        Some(v) => {
            h.update([1u8]);
            h.update(v.to_be_bytes());
        }
        None => h.update([0u8]),
    }
    let outcome = body.outcome.as_bytes();
    h.update([outcome.len().min(255) as u8]);
    h.update(&outcome[..outcome.len().min(255)]);
    match &body.reason {
        Some(r) => {
            h.update([1u8]);
            h.update((r.len() as u32).to_be_bytes());
            h.update(r.as_bytes());
        }
        None => h.update([0u8]),
    }
    h.finalize().into()
}

/// Hex SHA-256 of `bytes`: a record's `subject`.
pub fn subject(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

struct Tail {
    file: std::fs::File,
    seq: u64,
    prev: String,
}

/// The log, appended to by one signer process.
pub struct DecisionLog {
    path: PathBuf,
    identity: Box<dyn IdentitySigner>,
    tail: Mutex<Tail>,
}

impl std::fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionLog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DecisionLog {
    /// Opens (or creates, 0600) the log at `path`, continuing its chain.
    pub fn open(path: &Path, identity: impl IdentitySigner + 'static) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let (mut seq, mut prev, mut good_len) = (0u64, hex::encode([0u8; 32]), 0u64);
        if let Ok(f) = std::fs::File::open(path) {
            let mut reader = std::io::BufReader::new(f);
            let mut line = String::new();
            while reader.read_line(&mut line)? > 0 {
                let complete = line.ends_with('\n');
                match serde_json::from_str::<Record>(line.trim_end()) {
                    Ok(r) if complete => {
                        seq = r.body.seq;
                        prev = r.hash;
                        good_len += line.len() as u64;
                    }
                    _ => break,
                }
                line.clear();
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        // Drop a torn last line so the next record starts on a line of its own.
        if file.metadata()?.len() > good_len {
            tracing::warn!(path = %path.display(), "decision log: dropping a torn last line");
            file.set_len(good_len)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            identity: Box::new(identity),
            tail: Mutex::new(Tail { file, seq, prev }),
        })
    }

    /// Appends one decision. The caller answers only after this returns.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &self,
        time_ms: i64,
        wallet: AgentId,
        event: Event,
        subject: String,
        policy_version: Option<u64>,
        outcome: &str,
        reason: Option<String>,
    ) -> std::io::Result<()> {
        let mut t = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let body = Body {
            seq: t.seq + 1,
            time_ms,
            wallet,
            event,
            subject,
            policy_version,
            outcome: outcome.to_owned(),
            reason,
            prev_hash: t.prev.clone(),
        };
        // The body is serialized once and closed with the hash (and the signature).
        let hash = hash_of(&body);
        let mut line = serde_json::to_vec(&body).map_err(std::io::Error::other)?;
        let hash_hex = hex::encode(hash);
        line.pop(); // the body's closing brace
        line.extend_from_slice(b",\"hash\":\"");
        line.extend_from_slice(hash_hex.as_bytes());
        line.push(b'"');
        if body.seq.is_multiple_of(SIGN_EVERY) || event != Event::Sign {
            line.extend_from_slice(b",\"signature\":\"");
            line.extend_from_slice(hex::encode(self.identity.sign_identity(&hash)?).as_bytes());
            line.push(b'"');
        }
        line.extend_from_slice(b"}\n");
        t.file.write_all(&line)?;
        t.seq = body.seq;
        t.prev = hash_hex;
        Ok(())
    }
}

impl Drop for DecisionLog {
    /// Closing the log signs its tail: a `checkpoint` record covering every record before it.
    fn drop(&mut self) {
        let unsigned_tail = {
            let t = self.tail.lock().unwrap_or_else(|e| e.into_inner());
            !t.seq.is_multiple_of(SIGN_EVERY)
        };
        if unsigned_tail {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            if let Err(e) = self.append(
                now,
                AgentId(Default::default()),
                Event::Checkpoint,
                String::new(),
                None,
                "closed",
                None,
            ) {
                tracing::warn!(error = %e, "decision log: cannot write the closing checkpoint");
            }
        }
    }
}

/// What [`verify`] found in an intact log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Records in the log.
    pub records: u64,
    /// The last record a signature covers (0: none); records after it are chained but not
    /// yet signed.
    pub signed_through: u64,
}

/// A log that does not verify: the first bad record and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("decision record {seq} is broken: {reason}")]
pub struct Broken {
    /// Its sequence number (or the line number where none could be read).
    pub seq: u64,
    /// Why.
    pub reason: String,
}

/// Checks every record of the log at `path`: sequence without gaps, hash chain, and every
/// signature under `identity` (the signer's identity public key, obtained out of band).
pub fn verify(path: &Path, identity: &[u8; 32]) -> Result<Verified, Broken> {
    let vk = ed25519_dalek::VerifyingKey::from_bytes(identity).map_err(|_| Broken {
        seq: 0,
        reason: "the trusted key is not an ed25519 public key".into(),
    })?;
    let f = std::fs::File::open(path).map_err(|e| Broken {
        seq: 0,
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    let mut prev = hex::encode([0u8; 32]);
    let mut n = 0u64;
    let mut signed_through = 0u64;
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let at = n + 1;
        let line = line.map_err(|e| Broken {
            seq: at,
            reason: format!("unreadable line {}: {e}", i + 1),
        })?;
        let r: Record = serde_json::from_str(&line).map_err(|e| Broken {
            seq: at,
            reason: format!("line {} is not a decision record: {e}", i + 1),
        })?;
        let bad = |reason: &str| Broken {
            seq: r.body.seq,
            reason: reason.to_owned(),
        };
        if r.body.seq != at {
            return Err(bad(&format!("expected record {at} (a gap or a reorder)")));
        }
        if r.body.prev_hash != prev {
            return Err(bad("prev_hash does not name the previous record"));
        }
        let hash = hash_of(&r.body);
        if hex::encode(hash) != r.hash {
            return Err(bad("the record's content does not match its hash"));
        }
        if let Some(signature) = &r.signature {
            let sig = hex::decode(signature)
                .ok()
                .and_then(|s| ed25519_dalek::Signature::from_slice(&s).ok())
                .ok_or_else(|| bad("malformed signature"))?;
            if vk.verify_strict(&hash, &sig).is_err() {
                return Err(bad("not signed by the trusted identity key"));
            }
            signed_through = at;
        }
        prev = r.hash;
        n = at;
    }
    Ok(Verified {
        records: n,
        signed_through,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn append(log: &DecisionLog, n: i64) {
        log.append(
            n,
            AgentId::new_random(),
            Event::Sign,
            subject(&n.to_le_bytes()),
            Some(1),
            if n % 2 == 0 { "signed" } else { "refused" },
            (n % 2 == 1).then(|| "actions.sign_message: off".to_owned()),
        )
        .unwrap();
    }

    #[test]
    fn a_log_verifies_continues_across_reopen_and_names_any_edit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.log");
        let id = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let pk = id.verifying_key().to_bytes();
        {
            let log = DecisionLog::open(&path, id.clone()).unwrap();
            for n in 0..3 {
                append(&log, n);
            }
            // Closed here: a signed checkpoint (record 4) covers records 1-3.
        }
        assert_eq!(
            verify(&path, &pk),
            Ok(Verified {
                records: 4,
                signed_through: 4
            })
        );
        // A torn write at the end is dropped on reopen; the chain continues.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"seq\":5,\"tim").unwrap();
        drop(f);
        let log = DecisionLog::open(&path, id.clone()).unwrap();
        for n in 4..(SIGN_EVERY as i64 + 2) {
            append(&log, n);
        }
        // Records up to the 64th are covered by its signature; the rest are chained only.
        let v = verify(&path, &pk).unwrap();
        assert_eq!(v.records, SIGN_EVERY + 2);
        assert_eq!(v.signed_through, SIGN_EVERY);
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();

        // Another key: the first signed record is named.
        let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
        let e = verify(&path, &other.verifying_key().to_bytes()).unwrap_err();
        assert_eq!(e.seq, 4);
        // An edited outcome breaks its record's hash.
        let edited = text.replacen("\"refused\"", "\"signed\"", 1);
        std::fs::write(&path, &edited).unwrap();
        let e = verify(&path, &pk).unwrap_err();
        assert_eq!(e.seq, 2);
        assert!(e.reason.contains("hash"), "{e}");
        // A deleted record is a gap.
        let lines: Vec<&str> = text.lines().collect();
        let cut = [lines[0], lines[2], lines[3]].join("\n") + "\n";
        std::fs::write(&path, cut).unwrap();
        assert_eq!(verify(&path, &pk).unwrap_err().seq, 3);
    }
}
