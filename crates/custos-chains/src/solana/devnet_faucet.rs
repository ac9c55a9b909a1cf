//! The devnet's faucet and the conveniences it signs: airdrops, mints and minting to an
//! associated token account. Each is a real transaction the faucet key signs, so it lands,
//! is persisted and is visible to clients like any other.
use super::devnet::{DevnetError, EmbeddedDevnet};
use super::token;
use solana_address::Address;
use solana_instruction::{AccountMeta, Instruction};
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;

impl EmbeddedDevnet {
    /// The faucet's address (it pays airdrops and is the authority of mints made by
    /// [`Self::create_mint`]).
    pub fn faucet(&self) -> Address {
        self.lock().faucet.pubkey()
    }

    /// Sends `lamports` from the faucet to `to` in a real transaction; returns its signature.
    pub fn airdrop(&self, to: &Address, lamports: u64) -> Result<Signature, DevnetError> {
        let mut g = self.lock();
        let faucet = g.faucet.insecure_clone();
        let ix = solana_system_interface::instruction::transfer(&faucet.pubkey(), to, lamports);
        g.sign_and_send(&[ix], &faucet, &[])
    }

    /// Creates a mint under `token_program` (SPL Token or Token-2022) with the faucet as mint
    /// authority and no freeze authority; returns its address.
    pub fn create_mint(
        &self,
        decimals: u8,
        token_program: &Address,
    ) -> Result<Address, DevnetError> {
        if !token::is_token_program(token_program) {
            return Err(DevnetError::InvalidInput("not a token program".into()));
        }
        let mut g = self.lock();
        let faucet = g.faucet.insecure_clone();
        let mint = Keypair::new();
        let rent = g.svm.minimum_balance_for_rent_exemption(token::MINT_LEN);
        let create = solana_system_interface::instruction::create_account(
            &faucet.pubkey(),
            &mint.pubkey(),
            rent,
            token::MINT_LEN as u64,
            token_program,
        );
        // InitializeMint2 { decimals, mint_authority, freeze_authority: None }
        let mut data = vec![20u8, decimals];
        data.extend_from_slice(faucet.pubkey().as_ref());
        data.push(0);
        let init = Instruction {
            program_id: *token_program,
            accounts: vec![AccountMeta::new(mint.pubkey(), false)],
            data,
        };
        g.sign_and_send(&[create, init], &faucet, &[&mint])?;
        Ok(mint.pubkey())
    }

    /// Mints `amount` base units of `mint` to `owner`'s associated token account, creating it if
    /// needed; returns the token account.
    pub fn mint_to(
        &self,
        mint: &Address,
        owner: &Address,
        amount: u64,
        token_program: &Address,
    ) -> Result<Address, DevnetError> {
        let mut g = self.lock();
        let faucet = g.faucet.insecure_clone();
        let ata = spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
            owner, mint, token_program,
        );
        let create = spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
            &faucet.pubkey(), owner, mint, token_program,
        );
        let mut data = vec![7u8];
        data.extend_from_slice(&amount.to_le_bytes());
        let mint_ix = Instruction {
            program_id: *token_program,
            accounts: vec![
                AccountMeta::new(*mint, false),
                AccountMeta::new(ata, false),
                AccountMeta::new_readonly(faucet.pubkey(), true),
            ],
            data,
        };
        g.sign_and_send(&[create, mint_ix], &faucet, &[])?;
        Ok(ata)
    }

    /// Writes `account` at `address` as given — what a validator's `--account` flag loads (a
    /// pool's state for a program the devnet does not run, a fixture): development only.
    /// Executable accounts (programs) and the faucet itself are refused.
    pub fn set_account(
        &self,
        address: &Address,
        account: solana_account::Account,
    ) -> Result<(), DevnetError> {
        if account.executable {
            return Err(DevnetError::InvalidInput(
                "executable accounts (programs) cannot be written".into(),
            ));
        }
        let mut g = self.lock();
        if *address == g.faucet.pubkey() {
            return Err(DevnetError::InvalidInput(
                "the faucet's account cannot be written".into(),
            ));
        }
        g.svm
            .set_account(*address, account)
            .map_err(|e| DevnetError::InvalidInput(format!("account {address}: {e}")))?;
        g.persist()
    }
}
