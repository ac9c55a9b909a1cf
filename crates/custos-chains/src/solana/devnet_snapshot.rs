//! The embedded devnet's files in its data directory: the state snapshot (`solana-devnet.json`)
//! and the faucet key (`solana-devnet-faucet.key`).
//!
//! The snapshot holds every account that is not part of a fresh LiteSVM, the slot, the valid
//! blockhashes and the newest transaction statuses. It is written atomically (temporary file,
//! fsync, rename) after every landed transaction — not on clock ticks: slots that pass without a
//! transaction are saved with the next one. Transaction bodies and their metadata
//! (`getTransaction`) are kept in memory only.
use super::backend::TxStatus;
use super::devnet::DevnetError;
use custos_core::Commitment;
use serde::{Deserialize, Serialize};
use solana_account::Account;
use solana_address::Address;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_signature::Signature;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

const SNAPSHOT_FILE: &str = "solana-devnet.json";
const FAUCET_FILE: &str = "solana-devnet-faucet.key";
const SNAPSHOT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    version: u32,
    slot: u64,
    recent_blockhashes: Vec<String>,
    accounts: Vec<StoredAccount>,
    /// The newest transaction statuses, oldest first (absent in snapshots written before they
    /// were kept). Written in the same atomic snapshot as the accounts they changed, so a
    /// restarted devnet still answers `getSignatureStatuses` for them and refuses to run one
    /// of them again while its blockhash is valid.
    #[serde(default)]
    statuses: Vec<StoredStatus>,
}

/// One landed transaction's status, as persisted.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredStatus {
    signature: String,
    slot: u64,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAccount {
    pubkey: String,
    lamports: u64,
    owner: String,
    executable: bool,
    rent_epoch: u64,
    data: String,
}

/// A snapshot as loaded: checked and decoded.
pub(super) struct Restored {
    pub slot: u64,
    /// Valid blockhashes, oldest first.
    pub recent_blockhashes: Vec<Hash>,
    pub accounts: Vec<(Address, Account)>,
    /// Statuses, oldest first.
    pub statuses: Vec<(Signature, TxStatus)>,
}

/// What a snapshot is written from (borrowed from the devnet under its lock).
pub(super) struct SnapshotView<'a, A, S>
where
    A: Iterator<Item = (&'a Address, Account)>,
    S: Iterator<Item = (&'a Signature, &'a TxStatus)>,
{
    pub slot: u64,
    pub recent_blockhashes: Vec<Hash>,
    /// Accounts to keep (the caller leaves out LiteSVM's built-ins and empty accounts).
    pub accounts: A,
    /// Statuses to keep, oldest first.
    pub statuses: S,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Loads the snapshot in `dir`, if there is one.
pub(super) fn load(dir: &Path) -> Result<Option<Restored>, DevnetError> {
    use base64::Engine as _;
    let path = dir.join(SNAPSHOT_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(DevnetError::Storage(format!(
                "read {}: {e}",
                path.display()
            )))
        }
    };
    let bad = |reason: String| DevnetError::Snapshot {
        path: path.clone(),
        reason,
    };
    let snap: Snapshot = serde_json::from_slice(&bytes).map_err(|e| bad(format!("parse: {e}")))?;
    if snap.version != SNAPSHOT_VERSION {
        return Err(bad(format!("unsupported version {}", snap.version)));
    }
    let mut accounts = Vec::with_capacity(snap.accounts.len());
    for a in snap.accounts {
        let pubkey = Address::from_str(&a.pubkey).map_err(|_| bad("bad pubkey".into()))?;
        let owner = Address::from_str(&a.owner).map_err(|_| bad("bad owner".into()))?;
        let data = b64().decode(&a.data).map_err(|_| bad("bad data".into()))?;
        accounts.push((
            pubkey,
            Account {
                lamports: a.lamports,
                data,
                owner,
                executable: a.executable,
                rent_epoch: a.rent_epoch,
            },
        ));
    }
    let recent_blockhashes = snap
        .recent_blockhashes
        .iter()
        .map(|h| Hash::from_str(h).map_err(|_| bad("bad blockhash".into())))
        .collect::<Result<_, _>>()?;
    let statuses = snap
        .statuses
        .into_iter()
        .map(|st| {
            let sig =
                Signature::from_str(&st.signature).map_err(|_| bad("bad signature".into()))?;
            Ok((
                sig,
                TxStatus {
                    slot: st.slot,
                    commitment: Commitment::Finalized,
                    error: st.error,
                },
            ))
        })
        .collect::<Result<_, DevnetError>>()?;
    Ok(Some(Restored {
        slot: snap.slot.max(1),
        recent_blockhashes,
        accounts,
        statuses,
    }))
}

/// Writes the snapshot atomically.
pub(super) fn save<'a, A, S>(dir: &Path, view: SnapshotView<'a, A, S>) -> Result<(), DevnetError>
where
    A: Iterator<Item = (&'a Address, Account)>,
    S: Iterator<Item = (&'a Signature, &'a TxStatus)>,
{
    use base64::Engine as _;
    let mut accounts: Vec<StoredAccount> = view
        .accounts
        .map(|(k, a)| StoredAccount {
            pubkey: k.to_string(),
            lamports: a.lamports,
            owner: a.owner.to_string(),
            executable: a.executable,
            rent_epoch: a.rent_epoch,
            data: b64().encode(&a.data),
        })
        .collect();
    accounts.sort_by(|a, b| a.pubkey.cmp(&b.pubkey));
    let snap = Snapshot {
        version: SNAPSHOT_VERSION,
        slot: view.slot,
        recent_blockhashes: view
            .recent_blockhashes
            .iter()
            .map(ToString::to_string)
            .collect(),
        accounts,
        statuses: view
            .statuses
            .map(|(sig, st)| StoredStatus {
                signature: sig.to_string(),
                slot: st.slot,
                error: st.error.clone(),
            })
            .collect(),
    };
    let bytes = serde_json::to_vec(&snap)
        .map_err(|e| DevnetError::Storage(format!("encode snapshot: {e}")))?;
    write_atomic(&dir.join(SNAPSHOT_FILE), &bytes, false)
}

fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> Result<(), DevnetError> {
    let err = |e: std::io::Error| DevnetError::Storage(format!("write {}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = secret;
        let mut f = opts.open(&tmp).map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The faucet key is a development-chain key with no value elsewhere; it is still written
/// owner-only and never logged.
pub(super) fn load_or_create_faucet(dir: &Path) -> Result<Keypair, DevnetError> {
    let path: PathBuf = dir.join(FAUCET_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Keypair::try_from(bytes.as_slice()).map_err(|_| DevnetError::Snapshot {
            path,
            reason: "faucet key is not a 64-byte keypair".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let kp = Keypair::new();
            let bytes = zeroize::Zeroizing::new(kp.to_bytes());
            write_atomic(&path, bytes.as_ref(), true)?;
            Ok(kp)
        }
        Err(e) => Err(DevnetError::Storage(format!(
            "read {}: {e}",
            path.display()
        ))),
    }
}
