//! Key generation, signing and address derivation for the four schemes: Ed25519 (Solana),
//! secp256k1 ECDSA with recovery id (EVM), BIP-340 Schnorr (Taproot) and RSA-PSS (the agent's
//! Kalshi API key, [`crate::rsa_key`]).
//!
//! Secret keys live only in the libraries' own key types, which zeroize on drop; the raw form
//! (32 bytes, or an RSA key's PKCS#8 DER) exists only transiently in [`Zeroizing`] buffers while
//! being sealed or unsealed.
use custos_core::{CustodyError, KeyScheme};
use rand_core::{OsRng, RngCore};
use sha2::Digest as _;
use sha3::Keccak256;
use zeroize::{Zeroize, Zeroizing};

/// A private key of one scheme, held inside the enclave only.
pub(crate) enum AgentSigningKey {
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
    /// secp256k1 ECDSA.
    Ecdsa(k256::ecdsa::SigningKey),
    /// secp256k1 BIP-340 Schnorr.
    Schnorr(k256::schnorr::SigningKey),
    /// RSA-2048 for Kalshi request signatures.
    Rsa(crate::rsa_key::RsaKey),
}

impl std::fmt::Debug for AgentSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgentSigningKey({}, <redacted>)", self.scheme().as_str())
    }
}

