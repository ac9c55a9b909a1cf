//! EVM transactions on the wire, without chain access: EIP-1559 (type 2) transactions built,
//! encoded for signing, decoded, and assembled with their signature; addresses parsed and
//! printed with EIP-55 checksums.
//!
//! The custody boundary decodes what it signs with this module alone, so it shares no code path
//! with the adapter's simulation.
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{keccak256, Address, Bytes, TxKind, B256};
use custos_core::ChainError;

/// 256-bit unsigned integer (wei, token amounts), re-exported for callers without alloy.
pub use alloy_primitives::U256;

/// The largest unsigned transaction accepted (calldata included).
pub const MAX_TX_BYTES: usize = 128 * 1024;

/// Parses an EVM address: `0x` and 40 hex digits. All-lowercase and all-uppercase spellings are
/// accepted; a mixed-case spelling must be a valid EIP-55 checksum (a typo is caught).
pub fn parse_address(s: &str, field: &str) -> Result<Address, ChainError> {
    let bad = |why: &str| ChainError::InvalidInput(format!("{field}: {why}"));
    let hex = s
        .strip_prefix("0x")
        .filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| bad("not an EVM address (0x + 40 hex digits)"))?;
    let addr: Address = s.parse().map_err(|_| bad("not an EVM address"))?;
    let mixed =
        hex.bytes().any(|b| b.is_ascii_lowercase()) && hex.bytes().any(|b| b.is_ascii_uppercase());
    if mixed && addr.to_checksum(None) != s {
        return Err(bad("mixed-case address with a wrong EIP-55 checksum"));
    }
    Ok(addr)
}

/// The EIP-55 spelling of `a`, as Custos prints every EVM address.
pub fn checksum(a: &Address) -> String {
    a.to_checksum(None)
}

/// The fields of an EIP-1559 transaction Custos builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eip1559Fields {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Sender's nonce.
    pub nonce: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Max fee per gas, wei.
    pub max_fee_per_gas: u128,
    /// Max priority fee per gas, wei.
    pub max_priority_fee_per_gas: u128,
    /// Recipient or contract (`None` deploys a contract).
    pub to: Option<Address>,
    /// Wei sent.
    pub value: U256,
    /// Calldata.
    pub input: Vec<u8>,
}

impl Eip1559Fields {
    fn into_tx(self) -> TxEip1559 {
        TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit: self.gas_limit,
            max_fee_per_gas: self.max_fee_per_gas,
            max_priority_fee_per_gas: self.max_priority_fee_per_gas,
            to: self.to.map_or(TxKind::Create, TxKind::Call),
            value: self.value,
            access_list: Default::default(),
            input: Bytes::from(self.input),
        }
    }
}

/// A decoded unsigned EIP-1559 transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsignedEvmTx(TxEip1559);

impl UnsignedEvmTx {
    /// Builds one from its fields.
    pub fn new(fields: Eip1559Fields) -> Self {
        Self(fields.into_tx())
    }

