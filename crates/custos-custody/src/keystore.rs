//! Sealed key files: one document per key, kept by a key-file store — the enclave's disk
//! (mode 0600, written atomically) by default, or an OpenBao KV v2 mount.
//!
//! Layout under the enclave data dir (the KV store uses the same folders under `custos/`):
//! ```text
//! keys/{agent-uuid}/{scheme}/{key_id}.json    agent keys (scheme: ed25519, secp256k1_ecdsa,
//!                                              secp256k1_schnorr, rsa_pss_sha256)
//! identity/ed25519/{key_id}.json               the enclave identity key
//! kms/master.key | kms/master.json             local KMS: key file, or scrypt salt + check
//! ```
//! Directories are 0700, files 0600.
//! Each file is a versioned, self-describing JSON document (`deny_unknown_fields`). The private
//! key is sealed with AES-256-GCM under a fresh data key that the KMS provider wraps; the
//! associated data binds every metadata field (owner, key id, scheme, public key, address,
//! creation time, status, KMS name), so a file copied under another agent's name, or with its
//! status edited, fails to open with [`CustodyError::Integrity`]. Key bytes are never written
//! in the clear.
use crate::keyfiles::{DiskFiles, KeyFiles};
use crate::kms::{io_err, KmsProvider};
use crate::signer::AgentSigningKey;
use aes_gcm::aead::KeyInit;
use aes_gcm::Aes256Gcm;
use base64::Engine as _;
use custos_core::{AgentId, CustodyError, KeyScheme, KeyStatus, PublicKeyInfo};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

/// Current sealed file format version.
pub const FORMAT_VERSION: u32 = 1;
/// The only sealing algorithm of format version 1.
pub const ALG: &str = "aes-256-gcm";

/// Whose key a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum KeyOwner {
    /// An agent.
    Agent(AgentId),
    /// The enclave's own identity key.
    Identity,
}

impl KeyOwner {
    fn label(&self) -> String {
        match self {
            Self::Agent(a) => a.to_string(),
            Self::Identity => "enclave-identity".into(),
        }
    }

    /// The folder of this owner's keys of `scheme`.
    fn folder(&self, scheme: KeyScheme) -> Vec<String> {
        match self {
            Self::Agent(a) => vec!["keys".into(), a.to_string(), scheme.as_str().into()],
            Self::Identity => vec!["identity".into(), scheme.as_str().into()],
        }
    }

    #[cfg(test)]
    fn dir(&self, root: &Path, scheme: KeyScheme) -> std::path::PathBuf {
        self.folder(scheme)
            .iter()
            .fold(root.to_path_buf(), |p, s| p.join(s))
    }
}

/// The on-disk format, version 1.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedKeyFile {
    version: u32,
    alg: String,
    kms: String,
    owner: String,
    key_id: String,
    scheme: KeyScheme,
    public_key: String,
    address: String,
    created_at_ms: i64,
    status: KeyStatus,
    /// Base64 of the data key as wrapped by the KMS provider.
    wrapped_data_key: String,
    /// Base64 of `nonce || ciphertext || tag` of the secret key: 32 bytes, or an RSA key's
    /// PKCS#8 DER.
    sealed_key: String,
}

impl SealedKeyFile {
    fn aad(&self) -> Vec<u8> {
        let status = match self.status {
            KeyStatus::Active => "active".to_string(),
            KeyStatus::ReceiveOnly { until_ms } => format!("receive_only:{until_ms}"),
            KeyStatus::Retired => "retired".to_string(),
        };
        format!(
            "custos-sealed-key:v{}:{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.version,
            self.alg,
            self.kms,
            self.owner,
            self.key_id,
            self.scheme.as_str(),
            self.public_key,
            self.address,
            self.created_at_ms,
            status
        )
        .into_bytes()
    }
}

/// The public half and metadata of one stored key.
#[derive(Clone, Debug)]
pub(crate) struct KeyMeta {
    file: SealedKeyFile,
    public_key: Vec<u8>,
}

impl KeyMeta {
    pub(crate) fn key_id(&self) -> &str {
        &self.file.key_id
    }
    pub(crate) fn status(&self) -> KeyStatus {
        self.file.status
    }
    pub(crate) fn public_key(&self) -> &[u8] {
        &self.public_key
    }
    pub(crate) fn address(&self) -> &str {
        &self.file.address
    }

