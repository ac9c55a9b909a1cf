//! The Solana wire format, decoded with no chain access and no Solana SDK: what the custody
//! boundary uses to see for itself what a transaction it is asked to sign does.
//!
//! Parses legacy and v0 transactions (compact-u16 lengths must be canonical, every index must be
//! in range, no trailing bytes), recognises System and SPL Token / Token-2022 transfers and the
//! instructions that hand control of an account to someone else (`Approve`, `ApproveChecked`,
//! `SetAuthority`, System `Assign`), and places signatures into their slots.
//!
//! What it cannot know without the chain: addresses loaded from v0 address lookup tables (they
//! appear as [`AccountRef::Lookup`]), the mint of an unchecked token `Transfer`, the owner of a
//! token account, and anything a program does through cross-program calls. Rules that need those
//! belong to simulation.
use custos_core::{ApprovalEffect, ApprovalKind, AssetRef, Atoms, DecodedTransfer};
use serde::{Deserialize, Serialize};

/// The System program.
pub const SYSTEM_PROGRAM: &str = "11111111111111111111111111111111";
/// The SPL Token program.
pub const TOKEN_PROGRAM: &str = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
/// The SPL Token-2022 program.
pub const TOKEN_2022_PROGRAM: &str = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb";
/// The Associated Token Account program.
pub const ASSOCIATED_TOKEN_PROGRAM: &str = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL";
/// The Compute Budget program.
pub const COMPUTE_BUDGET_PROGRAM: &str = "ComputeBudget111111111111111111111111111111";

/// Size of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// The largest transaction the network accepts (IPv6 MTU minus headers).
pub const PACKET_DATA_SIZE: usize = 1232;

/// Why bytes are not a well-formed Solana transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes end before the structure does.
    #[error("transaction truncated while reading {0}")]
    Truncated(&'static str),
    /// A compact-u16 length is not minimally encoded or exceeds u16.
    #[error("non-canonical or oversized compact-u16 length")]
    BadLength,
    /// A structural rule is broken (index out of range, counts inconsistent, unknown version).
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// Bytes left over after the message.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The signer named is not a required signer of the message.
    #[error("{0} is not a required signer of this transaction")]
    NotASigner(String),
}

/// Message format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageVersion {
    /// Legacy message.
    Legacy,
    /// Version 0 (address lookup tables).
    V0,
}

/// An account an instruction refers to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountRef {
    /// An address in the message itself.
    Key(String),
    /// An address loaded from an address lookup table, unknown without chain access.
    Lookup {
        /// The lookup table's address.
        table: String,
        /// Index inside the table.
        index: u8,
        /// Whether it is loaded writable.
        writable: bool,
    },
}

impl AccountRef {
    /// The address when it is in the message.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Key(k) => Some(k),
            Self::Lookup { .. } => None,
        }
    }
}

/// One instruction, its accounts resolved as far as the message allows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireInstruction {
    /// The program called.
    pub program_id: String,
    /// Its accounts in order.
    pub accounts: Vec<AccountRef>,
    /// Its data.
    pub data: Vec<u8>,
}

/// A v0 address lookup table reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupTableRef {
    /// The table's address.
    pub table: String,
    /// Indexes loaded writable.
    pub writable: Vec<u8>,
    /// Indexes loaded read-only.
    pub readonly: Vec<u8>,
}

/// A Solana transaction decoded without chain access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedSolanaTx {
    /// Message format.
    pub version: MessageVersion,
    /// The fee payer (first signer).
    pub fee_payer: String,
    /// All required signers, fee payer first.
    pub signers: Vec<String>,
    /// The message's static account keys.
    pub account_keys: Vec<String>,
    /// Recent blockhash (or durable nonce), base58.
    pub recent_blockhash: String,
    /// Instructions in order.
    pub instructions: Vec<WireInstruction>,
    /// v0 lookup tables.
    pub address_table_lookups: Vec<LookupTableRef>,
    /// System and token transfers recognised in the instructions.
    pub transfers: Vec<DecodedTransfer>,
    /// Delegations and authority changes recognised in the instructions.
    pub approvals: Vec<ApprovalEffect>,
    /// Compute-unit price in micro-lamports, when set.
    pub compute_unit_price: Option<u64>,
    /// Compute-unit limit, when set.
    pub compute_unit_limit: Option<u32>,
    /// Instructions this decoder recognised no meaning in, by program (for diagnostics).
    pub unrecognised_programs: Vec<String>,
}

