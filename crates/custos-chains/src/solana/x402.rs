//! The payment transaction of x402 v2's `exact` scheme on Solana, as the payer builds it: a v0
//! message whose fee payer is the seller's facilitator (`extra.feePayer`, which co-signs and
//! sends it), carrying exactly four instructions — `SetComputeUnitLimit`, `SetComputeUnitPrice`,
//! an SPL `TransferChecked` of the price from the payer's associated token account to the payee's,
//! signed by the payer, and a Memo that makes every payment's message unique (the facilitator
//! refuses one it has settled in the last two minutes). The reference facilitator (`@x402/svm`)
//! accepts nothing else: fee payer first and in no instruction's accounts, a compute-unit price of
//! at most 5 lamports per unit, the destination the payee's associated account for the mint and
//! its token program, the amount exactly the price. The payer never creates the payee's account.
use super::adapter::SolanaAdapter;
use super::{parse_address, serialize_tx, token};
use custos_core::{Chain, ChainError, UnsignedTx};
use solana_address::Address;
use solana_hash::Hash;
use solana_instruction::{AccountMeta, Instruction};
use solana_message::VersionedMessage;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;

/// The compute-unit limit the payment asks for (the reference client's).
pub const COMPUTE_UNIT_LIMIT: u32 = 20_000;
/// Its compute-unit price, micro-lamports (the reference client's: the least that is not zero).
pub const COMPUTE_UNIT_PRICE: u64 = 1;
/// The longest memo the scheme allows, bytes.
pub const MAX_MEMO_BYTES: usize = 256;

/// The SPL Memo program (v3).
fn memo_program() -> Address {
    Address::from_str_const("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
}

/// What one payment moves, and who sends it.
#[derive(Clone, Debug)]
pub struct ExactPayment {
    /// The paying wallet: owner of the source token account, and the only signer besides the
    /// fee payer.
    pub payer: Address,
    /// The facilitator that pays the fee and sends the transaction.
    pub fee_payer: Address,
    /// The token paid.
    pub mint: Address,
    /// The mint's token program (SPL Token or Token-2022).
    pub token_program: Address,
    /// The mint's decimals.
    pub decimals: u8,
    /// The payee's wallet (its associated token account receives the tokens).
    pub pay_to: Address,
    /// Base units.
    pub amount: u64,
    /// The memo (at most [`MAX_MEMO_BYTES`]).
    pub memo: Vec<u8>,
}

/// The payment's unsigned message over `blockhash`.
pub fn message(p: &ExactPayment, blockhash: Hash) -> Result<VersionedMessage, ChainError> {
    use solana_compute_budget_interface::ComputeBudgetInstruction;
    if p.memo.is_empty() || p.memo.len() > MAX_MEMO_BYTES {
        return Err(ChainError::InvalidInput(format!(
            "memo: 1 to {MAX_MEMO_BYTES} bytes"
        )));
    }
    if p.fee_payer == p.payer {
        return Err(ChainError::InvalidInput(
            "feePayer: the facilitator's fee payer is the paying wallet itself".into(),
        ));
    }
    if p.amount == 0 {
        return Err(ChainError::InvalidInput("amount must be positive".into()));
    }
    let ata = |owner: &Address| {
        spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
            owner,
            &p.mint,
            &p.token_program,
        )
    };
    // TransferChecked { amount, decimals }: [source, mint, destination, owner]
    let mut data = vec![12u8];
    data.extend_from_slice(&p.amount.to_le_bytes());
    data.push(p.decimals);
    let ixs = [
        ComputeBudgetInstruction::set_compute_unit_limit(COMPUTE_UNIT_LIMIT),
        ComputeBudgetInstruction::set_compute_unit_price(COMPUTE_UNIT_PRICE),
        Instruction {
            program_id: p.token_program,
            accounts: vec![
                AccountMeta::new(ata(&p.payer), false),
                AccountMeta::new_readonly(p.mint, false),
                AccountMeta::new(ata(&p.pay_to), false),
                AccountMeta::new_readonly(p.payer, true),
            ],
            data,
        },
        Instruction {
            program_id: memo_program(),
            accounts: vec![],
            data: p.memo.clone(),
        },
    ];
    let m = solana_message::v0::Message::try_compile(&p.fee_payer, &ixs, &[], blockhash)
        .map_err(|e| ChainError::Internal(format!("compile the payment message: {e}")))?;
    Ok(VersionedMessage::V0(m))
}

impl SolanaAdapter {
    /// The cluster's CAIP-2 network id, as x402 names it: `solana:` and the first 32
    /// characters of its genesis hash.
    pub async fn caip2_network(&self) -> Result<String, ChainError> {
        let genesis = self.backend().genesis_hash().await?.to_string();
        Ok(format!(
            "solana:{}",
            genesis.chars().take(32).collect::<String>()
        ))
    }