    /// The public info, with a lapsed receive-only grace period reported as retired.
    pub(crate) fn info(&self, now_ms: i64) -> PublicKeyInfo {
        let status = match self.file.status {
            KeyStatus::ReceiveOnly { until_ms } if now_ms >= until_ms => KeyStatus::Retired,
            s => s,
        };
        PublicKeyInfo {
            key_id: self.file.key_id.clone(),
            scheme: self.file.scheme,
            public_key: self.public_key.clone(),
            address: self.file.address.clone(),
            created_at_ms: self.file.created_at_ms,
            status,
        }
    }
}

/// A key opened from disk.
#[derive(Debug)]
pub(crate) struct UnsealedKey {
    pub(crate) meta: KeyMeta,
    pub(crate) key: AgentSigningKey,
}

/// Sealed key documents in one store, sealed under one KMS provider.
pub(crate) struct Keystore {
    files: Box<dyn KeyFiles>,
    kms: Arc<dyn KmsProvider>,
}

impl Keystore {
    /// Key files on disk under the enclave data dir `root`.
    pub(crate) fn new(root: &Path, kms: Arc<dyn KmsProvider>) -> Result<Self, CustodyError> {
        Ok(Self::with_files(Box::new(DiskFiles::new(root)?), kms))
    }

    /// Key documents in `files`.
    pub(crate) fn with_files(files: Box<dyn KeyFiles>, kms: Arc<dyn KmsProvider>) -> Self {
        Self { files, kms }
    }

    pub(crate) fn kms(&self) -> &dyn KmsProvider {
        &*self.kms
    }

    /// Seals `key` into a new file and returns its metadata.
    pub(crate) fn seal_new(
        &self,
        owner: KeyOwner,
        key: &AgentSigningKey,
        created_at_ms: i64,
        status: KeyStatus,
    ) -> Result<KeyMeta, CustodyError> {
        let mut id = [0u8; 16];
        OsRng.fill_bytes(&mut id);
        let (dk, wrapped) = self.kms.generate_data_key()?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let public_key = key.public_key();
        let mut file = SealedKeyFile {
            version: FORMAT_VERSION,
            alg: ALG.into(),
            kms: self.kms.name().into(),
            owner: owner.label(),
            key_id: hex::encode(id),
            scheme: key.scheme(),
            public_key: hex::encode(&public_key),
            address: key.address(),
            created_at_ms,
            status,
            wrapped_data_key: b64.encode(&wrapped),
            sealed_key: String::new(),
        };
        let cipher = Aes256Gcm::new_from_slice(dk.expose())
            .map_err(|_| CustodyError::Internal("data key has the wrong length".into()))?;
        let secret = key.secret_bytes()?;
        let sealed = crate::kms::seal(&cipher, &secret, &file.aad())?;
        file.sealed_key = b64.encode(sealed);
        self.write(owner, &file, false)?;
        Ok(KeyMeta { file, public_key })
    }

