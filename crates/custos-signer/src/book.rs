//! The policy book: the newest owner-signed envelope a signer has verified for each wallet, and
//! the one place a signer gets a wallet's policy from. Nothing a caller sends with a signing
//! request can change what the book says; only a verified envelope can.
//!
//! Rules, applied to each submitted envelope:
//! - **Enrolment** (the wallet's first envelope): version 1, zero `prev_hash`, signed by its own
//!   authority's quorum — or, when the signer was started with enrolment keys, by one of those.
//! - **No rollback**: a version older than or equal to the held one is refused (`Stale`); the
//!   next must be exactly one higher and name the held one's hash (`BrokenChain`).
//! - **Signatures**: every signature must be by an owner key of the *held* authority and verify;
//!   one foreign or bad signature refuses the envelope.
//! - **Not from the future**: an envelope whose `not_before_ms` is after the signer's clock is
//!   refused; the coordinator submits it again when it is due.
//! - **Tightening** (nothing in [`custos_policy::loosenings`] and the same authority) needs one
//!   signature and is in force at once. **Loosening** — or any change to the authority — needs
//!   the held authority's quorum; a loosening is then held *pending* for the held authority's
//!   `loosen_delay_seconds`, counted from when this signer first saw it, and takes force by
//!   itself once that has passed. A newer tightening cancels a pending loosening.
//!
//! Each wallet's state is one JSON file `{dir}/{wallet}.json`, replaced atomically (written to a
//! temporary file, synced, renamed, directory synced).
use crate::envelope::{Authority, EnvelopeError, PolicyEnvelope};
use crate::owner::OwnerKey;
use custos_core::{AgentId, HeldPolicy, PolicyApplied, PolicyJson};
use custos_policy::PolicyDocument;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The policy a signer signs under for one wallet.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    /// Envelope version.
    pub version: u64,
    /// Envelope hash.
    pub hash: [u8; 32],
    /// The document.
    pub document: PolicyDocument,
}

/// The envelope in force, and a pending loosening with when it takes force.
pub type Envelopes = (PolicyEnvelope, Option<(PolicyEnvelope, i64)>);

/// A wallet's state as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    current: PolicyEnvelope,
    #[serde(default)]
    pending: Option<Pending>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pending {
    envelope: PolicyEnvelope,
    seen_ms: i64,
    effective_from_ms: i64,
    loosens: Vec<String>,
}

/// A wallet's state in memory, with the current envelope's hash and document ready.
struct Entry {
    stored: Stored,
    effective: Arc<Effective>,
    pending_hash: Option<[u8; 32]>,
}

impl Entry {
    fn new(stored: Stored) -> Self {
        let c = &stored.current;
        let effective = Arc::new(Effective {
            version: c.version,
            hash: c.hash(),
            document: c.document.clone(),
        });
        let pending_hash = stored.pending.as_ref().map(|p| p.envelope.hash());
        Self {
            stored,
            effective,
            pending_hash,
        }
    }
}

/// What a change from the held envelope to a new one requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What it loosens (document and authority), as dotted paths; empty for a tightening.
    pub loosens: Vec<String>,
    /// Signatures it needs: 1 for a tightening, the held quorum for a loosening or an
    /// authority change.
    pub needs: usize,
    /// How long it waits before it takes force (0 unless it loosens).
    pub delay_ms: i64,
}

impl Verdict {
    /// What replacing `cur` by `env` requires, signatures not looked at.
    pub fn of(cur: &PolicyEnvelope, env: &PolicyEnvelope) -> Self {
        let mut loosens = custos_policy::loosenings(&cur.document, &env.document);
        loosens.extend(cur.authority.loosenings(&env.authority));
        let needs = if env.authority != cur.authority || !loosens.is_empty() {
            cur.authority.quorum as usize
        } else {
            1
        };
        let delay_ms = if loosens.is_empty() {
            0
        } else {
            i64::try_from(cur.authority.loosen_delay_seconds.saturating_mul(1000))
                .unwrap_or(i64::MAX)
        };
        Self {
            loosens,
            needs,
            delay_ms,
        }
    }