    /// The mint's token program and decimals (an error naming `asset` if it is not a mint).
    pub async fn mint_info(&self, mint: &str) -> Result<(Address, u8), ChainError> {
        let mint = parse_address(mint, "asset")?;
        let acct = self
            .backend()
            .get_accounts(&[mint])
            .await?
            .into_iter()
            .next()
            .flatten()
            .ok_or_else(|| ChainError::InvalidInput("asset: no such mint".into()))?;
        let decimals = token::parse_mint_decimals(&acct.owner, &acct.data)
            .ok_or_else(|| ChainError::InvalidInput("asset: not a token mint".into()))?;
        Ok((acct.owner, decimals))
    }

    /// The unsigned payment transaction (both signature slots empty; the payer's is the
    /// custody boundary's to fill, the fee payer's the facilitator's).
    pub async fn x402_exact_payment(
        &self,
        payer: &str,
        fee_payer: &str,
        mint: &str,
        pay_to: &str,
        amount: u64,
        memo: Vec<u8>,
    ) -> Result<UnsignedTx, ChainError> {
        let (token_program, decimals) = self.mint_info(mint).await?;
        let p = ExactPayment {
            payer: parse_address(payer, "payer")?,
            fee_payer: parse_address(fee_payer, "feePayer")?,
            mint: parse_address(mint, "asset")?,
            token_program,
            decimals,
            pay_to: parse_address(pay_to, "payTo")?,
            amount,
            memo,
        };
        let (blockhash, last_valid) = self.backend().latest_blockhash().await?;
        let message = message(&p, blockhash)?;
        let n = usize::from(message.header().num_required_signatures);
        let tx = VersionedTransaction {
            signatures: vec![Signature::default(); n],
            message,
        };
        Ok(UnsignedTx {
            chain: Chain::Solana,
            message: tx.message.serialize(),
            tx_bytes: serialize_tx(&tx)?,
            signer: payer.to_owned(),
            amount_base_units: u128::from(amount),
            decimals,
            last_valid_block_height: Some(last_valid),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn payment() -> ExactPayment {
        ExactPayment {
            payer: Address::new_from_array([1; 32]),
            fee_payer: Address::new_from_array([2; 32]),
            mint: Address::new_from_array([3; 32]),
            token_program: token::token_program(),
            decimals: 6,
            pay_to: Address::new_from_array([4; 32]),
            amount: 10_000,
            memo: b"0123456789abcdef0123456789abcdef".to_vec(),
        }
    }

    /// The layout the reference facilitator checks: fee payer first and a signer, the payer the
    /// other (read-only) signer, the four instructions in order with the reference values, and
    /// the fee payer in no instruction's accounts.
    #[test]
    fn the_message_is_the_schemes_four_instructions() {
        let p = payment();
        let m = message(&p, Hash::new_from_array([9; 32])).unwrap();
        let VersionedMessage::V0(v0) = &m else {
            panic!("not v0")
        };
        assert_eq!(v0.header.num_required_signatures, 2);
        assert_eq!(v0.header.num_readonly_signed_accounts, 1);
        assert_eq!(v0.account_keys[0], p.fee_payer);
        assert_eq!(v0.account_keys[1], p.payer);
        assert!(v0.address_table_lookups.is_empty());
        let ixs = &v0.instructions;
        assert_eq!(ixs.len(), 4);
        let prog = |i: usize| v0.account_keys[usize::from(ixs[i].program_id_index)];
        let cb = Address::from_str_const("ComputeBudget111111111111111111111111111111");
        assert_eq!(prog(0), cb);
        assert_eq!(ixs[0].data, [&[2u8][..], &20_000u32.to_le_bytes()].concat());
        assert_eq!(prog(1), cb);
        assert_eq!(ixs[1].data, [&[3u8][..], &1u64.to_le_bytes()].concat());
        assert_eq!(prog(2), token::token_program());
        assert_eq!(
            ixs[2].data,
            [&[12u8][..], &10_000u64.to_le_bytes(), &[6u8]].concat()
        );
        let keys: Vec<Address> = ixs[2]
            .accounts
            .iter()
            .map(|i| v0.account_keys[usize::from(*i)])
            .collect();
        let ata = |o: &Address| {
            spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
                o, &p.mint, &p.token_program,
            )
        };
        assert_eq!(keys, vec![ata(&p.payer), p.mint, ata(&p.pay_to), p.payer]);
        assert_eq!(prog(3), memo_program());
        assert_eq!(ixs[3].data, p.memo);
        for ix in ixs {
            assert!(
                !ix.accounts.contains(&0),
                "the fee payer is in an instruction"
            );
        }
    }

    #[test]
    fn bad_payments_are_refused() {
        let h = Hash::default();
        let mut p = payment();
        p.fee_payer = p.payer;
        assert!(message(&p, h).is_err());
        let mut p = payment();
        p.amount = 0;
        assert!(message(&p, h).is_err());
        let mut p = payment();
        p.memo = vec![b'x'; MAX_MEMO_BYTES + 1];
        assert!(message(&p, h).is_err());
        p.memo.clear();
        assert!(message(&p, h).is_err());
    }
}