    /// Rewrites a key's file with a new status, resealed so the status stays authenticated.
    pub(crate) fn set_status(
        &self,
        owner: KeyOwner,
        key: &UnsealedKey,
        status: KeyStatus,
    ) -> Result<KeyMeta, CustodyError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut file = key.meta.file.clone();
        let wrapped = b64
            .decode(&file.wrapped_data_key)
            .map_err(|_| CustodyError::Integrity)?;
        let dk = self.kms.decrypt_data_key(&wrapped)?;
        let cipher = Aes256Gcm::new_from_slice(dk.expose())
            .map_err(|_| CustodyError::Internal("data key has the wrong length".into()))?;
        file.status = status;
        let secret = key.key.secret_bytes()?;
        file.sealed_key = b64.encode(crate::kms::seal(&cipher, &secret, &file.aad())?);
        self.write(owner, &file, true)?;
        Ok(KeyMeta {
            file,
            public_key: key.meta.public_key.clone(),
        })
    }

    /// Reads the metadata of every key `owner` has for `scheme`, checking that each file names
    /// this owner, this scheme and its own file name. Nothing is unsealed.
    pub(crate) fn list(
        &self,
        owner: KeyOwner,
        scheme: KeyScheme,
    ) -> Result<Vec<KeyMeta>, CustodyError> {
        let mut out = Vec::new();
        for (stem, raw) in self.files.list(&owner.folder(scheme))? {
            let file: SealedKeyFile =
                serde_json::from_slice(&raw).map_err(|_| CustodyError::Integrity)?;
            if file.version != FORMAT_VERSION || file.alg != ALG {
                return Err(CustodyError::Internal(format!(
                    "unsupported key file version {} / alg {}",
                    file.version, file.alg
                )));
            }
            if file.owner != owner.label() || file.scheme != scheme || file.key_id != stem {
                return Err(CustodyError::Integrity);
            }
            let public_key = hex::decode(&file.public_key).map_err(|_| CustodyError::Integrity)?;
            out.push(KeyMeta { file, public_key });
        }
        out.sort_by_key(|m| m.file.created_at_ms);
        Ok(out)
    }

    /// Opens a key: unwraps its data key, decrypts it against the metadata, and checks the
    /// result really is the key the metadata claims.
    pub(crate) fn unseal(&self, meta: &KeyMeta) -> Result<UnsealedKey, CustodyError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let file = &meta.file;
        if file.kms != self.kms.name() {
            return Err(CustodyError::Internal(format!(
                "key {} was sealed by KMS provider {:?}",
                file.key_id, file.kms
            )));
        }
        let wrapped = b64
            .decode(&file.wrapped_data_key)
            .map_err(|_| CustodyError::Integrity)?;
        let sealed = b64
            .decode(&file.sealed_key)
            .map_err(|_| CustodyError::Integrity)?;
        let dk = self.kms.decrypt_data_key(&wrapped)?;
        let cipher = Aes256Gcm::new_from_slice(dk.expose())
            .map_err(|_| CustodyError::Internal("data key has the wrong length".into()))?;
        let secret = crate::kms::open(&cipher, &sealed, &file.aad())?;
        let key = AgentSigningKey::from_secret_bytes(file.scheme, secret.expose())
            .map_err(|_| CustodyError::Integrity)?;
        if key.public_key() != meta.public_key || key.address() != file.address {
            return Err(CustodyError::Integrity);
        }
        Ok(UnsealedKey {
            meta: meta.clone(),
            key,
        })
    }
}

impl Keystore {
    fn write(
        &self,
        owner: KeyOwner,
        file: &SealedKeyFile,
        overwrite: bool,
    ) -> Result<(), CustodyError> {
        let json =
            serde_json::to_vec_pretty(file).map_err(|e| CustodyError::Internal(e.to_string()))?;
        self.files
            .put(&owner.folder(file.scheme), &file.key_id, &json, overwrite)
    }
}

/// Creates `dir` (and parents) owner-only.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), CustodyError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err("create directory"))
}

