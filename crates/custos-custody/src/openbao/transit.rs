//! [`OpenBaoKms`]: data keys generated and unwrapped by OpenBao's Transit engine.
use super::{check_name, BaoClient, BaoFailure, OpenBaoConfig};
use crate::kms::KmsProvider;
use base64::Engine as _;
use custos_core::{CustodyError, SecretBytes, SecretString};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Every Transit ciphertext starts with this (then the key version and the base64 body).
const CIPHERTEXT_PREFIX: &str = "vault:v";

/// A KMS provider whose wrapping key is a Transit key inside OpenBao.
///
/// The wrapped form of a data key is OpenBao's ciphertext string (`vault:v1:…`) as bytes; it
/// opens only through OpenBao with a token allowed to `decrypt` with that Transit key.
pub struct OpenBaoKms {
    client: Arc<BaoClient>,
    mount: String,
    key: String,
}

impl std::fmt::Debug for OpenBaoKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBaoKms")
            .field("client", &self.client)
            .field("transit", &format_args!("{}/keys/{}", self.mount, self.key))
            .finish()
    }
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

#[derive(Deserialize)]
struct DataKey {
    plaintext: SecretString,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Plaintext {
    plaintext: SecretString,
}

#[derive(Deserialize)]
struct KeyInfo {
    #[serde(default)]
    supports_encryption: bool,
    #[serde(default)]
    supports_decryption: bool,
}

impl OpenBaoKms {
    /// Connects: reads the token from `cfg.token_env`, checks OpenBao is up, and makes sure the
    /// Transit key exists (creating an `aes256-gcm96` key if it does not). Blocking.
    pub fn connect(cfg: &OpenBaoConfig) -> Result<Self, CustodyError> {
        check_name("Transit key", &cfg.transit_key, false)?;
        check_name("Transit mount", &cfg.transit_mount, true)?;
        let client = BaoClient::from_config(cfg)?;
        let kms = Self {
            client,
            mount: cfg.transit_mount.clone(),
            key: cfg.transit_key.clone(),
        };
        kms.client
            .sys_health()
            .map_err(|e| kms.fail("the health check", e))?;
        kms.ensure_key()?;
        Ok(kms)
    }

    /// The client, shared with the KV key store so one token serves both and `destroy` ends both.
    pub(crate) fn client(&self) -> Arc<BaoClient> {
        self.client.clone()
    }

    fn fail(&self, what: &str, e: BaoFailure) -> CustodyError {
        e.into_custody(what, self.client.token_env())
    }

    fn ensure_key(&self) -> Result<(), CustodyError> {
        let path = format!("{}/keys/{}", self.mount, self.key);
        match self.client.call("GET", &path, None) {
            Ok(body) => {
                let info: Data<KeyInfo> = serde_json::from_str(&body).map_err(|e| {
                    CustodyError::Internal(format!("Transit key {} info: {e}", self.key))
                })?;
                if info.data.supports_encryption && info.data.supports_decryption {
                    Ok(())
                } else {
                    Err(CustodyError::Internal(format!(
                        "Transit key {} cannot encrypt and decrypt; use an aes256-gcm96 key",
                        self.key
                    )))
                }
            }
            Err(BaoFailure::Status { status: 404, .. }) => {
                let created =
                    self.client
                        .call("POST", &path, Some(&json!({"type": "aes256-gcm96"})));
                match created {
                    Ok(_) => Ok(()),
                    Err(BaoFailure::Status { status: 404, .. }) => {
                        Err(CustodyError::Unavailable(format!(
                            "no Transit engine is mounted at {}/ in OpenBao; enable it \
                             (POST /v1/sys/mounts/{} {{\"type\":\"transit\"}})",
                            self.mount, self.mount
                        )))
                    }
                    Err(e) => Err(self.fail("creating the Transit key", e)),
                }
            }
            Err(e) => Err(self.fail("reading the Transit key", e)),
        }
    }
}

/// Decodes Transit's base64 plaintext into a 32-byte data key; anything else is `Integrity`.
fn data_key_bytes(plaintext: &SecretString) -> Result<SecretBytes, CustodyError> {
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(plaintext.expose())
            .map_err(|_| CustodyError::Integrity)?,
    );
    if raw.len() != 32 {
        return Err(CustodyError::Integrity);
    }
    Ok(SecretBytes::from_slice(&raw))
}

impl KmsProvider for OpenBaoKms {
    fn name(&self) -> &'static str {
        "openbao"
    }

    fn generate_data_key(&self) -> Result<(SecretBytes, Vec<u8>), CustodyError> {
        let path = format!("{}/datakey/plaintext/{}", self.mount, self.key);
        let body = self
            .client
            .call("POST", &path, Some(&json!({"bits": 256})))
            .map_err(|e| self.fail("generating a data key", e))?;
        let answer: Data<DataKey> = serde_json::from_str(&body).map_err(|_| {
            CustodyError::Internal("unexpected Transit datakey answer from OpenBao".into())
        })?;
        if !answer.data.ciphertext.starts_with(CIPHERTEXT_PREFIX) {
            return Err(CustodyError::Internal(
                "Transit datakey answer has no vault ciphertext".into(),
            ));
        }
        let dk = data_key_bytes(&answer.data.plaintext).map_err(|_| {
            CustodyError::Internal("Transit returned a data key that is not 256 bits".into())
        })?;
        Ok((dk, answer.data.ciphertext.into_bytes()))
    }

    fn decrypt_data_key(&self, wrapped: &[u8]) -> Result<SecretBytes, CustodyError> {
        let ciphertext = std::str::from_utf8(wrapped).map_err(|_| CustodyError::Integrity)?;
        if !ciphertext.starts_with(CIPHERTEXT_PREFIX) {
            return Err(CustodyError::Integrity);
        }
        let path = format!("{}/decrypt/{}", self.mount, self.key);
        let body = match self
            .client
            .call("POST", &path, Some(&json!({"ciphertext": ciphertext})))
        {
            Ok(b) => b,
            // 400 is Transit's answer to a ciphertext that fails to authenticate or parse.
            Err(BaoFailure::Status { status: 400, .. }) => return Err(CustodyError::Integrity),
            Err(e) => return Err(self.fail("unwrapping a data key", e)),
        };
        let answer: Data<Plaintext> = serde_json::from_str(&body).map_err(|_| {
            CustodyError::Internal("unexpected Transit decrypt answer from OpenBao".into())
        })?;
        data_key_bytes(&answer.data.plaintext)
    }

    fn health(&self) -> Result<(), CustodyError> {
        self.client
            .sys_health()
            .map_err(|e| self.fail("the health check", e))?;
        let (dk, wrapped) = self.generate_data_key()?;
        let back = self.decrypt_data_key(&wrapped)?;
        if back.expose() == dk.expose() {
            Ok(())
        } else {
            Err(CustodyError::Internal(
                "OpenBao Transit round trip returned a different key".into(),
            ))
        }
    }

    fn destroy(&self) {
        self.client.wipe();
    }
}