    /// When the envelope takes force if submitted at `now_ms`; `None`: at once.
    pub fn effective_from_ms(&self, now_ms: i64) -> Option<i64> {
        (self.delay_ms > 0).then(|| now_ms.saturating_add(self.delay_ms))
    }
}

/// Verifies `env` as the successor of `cur` (whose hash is `cur_hash`) at `now_ms`: version and
/// chain, signatures by the held owners, `not_before`, and the quorum a loosening or an
/// authority change needs. Pure: what [`PolicyBook::submit`] applies, and what a coordinator's
/// dry run shows before anything is submitted.
pub fn judge(
    cur: &PolicyEnvelope,
    cur_hash: [u8; 32],
    env: &PolicyEnvelope,
    now_ms: i64,
) -> Result<Verdict, EnvelopeError> {
    env.validate()?;
    if env.version <= cur.version {
        return Err(EnvelopeError::Stale {
            got: env.version,
            current: cur.version,
        });
    }
    if env.version != cur.version + 1 || env.prev_hash != cur_hash {
        return Err(EnvelopeError::BrokenChain {
            got: env.version,
            expected_version: cur.version + 1,
            expected_prev: hex::encode(cur_hash),
        });
    }
    let signers = env.signers(&cur.authority)?;
    if signers.is_empty() {
        return Err(EnvelopeError::Quorum {
            have: 0,
            need: 1,
            why: "a policy change needs at least one owner signature".into(),
        });
    }
    if env.not_before_ms > now_ms {
        return Err(EnvelopeError::NotYetValid {
            not_before_ms: env.not_before_ms,
            now_ms,
        });
    }
    let verdict = Verdict::of(cur, env);
    if signers.len() < verdict.needs {
        let why = if verdict.loosens.is_empty() {
            "it changes the owner keys, quorum or delay".to_owned()
        } else {
            format!("it loosens {}", verdict.loosens.join("; "))
        };
        return Err(EnvelopeError::Quorum {
            have: signers.len(),
            need: verdict.needs,
            why,
        });
    }
    Ok(verdict)
}