impl DecodedSolanaTx {
    /// Distinct programs called by top-level instructions, in first-seen order.
    pub fn programs(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for ix in &self.instructions {
            if !out.contains(&ix.program_id) {
                out.push(ix.program_id.clone());
            }
        }
        out
    }

    /// Sum of native lamports the instructions move out of `address` (System transfers and
    /// account creations it funds).
    pub fn native_outflow_from(&self, address: &str) -> u128 {
        self.transfers
            .iter()
            .filter(|t| t.native && t.from == address)
            .map(|t| t.amount)
            .sum()
    }
}

/// A serialized transaction split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawTransaction {
    /// Signature slots, as many as the message requires.
    pub signatures: Vec<[u8; SIGNATURE_LEN]>,
    /// The message bytes (what each signer signs).
    pub message: Vec<u8>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or(WireError::Truncated(what))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }

    fn key(&mut self, what: &'static str) -> Result<String, WireError> {
        Ok(bs58::encode(self.take(32, what)?).into_string())
    }

    /// Compact-u16 ("shortvec"): 7 bits per byte, little-endian, at most 3 bytes, minimal.
    fn short_len(&mut self, what: &'static str) -> Result<usize, WireError> {
        let mut value: u32 = 0;
        for i in 0..3 {
            let b = self.u8(what)?;
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if (b == 0 && i > 0) || value > u32::from(u16::MAX) {
                    return Err(WireError::BadLength);
                }
                return Ok(value as usize);
            }
            if i == 2 {
                return Err(WireError::BadLength);
            }
        }
        Err(WireError::BadLength)
    }

    fn rest(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

/// Splits a serialized transaction into signature slots and message, checking that the number
/// of slots equals the message's required signatures.
pub fn split_transaction(tx: &[u8]) -> Result<RawTransaction, WireError> {
    let mut r = Reader::new(tx);
    let n = r.short_len("signature count")?;
    let mut signatures = Vec::with_capacity(n.min(16));
    for _ in 0..n {
        let s = r.take(SIGNATURE_LEN, "signatures")?;
        let mut a = [0u8; SIGNATURE_LEN];
        a.copy_from_slice(s);
        signatures.push(a);
    }
    let message = tx[r.pos..].to_vec();
    let required = message_header(&message)?.0;
    if usize::from(required) != n {
        return Err(WireError::Malformed(format!(
            "{n} signature slots for {required} required signatures"
        )));
    }
    Ok(RawTransaction {
        signatures,
        message,
    })
}

fn message_header(message: &[u8]) -> Result<(u8, MessageVersion), WireError> {
    let first = *message.first().ok_or(WireError::Truncated("message"))?;
    if first & 0x80 != 0 {
        if first & 0x7f != 0 {
            return Err(WireError::Malformed(format!(
                "unsupported message version {}",
                first & 0x7f
            )));
        }
        let n = *message.get(1).ok_or(WireError::Truncated("header"))?;
        Ok((n, MessageVersion::V0))
    } else {
        Ok((first, MessageVersion::Legacy))
    }
}

/// Serializes signature slots and a message back into a transaction.
pub fn join_transaction(signatures: &[[u8; SIGNATURE_LEN]], message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + signatures.len() * SIGNATURE_LEN + message.len());
    write_short_len(&mut out, signatures.len());
    for s in signatures {
        out.extend_from_slice(s);
    }
    out.extend_from_slice(message);
    out
}

fn write_short_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n & 0x7f) as u8;
        n >>= 7;
        if n != 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