    /// Decodes the signing encoding `0x02 || rlp(fields)`; trailing bytes, other types and
    /// legacy transactions (no EIP-1559 fee cap) are refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, ChainError> {
        let bad = |why: String| ChainError::InvalidInput(format!("transaction: {why}"));
        if bytes.len() > MAX_TX_BYTES {
            return Err(bad(format!("longer than {MAX_TX_BYTES} bytes")));
        }
        match bytes.first() {
            Some(0x02) => {}
            Some(_) => return Err(bad(
                "only unsigned EIP-1559 (type 2) transactions are accepted: 0x02 || rlp(fields)"
                    .into(),
            )),
            None => return Err(bad("empty".into())),
        }
        let mut buf = &bytes[1..];
        let tx = <TxEip1559 as alloy_rlp::Decodable>::decode(&mut buf)
            .map_err(|e| bad(format!("not an RLP-encoded EIP-1559 transaction: {e}")))?;
        if !buf.is_empty() {
            return Err(bad(format!("{} trailing bytes", buf.len())));
        }
        if tx.chain_id == 0 {
            return Err(bad("chain id 0 (no EIP-155 replay protection)".into()));
        }
        if !tx.access_list.is_empty() {
            return Err(bad("access lists are not supported".into()));
        }
        Ok(Self(tx))
    }

    /// The signing encoding `0x02 || rlp(fields)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.0.input.len());
        self.0.encode_for_signing(&mut out);
        out
    }

    /// keccak-256 of [`Self::encode`]: what the key signs.
    pub fn signing_hash(&self) -> [u8; 32] {
        self.0.signature_hash().0
    }

    /// EIP-155 chain id.
    pub fn chain_id(&self) -> u64 {
        self.0.chain_id
    }
    /// Nonce.
    pub fn nonce(&self) -> u64 {
        self.0.nonce
    }
    /// Gas limit.
    pub fn gas_limit(&self) -> u64 {
        self.0.gas_limit
    }
    /// Max fee per gas.
    pub fn max_fee_per_gas(&self) -> u128 {
        self.0.max_fee_per_gas
    }
    /// Max priority fee per gas.
    pub fn max_priority_fee_per_gas(&self) -> u128 {
        self.0.max_priority_fee_per_gas
    }
    /// Recipient / contract; `None` for a deployment.
    pub fn to(&self) -> Option<Address> {
        self.0.to.to().copied()
    }
    /// Wei sent.
    pub fn value(&self) -> U256 {
        self.0.value
    }
    /// Calldata.
    pub fn input(&self) -> &[u8] {
        &self.0.input
    }

    /// The same transaction with another nonce.
    pub fn with_nonce(&self, nonce: u64) -> Self {
        let mut tx = self.0.clone();
        tx.nonce = nonce;
        Self(tx)
    }

    /// The same transaction with other fees.
    pub fn with_fees(&self, max_fee_per_gas: u128, max_priority_fee_per_gas: u128) -> Self {
        let mut tx = self.0.clone();
        tx.max_fee_per_gas = max_fee_per_gas;
        tx.max_priority_fee_per_gas = max_priority_fee_per_gas;
        Self(tx)
    }

    /// The unsigned transaction inside a signed EIP-1559 envelope (what was signed).
    pub fn of_signed(signed: &[u8]) -> Result<Self, ChainError> {
        let mut buf = signed;
        let env = TxEnvelope::decode_2718(&mut buf)
            .map_err(|e| ChainError::InvalidInput(format!("not a signed EVM transaction: {e}")))?;
        match env {
            TxEnvelope::Eip1559(signed) => Ok(Self(signed.tx().clone())),
            _ => Err(ChainError::InvalidInput(
                "not a signed EIP-1559 (type 2) transaction".into(),
            )),
        }
    }

    /// The most the sender can pay in fees: `gas_limit × max_fee_per_gas`.
    pub fn max_fee_wei(&self) -> U256 {
        U256::from(self.0.gas_limit).saturating_mul(U256::from(self.0.max_fee_per_gas))
    }

    /// The signed transaction (EIP-2718 envelope) from a 65-byte `r || s || v` signature
    /// (`v` ∈ {0, 1, 27, 28}); returns the bytes to broadcast and the transaction hash.
    pub fn with_signature(&self, sig: &[u8]) -> Result<(Vec<u8>, B256), ChainError> {
        if sig.len() != 65 {
            return Err(ChainError::InvalidInput(
                "an EVM signature is 65 bytes r || s || v".into(),
            ));
        }
        let parity = match sig[64] {
            0 | 27 => false,
            1 | 28 => true,
            v => {
                return Err(ChainError::InvalidInput(format!(
                    "signature recovery id {v} is not 0, 1, 27 or 28"
                )))
            }
        };
        let r = U256::from_be_slice(&sig[..32]);
        let s = U256::from_be_slice(&sig[32..64]);
        let signed = self
            .0
            .clone()
            .into_signed(alloy_primitives::Signature::new(r, s, parity));
        let hash = *signed.hash();
        let env = TxEnvelope::Eip1559(signed);
        Ok((env.encoded_2718(), hash))
    }
}

