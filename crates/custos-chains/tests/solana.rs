//! Solana adapter against a real LiteSVM devnet, in-process and over its JSON-RPC server.
#![cfg(feature = "solana")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use custos_chains::solana::token::{token_2022_program, token_program};
use custos_chains::solana::{
    spawn_server, EmbeddedBackend, EmbeddedDevnet, RpcBackend, RpcServerHandle, SolanaAdapter,
    SolanaBackend, SolanaConfig,
};
use custos_chains::solana_wire::{self, AccountRef, MessageVersion};
use custos_core::{
    ApprovalKind, AssetRef, Atoms, ChainAdapter, ChainError, Commitment, Decimal, TransferIntent,
};
use ed25519_dalek::{Signer as _, SigningKey};
use solana_address::Address;
use solana_instruction::{AccountMeta, Instruction};
use solana_message::{Message, VersionedMessage};
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

const SOL: u64 = 1_000_000_000;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Embedded,
    Rpc,
}

struct Env {
    adapter: SolanaAdapter,
    devnet: Arc<EmbeddedDevnet>,
    _server: Option<RpcServerHandle>,
    _dir: tempfile::TempDir,
}

async fn env(kind: Kind, priority_fee: u64) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Arc::new(EmbeddedDevnet::open(dir.path()).unwrap());
    let config = SolanaConfig {
        priority_fee_micro_lamports: priority_fee,
        priority_fee_percentile: None,
        max_priority_fee_micro_lamports: 1_000_000,
        compute_unit_limit: if priority_fee > 0 {
            Some(200_000)
        } else {
            None
        },
        poll_interval: Duration::from_millis(20),
    };
    let (backend, server): (Arc<dyn SolanaBackend>, _) = match kind {
        Kind::Embedded => (Arc::new(EmbeddedBackend::new(devnet.clone())), None),
        Kind::Rpc => {
            let server = spawn_server("127.0.0.1:0".parse().unwrap(), devnet.clone())
                .await
                .unwrap();
            let rpc = RpcBackend::new(server.url(), Commitment::Confirmed).unwrap();
            (Arc::new(rpc), Some(server))
        }
    };
    Env {
        adapter: SolanaAdapter::new(backend, config),
        devnet,
        _server: server,
        _dir: dir,
    }
}

struct Agent {
    key: SigningKey,
}