impl AgentSigningKey {
    /// A fresh key from the OS CSPRNG.
    pub(crate) fn generate(scheme: KeyScheme) -> Result<Self, CustodyError> {
        Ok(match scheme {
            KeyScheme::Ed25519 => Self::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng)),
            KeyScheme::Secp256k1Ecdsa => Self::Ecdsa(k256::ecdsa::SigningKey::random(&mut OsRng)),
            KeyScheme::Secp256k1Schnorr => {
                Self::Schnorr(k256::schnorr::SigningKey::random(&mut OsRng))
            }
            KeyScheme::RsaPssSha256 => Self::Rsa(crate::rsa_key::RsaKey::generate()?),
        })
    }

    /// Rebuilds a key from its secret bytes (as unsealed from disk): 32 bytes, or PKCS#8 DER
    /// for RSA.
    pub(crate) fn from_secret_bytes(
        scheme: KeyScheme,
        secret: &[u8],
    ) -> Result<Self, CustodyError> {
        let bad = || CustodyError::Internal("unsealed key has the wrong form".into());
        match scheme {
            KeyScheme::Ed25519 => {
                let mut arr = Zeroizing::new([0u8; 32]);
                if secret.len() != 32 {
                    return Err(bad());
                }
                arr.copy_from_slice(secret);
                Ok(Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&arr)))
            }
            KeyScheme::Secp256k1Ecdsa => k256::ecdsa::SigningKey::from_slice(secret)
                .map(Self::Ecdsa)
                .map_err(|_| bad()),
            KeyScheme::Secp256k1Schnorr => k256::schnorr::SigningKey::from_bytes(secret)
                .map(Self::Schnorr)
                .map_err(|_| bad()),
            KeyScheme::RsaPssSha256 => crate::rsa_key::RsaKey::from_pkcs8(secret).map(Self::Rsa),
        }
    }

    /// The secret bytes, for sealing only: 32 bytes, or an RSA key's PKCS#8 DER.
    pub(crate) fn secret_bytes(&self) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
        let mut out = Zeroizing::new(vec![0u8; 32]);
        match self {
            Self::Ed25519(k) => {
                let mut b = k.to_bytes();
                out.copy_from_slice(&b);
                b.zeroize();
            }
            Self::Ecdsa(k) => {
                let mut b = k.to_bytes();
                out.copy_from_slice(&b);
                b.as_mut_slice().zeroize();
            }
            Self::Schnorr(k) => {
                let mut b = k.to_bytes();
                out.copy_from_slice(&b);
                b.as_mut_slice().zeroize();
            }
            Self::Rsa(k) => return k.to_pkcs8(),
        }
        Ok(out)
    }

    /// The scheme.
    pub(crate) fn scheme(&self) -> KeyScheme {
        match self {
            Self::Ed25519(_) => KeyScheme::Ed25519,
            Self::Ecdsa(_) => KeyScheme::Secp256k1Ecdsa,
            Self::Schnorr(_) => KeyScheme::Secp256k1Schnorr,
            Self::Rsa(_) => KeyScheme::RsaPssSha256,
        }
    }

    /// The public key in the encoding of [`custos_core::PublicKeyInfo::public_key`].
    pub(crate) fn public_key(&self) -> Vec<u8> {
        match self {
            Self::Ed25519(k) => k.verifying_key().to_bytes().to_vec(),
            Self::Ecdsa(k) => k.verifying_key().to_encoded_point(true).as_bytes().to_vec(),
            Self::Schnorr(k) => k.verifying_key().to_bytes().to_vec(),
            Self::Rsa(k) => k.public_der(),
        }
    }

    /// The chain address for this key.
    pub(crate) fn address(&self) -> String {
        match self {
            Self::Ed25519(k) => solana_address(&k.verifying_key().to_bytes()),
            Self::Ecdsa(k) => evm_address(k.verifying_key()),
            Self::Schnorr(k) => hex::encode(k.verifying_key().to_bytes()),
            Self::Rsa(k) => hex::encode(custos_core::sha256(&k.public_der())),
        }
    }

    /// Signs an off-chain message as [`custos_core::SignPayload::Message`] defines it.
    pub(crate) fn sign_message(&self, msg: &[u8]) -> Result<Vec<u8>, CustodyError> {
        match self {
            Self::Ed25519(k) => Ok(ed25519_sign(k, msg)),
            Self::Ecdsa(k) => ecdsa_sign_prehash(k, &eip191_digest(msg)),
            Self::Schnorr(k) => {
                let mut aux = Zeroizing::new([0u8; 32]);
                OsRng.fill_bytes(aux.as_mut());
                let digest: [u8; 32] = sha2::Sha256::digest(msg).into();
                schnorr_sign(k, &digest, &aux)
            }
            Self::Rsa(_) => Err(CustodyError::InvalidPayload(
                "the rsa key signs kalshi requests only".into(),
            )),
        }
    }

    /// Signs a Kalshi request's text (`timestamp + METHOD + path`), which the boundary built
    /// itself from a request it judged. Only the RSA key signs these.
    pub(crate) fn sign_kalshi(&self, text: &[u8]) -> Result<Vec<u8>, CustodyError> {
        match self {
            Self::Rsa(k) => k.sign_pss(text),
            _ => Err(CustodyError::InvalidPayload(
                "kalshi requests are signed with the rsa_pss_sha256 key".into(),
            )),
        }
    }
}

impl AgentSigningKey {
    /// Signs a 32-byte digest the boundary computed itself from a decoded EVM payload
    /// ([`crate::boundary_check::evm_digest_for`]). Only the ECDSA key signs digests.
    pub(crate) fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, CustodyError> {
        match self {
            Self::Ecdsa(k) => ecdsa_sign_prehash(k, digest),
            _ => Err(CustodyError::InvalidPayload(
                "only the secp256k1 ecdsa key signs evm digests".into(),
            )),
        }
    }
}

/// Ed25519 (RFC 8032, pure) over `msg`.
pub(crate) fn ed25519_sign(key: &ed25519_dalek::SigningKey, msg: &[u8]) -> Vec<u8> {
    use ed25519_dalek::Signer as _;
    key.sign(msg).to_bytes().to_vec()
}

