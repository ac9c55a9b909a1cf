//! Sealed key documents in an OpenBao KV v2 mount instead of the enclave's disk.
//!
//! A document for folder `keys/{agent}/{scheme}` and key id `k` is the KV secret
//! `{mount}/data/custos/keys/{agent}/{scheme}/{k}` whose data is the sealed key document's JSON
//! object itself (readable in OpenBao's UI; it holds only public metadata and ciphertext).
//! New keys are written with `cas: 0`, so a key id is never silently overwritten; status
//! changes write a new KV version. Listing uses the `metadata` endpoint (`?list=true`).
//!
//! The keystore authenticates every document it reads, so whoever can write to the mount can
//! delete keys (deny service) but cannot substitute one agent's key for another's.
use super::{check_name, BaoClient, BaoFailure};
use crate::keyfiles::KeyFiles;
use custos_core::CustodyError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Top folder of Custos' documents inside the mount.
const PREFIX: &str = "custos";

/// A [`KeyFiles`] store on a KV v2 mount, sharing the Transit provider's client and token.
pub(crate) struct KvFiles {
    client: Arc<BaoClient>,
    mount: String,
}

#[derive(Deserialize)]
struct Listing {
    data: ListingData,
}

#[derive(Deserialize)]
struct ListingData {
    #[serde(default)]
    keys: Vec<String>,
}

impl KvFiles {
    /// A store on the KV v2 mount `mount` (e.g. `secret`).
    pub(crate) fn new(client: Arc<BaoClient>, mount: &str) -> Result<Self, CustodyError> {
        check_name("KV mount", mount, true)?;
        Ok(Self {
            client,
            mount: mount.to_string(),
        })
    }

    fn path(
        &self,
        kind: &str,
        folder: &[String],
        key_id: Option<&str>,
    ) -> Result<String, CustodyError> {
        let mut p = format!("{}/{kind}/{PREFIX}", self.mount);
        for seg in folder.iter().map(String::as_str).chain(key_id) {
            // Folder names come from agent ids, scheme names and key ids; key ids listed from
            // the mount are checked too, since whoever writes to the mount chooses them.
            check_name("key path segment", seg, false).map_err(|_| CustodyError::Integrity)?;
            p.push('/');
            p.push_str(seg);
        }
        Ok(p)
    }

    fn fail(&self, what: &str, e: BaoFailure) -> CustodyError {
        e.into_custody(what, self.client.token_env())
    }
}

impl KeyFiles for KvFiles {
    fn put(
        &self,
        folder: &[String],
        key_id: &str,
        doc: &[u8],
        overwrite: bool,
    ) -> Result<(), CustodyError> {
        let data: Value = serde_json::from_slice(doc)
            .map_err(|e| CustodyError::Internal(format!("key document is not JSON: {e}")))?;
        if !data.is_object() {
            return Err(CustodyError::Internal(
                "key document is not a JSON object".into(),
            ));
        }
        let body = if overwrite {
            json!({ "data": data })
        } else {
            json!({ "data": data, "options": { "cas": 0 } })
        };
        let path = self.path("data", folder, Some(key_id))?;
        match self.client.call("POST", &path, Some(&body)) {
            Ok(_) => Ok(()),
            Err(BaoFailure::Status { status: 400, .. }) if !overwrite => {
                Err(CustodyError::Internal(format!(
                    "key document {key_id} already exists in OpenBao KV {}",
                    self.mount
                )))
            }
            Err(BaoFailure::Status { status: 404, .. }) => Err(CustodyError::Unavailable(format!(
                "no KV v2 engine is mounted at {}/ in OpenBao",
                self.mount
            ))),
            Err(e) => Err(self.fail("writing a key document to KV", e)),
        }
    }

    fn list(&self, folder: &[String]) -> Result<Vec<(String, Vec<u8>)>, CustodyError> {
        let path = format!("{}?list=true", self.path("metadata", folder, None)?);
        let listing: Listing = match self.client.call("GET", &path, None) {
            Ok(body) => serde_json::from_str(&body).map_err(|_| {
                CustodyError::Internal("unexpected KV list answer from OpenBao".into())
            })?,
            Err(BaoFailure::Status { status: 404, .. }) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail("listing key documents in KV", e)),
        };
        let mut out = Vec::new();
        for key_id in listing.data.keys {
            if key_id.ends_with('/') {
                continue; // a sub-folder, not a document
            }
            let path = self.path("data", folder, Some(&key_id))?;
            let body = match self.client.call("GET", &path, None) {
                Ok(b) => b,
                // Deleted (or destroyed) latest version: the key is gone.
                Err(BaoFailure::Status { status: 404, .. }) => continue,
                Err(e) => return Err(self.fail("reading a key document from KV", e)),
            };
            let answer: Value = serde_json::from_str(&body).map_err(|_| CustodyError::Integrity)?;
            let doc = &answer["data"]["data"];
            if doc.is_null() {
                continue;
            }
            let bytes =
                serde_json::to_vec(doc).map_err(|e| CustodyError::Internal(e.to_string()))?;
            out.push((key_id, bytes));
        }
        Ok(out)
    }
}