impl Agent {
    fn new() -> Self {
        Self {
            key: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }
    fn address(&self) -> Address {
        Address::new_from_array(self.key.verifying_key().to_bytes())
    }
    /// Signs like the custody boundary: Ed25519 over the message bytes, then the slot is filled.
    fn sign(&self, adapter: &SolanaAdapter, tx_bytes: &[u8]) -> Vec<u8> {
        let raw = solana_wire::split_transaction(tx_bytes).unwrap();
        let sig = self.key.sign(&raw.message).to_bytes();
        adapter
            .attach_signature(tx_bytes, &self.address().to_string(), &sig)
            .unwrap()
    }
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

async fn transfer(
    env: &Env,
    agent: &Agent,
    to: &Address,
    asset: AssetRef,
    amount: &str,
) -> Result<String, ChainError> {
    let unsigned = env
        .adapter
        .build_transfer(&TransferIntent {
            from: agent.address().to_string(),
            to: to.to_string(),
            asset,
            amount: dec(amount),
        })
        .await?;
    let signed = agent.sign(&env.adapter, &unsigned.tx_bytes);
    let id = env.adapter.submit(&signed).await?;
    let c = env
        .adapter
        .confirm(&id, Commitment::Confirmed, Duration::from_secs(10))
        .await?;
    assert_eq!(c.error, None);
    Ok(id)
}

async fn balance_of(env: &Env, who: &Address, asset: &AssetRef) -> u128 {
    env.adapter
        .balances(&who.to_string())
        .await
        .unwrap()
        .into_iter()
        .find(|b| &b.asset == asset)
        .map(|b| b.amount)
        .unwrap_or(0)
}

async fn sol_transfer_confirmed(kind: Kind) {
    let env = env(kind, 1_000).await;
    let agent = Agent::new();
    let bob = Address::new_unique();
    env.devnet.airdrop(&agent.address(), 2 * SOL).unwrap();
    assert_eq!(
        balance_of(&env, &agent.address(), &AssetRef::Native).await,
        u128::from(2 * SOL)
    );

    let unsigned = env
        .adapter
        .build_transfer(&TransferIntent {
            from: agent.address().to_string(),
            to: bob.to_string(),
            asset: AssetRef::Native,
            amount: dec("0.25"),
        })
        .await
        .unwrap();
    assert_eq!(unsigned.amount_base_units, 250_000_000);
    let decoded = env.adapter.decode(&unsigned.tx_bytes).unwrap();
    assert_eq!(decoded.signers, vec![agent.address().to_string()]);
    assert!(decoded
        .programs
        .contains(&solana_wire::COMPUTE_BUDGET_PROGRAM.to_string()));

    // Simulation of the unsigned transaction: outflow = amount + fee (base + priority).
    let fx = env
        .adapter
        .simulate(&unsigned.tx_bytes, &agent.address().to_string())
        .await
        .unwrap();
    assert!(fx.success, "{:?}", fx.error);
    let expected_fee = 5_000 + 200; // 1_000 µlamports × 200_000 CU = 200 lamports
    assert_eq!(fx.fee, expected_fee);
    assert_eq!(
        fx.outflow(&AssetRef::Native),
        Atoms::from(250_000_000 + u128::from(expected_fee))
    );
    assert!(fx.approvals.is_empty());

    let signed = agent.sign(&env.adapter, &unsigned.tx_bytes);
    let id = env.adapter.submit(&signed).await.unwrap();
    let c = env
        .adapter
        .confirm(&id, Commitment::Finalized, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(c.error, None);
    assert_eq!(c.commitment, Commitment::Finalized);
    assert_eq!(balance_of(&env, &bob, &AssetRef::Native).await, 250_000_000);
    assert_eq!(
        balance_of(&env, &agent.address(), &AssetRef::Native).await,
        u128::from(2 * SOL) - 250_000_000 - u128::from(expected_fee)
    );

    // The same signed transaction again is refused.
    assert!(matches!(
        env.adapter.submit(&signed).await,
        Err(ChainError::Rejected(_))
    ));
    // A tampered signature is refused.
    let mut bad = signed.clone();
    bad[10] ^= 1;
    assert!(matches!(
        env.adapter.submit(&bad).await,
        Err(ChainError::Rejected(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_transfer_confirmed_embedded() {
    sol_transfer_confirmed(Kind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_transfer_confirmed_over_rpc() {
    sol_transfer_confirmed(Kind::Rpc).await;
}

async fn token_transfers(kind: Kind) {
    let env = env(kind, 0).await;
    let agent = Agent::new();
    let carol = Address::new_unique();
    env.devnet.airdrop(&agent.address(), SOL).unwrap();
    for (program, decimals) in [(token_program(), 6u8), (token_2022_program(), 9u8)] {
        let mint = env.devnet.create_mint(decimals, &program).unwrap();
        env.devnet
            .mint_to(
                &mint,
                &agent.address(),
                5 * 10u64.pow(u32::from(decimals)),
                &program,
            )
            .unwrap();
        let asset = AssetRef::Token(mint.to_string());
        let base = 10u128.pow(u32::from(decimals));
        assert_eq!(balance_of(&env, &agent.address(), &asset).await, 5 * base);

        // First transfer creates carol's associated token account.
        let unsigned = env
            .adapter
            .build_transfer(&TransferIntent {
                from: agent.address().to_string(),
                to: carol.to_string(),
                asset: asset.clone(),
                amount: dec("1.5"),
            })
            .await
            .unwrap();
        let d = env.adapter.decode_solana(&unsigned.tx_bytes).unwrap();
        assert_eq!(
            d.programs(),
            vec![
                solana_wire::ASSOCIATED_TOKEN_PROGRAM.to_string(),
                program.to_string()
            ]
        );
        assert_eq!(d.transfers.len(), 1);
        assert_eq!(
            d.transfers[0].mint.as_deref(),
            Some(mint.to_string().as_str())
        );
        assert_eq!(d.transfers[0].amount, 3 * base / 2);

        let fx = env
            .adapter
            .simulate(&unsigned.tx_bytes, &agent.address().to_string())
            .await
            .unwrap();
        assert!(fx.success, "{:?} {:?}", fx.error, fx.logs);
        assert_eq!(fx.outflow(&asset), Atoms::from(3 * base / 2));
        let carol_ata = spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
            &carol, &mint, &program,
        );
        assert!(fx.accounts_created.contains(&carol_ata.to_string()));
        // The rent for carol's account is paid by the agent: native outflow > fee alone.
        assert!(fx.outflow(&AssetRef::Native) > Atoms::from(fx.fee));

        let signed = agent.sign(&env.adapter, &unsigned.tx_bytes);
        let id = env.adapter.submit(&signed).await.unwrap();
        env.adapter
            .confirm(&id, Commitment::Confirmed, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(balance_of(&env, &carol, &asset).await, 3 * base / 2);

        // Second transfer: the account exists, no creation instruction.
        let unsigned = env
            .adapter
            .build_transfer(&TransferIntent {
                from: agent.address().to_string(),
                to: carol.to_string(),
                asset: asset.clone(),
                amount: dec("0.5"),
            })
            .await
            .unwrap();
        let d = env.adapter.decode_solana(&unsigned.tx_bytes).unwrap();
        assert_eq!(d.programs(), vec![program.to_string()]);
        let signed = agent.sign(&env.adapter, &unsigned.tx_bytes);
        let id = env.adapter.submit(&signed).await.unwrap();
        env.adapter
            .confirm(&id, Commitment::Confirmed, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(balance_of(&env, &carol, &asset).await, 2 * base);
        assert_eq!(balance_of(&env, &agent.address(), &asset).await, 3 * base);

        // More precision than the mint has is refused, never rounded.
        let too_fine = format!("0.{}1", "0".repeat(usize::from(decimals)));
        assert!(matches!(
            transfer(&env, &agent, &carol, asset.clone(), &too_fine).await,
            Err(ChainError::InvalidInput(_))
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spl_token_and_token_2022_transfers_embedded() {
    token_transfers(Kind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spl_token_and_token_2022_transfers_over_rpc() {
    token_transfers(Kind::Rpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_data_dir_keeps_balances() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::new();
    let dave = Address::new_unique();
    let (mint, faucet) = {
        let devnet = Arc::new(EmbeddedDevnet::open(dir.path()).unwrap());
        devnet.airdrop(&agent.address(), 3 * SOL).unwrap();
        let mint = devnet.create_mint(2, &token_program()).unwrap();
        devnet
            .mint_to(&mint, &agent.address(), 12_345, &token_program())
            .unwrap();
        let adapter = SolanaAdapter::new(
            Arc::new(EmbeddedBackend::new(devnet.clone())),
            SolanaConfig::default(),
        );
        let e = Env {
            adapter,
            devnet: devnet.clone(),
            _server: None,
            _dir: tempfile::tempdir().unwrap(),
        };
        transfer(&e, &agent, &dave, AssetRef::Native, "1")
            .await
            .unwrap();
        (mint, devnet.faucet())
    };
    // A new devnet from the same directory.
    let devnet = Arc::new(EmbeddedDevnet::open(dir.path()).unwrap());
    assert_eq!(devnet.faucet(), faucet);
    assert_eq!(devnet.balance(&dave), SOL);
    assert_eq!(devnet.balance(&agent.address()), 2 * SOL - 5_000);
    let e = Env {
        adapter: SolanaAdapter::new(
            Arc::new(EmbeddedBackend::new(devnet.clone())),
            SolanaConfig::default(),
        ),
        devnet: devnet.clone(),
        _server: None,
        _dir: tempfile::tempdir().unwrap(),
    };
    let asset = AssetRef::Token(mint.to_string());
    assert_eq!(balance_of(&e, &agent.address(), &asset).await, 12_345);
    // And it keeps working: the restored mint and accounts are usable.
    transfer(&e, &agent, &dave, asset.clone(), "23.45")
        .await
        .unwrap();
    assert_eq!(balance_of(&e, &dave, &asset).await, 2_345);
    devnet.mint_to(&mint, &dave, 5, &token_program()).unwrap();
    assert_eq!(balance_of(&e, &dave, &asset).await, 2_350);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dalek_signature_verifies_under_solana_transaction() {
    let env = env(Kind::Embedded, 0).await;
    let agent = Agent::new();
    env.devnet.airdrop(&agent.address(), SOL).unwrap();
    let unsigned = env
        .adapter
        .build_transfer(&TransferIntent {
            from: agent.address().to_string(),
            to: Address::new_unique().to_string(),
            asset: AssetRef::Native,
            amount: dec("0.1"),
        })
        .await
        .unwrap();
    let signed = agent.sign(&env.adapter, &unsigned.tx_bytes);
    let vtx: VersionedTransaction = bincode::deserialize(&signed).unwrap();
    assert_eq!(vtx.verify_with_results(), vec![true]);
    assert_eq!(vtx.message.serialize(), unsigned.message);
    // The legacy SDK type verifies it too.
    let legacy: solana_transaction::Transaction = bincode::deserialize(&signed).unwrap();
    legacy.verify().unwrap();
    // The unsigned bytes do not verify.
    let vtx: VersionedTransaction = bincode::deserialize(&unsigned.tx_bytes).unwrap();
    assert_eq!(vtx.verify_with_results(), vec![false]);
}

/// A transaction built outside the adapter from raw instructions, signed by the agent.
async fn custom_tx(env: &Env, agent: &Agent, ixs: &[Instruction]) -> Vec<u8> {
    let (blockhash, _) = env.adapter.backend().latest_blockhash().await.unwrap();
    let msg = Message::new_with_blockhash(ixs, Some(&agent.address()), &blockhash);
    let tx = VersionedTransaction {
        signatures: vec![Signature::default(); 1],
        message: VersionedMessage::Legacy(msg),
    };
    bincode::serialize(&tx).unwrap()
}

async fn drain_shows_real_outflow(kind: Kind) {
    let env = env(kind, 0).await;
    let agent = Agent::new();
    let payee = Address::new_unique();
    let thief = Address::new_unique();
    env.devnet.airdrop(&agent.address(), 10 * SOL).unwrap();
    let mint = env.devnet.create_mint(6, &token_program()).unwrap();
    let agent_ata = env
        .devnet
        .mint_to(&mint, &agent.address(), 1_000_000_000, &token_program())
        .unwrap();
    let thief_ata = env
        .devnet
        .mint_to(&mint, &thief, 1, &token_program())
        .unwrap();

    // "Pay 0.001 SOL" — plus a hidden 5 SOL transfer and an unchecked token Transfer (which
    // does not even name the mint) of 900 tokens.
    let mut token_data = vec![3u8];
    token_data.extend_from_slice(&900_000_000u64.to_le_bytes());
    let ixs = [
        solana_system_interface::instruction::transfer(&agent.address(), &payee, 1_000_000),
        solana_system_interface::instruction::transfer(&agent.address(), &thief, 5 * SOL),
        Instruction {
            program_id: token_program(),
            accounts: vec![
                AccountMeta::new(agent_ata, false),
                AccountMeta::new(thief_ata, false),
                AccountMeta::new_readonly(agent.address(), true),
            ],
            data: token_data,
        },
    ];
    let tx = custom_tx(&env, &agent, &ixs).await;
    let fx = env
        .adapter
        .simulate(&tx, &agent.address().to_string())
        .await
        .unwrap();
    assert!(fx.success, "{:?}", fx.error);
    assert_eq!(
        fx.outflow(&AssetRef::Native),
        Atoms::from(5 * SOL + 1_000_000 + 5_000)
    );
    let asset = AssetRef::Token(mint.to_string());
    assert_eq!(fx.outflow(&asset), Atoms::from(900_000_000u64));
    let change = fx
        .balance_changes
        .iter()
        .find(|c| c.asset == asset)
        .unwrap();
    assert_eq!(change.decimals, 6);
    // The boundary decoder sees the native amounts without chain access.
    let d = solana_wire::decode_for_boundary(&tx).unwrap();
    assert_eq!(
        d.native_outflow_from(&agent.address().to_string()),
        u128::from(5 * SOL + 1_000_000)
    );
    // Simulation does not change state.
    assert_eq!(env.devnet.balance(&thief), 0);
}

/// A SOL transfer that would create its recipient below rent exemption is the caller's mistake,
/// refused before simulation and naming the minimum; the runtime really does refuse such a
/// transaction, and the same amount to an existing account (or the minimum to a new one) goes.
async fn new_account_below_rent_exemption(kind: Kind) {
    let env = env(kind, 0).await;
    let agent = Agent::new();
    env.devnet.airdrop(&agent.address(), SOL).unwrap();
    let minimum = env.devnet.minimum_balance_for_rent_exemption(0);
    assert_eq!(
        minimum, 890_880,
        "the runtime's rent-exempt minimum for an empty account"
    );

    let fresh = Address::new_unique();
    let err = env
        .adapter
        .build_transfer(&TransferIntent {
            from: agent.address().to_string(),
            to: fresh.to_string(),
            asset: AssetRef::Native,
            amount: dec("0.000001"),
        })
        .await
        .unwrap_err();
    let ChainError::InvalidInput(m) = err else {
        panic!("expected invalid input, got {err:?}")
    };
    assert!(m.contains("0.000001 SOL"), "{m}");
    assert!(m.contains("rent-exempt minimum of 0.00089088 SOL"), "{m}");
    // What the check spares the caller: the runtime refuses the same transfer built by hand.
    let ixs = [solana_system_interface::instruction::transfer(
        &agent.address(),
        &fresh,
        1_000,
    )];
    let tx = custom_tx(&env, &agent, &ixs).await;
    let fx = env
        .adapter
        .simulate(&tx, &agent.address().to_string())
        .await
        .unwrap();
    assert!(
        !fx.success,
        "a transfer creating an account below rent exemption must fail"
    );
    // One lamport short is still refused; the minimum itself goes through.
    let short = format!("0.{:09}", minimum - 1);
    assert!(matches!(
        transfer(&env, &agent, &fresh, AssetRef::Native, &short).await,
        Err(ChainError::InvalidInput(_))
    ));
    let exact = format!("0.{minimum:09}");
    transfer(&env, &agent, &fresh, AssetRef::Native, &exact)
        .await
        .unwrap();
    // Now the account exists: a tiny top-up is fine.
    transfer(&env, &agent, &fresh, AssetRef::Native, "0.000001")
        .await
        .unwrap();
    assert_eq!(env.devnet.balance(&fresh), minimum + 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_account_below_rent_exemption_embedded() {
    new_account_below_rent_exemption(Kind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_account_below_rent_exemption_over_rpc() {
    new_account_below_rent_exemption(Kind::Rpc).await;
}

/// With a percentile configured, the compute-unit price Custos sets comes from what recently
/// landed (`getRecentPrioritizationFees`, served by the devnet itself over RPC), between the
/// configured floor and cap; the price is what the transaction really pays.
async fn priority_fee_follows_recent_fees(kind: Kind) {
    let env = env(kind, 0).await;
    let agent = Agent::new();
    env.devnet.airdrop(&agent.address(), 10 * SOL).unwrap();
    // Nothing landed with a price yet: the floor.
    let quiet = SolanaAdapter::new(
        env.adapter.backend().clone(),
        SolanaConfig {
            priority_fee_micro_lamports: 100,
            priority_fee_percentile: Some(75),
            max_priority_fee_micro_lamports: 1_000_000,
            compute_unit_limit: Some(200_000),
            poll_interval: Duration::from_millis(20),
        },
    );
    let bob = Address::new_unique();
    let build = |adapter: &SolanaAdapter| {
        let intent = TransferIntent {
            from: agent.address().to_string(),
            to: bob.to_string(),
            asset: AssetRef::Native,
            amount: dec("0.01"),
        };
        let adapter = adapter.clone();
        async move { adapter.build_transfer(&intent).await.unwrap() }
    };
    let price_of = |tx: &[u8]| {
        let tx: VersionedTransaction = bincode::deserialize(tx).unwrap();
        custos_chains::solana::fees::compute_unit_price(&tx.message)
    };
    // The devnet's own airdrop landed at price 0: the 75th percentile of [0] is 0, the floor wins.
    assert_eq!(price_of(&build(&quiet).await.tx_bytes), 100);

    // Transactions land paying 1000, 2000, 3000 and 4000 µlamports per compute unit.
    for price in [1000u64, 2000, 3000, 4000] {
        let ixs = [
            solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_price(
                price,
            ),
            solana_system_interface::instruction::transfer(&agent.address(), &bob, SOL / 100),
        ];
        let tx = custom_tx(&env, &agent, &ixs).await;
        let signed = agent.sign(&env.adapter, &tx);
        env.adapter.submit(&signed).await.unwrap();
    }
    let fees = env
        .adapter
        .backend()
        .recent_prioritization_fees(&[agent.address()])
        .await
        .unwrap();
    assert!(fees.ends_with(&[1000, 2000, 3000, 4000]), "{fees:?}");

    // 75th percentile (nearest rank) of [0, 0, 1000, 2000, 3000, 4000] (the airdrops and the
    // first transfer's account creation landed at 0).
    let recent_sorted = {
        let mut f = fees.clone();
        f.sort_unstable();
        f
    };
    let rank = (75 * recent_sorted.len()).div_ceil(100);
    let expected = recent_sorted[rank - 1].max(100);
    let unsigned = build(&quiet).await;
    assert_eq!(price_of(&unsigned.tx_bytes), expected);
    assert!(expected >= 2000, "{expected} from {fees:?}");
    // What it pays: the simulated fee includes price × limit.
    let fx = env
        .adapter
        .simulate(&unsigned.tx_bytes, &agent.address().to_string())
        .await
        .unwrap();
    assert_eq!(fx.fee, 5_000 + expected * 200_000 / 1_000_000);

    // A cap below the market wins.
    let capped = SolanaAdapter::new(
        env.adapter.backend().clone(),
        SolanaConfig {
            priority_fee_micro_lamports: 0,
            priority_fee_percentile: Some(100),
            max_priority_fee_micro_lamports: 2500,
            compute_unit_limit: None,
            poll_interval: Duration::from_millis(20),
        },
    );
    assert_eq!(price_of(&build(&capped).await.tx_bytes), 2500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_fee_follows_recent_fees_embedded() {
    priority_fee_follows_recent_fees(Kind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_fee_follows_recent_fees_over_rpc() {
    priority_fee_follows_recent_fees(Kind::Rpc).await;
}

/// One JSON-RPC call to the devnet's server, the whole response object back.
async fn rpc_raw(url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The devnet over JSON-RPC answers a failed transaction the way a node does — the runtime's
/// `TransactionError` as JSON, the program logs — and serves the token and epoch queries
/// clients use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_rpc_reports_structured_errors_and_token_amounts() {
    use base64::Engine as _;
    let env = env(Kind::Rpc, 0).await;
    let url = env._server.as_ref().unwrap().url();
    let agent = Agent::new();
    env.devnet.airdrop(&agent.address(), SOL).unwrap();
    // More than the agent has: the System program fails with ResultWithNegativeLamports (1).
    let ixs = [solana_system_interface::instruction::transfer(
        &agent.address(),
        &Address::new_unique(),
        5 * SOL,
    )];
    let tx = custom_tx(&env, &agent, &ixs).await;
    let signed = agent.sign(&env.adapter, &tx);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&signed);
    let expected_err = serde_json::json!({"InstructionError": [0, {"Custom": 1}]});

    let sim = rpc_raw(
        &url,
        "simulateTransaction",
        serde_json::json!([b64, {"encoding": "base64"}]),
    )
    .await;
    assert_eq!(sim["result"]["value"]["err"], expected_err, "{sim}");
    let logs = sim["result"]["value"]["logs"].as_array().unwrap();
    assert!(
        logs.iter()
            .any(|l| l.as_str().unwrap().contains("insufficient lamports")),
        "{logs:?}"
    );

    let sent = rpc_raw(
        &url,
        "sendTransaction",
        serde_json::json!([b64, {"encoding": "base64"}]),
    )
    .await;
    let err = &sent["error"];
    assert_eq!(err["code"], -32002, "{sent}");
    assert_eq!(err["data"]["err"], expected_err, "{sent}");
    assert!(
        !err["data"]["logs"].as_array().unwrap().is_empty(),
        "{sent}"
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Transaction simulation failed: Error processing Instruction 0"),
        "{sent}"
    );
    // A stale blockhash is the runtime's BlockhashNotFound.
    env.devnet.expire_blockhashes();
    let stale = rpc_raw(
        &url,
        "sendTransaction",
        serde_json::json!([b64, {"encoding": "base64"}]),
    )
    .await;
    assert_eq!(
        stale["error"]["data"]["err"], "BlockhashNotFound",
        "{stale}"
    );

    // Token queries: 1234.5 tokens of a 6-decimal mint.
    let mint = env.devnet.create_mint(6, &token_program()).unwrap();
    let ata = env
        .devnet
        .mint_to(&mint, &agent.address(), 1_234_500_000, &token_program())
        .unwrap();
    let bal = rpc_raw(
        &url,
        "getTokenAccountBalance",
        serde_json::json!([ata.to_string()]),
    )
    .await;
    assert_eq!(
        bal["result"]["value"],
        serde_json::json!({"amount": "1234500000", "decimals": 6, "uiAmount": 1234.5, "uiAmountString": "1234.5"}),
        "{bal}"
    );
    let supply = rpc_raw(
        &url,
        "getTokenSupply",
        serde_json::json!([mint.to_string()]),
    )
    .await;
    assert_eq!(
        supply["result"]["value"]["amount"], "1234500000",
        "{supply}"
    );
    let not_token = rpc_raw(
        &url,
        "getTokenAccountBalance",
        serde_json::json!([agent.address().to_string()]),
    )
    .await;
    assert_eq!(not_token["error"]["code"], -32602, "{not_token}");
    let epoch = rpc_raw(&url, "getEpochInfo", serde_json::json!([])).await;
    assert_eq!(
        epoch["result"]["absoluteSlot"],
        serde_json::json!(env.devnet.slot()),
        "{epoch}"
    );
}

/// solana-py, a real client, against the devnet's JSON-RPC: airdrop, a transfer sent with
/// preflight and confirmed, balances, and a refused transfer whose simulation and preflight
/// errors the client parses as the runtime's `InstructionError` (an error in a sentence made
/// it raise a parse error instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solana_py_uses_the_devnet() {
    let env = env(Kind::Rpc, 0).await;
    let url = env._server.as_ref().unwrap().url();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/solana_client.py"
    );
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&url)
        .output()
        .await
        .expect("python3 with solana-py (scripts/test-deps.sh installs it)");
    assert!(
        out.status.success(),
        "solana_client.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["bob"], 500_000_000, "{v}");
    assert_eq!(
        v["preflight_error"], "SendTransactionPreflightFailureMessage",
        "{v}"
    );
    for key in ["simulated_error", "preflight_detail"] {
        let e = v[key].as_str().unwrap();
        assert!(e.contains("InstructionErrorCustom(1)"), "{key}: {e}");
    }
    assert!(v["logs"].as_u64().unwrap() > 0, "{v}");
    // The transfer it sent is final on the devnet itself.
    let sig = Signature::from_str(v["sent"].as_str().unwrap()).unwrap();
    assert_eq!(env.devnet.signature_status(&sig).unwrap().error, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_beyond_declared_amount_shows_real_outflow_embedded() {
    drain_shows_real_outflow(Kind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_beyond_declared_amount_shows_real_outflow_over_rpc() {
    drain_shows_real_outflow(Kind::Rpc).await;
}

async fn approvals_are_effects(kind: Kind) {
    let env = env(kind, 0).await;
    let agent = Agent::new();
    let spender = Address::new_unique();
    let new_owner = Address::new_unique();
    env.devnet.airdrop(&agent.address(), SOL).unwrap();
    for program in [token_program(), token_2022_program()] {
        let mint = env.devnet.create_mint(6, &program).unwrap();
        let ata = env
            .devnet
            .mint_to(&mint, &agent.address(), 1_000, &program)
            .unwrap();
        // Approve { amount = u64::MAX }: [source, delegate, owner]
        let mut data = vec![4u8];
        data.extend_from_slice(&u64::MAX.to_le_bytes());
        let approve = Instruction {
            program_id: program,
            accounts: vec![
                AccountMeta::new(ata, false),
                AccountMeta::new_readonly(spender, false),
                AccountMeta::new_readonly(agent.address(), true),
            ],
            data,
        };
        let tx = custom_tx(&env, &agent, std::slice::from_ref(&approve)).await;
        let fx = env
            .adapter
            .simulate(&tx, &agent.address().to_string())
            .await
            .unwrap();
        assert!(fx.success, "{:?} {:?}", fx.error, fx.logs);
        let a = fx
            .approvals
            .iter()
            .find(|a| a.kind == ApprovalKind::Delegate)
            .expect("delegate approval");
        assert_eq!(a.account, ata.to_string());
        assert_eq!(a.grantee.as_deref(), Some(spender.to_string().as_str()));
        assert_eq!(a.amount, Some(Atoms::from(u64::MAX)));
        assert_eq!(a.asset, Some(AssetRef::Token(mint.to_string())));
        // No tokens move: only the fee.
        assert_eq!(fx.outflow(&AssetRef::Token(mint.to_string())), Atoms::ZERO);

        // SetAuthority(CloseAccount → new_owner): someone else may close the account.
        let set_auth = |authority_type: u8| {
            let mut data = vec![6u8, authority_type, 1];
            data.extend_from_slice(new_owner.as_ref());
            Instruction {
                program_id: program,
                accounts: vec![
                    AccountMeta::new(ata, false),
                    AccountMeta::new_readonly(agent.address(), true),
                ],
                data,
            }
        };
        let tx = custom_tx(&env, &agent, &[set_auth(3)]).await;
        let fx = env
            .adapter
            .simulate(&tx, &agent.address().to_string())
            .await
            .unwrap();
        assert!(fx.success, "{:?} {:?}", fx.error, fx.logs);
        assert!(fx
            .approvals
            .iter()
            .any(|a| a.kind == ApprovalKind::AuthorityChange
                && a.grantee.as_deref() == Some(new_owner.to_string().as_str())));

        // SetAuthority(AccountOwner → new_owner): the whole account changes hands. Token-2022
        // associated token accounts have an immutable owner, so only the legacy program allows it.
        let tx = custom_tx(&env, &agent, &[set_auth(2)]).await;
        let fx = env
            .adapter
            .simulate(&tx, &agent.address().to_string())
            .await
            .unwrap();
        assert!(fx
            .approvals
            .iter()
            .any(|a| a.kind == ApprovalKind::OwnerChange
                && a.grantee.as_deref() == Some(new_owner.to_string().as_str())));
        if program == token_program() {
            assert!(fx.success, "{:?} {:?}", fx.error, fx.logs);
            // The agent no longer owns the 1,000 tokens afterwards.
            assert_eq!(
                fx.outflow(&AssetRef::Token(mint.to_string())),
                Atoms::from(1_000u64)
            );
        } else {
            assert!(!fx.success);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spl_approve_and_set_authority_are_approval_effects_embedded() {
    approvals_are_effects(Kind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spl_approve_and_set_authority_are_approval_effects_over_rpc() {
    approvals_are_effects(Kind::Rpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_backend_against_rpc_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = custos_chains::solana::serve_devnet("127.0.0.1:0".parse().unwrap(), dir.path())
        .await
        .unwrap();
    assert!(server.local_addr().ip().is_loopback());
    let rpc = RpcBackend::new(server.url(), Commitment::Confirmed).unwrap();
    assert_eq!(
        rpc.call("getHealth", serde_json::json!([])).await.unwrap(),
        "ok"
    );
    assert!(
        rpc.call("getVersion", serde_json::json!([])).await.unwrap()["solana-core"].is_string()
    );
    assert!(matches!(
        rpc.call("noSuchMethod", serde_json::json!([])).await,
        Err(ChainError::Unavailable(_))
    ));

    let agent = Agent::new();
    let sig = rpc
        .request_airdrop(&agent.address(), 3 * SOL)
        .await
        .unwrap();
    let st = rpc.signature_status(&sig).await.unwrap().unwrap();
    assert_eq!(st.error, None);
    assert_eq!(rpc.get_balance(&agent.address()).await.unwrap(), 3 * SOL);
    let rent = rpc
        .call(
            "getMinimumBalanceForRentExemption",
            serde_json::json!([165]),
        )
        .await
        .unwrap();
    assert_eq!(
        rent.as_u64().unwrap(),
        server.devnet().minimum_balance_for_rent_exemption(165)
    );

    let (h1, last) = rpc.latest_blockhash().await.unwrap();
    assert!(last > 0);
    let bob = Address::new_unique();
    let ix = solana_system_interface::instruction::transfer(&agent.address(), &bob, SOL);
    let msg = Message::new_with_blockhash(&[ix], Some(&agent.address()), &h1);
    let mut tx = VersionedTransaction {
        signatures: vec![Signature::default()],
        message: VersionedMessage::Legacy(msg),
    };
    // Simulate unsigned (sigVerify false) with post-state of both accounts.
    let sim = rpc
        .simulate(&tx, false, &[agent.address(), bob])
        .await
        .unwrap();
    assert_eq!(sim.error, None);
    assert_eq!(sim.post_accounts[1].as_ref().unwrap().lamports, SOL);
    assert_eq!(
        sim.post_accounts[0].as_ref().unwrap().lamports,
        2 * SOL - 5_000
    );
    // With sigVerify the unsigned transaction fails.
    let sim = rpc.simulate(&tx, true, &[bob]).await.unwrap();
    assert!(sim.error.is_some());

    tx.signatures[0] = Signature::from(agent.key.sign(&tx.message.serialize()).to_bytes());
    let sig = rpc.send(&tx).await.unwrap();
    let st = rpc.signature_status(&sig).await.unwrap().unwrap();
    assert_eq!(st.commitment, Commitment::Finalized);
    assert_eq!(rpc.get_balance(&bob).await.unwrap(), SOL);
    // The blockhash advanced with the slot; the old one is still valid for a while.
    let (h2, _) = rpc.latest_blockhash().await.unwrap();
    assert_ne!(h1, h2);
    // Expired blockhashes are refused.
    server.devnet().expire_blockhashes();
    let ix = solana_system_interface::instruction::transfer(&agent.address(), &bob, 7);
    let msg = Message::new_with_blockhash(&[ix], Some(&agent.address()), &h2);
    let mut tx = VersionedTransaction {
        signatures: vec![Signature::default()],
        message: VersionedMessage::Legacy(msg),
    };
    tx.signatures[0] = Signature::from(agent.key.sign(&tx.message.serialize()).to_bytes());
    let err = rpc.send(&tx).await.unwrap_err();
    assert!(
        matches!(&err, ChainError::Rejected(m) if m.contains("Blockhash not found")),
        "{err:?}"
    );
    // Unknown signature: no status.
    assert_eq!(
        rpc.signature_status(&Signature::from([7u8; 64]))
            .await
            .unwrap(),
        None
    );
    server.shutdown().await;
}

#[test]
fn boundary_decoder_matches_the_sdk_on_v0_with_lookup_tables() {
    use solana_message::v0;
    let payer = Address::new_unique();
    let to = Address::new_unique();
    let table = Address::new_unique();
    let looked_up = Address::new_unique();
    let ix1 = solana_system_interface::instruction::transfer(&payer, &to, 42);
    let ix2 = solana_system_interface::instruction::transfer(&payer, &looked_up, 7);
    let alt = solana_message::AddressLookupTableAccount {
        key: table,
        addresses: vec![Address::new_unique(), looked_up],
    };
    let blockhash = solana_hash::Hash::new_from_array([5u8; 32]);
    let msg = v0::Message::try_compile(&payer, &[ix1, ix2], &[alt], blockhash).unwrap();
    let tx = VersionedTransaction {
        signatures: vec![Signature::default()],
        message: VersionedMessage::V0(msg),
    };
    let bytes = bincode::serialize(&tx).unwrap();
    let d = solana_wire::decode_for_boundary(&bytes).unwrap();
    assert_eq!(d.version, MessageVersion::V0);
    assert_eq!(d.fee_payer, payer.to_string());
    assert_eq!(d.recent_blockhash, blockhash.to_string());
    assert_eq!(d.transfers.len(), 2);
    assert_eq!(d.transfers[0].to, to.to_string());
    assert_eq!(d.transfers[0].amount, 42);
    // The looked-up recipient cannot be known without the chain.
    assert!(matches!(
        &d.instructions[1].accounts[1],
        AccountRef::Lookup { table: t, index: 1, writable: true } if *t == table.to_string()
    ));
    assert_eq!(d.address_table_lookups.len(), 1);
    let static_keys: Vec<String> = tx
        .message
        .static_account_keys()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(d.account_keys, static_keys);

    // Attaching a signature puts it in the fee payer's slot and nothing else changes.
    let with_sig = solana_wire::attach_signature(&bytes, &payer.to_string(), &[9u8; 64]).unwrap();
    let back: VersionedTransaction = bincode::deserialize(&with_sig).unwrap();
    assert_eq!(back.signatures[0], Signature::from([9u8; 64]));
    assert_eq!(back.message, tx.message);
    assert!(solana_wire::attach_signature(&bytes, &to.to_string(), &[9u8; 64]).is_err());

    // Trailing bytes and truncations are refused.
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(solana_wire::decode_for_boundary(&trailing).is_err());
    for cut in 1..bytes.len() {
        assert!(
            solana_wire::decode_for_boundary(&bytes[..cut]).is_err(),
            "cut {cut}"
        );
    }
    let _ = Address::from_str(&d.fee_payer).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effects_convert_to_policy_effects() {
    let env = env(Kind::Embedded, 0).await;
    let agent = Agent::new();
    let erin = Address::new_unique();
    env.devnet.airdrop(&agent.address(), SOL).unwrap();
    let mint = env.devnet.create_mint(6, &token_program()).unwrap();
    env.devnet
        .mint_to(&mint, &agent.address(), 10, &token_program())
        .unwrap();
    let unsigned = env
        .adapter
        .build_transfer(&TransferIntent {
            from: agent.address().to_string(),
            to: erin.to_string(),
            asset: AssetRef::Token(mint.to_string()),
            amount: dec("0.000004"),
        })
        .await
        .unwrap();
    let fx = env
        .adapter
        .simulate(&unsigned.tx_bytes, &agent.address().to_string())
        .await
        .unwrap();
    // erin's wallet is the recipient, not her new token account.
    assert_eq!(fx.recipients, vec![erin.to_string()]);
    let rent = env.devnet.minimum_balance_for_rent_exemption(165);
    assert_eq!(fx.rent_deposits, rent);
    let p = fx.to_policy_effects("SOL").unwrap();
    let token = custos_core::AssetId::new(mint.to_string());
    let sol = custos_core::AssetId::new("SOL");
    assert!(p
        .changes
        .iter()
        .any(|c| c.asset == token && c.delta_atoms == -4));
    assert!(p
        .changes
        .iter()
        .any(|c| c.asset == sol && c.delta_atoms == -(i128::from(rent) + 5_000)));
    assert_eq!(p.network_cost.unwrap().atoms, u128::from(rent) + 5_000);
    assert_eq!(p.recipients, vec![erin.to_string()]);
}

/// Crash recovery asks the chain what became of a transaction: a restarted devnet still knows
/// the statuses of transactions it ran (so re-broadcasting one cannot run it twice), and
/// `reconcile` tells landed from pending (broadcasting it) from dropped (blockhash expired).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_survive_a_restart_and_reconcile_tells_every_fate() {
    use custos_core::TxFate;
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::new();
    let dave = Address::new_unique();
    let open = |d: &std::path::Path| {
        let devnet = Arc::new(EmbeddedDevnet::open(d).unwrap());
        Env {
            adapter: SolanaAdapter::new(
                Arc::new(EmbeddedBackend::new(devnet.clone())),
                SolanaConfig::default(),
            ),
            devnet,
            _server: None,
            _dir: tempfile::tempdir().unwrap(),
        }
    };
    async fn build(e: &Env, from: &Address, to: &Address) -> custos_core::UnsignedTx {
        e.adapter
            .build_transfer(&TransferIntent {
                from: from.to_string(),
                to: to.to_string(),
                asset: AssetRef::Native,
                amount: dec("0.1"),
            })
            .await
            .unwrap()
    }
    let (landed, landed_id, pending) = {
        let e = open(dir.path());
        e.devnet.airdrop(&agent.address(), 3 * SOL).unwrap();
        let u = build(&e, &agent.address(), &dave).await;
        let landed = agent.sign(&e.adapter, &u.tx_bytes);
        let id = e.adapter.submit(&landed).await.unwrap();
        // Signed, never sent (a crash between the journal write and the broadcast).
        let u2 = build(&e, &agent.address(), &dave).await;
        let pending = agent.sign(&e.adapter, &u2.tx_bytes);
        (landed, id, pending)
    };
    let e = open(dir.path());
    let before = e.devnet.balance(&dave);
    let fate = e
        .adapter
        .reconcile(&landed, &landed_id, Commitment::Confirmed)
        .await
        .unwrap();
    assert!(
        matches!(fate, TxFate::Landed(ref c) if c.error.is_none()),
        "{fate:?}"
    );
    assert_eq!(
        e.devnet.balance(&dave),
        before,
        "a landed transaction ran again"
    );
    // The signed-but-unsent one is broadcast by reconcile and lands once.
    let pending_id = e.adapter.tx_id(&pending).unwrap();
    let fate = e
        .adapter
        .reconcile(&pending, &pending_id, Commitment::Confirmed)
        .await
        .unwrap();
    assert_eq!(fate, TxFate::Pending);
    let fate = e
        .adapter
        .reconcile(&pending, &pending_id, Commitment::Confirmed)
        .await
        .unwrap();
    assert!(matches!(fate, TxFate::Landed(_)), "{fate:?}");
    assert_eq!(e.devnet.balance(&dave), before + SOL / 10);
    // One whose blockhash expired (150 slots later) can never land: dropped.
    let stale = agent.sign(
        &e.adapter,
        &build(&e, &agent.address(), &dave).await.tx_bytes,
    );
    let stale_id = e.adapter.tx_id(&stale).unwrap();
    for _ in 0..160 {
        e.devnet.airdrop(&Address::new_unique(), SOL / 100).unwrap();
    }
    let fate = e
        .adapter
        .reconcile(&stale, &stale_id, Commitment::Confirmed)
        .await
        .unwrap();
    assert!(matches!(fate, TxFate::Dropped(_)), "{fate:?}");
}