/// The hash (id) of a signed transaction envelope.
pub fn signed_tx_hash(signed: &[u8]) -> Result<B256, ChainError> {
    let mut buf = signed;
    let env = TxEnvelope::decode_2718(&mut buf)
        .map_err(|e| ChainError::InvalidInput(format!("not a signed EVM transaction: {e}")))?;
    Ok(*env.tx_hash())
}

/// The sender a signed transaction recovers to (the chain's own view of who signed it).
pub fn recover_sender(signed: &[u8]) -> Result<Address, ChainError> {
    let mut buf = signed;
    let env = TxEnvelope::decode_2718(&mut buf)
        .map_err(|e| ChainError::InvalidInput(format!("not a signed EVM transaction: {e}")))?;
    use alloy_consensus::transaction::SignerRecoverable;
    env.recover_signer()
        .map_err(|e| ChainError::InvalidInput(format!("signature does not recover: {e}")))
}

/// The nonce a signed transaction uses.
pub fn signed_tx_nonce(signed: &[u8]) -> Result<u64, ChainError> {
    let mut buf = signed;
    let env = TxEnvelope::decode_2718(&mut buf)
        .map_err(|e| ChainError::InvalidInput(format!("not a signed EVM transaction: {e}")))?;
    use alloy_consensus::Transaction as _;
    Ok(env.nonce())
}

/// keccak-256.
pub fn keccak(data: &[u8]) -> [u8; 32] {
    keccak256(data).0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> UnsignedEvmTx {
        UnsignedEvmTx::new(Eip1559Fields {
            chain_id: 31337,
            nonce: 7,
            gas_limit: 21_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: Some(parse_address("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "to").unwrap()),
            value: U256::from(10u64).pow(U256::from(17u64)),
            input: vec![],
        })
    }

    #[test]
    fn encode_decode_round_trip_and_refusals() {
        let tx = sample();
        let bytes = tx.encode();
        assert_eq!(bytes[0], 0x02);
        assert_eq!(UnsignedEvmTx::decode(&bytes).unwrap(), tx);
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(UnsignedEvmTx::decode(&trailing).is_err());
        assert!(UnsignedEvmTx::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut legacy = bytes.clone();
        legacy[0] = 0x01;
        assert!(UnsignedEvmTx::decode(&legacy).is_err());
        assert!(UnsignedEvmTx::decode(&[]).is_err());
        assert_eq!(tx.with_nonce(9).nonce(), 9);
    }

    #[test]
    fn addresses_check_their_checksum() {
        let good = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
        assert!(parse_address(good, "to").is_ok());
        assert!(parse_address(&good.to_lowercase(), "to").is_ok());
        // One letter's case flipped: a wrong checksum.
        let bad = "0x70997970c51812dc3A010C7d01b50e0d17dc79C8";
        let e = parse_address(bad, "to").unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
        assert!(parse_address("0x1234", "to").is_err());
        assert_eq!(
            checksum(&parse_address(&good.to_lowercase(), "to").unwrap()),
            good
        );
    }

    /// Signed with a k256 key here; the envelope must recover to that key's address (alloy's
    /// recovery) and carry the chain id.
    #[test]
    fn signature_assembles_into_a_recoverable_envelope() {
        use k256::ecdsa::SigningKey;
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let tx = sample();
        let (sig, rec) = key.sign_prehash_recoverable(&tx.signing_hash()).unwrap();
        let mut raw = sig.to_bytes().to_vec();
        raw.push(rec.to_byte());
        let (signed, hash) = tx.with_signature(&raw).unwrap();
        assert_eq!(signed_tx_hash(&signed).unwrap(), hash);
        let expected = Address::from_public_key(key.verifying_key());
        assert_eq!(recover_sender(&signed).unwrap(), expected);
        assert!(tx.with_signature(&raw[..64]).is_err());
    }
}
