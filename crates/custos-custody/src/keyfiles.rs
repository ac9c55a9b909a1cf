//! Where sealed key documents are kept: the enclave's disk ([`DiskFiles`], the default) or,
//! with the `openbao` feature, an OpenBao KV v2 mount (`openbao::kv::KvFiles`).
//!
//! A store knows nothing of sealing: it keeps opaque, already-sealed JSON documents by folder
//! (e.g. `["keys", agent, scheme]`) and key id. The keystore checks every document it reads
//! (owner, scheme, key id, AEAD), so a store only has to be durable, not trusted.
use crate::keystore::{create_private_dir, write_atomic};
use crate::kms::io_err;
use crate::kms::KmsProvider;
use custos_core::CustodyError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A KMS provider and, if it brings its own, the store for the key documents it seals
/// (`None`: the enclave's disk).
pub(crate) type KmsAndFiles = (Arc<dyn KmsProvider>, Option<Box<dyn KeyFiles>>);

/// Durable storage of sealed key documents. Calls may block; the enclave makes them from the
/// blocking pool.
pub(crate) trait KeyFiles: Send + Sync {
    /// Stores `doc` as `folder/key_id`. Without `overwrite`, fails if it already exists.
    fn put(
        &self,
        folder: &[String],
        key_id: &str,
        doc: &[u8],
        overwrite: bool,
    ) -> Result<(), CustodyError>;
    /// Every document in `folder` as `(key_id, doc)`; an unknown folder is empty.
    fn list(&self, folder: &[String]) -> Result<Vec<(String, Vec<u8>)>, CustodyError>;
}

/// One JSON file per key under a root directory: `root/{folder…}/{key_id}.json`, directories
/// 0700 and files 0600, written atomically.
pub(crate) struct DiskFiles {
    root: PathBuf,
}

impl DiskFiles {
    pub(crate) fn new(root: &Path) -> Result<Self, CustodyError> {
        create_private_dir(root)?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn dir(&self, folder: &[String]) -> PathBuf {
        folder.iter().fold(self.root.clone(), |p, s| p.join(s))
    }
}

impl KeyFiles for DiskFiles {
    fn put(
        &self,
        folder: &[String],
        key_id: &str,
        doc: &[u8],
        overwrite: bool,
    ) -> Result<(), CustodyError> {
        let dir = self.dir(folder);
        create_private_dir(&dir)?;
        write_atomic(&dir.join(format!("{key_id}.json")), doc, overwrite)
    }

    fn list(&self, folder: &[String]) -> Result<Vec<(String, Vec<u8>)>, CustodyError> {
        let entries = match std::fs::read_dir(self.dir(folder)) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("list key dir")(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("list key dir"))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(stem) = name.strip_suffix(".json") else {
                continue; // leftover temp files of an interrupted write
            };
            let raw = std::fs::read(entry.path()).map_err(io_err("read key file"))?;
            out.push((stem.to_string(), raw));
        }
        Ok(out)
    }
}