/// Places `signature` by `signer` (base58 address) into its slot and returns the new transaction.
pub fn attach_signature(tx: &[u8], signer: &str, signature: &[u8]) -> Result<Vec<u8>, WireError> {
    let raw = split_transaction(tx)?;
    let decoded = decode_message(&raw.message)?;
    let idx = decoded
        .signers
        .iter()
        .position(|s| s == signer)
        .ok_or_else(|| WireError::NotASigner(signer.chars().take(64).collect()))?;
    let sig: [u8; SIGNATURE_LEN] = signature
        .try_into()
        .map_err(|_| WireError::Malformed(format!("signature is {} bytes", signature.len())))?;
    let mut sigs = raw.signatures;
    sigs[idx] = sig;
    Ok(join_transaction(&sigs, &raw.message))
}

/// Decodes a serialized transaction (signatures + message). This is the custody boundary's view
/// of a transaction: it needs no chain access.
pub fn decode_for_boundary(tx: &[u8]) -> Result<DecodedSolanaTx, WireError> {
    if tx.len() > PACKET_DATA_SIZE {
        return Err(WireError::Malformed(format!(
            "{} bytes exceeds the {PACKET_DATA_SIZE}-byte packet limit",
            tx.len()
        )));
    }
    let raw = split_transaction(tx)?;
    decode_message(&raw.message)
}