/// The book.
pub struct PolicyBook {
    dir: Option<PathBuf>,
    enrolment_keys: Vec<OwnerKey>,
    wallets: Mutex<HashMap<AgentId, Arc<Entry>>>,
    /// Serialises changes so two submissions never both chain on one version.
    write: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change is written to disk before the map is updated, so a poisoned map is still
    // a consistent (possibly older) view.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PolicyBook {
    /// A book kept in `dir` (created 0700 if missing). With `enrolment_keys`, a wallet's first
    /// envelope must carry a signature by one of them; without, it must carry its own quorum.
    pub fn open(dir: &Path, enrolment_keys: Vec<OwnerKey>) -> Result<Self, EnvelopeError> {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| EnvelopeError::Storage(format!("create {}: {e}", dir.display())))?;
        Ok(Self {
            dir: Some(dir.to_path_buf()),
            enrolment_keys,
            wallets: Mutex::new(HashMap::new()),
            write: Mutex::new(()),
        })
    }

    /// A book that keeps nothing on disk (tests, benchmarks).
    pub fn in_memory(enrolment_keys: Vec<OwnerKey>) -> Self {
        Self {
            dir: None,
            enrolment_keys,
            wallets: Mutex::new(HashMap::new()),
            write: Mutex::new(()),
        }
    }

    fn path(&self, wallet: AgentId) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{}.json", wallet.0)))
    }

    fn entry(&self, wallet: AgentId) -> Result<Option<Arc<Entry>>, EnvelopeError> {
        if let Some(e) = lock(&self.wallets).get(&wallet) {
            return Ok(Some(e.clone()));
        }
        let Some(path) = self.path(wallet) else {
            return Ok(None);
        };
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(EnvelopeError::Storage(format!(
                    "read {}: {e}",
                    path.display()
                )))
            }
        };
        let stored: Stored = serde_json::from_slice(&text).map_err(|e| {
            EnvelopeError::Storage(format!("{} is unreadable: {e}", path.display()))
        })?;
        if stored.current.wallet != wallet {
            return Err(EnvelopeError::Storage(format!(
                "{} holds another wallet's policy",
                path.display()
            )));
        }
        let entry = Arc::new(Entry::new(stored));
        lock(&self.wallets).insert(wallet, entry.clone());
        Ok(Some(entry))
    }

    fn save(&self, wallet: AgentId, stored: Stored) -> Result<Arc<Entry>, EnvelopeError> {
        if let Some(path) = self.path(wallet) {
            let body = serde_json::to_vec_pretty(&stored)
                .map_err(|e| EnvelopeError::Storage(e.to_string()))?;
            crate::files::write_private(&path, &body)
                .map_err(|e| EnvelopeError::Storage(format!("write {}: {e}", path.display())))?;
        }
        let entry = Arc::new(Entry::new(stored));
        lock(&self.wallets).insert(wallet, entry.clone());
        Ok(entry)
    }

    /// The policy in force for `wallet` at `now_ms`, promoting a pending loosening whose delay
    /// has passed. No enrolled policy is an error: a signer signs nothing without one.
    pub fn effective(&self, wallet: AgentId, now_ms: i64) -> Result<Arc<Effective>, EnvelopeError> {
        let entry = self
            .entry(wallet)?
            .ok_or(EnvelopeError::NoPolicy { wallet })?;
        match &entry.stored.pending {
            Some(p) if p.effective_from_ms <= now_ms => {
                let _w = lock(&self.write);
                let entry = self
                    .entry(wallet)?
                    .ok_or(EnvelopeError::NoPolicy { wallet })?;
                Ok(self
                    .promote_if_ripe(wallet, &entry, now_ms)?
                    .effective
                    .clone())
            }
            _ => Ok(entry.effective.clone()),
        }
    }

    /// The held envelope and the pending one, if any (for the coordinator to show and to chain
    /// the next version on).
    pub fn envelopes(&self, wallet: AgentId) -> Result<Option<Envelopes>, EnvelopeError> {
        Ok(self.entry(wallet)?.map(|e| {
            (
                e.stored.current.clone(),
                e.stored
                    .pending
                    .as_ref()
                    .map(|p| (p.envelope.clone(), p.effective_from_ms)),
            )
        }))
    }

    /// Whether `wallet`'s state is already in memory (so [`PolicyBook::effective`] will not
    /// touch the disk unless a pending loosening is due).
    pub fn is_loaded(&self, wallet: AgentId) -> bool {
        lock(&self.wallets).contains_key(&wallet)
    }

    /// [`PolicyBook::envelopes`] as the custody interface carries them.
    pub fn held(&self, wallet: AgentId, now_ms: i64) -> Result<Option<HeldPolicy>, EnvelopeError> {
        let json = |e: &PolicyEnvelope| {
            PolicyJson::new(e).map_err(|e| EnvelopeError::Storage(e.to_string()))
        };
        // A loosening whose delay has passed is in force: say so, as signing would.
        match self.effective(wallet, now_ms) {
            Ok(_) | Err(EnvelopeError::NoPolicy { .. }) => {}
            Err(e) => return Err(e),
        }
        let Some((current, pending)) = self.envelopes(wallet)? else {
            return Ok(None);
        };
        Ok(Some(HeldPolicy {
            current: json(&current)?,
            pending: match pending {
                Some((p, from)) => Some((json(&p)?, from)),
                None => None,
            },
        }))
    }

    /// The caller holds the write lock.
    fn promote_if_ripe(
        &self,
        wallet: AgentId,
        entry: &Arc<Entry>,
        now_ms: i64,
    ) -> Result<Arc<Entry>, EnvelopeError> {
        match &entry.stored.pending {
            Some(p) if p.effective_from_ms <= now_ms => {
                tracing::info!(wallet = %wallet, version = p.envelope.version,
                    "pending policy loosening takes force");
                self.save(
                    wallet,
                    Stored {
                        current: p.envelope.clone(),
                        pending: None,
                    },
                )
            }
            _ => Ok(entry.clone()),
        }
    }

    /// [`PolicyBook::submit`] for an envelope as the custody interface carries it (JSON text).
    pub fn submit_json(
        &self,
        envelope: &PolicyJson,
        now_ms: i64,
    ) -> Result<PolicyApplied, EnvelopeError> {
        self.submit(PolicyEnvelope::from_json(envelope)?, now_ms)
    }

    /// Verifies `env` and, if it passes, keeps it (in force or pending). Nothing changes when
    /// it is refused.
    pub fn submit(&self, env: PolicyEnvelope, now_ms: i64) -> Result<PolicyApplied, EnvelopeError> {
        env.validate()?;
        let wallet = env.wallet;
        let _w = lock(&self.write);
        let Some(entry) = self.entry(wallet)? else {
            return self.enrol(env, now_ms);
        };
        let entry = self.promote_if_ripe(wallet, &entry, now_ms)?;
        let cur = &entry.stored.current;
        let cur_hash = entry.effective.hash;
        let hash = env.hash();
        if hash == cur_hash {
            return Ok(PolicyApplied::Unchanged {
                version: cur.version,
                hash: hex::encode(hash),
            });
        }
        if let (Some(p), Some(ph)) = (&entry.stored.pending, entry.pending_hash) {
            if ph == hash {
                return Ok(PolicyApplied::Pending {
                    version: p.envelope.version,
                    hash: hex::encode(hash),
                    effective_from_ms: p.effective_from_ms,
                    loosens: p.loosens.clone(),
                });
            }
        }
        let verdict = judge(cur, cur_hash, &env, now_ms)?;
        if let Some(effective_from_ms) = verdict.effective_from_ms(now_ms) {
            let version = env.version;
            let loosens = verdict.loosens;
            tracing::info!(wallet = %wallet, version, effective_from_ms,
                "policy loosening verified; pending until its delay has passed");
            self.save(
                wallet,
                Stored {
                    current: cur.clone(),
                    pending: Some(Pending {
                        envelope: env,
                        seen_ms: now_ms,
                        effective_from_ms,
                        loosens: loosens.clone(),
                    }),
                },
            )?;
            return Ok(PolicyApplied::Pending {
                version,
                hash: hex::encode(hash),
                effective_from_ms,
                loosens,
            });
        }
        self.put_in_force(env, hash)
    }

    /// Keeps `env` (whose hash is `hash`) as the wallet's policy in force, dropping any pending
    /// loosening. The caller holds the write lock and has verified `env`.
    fn put_in_force(
        &self,
        env: PolicyEnvelope,
        hash: [u8; 32],
    ) -> Result<PolicyApplied, EnvelopeError> {
        let (wallet, version) = (env.wallet, env.version);
        self.save(
            wallet,
            Stored {
                current: env,
                pending: None,
            },
        )?;
        Ok(PolicyApplied::Current {
            version,
            hash: hex::encode(hash),
        })
    }

    /// The caller holds the write lock; the wallet has no envelope yet.
    fn enrol(&self, env: PolicyEnvelope, now_ms: i64) -> Result<PolicyApplied, EnvelopeError> {
        if env.version != 1 {
            return Err(EnvelopeError::BrokenChain {
                got: env.version,
                expected_version: 1,
                expected_prev: hex::encode([0u8; 32]),
            });
        }
        if self.enrolment_keys.is_empty() {
            let signers = env.signers(&env.authority)?;
            let need = env.authority.quorum as usize;
            if signers.len() < need {
                return Err(EnvelopeError::Quorum {
                    have: signers.len(),
                    need,
                    why: "an enrolment is signed by its own authority's quorum".into(),
                });
            }
        } else {
            let mut owners: Vec<OwnerKey> = env.authority.owners.clone();
            owners.extend(self.enrolment_keys.iter().copied());
            owners.sort();
            owners.dedup();
            let either = Authority {
                owners,
                ..env.authority.clone()
            };
            let signers = env.signers(&either)?;
            if !signers.iter().any(|k| self.enrolment_keys.contains(k)) {
                return Err(EnvelopeError::EnrolmentNotPermitted);
            }
        }
        if env.not_before_ms > now_ms {
            return Err(EnvelopeError::NotYetValid {
                not_before_ms: env.not_before_ms,
                now_ms,
            });
        }
        tracing::info!(wallet = %env.wallet, owners = env.authority.owners.len(),
            quorum = env.authority.quorum, "wallet policy enrolled");
        let hash = env.hash();
        self.put_in_force(env, hash)
    }
}

#[cfg(test)]
mod tests;