/// ECDSA over a 32-byte digest: `r || s || v`, `s` always low, `v` ∈ {0, 1}.
pub(crate) fn ecdsa_sign_prehash(
    key: &k256::ecdsa::SigningKey,
    digest: &[u8; 32],
) -> Result<Vec<u8>, CustodyError> {
    let (sig, recid) = key
        .sign_prehash_recoverable(digest)
        .map_err(|_| CustodyError::Internal("ecdsa signing failed".into()))?;
    // k256 already returns low-S; normalizing again is free and keeps the invariant local.
    let (sig, recid) = match sig.normalize_s() {
        Some(low) => (
            low,
            k256::ecdsa::RecoveryId::new(!recid.is_y_odd(), recid.is_x_reduced()),
        ),
        None => (sig, recid),
    };
    let mut out = sig.to_bytes().to_vec();
    out.push(recid.to_byte());
    Ok(out)
}

/// BIP-340 Schnorr over a 32-byte message with explicit auxiliary randomness.
pub(crate) fn schnorr_sign(
    key: &k256::schnorr::SigningKey,
    msg: &[u8; 32],
    aux: &[u8; 32],
) -> Result<Vec<u8>, CustodyError> {
    key.sign_raw(msg, aux)
        .map(|s| s.to_bytes().to_vec())
        .map_err(|_| CustodyError::Internal("schnorr signing failed".into()))
}

/// Keccak-256.
pub(crate) fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// The EIP-191 personal-message digest: keccak256("\x19Ethereum Signed Message:\n" + len + msg).
pub fn eip191_digest(msg: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(b"\x19Ethereum Signed Message:\n");
    h.update(msg.len().to_string().as_bytes());
    h.update(msg);
    h.finalize().into()
}

/// Solana address: base58 of the Ed25519 public key.
pub fn solana_address(public_key: &[u8; 32]) -> String {
    bs58::encode(public_key).into_string()
}

/// EVM address (EIP-55 checksummed) of a secp256k1 public key.
pub fn evm_address(key: &k256::ecdsa::VerifyingKey) -> String {
    let point = key.to_encoded_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    eip55(&hash[12..])
}