/// Writes `bytes` to `path` atomically with mode 0600: a temp file in the same directory,
/// fsync, then rename (or, without `overwrite`, a hard link that fails if `path` exists), then
/// fsync of the directory so the new name survives a crash.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), CustodyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .ok_or_else(|| CustodyError::Internal("file path has no parent".into()))?;
    let mut rnd = [0u8; 8];
    OsRng.fill_bytes(&mut rnd);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| CustodyError::Internal("bad file name".into()))?;
    let tmp = dir.join(format!(".{name}.tmp-{}", hex::encode(rnd)));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err("create temp file"))?;
        f.write_all(bytes).map_err(io_err("write temp file"))?;
        f.sync_all().map_err(io_err("fsync temp file"))?;
        drop(f);
        if overwrite {
            std::fs::rename(&tmp, path).map_err(io_err("rename into place"))
        } else {
            std::fs::hard_link(&tmp, path).map_err(io_err("link into place"))
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::kms::LocalKms;
    use std::path::PathBuf;

    fn store(dir: &Path) -> Keystore {
        let kms = LocalKms::from_key_file(&dir.join("kms")).unwrap();
        Keystore::new(dir, Arc::new(kms)).unwrap()
    }

    fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                all_files(&p, out);
            } else {
                out.push(p);
            }
        }
    }

    #[test]
    fn no_secret_bytes_on_disk_in_any_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let ks = store(dir.path());
        let agent = AgentId::new_random();
        let mut secrets = Vec::new();
        for scheme in [
            KeyScheme::Ed25519,
            KeyScheme::Secp256k1Ecdsa,
            KeyScheme::Secp256k1Schnorr,
            KeyScheme::RsaPssSha256,
        ] {
            for _ in 0..3 {
                let key = AgentSigningKey::generate(scheme).unwrap();
                let meta = ks
                    .seal_new(KeyOwner::Agent(agent), &key, 1, KeyStatus::Active)
                    .unwrap();
                let opened = ks.unseal(&meta).unwrap();
                assert_eq!(
                    *opened.key.secret_bytes().unwrap(),
                    *key.secret_bytes().unwrap()
                );
                assert_eq!(opened.key.public_key(), key.public_key());
                secrets.push(key.secret_bytes().unwrap().to_vec());
            }
        }
        let mut files = Vec::new();
        all_files(dir.path(), &mut files);
        assert!(files.len() >= 13, "{files:?}");
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        for f in &files {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(f).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", f.display());
            let content = std::fs::read(f).unwrap();
            let text = String::from_utf8_lossy(&content).to_string();
            for s in &secrets {
                // Any 32-byte run of a secret (an RSA key's DER is longer than its file could
                // hide whole).
                for part in s.chunks(32).filter(|c| c.len() == 32) {
                    assert!(
                        !content.windows(32).any(|w| w == part),
                        "raw secret in {f:?}"
                    );
                }
                for enc in [
                    hex::encode(s),
                    hex::encode_upper(s),
                    STANDARD.encode(s),
                    STANDARD_NO_PAD.encode(s),
                    URL_SAFE.encode(s),
                    URL_SAFE_NO_PAD.encode(s),
                    bs58::encode(s).into_string(),
                ] {
                    assert!(!text.contains(&enc), "encoded secret in {f:?}");
                }
            }
        }
    }

    #[test]
    fn blob_of_other_agent_or_tampered_is_integrity() {
        let dir = tempfile::tempdir().unwrap();
        let ks = store(dir.path());
        let (a, b) = (AgentId::new_random(), AgentId::new_random());
        let s = KeyScheme::Secp256k1Ecdsa;
        let ka = ks
            .seal_new(
                KeyOwner::Agent(a),
                &AgentSigningKey::generate(s).unwrap(),
                1,
                KeyStatus::Active,
            )
            .unwrap();
        let kb = ks
            .seal_new(
                KeyOwner::Agent(b),
                &AgentSigningKey::generate(s).unwrap(),
                1,
                KeyStatus::Active,
            )
            .unwrap();
        let path_a = KeyOwner::Agent(a)
            .dir(dir.path(), s)
            .join(format!("{}.json", ka.key_id()));
        let path_b = KeyOwner::Agent(b)
            .dir(dir.path(), s)
            .join(format!("{}.json", kb.key_id()));
        let original_a = std::fs::read(&path_a).unwrap();

        // B's blob verbatim under A's name: the header names B.
        std::fs::copy(&path_b, &path_a).unwrap();
        assert_eq!(
            ks.list(KeyOwner::Agent(a), s).unwrap_err(),
            CustodyError::Integrity
        );

        // B's blob with the header rewritten to claim A: the AEAD refuses it.
        let mut forged: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path_b).unwrap()).unwrap();
        forged["owner"] = a.to_string().into();
        forged["key_id"] = ka.key_id().into();
        std::fs::write(&path_a, serde_json::to_vec(&forged).unwrap()).unwrap();
        let metas = ks.list(KeyOwner::Agent(a), s).unwrap();
        assert_eq!(ks.unseal(&metas[0]).unwrap_err(), CustodyError::Integrity);

        // A's own file with its metadata edited, or a flipped ciphertext bit.
        let mut edited: serde_json::Value = serde_json::from_slice(&original_a).unwrap();
        edited["created_at_ms"] = 2.into();
        std::fs::write(&path_a, serde_json::to_vec(&edited).unwrap()).unwrap();
        let metas = ks.list(KeyOwner::Agent(a), s).unwrap();
        assert_eq!(ks.unseal(&metas[0]).unwrap_err(), CustodyError::Integrity);

        let mut flipped: serde_json::Value = serde_json::from_slice(&original_a).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut ct = b64.decode(flipped["sealed_key"].as_str().unwrap()).unwrap();
        ct[14] ^= 0x80;
        flipped["sealed_key"] = b64.encode(ct).into();
        std::fs::write(&path_a, serde_json::to_vec(&flipped).unwrap()).unwrap();
        let metas = ks.list(KeyOwner::Agent(a), s).unwrap();
        assert_eq!(ks.unseal(&metas[0]).unwrap_err(), CustodyError::Integrity);

        // Unknown fields are refused, not ignored.
        let mut extra: serde_json::Value = serde_json::from_slice(&original_a).unwrap();
        extra["plaintext"] = "nope".into();
        std::fs::write(&path_a, serde_json::to_vec(&extra).unwrap()).unwrap();
        assert_eq!(
            ks.list(KeyOwner::Agent(a), s).unwrap_err(),
            CustodyError::Integrity
        );

        std::fs::write(&path_a, &original_a).unwrap();
        let metas = ks.list(KeyOwner::Agent(a), s).unwrap();
        ks.unseal(&metas[0]).unwrap();
    }

    #[test]
    fn status_change_is_resealed() {
        let dir = tempfile::tempdir().unwrap();
        let ks = store(dir.path());
        let a = AgentId::new_random();
        let owner = KeyOwner::Agent(a);
        let meta = ks
            .seal_new(
                owner,
                &AgentSigningKey::generate(KeyScheme::Ed25519).unwrap(),
                5,
                KeyStatus::Active,
            )
            .unwrap();
        let opened = ks.unseal(&meta).unwrap();
        ks.set_status(owner, &opened, KeyStatus::ReceiveOnly { until_ms: 99 })
            .unwrap();
        let metas = ks.list(owner, KeyScheme::Ed25519).unwrap();
        assert_eq!(metas.len(), 1);
        assert_eq!(metas[0].status(), KeyStatus::ReceiveOnly { until_ms: 99 });
        ks.unseal(&metas[0]).unwrap();
        assert_eq!(metas[0].info(100).status, KeyStatus::Retired);
    }

    const FIXTURE_AGENT: &str = "6f1c1f3e-8a43-4c1e-9d0b-6a1f0c3e2b11";
    const FIXTURE_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

    fn fixture_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keystore-v1")
    }

    /// Writes the format-v1 fixture. Run by hand only when introducing it; a released format's
    /// fixture must never be regenerated.
    #[test]
    #[ignore]
    fn write_v1_fixture() {
        let dir = fixture_dir();
        std::fs::create_dir_all(dir.join("kms")).unwrap();
        let master = dir.join("kms").join("master.key");
        std::fs::write(&master, [0x42u8; 32]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&master, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ks = store(&dir);
        let key = AgentSigningKey::from_secret_bytes(
            KeyScheme::Ed25519,
            &hex::decode(FIXTURE_SECRET).unwrap(),
        )
        .unwrap();
        let agent: AgentId = FIXTURE_AGENT.parse().unwrap();
        ks.seal_new(
            KeyOwner::Agent(agent),
            &key,
            1_700_000_000_000,
            KeyStatus::Active,
        )
        .unwrap();
    }

    #[test]
    fn format_v1_fixture_still_opens() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let agent: AgentId = FIXTURE_AGENT.parse().unwrap();
        let src = fixture_dir();
        let key_dir = Path::new("keys").join(FIXTURE_AGENT).join("ed25519");
        std::fs::create_dir_all(tmp.path().join("kms")).unwrap();
        std::fs::create_dir_all(tmp.path().join(&key_dir)).unwrap();
        let master = tmp.path().join("kms").join("master.key");
        std::fs::copy(src.join("kms").join("master.key"), &master).unwrap();
        std::fs::set_permissions(&master, std::fs::Permissions::from_mode(0o600)).unwrap();
        for e in std::fs::read_dir(src.join(&key_dir)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), tmp.path().join(&key_dir).join(e.file_name())).unwrap();
        }
        let ks = store(tmp.path());
        let metas = ks.list(KeyOwner::Agent(agent), KeyScheme::Ed25519).unwrap();
        assert_eq!(metas.len(), 1);
        let opened = ks.unseal(&metas[0]).unwrap();
        assert_eq!(
            hex::encode(opened.meta.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(&*opened.key.secret_bytes().unwrap()),
            FIXTURE_SECRET
        );
        assert_eq!(metas[0].info(0).created_at_ms, 1_700_000_000_000);
    }
}
