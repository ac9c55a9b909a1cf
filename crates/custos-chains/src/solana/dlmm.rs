//! The adapter's side of Meteora DLMM ([`super::meteora`]): reading a pool from the chain (its
//! `LbPair` account, its mints' token programs and decimals, its bitmap extension, whether the
//! program is deployed at all) and building the wallet's instruction and transaction for it.
use super::adapter::SolanaAdapter;
use super::meteora::{self, Add, Holder, Pool, Remove, Strategy};
use super::{parse_address, token};
use custos_core::{ChainError, UnsignedTx};
use solana_address::Address;
use solana_instruction::Instruction;

/// A pool as read from the chain.
#[derive(Clone, Debug)]
pub struct PoolView {
    /// The pool.
    pub pool: Pool,
    /// Token X's decimals.
    pub x_decimals: u8,
    /// Token Y's decimals.
    pub y_decimals: u8,
    /// Whether the DLMM program is deployed on this cluster (the embedded devnet cannot run it).
    pub program_deployed: bool,
}

/// What the wallet does with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DlmmOp {
    /// Deposit at most these base units, spread by `strategy`.
    Add {
        /// Token X.
        amount_x: u64,
        /// Token Y.
        amount_y: u64,
        /// The spread.
        strategy: Strategy,
        /// Bins the active bin may move before the deposit is refused.
        max_active_bin_slippage: i32,
    },
    /// Withdraw `bps` of the range's liquidity.
    Remove {
        /// Basis points.
        bps: u16,
    },
    /// Claim the range's swap fees.
    Claim,
}

impl SolanaAdapter {
    /// The pool at `address` (an `InvalidInput` naming the pool when there is none).
    pub async fn dlmm_pool(&self, address: &str) -> Result<PoolView, ChainError> {
        let pool_addr = parse_address(address, "pool")?;
        let got = self
            .backend()
            .get_accounts(&[pool_addr, meteora::PROGRAM])
            .await?;
        let acct = got
            .first()
            .cloned()
            .flatten()
            .filter(|a| a.owner == meteora::PROGRAM)
            .ok_or_else(|| {
                ChainError::InvalidInput("pool: no Meteora DLMM pool at this address".into())
            })?;
        let program_deployed = got.get(1).cloned().flatten().is_some_and(|a| a.executable);
        let mut pool = Pool::decode(pool_addr, &acct.data)
            .map_err(|e| ChainError::InvalidInput(format!("pool: {e}")))?;
        let ext = pool.bitmap_extension_address();
        let more = self
            .backend()
            .get_accounts(&[pool.token_x_mint, pool.token_y_mint, ext])
            .await?;
        let mint = |i: usize| -> Result<(Address, u8), ChainError> {
            let a = more.get(i).cloned().flatten().ok_or_else(|| {
                ChainError::InvalidInput("pool: one of its mints does not exist".into())
            })?;
            let d = token::parse_mint_decimals(&a.owner, &a.data).ok_or_else(|| {
                ChainError::InvalidInput("pool: one of its mints is not a token mint".into())
            })?;
            Ok((a.owner, d))
        };
        let ((x_program, x_decimals), (y_program, y_decimals)) = (mint(0)?, mint(1)?);
        pool.token_x_program = x_program;
        pool.token_y_program = y_program;
        pool.bitmap_extension = more.get(2).cloned().flatten().map(|_| ext);
        Ok(PoolView {
            pool,
            x_decimals,
            y_decimals,
            program_deployed,
        })
    }

    /// The wallet's instruction for `op` on `position` over bins `min ..= max`.
    pub fn dlmm_instruction(
        &self,
        view: &PoolView,
        wallet: &str,
        position: &str,
        min: i32,
        max: i32,
        op: &DlmmOp,
    ) -> Result<Instruction, ChainError> {
        let sender = parse_address(wallet, "wallet")?;
        let position = parse_address(position, "position")?;
        let pool = &view.pool;
        let ata = |mint: &Address, program: &Address| {
            spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
                &sender, mint, program,
            )
        };
        let h = Holder {
            position,
            sender,
            user_token_x: ata(&pool.token_x_mint, &pool.token_x_program),
            user_token_y: ata(&pool.token_y_mint, &pool.token_y_program),
        };
        Ok(match op {
            DlmmOp::Add {
                amount_x,
                amount_y,
                strategy,
                max_active_bin_slippage,
            } => meteora::add(
                pool,
                &h,
                &Add {
                    amount_x: *amount_x,
                    amount_y: *amount_y,
                    active_id: pool.active_id,
                    max_active_bin_slippage: *max_active_bin_slippage,
                    min_bin_id: min,
                    max_bin_id: max,
                    strategy: *strategy,
                    favor_x: *amount_y == 0,
                },
            ),
            DlmmOp::Remove { bps } => meteora::remove(
                pool,
                &h,
                &Remove {
                    from_bin_id: min,
                    to_bin_id: max,
                    bps: *bps,
                },
            ),
            DlmmOp::Claim => meteora::claim(pool, &h, min, max),
        })
    }

    /// The transaction carrying `ix` for `wallet`, with its token accounts created if missing.
    pub async fn dlmm_transaction(
        &self,
        view: &PoolView,
        wallet: &str,
        ix: Instruction,
    ) -> Result<UnsignedTx, ChainError> {
        let payer = parse_address(wallet, "wallet")?;
        let p = &view.pool;
        self.build_instructions(
            vec![ix],
            &payer,
            &[
                (p.token_x_mint, p.token_x_program),
                (p.token_y_mint, p.token_y_program),
            ],
        )
        .await
    }
}