/// Decodes a serialized message (legacy or v0).
pub fn decode_message(message: &[u8]) -> Result<DecodedSolanaTx, WireError> {
    let mut r = Reader::new(message);
    let (_, version) = message_header(message)?;
    if version == MessageVersion::V0 {
        r.u8("version")?;
    }
    let num_required = usize::from(r.u8("header")?);
    let num_ro_signed = usize::from(r.u8("header")?);
    let num_ro_unsigned = usize::from(r.u8("header")?);
    let n_keys = r.short_len("account key count")?;
    let mut keys = Vec::with_capacity(n_keys.min(256));
    for _ in 0..n_keys {
        keys.push(r.key("account keys")?);
    }
    if num_required == 0 || num_required > n_keys {
        return Err(WireError::Malformed(format!(
            "{num_required} required signers for {n_keys} keys"
        )));
    }
    if num_ro_signed >= num_required || num_ro_unsigned > n_keys - num_required {
        return Err(WireError::Malformed("inconsistent message header".into()));
    }
    let recent_blockhash = r.key("recent blockhash")?;
    let n_ix = r.short_len("instruction count")?;
    let mut raw_ix = Vec::with_capacity(n_ix.min(64));
    for _ in 0..n_ix {
        let program = usize::from(r.u8("program index")?);
        let n_acc = r.short_len("instruction accounts")?;
        let accounts: Vec<u8> = r.take(n_acc, "instruction accounts")?.to_vec();
        let n_data = r.short_len("instruction data")?;
        let data = r.take(n_data, "instruction data")?.to_vec();
        raw_ix.push((program, accounts, data));
    }
    let mut lookups = Vec::new();
    if version == MessageVersion::V0 {
        let n = r.short_len("lookup table count")?;
        for _ in 0..n {
            let table = r.key("lookup table")?;
            let nw = r.short_len("lookup writable")?;
            let writable = r.take(nw, "lookup writable")?.to_vec();
            let nr = r.short_len("lookup readonly")?;
            let readonly = r.take(nr, "lookup readonly")?.to_vec();
            if writable.is_empty() && readonly.is_empty() {
                return Err(WireError::Malformed("empty address table lookup".into()));
            }
            lookups.push(LookupTableRef {
                table,
                writable,
                readonly,
            });
        }
    }
    if r.rest() != 0 {
        return Err(WireError::TrailingBytes(r.rest()));
    }
    // Loaded addresses follow the static keys: all writable lookups, then all read-only ones.
    let mut loaded: Vec<AccountRef> = Vec::new();
    for l in &lookups {
        for i in &l.writable {
            loaded.push(AccountRef::Lookup {
                table: l.table.clone(),
                index: *i,
                writable: true,
            });
        }
    }
    for l in &lookups {
        for i in &l.readonly {
            loaded.push(AccountRef::Lookup {
                table: l.table.clone(),
                index: *i,
                writable: false,
            });
        }
    }
    if n_keys + loaded.len() > 256 {
        return Err(WireError::Malformed("more than 256 accounts".into()));
    }
    let resolve = |i: u8| -> Result<AccountRef, WireError> {
        let i = usize::from(i);
        if let Some(k) = keys.get(i) {
            Ok(AccountRef::Key(k.clone()))
        } else {
            loaded
                .get(i - keys.len())
                .cloned()
                .ok_or_else(|| WireError::Malformed(format!("account index {i} out of range")))
        }
    };
    let mut instructions = Vec::with_capacity(raw_ix.len());
    for (program, accounts, data) in raw_ix {
        // Programs must be static keys, and the fee payer can never be one.
        let program_id = keys
            .get(program)
            .filter(|_| program != 0)
            .cloned()
            .ok_or_else(|| {
                WireError::Malformed(format!("program index {program} is not a static key"))
            })?;
        let accounts = accounts
            .into_iter()
            .map(resolve)
            .collect::<Result<Vec<_>, _>>()?;
        instructions.push(WireInstruction {
            program_id,
            accounts,
            data,
        });
    }
    let mut out = DecodedSolanaTx {
        version,
        fee_payer: keys[0].clone(),
        signers: keys[..num_required].to_vec(),
        account_keys: keys,
        recent_blockhash,
        instructions: Vec::new(),
        address_table_lookups: lookups,
        transfers: Vec::new(),
        approvals: Vec::new(),
        compute_unit_price: None,
        compute_unit_limit: None,
        unrecognised_programs: Vec::new(),
    };
    for ix in &instructions {
        interpret(ix, &mut out)?;
    }
    out.instructions = instructions;
    Ok(out)
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    d.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

fn acc(ix: &WireInstruction, i: usize) -> Option<String> {
    ix.accounts.get(i).map(|a| match a {
        AccountRef::Key(k) => k.clone(),
        AccountRef::Lookup { table, index, .. } => format!("lookup:{table}:{index}"),
    })
}

fn need(v: Option<String>, what: &str) -> Result<String, WireError> {
    v.ok_or_else(|| WireError::Malformed(format!("{what}: missing account")))
}

/// Reads meaning out of one instruction. Malformed data for a recognised instruction is an
/// error: the runtime would reject it, and the boundary should not guess.
fn interpret(ix: &WireInstruction, out: &mut DecodedSolanaTx) -> Result<(), WireError> {
    let d = &ix.data;
    match ix.program_id.as_str() {
        SYSTEM_PROGRAM => interpret_system(ix, d, out),
        TOKEN_PROGRAM | TOKEN_2022_PROGRAM => interpret_token(ix, d, out),
        COMPUTE_BUDGET_PROGRAM => {
            match d.first() {
                Some(2) => {
                    let v = d
                        .get(1..5)
                        .and_then(|s| s.try_into().ok())
                        .map(u32::from_le_bytes)
                        .ok_or_else(|| WireError::Malformed("SetComputeUnitLimit".into()))?;
                    out.compute_unit_limit = Some(v);
                }
                Some(3) => {
                    let v = u64_at(d, 1)
                        .ok_or_else(|| WireError::Malformed("SetComputeUnitPrice".into()))?;
                    out.compute_unit_price = Some(v);
                }
                _ => {}
            }
            Ok(())
        }
        ASSOCIATED_TOKEN_PROGRAM => Ok(()),
        other => {
            if !out.unrecognised_programs.iter().any(|p| p == other) {
                out.unrecognised_programs.push(other.to_string());
            }
            Ok(())
        }
    }
}

fn interpret_system(
    ix: &WireInstruction,
    d: &[u8],
    out: &mut DecodedSolanaTx,
) -> Result<(), WireError> {
    let Some(tag) = d
        .get(0..4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
    else {
        return Err(WireError::Malformed(
            "system instruction without tag".into(),
        ));
    };
    let bad = |name: &str| WireError::Malformed(format!("system {name}"));
    let native = |from: String, to: String, amount: u64| DecodedTransfer {
        from,
        to,
        mint: None,
        native: true,
        amount: u128::from(amount),
    };
    match tag {
        // CreateAccount { lamports, space, owner }: the funder pays `lamports` to the new account.
        0 => {
            let lamports = u64_at(d, 4).ok_or_else(|| bad("CreateAccount"))?;
            out.transfers.push(native(
                need(acc(ix, 0), "CreateAccount")?,
                need(acc(ix, 1), "CreateAccount")?,
                lamports,
            ));
        }
        // Assign { owner }: the account changes owner program.
        1 => {
            let owner = d.get(4..36).ok_or_else(|| bad("Assign"))?;
            out.approvals.push(ApprovalEffect {
                kind: ApprovalKind::OwnerChange,
                account: need(acc(ix, 0), "Assign")?,
                asset: Some(AssetRef::Native),
                grantee: Some(bs58::encode(owner).into_string()),
                amount: None,
            });
        }
        // Transfer { lamports }
        2 => {
            let lamports = u64_at(d, 4).ok_or_else(|| bad("Transfer"))?;
            out.transfers.push(native(
                need(acc(ix, 0), "Transfer")?,
                need(acc(ix, 1), "Transfer")?,
                lamports,
            ));
        }
        // CreateAccountWithSeed { base, seed: String, lamports, space, owner }
        3 => {
            let seed_len = u64_at(d, 36).ok_or_else(|| bad("CreateAccountWithSeed"))?;
            let at = usize::try_from(seed_len)
                .ok()
                .and_then(|l| l.checked_add(44))
                .ok_or_else(|| bad("CreateAccountWithSeed"))?;
            let lamports = u64_at(d, at).ok_or_else(|| bad("CreateAccountWithSeed"))?;
            out.transfers.push(native(
                need(acc(ix, 0), "CreateAccountWithSeed")?,
                need(acc(ix, 1), "CreateAccountWithSeed")?,
                lamports,
            ));
        }
        // WithdrawNonceAccount { lamports }: nonce account → recipient.
        5 => {
            let lamports = u64_at(d, 4).ok_or_else(|| bad("WithdrawNonceAccount"))?;
            out.transfers.push(native(
                need(acc(ix, 0), "WithdrawNonceAccount")?,
                need(acc(ix, 1), "WithdrawNonceAccount")?,
                lamports,
            ));
        }
        // AuthorizeNonceAccount { new authority }
        7 => {
            let auth = d.get(4..36).ok_or_else(|| bad("AuthorizeNonceAccount"))?;
            out.approvals.push(ApprovalEffect {
                kind: ApprovalKind::AuthorityChange,
                account: need(acc(ix, 0), "AuthorizeNonceAccount")?,
                asset: Some(AssetRef::Native),
                grantee: Some(bs58::encode(auth).into_string()),
                amount: None,
            });
        }
        // AssignWithSeed { base, seed, owner }
        10 => {
            let seed_len = u64_at(d, 36).ok_or_else(|| bad("AssignWithSeed"))?;
            let at = usize::try_from(seed_len)
                .ok()
                .and_then(|l| l.checked_add(44))
                .ok_or_else(|| bad("AssignWithSeed"))?;
            let owner = d
                .get(at..at.saturating_add(32))
                .ok_or_else(|| bad("AssignWithSeed"))?;
            out.approvals.push(ApprovalEffect {
                kind: ApprovalKind::OwnerChange,
                account: need(acc(ix, 0), "AssignWithSeed")?,
                asset: Some(AssetRef::Native),
                grantee: Some(bs58::encode(owner).into_string()),
                amount: None,
            });
        }
        // TransferWithSeed { lamports, from_seed, from_owner }: accounts [from, base, to].
        11 => {
            let lamports = u64_at(d, 4).ok_or_else(|| bad("TransferWithSeed"))?;
            out.transfers.push(native(
                need(acc(ix, 0), "TransferWithSeed")?,
                need(acc(ix, 2), "TransferWithSeed")?,
                lamports,
            ));
        }
        _ => {}
    }
    Ok(())
}

fn interpret_token(
    ix: &WireInstruction,
    d: &[u8],
    out: &mut DecodedSolanaTx,
) -> Result<(), WireError> {
    let Some(tag) = d.first() else {
        return Err(WireError::Malformed("token instruction without tag".into()));
    };
    let bad = |name: &str| WireError::Malformed(format!("token {name}"));
    match tag {
        // Transfer { amount }: [source, destination, authority]
        3 => {
            let amount = u64_at(d, 1).ok_or_else(|| bad("Transfer"))?;
            out.transfers.push(DecodedTransfer {
                from: need(acc(ix, 0), "Transfer")?,
                to: need(acc(ix, 1), "Transfer")?,
                mint: None,
                native: false,
                amount: u128::from(amount),
            });
        }
        // Approve { amount }: [source, delegate, owner]
        4 => {
            let amount = u64_at(d, 1).ok_or_else(|| bad("Approve"))?;
            out.approvals.push(ApprovalEffect {
                kind: ApprovalKind::Delegate,
                account: need(acc(ix, 0), "Approve")?,
                asset: None,
                grantee: Some(need(acc(ix, 1), "Approve")?),
                amount: Some(Atoms::from(amount)),
            });
        }
        // SetAuthority { authority_type, new_authority: COption<Pubkey> }: [account, current]
        6 => {
            let kind = match d.get(1) {
                Some(2) => ApprovalKind::OwnerChange,
                Some(_) => ApprovalKind::AuthorityChange,
                None => return Err(bad("SetAuthority")),
            };
            let grantee = match d.get(2) {
                Some(0) => None,
                Some(1) => Some(
                    d.get(3..35)
                        .map(|k| bs58::encode(k).into_string())
                        .ok_or_else(|| bad("SetAuthority"))?,
                ),
                _ => return Err(bad("SetAuthority")),
            };
            out.approvals.push(ApprovalEffect {
                kind,
                account: need(acc(ix, 0), "SetAuthority")?,
                asset: None,
                grantee,
                amount: None,
            });
        }
        // TransferChecked { amount, decimals }: [source, mint, destination, authority]
        12 => {
            let amount = u64_at(d, 1).ok_or_else(|| bad("TransferChecked"))?;
            let mint = need(acc(ix, 1), "TransferChecked")?;
            out.transfers.push(DecodedTransfer {
                from: need(acc(ix, 0), "TransferChecked")?,
                to: need(acc(ix, 2), "TransferChecked")?,
                mint: Some(mint),
                native: false,
                amount: u128::from(amount),
            });
        }
        // ApproveChecked { amount, decimals }: [source, mint, delegate, owner]
        13 => {
            let amount = u64_at(d, 1).ok_or_else(|| bad("ApproveChecked"))?;
            let mint = need(acc(ix, 1), "ApproveChecked")?;
            out.approvals.push(ApprovalEffect {
                kind: ApprovalKind::Delegate,
                account: need(acc(ix, 0), "ApproveChecked")?,
                asset: Some(AssetRef::Token(mint)),
                grantee: Some(need(acc(ix, 2), "ApproveChecked")?),
                amount: Some(Atoms::from(amount)),
            });
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn short_len_is_canonical() {
        for (bytes, v) in [
            (&[0x00][..], 0usize),
            (&[0x7f][..], 0x7f),
            (&[0x80, 0x01][..], 0x80),
            (&[0xff, 0xff, 0x03][..], 0xffff),
        ] {
            assert_eq!(Reader::new(bytes).short_len("x"), Ok(v), "{bytes:?}");
            let mut w = Vec::new();
            write_short_len(&mut w, v);
            assert_eq!(w, bytes);
        }
        for bad in [
            &[0x80, 0x00][..],
            &[0xff, 0xff, 0x04][..],
            &[0x80, 0x80, 0x80, 0x01][..],
            &[0x80][..],
        ] {
            assert!(Reader::new(bad).short_len("x").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refuses_garbage_and_truncation() {
        assert!(decode_for_boundary(&[]).is_err());
        assert!(decode_for_boundary(&[1, 2, 3]).is_err());
        assert!(decode_for_boundary(&[0u8; 2000]).is_err());
    }
}