/// EIP-55 mixed-case checksum encoding of a 20-byte address.
pub fn eip55(addr: &[u8]) -> String {
    let lower = hex::encode(addr);
    let hash = keccak256(lower.as_bytes());
    let mut out = String::with_capacity(2 + lower.len());
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
        if c.is_ascii_alphabetic() && nibble >= 8 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use k256::ecdsa::signature::hazmat::PrehashVerifier;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn rfc8032_test_1() {
        let sk = h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let key = AgentSigningKey::from_secret_bytes(KeyScheme::Ed25519, &sk).unwrap();
        assert_eq!(
            hex::encode(key.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let sig = key.sign_message(b"").unwrap();
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn bip340_vectors_0_and_1() {
        let vectors = [
            (
                "0000000000000000000000000000000000000000000000000000000000000003",
                "F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9",
                "0000000000000000000000000000000000000000000000000000000000000000",
                "0000000000000000000000000000000000000000000000000000000000000000",
                "E907831F80848D1069A5371B402410364BDF1C5F8307B0084C55F1CE2DCA821525F66A4A85EA8B71E482A74F382D2CE5EBEEE8FDB2172F477DF4900D310536C0",
            ),
            (
                "B7E151628AED2A6ABF7158809CF4F3C762E7160F38B4DA56A784D9045190CFEF",
                "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
                "0000000000000000000000000000000000000000000000000000000000000001",
                "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
                "6896BD60EEAE296DB48A229FF71DFE071BDE413E6D43F917DC8DCF8C78DE33418906D11AC976ABCCB20B091292BFF4EA897EFCB639EA871CFA95F6DE339E4B0A",
            ),
        ];
        for (sk, pk, aux, msg, sig) in vectors {
            let key =
                AgentSigningKey::from_secret_bytes(KeyScheme::Secp256k1Schnorr, &h(sk)).unwrap();
            assert_eq!(key.public_key(), h(pk));
            let AgentSigningKey::Schnorr(k) = &key else {
                unreachable!()
            };
            let out =
                schnorr_sign(k, &h(msg).try_into().unwrap(), &h(aux).try_into().unwrap()).unwrap();
            assert_eq!(out, h(sig));
        }
    }

    #[test]
    fn evm_address_of_private_key_one() {
        let mut sk = [0u8; 32];
        sk[31] = 1;
        let key = AgentSigningKey::from_secret_bytes(KeyScheme::Secp256k1Ecdsa, &sk).unwrap();
        assert_eq!(key.address(), "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
    }

    #[test]
    fn eip55_vectors() {
        for a in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let raw = hex::decode(a[2..].to_lowercase()).unwrap();
            assert_eq!(eip55(&raw), a);
        }
    }

    #[test]
    fn every_scheme_verifies_independently() {
        let msg = b"custos says hello";
        // Ed25519: verify_strict.
        let key = AgentSigningKey::generate(KeyScheme::Ed25519).unwrap();
        let sig = key.sign_message(msg).unwrap();
        let vk =
            ed25519_dalek::VerifyingKey::from_bytes(&key.public_key().try_into().unwrap()).unwrap();
        vk.verify_strict(msg, &ed25519_dalek::Signature::from_slice(&sig).unwrap())
            .unwrap();
        assert_eq!(key.address(), bs58::encode(key.public_key()).into_string());

        // ECDSA: low-S, recovers to the address, verify_prehash.
        for _ in 0..16 {
            let key = AgentSigningKey::generate(KeyScheme::Secp256k1Ecdsa).unwrap();
            let sig = key.sign_message(msg).unwrap();
            assert_eq!(sig.len(), 65);
            let s = k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap();
            assert!(s.normalize_s().is_none(), "high S");
            let digest = eip191_digest(msg);
            let recid = k256::ecdsa::RecoveryId::from_byte(sig[64]).unwrap();
            let rec = k256::ecdsa::VerifyingKey::recover_from_prehash(&digest, &s, recid).unwrap();
            assert_eq!(evm_address(&rec), key.address());
            assert_eq!(rec.to_encoded_point(true).as_bytes(), key.public_key());
            rec.verify_prehash(&digest, &s).unwrap();
        }

        // Schnorr: verify over sha256(msg).
        let key = AgentSigningKey::generate(KeyScheme::Secp256k1Schnorr).unwrap();
        let sig = key.sign_message(msg).unwrap();
        let vk = k256::schnorr::VerifyingKey::from_bytes(&key.public_key()).unwrap();
        let s = k256::schnorr::Signature::try_from(sig.as_slice()).unwrap();
        let digest: [u8; 32] = sha2::Sha256::digest(msg).into();
        vk.verify_prehash(&digest, &s).unwrap();
        assert_eq!(key.address(), hex::encode(key.public_key()));
    }

    #[test]
    fn the_rsa_key_signs_kalshi_text_only_and_round_trips() {
        let key = AgentSigningKey::generate(KeyScheme::RsaPssSha256).unwrap();
        let back = AgentSigningKey::from_secret_bytes(
            KeyScheme::RsaPssSha256,
            &key.secret_bytes().unwrap(),
        )
        .unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(key.address().len(), 64);
        let sig = back
            .sign_kalshi(b"1GET/trade-api/v2/portfolio/balance")
            .unwrap();
        assert!(crate::rsa_key::verify_pss(
            &key.public_key(),
            b"1GET/trade-api/v2/portfolio/balance",
            &sig
        ));
        assert!(key.sign_message(b"x").is_err());
        assert!(key.sign_digest(&[0; 32]).is_err());
        let ed = AgentSigningKey::generate(KeyScheme::Ed25519).unwrap();
        assert!(ed.sign_kalshi(b"x").is_err());
        assert!(format!("{key:?}").contains("redacted"));
    }

    #[test]
    fn debug_is_redacted() {
        let key = AgentSigningKey::generate(KeyScheme::Ed25519).unwrap();
        let secret = hex::encode(key.secret_bytes().unwrap().as_slice());
        let out = format!("{key:?}");
        assert!(out.contains("redacted"));
        assert!(!out.contains(&secret));
    }
}
