//! `sign`: the agent hands Custos a transaction it built itself — a serialized Solana
//! transaction (base64), or an unsigned EIP-1559 transaction (`0x02…` hex) on an EVM chain.
//! Custos decodes and simulates it, derives the effects, and judges *those* — programs and
//! contract methods called, outflows, approvals granted — never what the agent says the
//! transaction does. An optional declaration (`to`, `asset`, `amount`) is checked against the
//! effects too.
use super::{agent_address, amount, chain_error, conclude, price, simulate, usage, Actor, Plan};
use crate::error::ApiError;
use crate::state::AppState;
use axum::response::Response;
use base64::Engine;
use custos_core::{Action, Agent, AssetId, Chain, Decimal, Intent, UnsignedTx, UsdValue};
use serde::Deserialize;
use serde_json::json;

/// Largest serialized transaction accepted (Solana's packet limit).
pub const MAX_TX_BYTES: usize = 1232;

/// Largest unsigned EVM transaction accepted (calldata included).
pub const MAX_EVM_TX_BYTES: usize = 128 * 1024;

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignTxBody {
    /// `solana` or `evm:<chain id>`.
    #[schema(example = "solana")]
    pub chain: String,
    /// Solana: the serialized transaction (legacy or v0), base64, with the agent's address among
    /// its required signers; signature slots may be zero. EVM: the unsigned EIP-1559 transaction
    /// `0x02 || rlp(fields)` as hex, with the request's chain id. With `broadcast: true` Custos
    /// sets the nonce; otherwise the nonce is signed as given.
    #[schema(example = "<the serialized transaction, base64>")]
    pub transaction: String,
    /// Broadcast and confirm it (`true`), or return it signed (`false`, the default).
    #[serde(default)]
    #[schema(example = true)]
    pub broadcast: bool,
    /// Optional declared recipient.
    #[serde(default)]
    pub to: Option<String>,
    /// Optional declared asset (`SOL` or a mint); with `amount`.
    #[serde(default)]
    pub asset: Option<String>,
    /// Optional declared amount, whole units; with `asset`.
    #[serde(default)]
    pub amount: Option<String>,
}

/// Validates the body and decodes the transaction (before any side effect).
pub fn validate(body: &SignTxBody) -> Result<(Chain, Vec<u8>), ApiError> {
    let chain: Chain = body
        .chain
        .parse()
        .map_err(|e: custos_core::ChainParseError| ApiError::invalid("chain", e.to_string()))?;
    let bytes = match chain {
        Chain::Solana => {
            if body.transaction.len() > MAX_TX_BYTES * 2 {
                return Err(ApiError::invalid(
                    "transaction",
                    format!("longer than {MAX_TX_BYTES} bytes"),
                ));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(body.transaction.trim())
                .map_err(|_| ApiError::invalid("transaction", "not valid base64"))?;
            if bytes.is_empty() || bytes.len() > MAX_TX_BYTES {
                return Err(ApiError::invalid(
                    "transaction",
                    format!("must be 1 to {MAX_TX_BYTES} bytes"),
                ));
            }
            custos_chains::solana_wire::decode_for_boundary(&bytes)
                .map_err(|e| ApiError::invalid("transaction", e.to_string()))?;
            bytes
        }
        Chain::Evm(id) => evm_tx(&body.transaction, id)?,
        other => {
            return Err(ApiError::invalid("chain", format!("`sign` of `{other}` transactions is not available on this server yet; use `solana` or `evm:<chain id>`, or `message` for an off-chain message")))
        }
    };
    match (&body.asset, &body.amount) {
        (Some(_), Some(a)) => {
            amount("amount", a)?;
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(ApiError::invalid(
                "amount",
                "required when `asset` is declared",
            ))
        }
        (None, Some(_)) => {
            return Err(ApiError::invalid(
                "asset",
                "required when `amount` is declared",
            ))
        }
    }
    Ok((chain, bytes))
}

/// An unsigned EIP-1559 transaction in hex, for chain `id`.
fn evm_tx(hex_tx: &str, id: u64) -> Result<Vec<u8>, ApiError> {
    let digits = hex_tx
        .trim()
        .strip_prefix("0x")
        .ok_or_else(|| ApiError::invalid("transaction", "an EVM transaction is 0x-prefixed hex"))?;
    if digits.len() > MAX_EVM_TX_BYTES * 2 {
        return Err(ApiError::invalid(
            "transaction",
            format!("longer than {MAX_EVM_TX_BYTES} bytes"),
        ));
    }
    let bytes =
        hex::decode(digits).map_err(|_| ApiError::invalid("transaction", "not valid hex"))?;
    #[cfg(feature = "evm")]
    {
        let tx = custos_chains::evm::wire::UnsignedEvmTx::decode(&bytes).map_err(|e| {
            ApiError::invalid(
                "transaction",
                e.to_string().replace("invalid input: transaction: ", ""),
            )
        })?;
        if tx.chain_id() != id {
            return Err(ApiError::invalid(
                "transaction",
                format!(
                    "signed for chain id {}, but the request is for evm:{id}",
                    tx.chain_id()
                ),
            ));
        }
        if tx.to().is_none() {
            return Err(ApiError::invalid(
                "transaction",
                "contract deployment is not supported: the transaction needs a `to`",
            ));
        }
        Ok(bytes)
    }
    #[cfg(not(feature = "evm"))]
    {
        let _ = (bytes, id);
        Err(ApiError::invalid("chain", "this build has no EVM support"))
    }
}

/// How a declared asset is named: EVM token addresses in their EIP-55 spelling.
fn declared_asset(chain: Chain, asset: &str) -> Result<AssetId, ApiError> {
    match chain {
        Chain::Evm(_) if asset.starts_with("0x") => {
            super::transfer::evm_address("asset", asset).map(AssetId::new)
        }
        _ => Ok(AssetId::new(asset.to_owned())),
    }
}

/// The declared intent: `sign` with whatever the agent declared (possibly nothing).
pub async fn intent(state: &AppState, body: &SignTxBody, _tx: &[u8]) -> Result<Intent, ApiError> {
    let chain: Chain = body
        .chain
        .parse()
        .map_err(|e: custos_core::ChainParseError| ApiError::invalid("chain", e.to_string()))?;
    let (asset, amt, declared_usd) = match (&body.asset, &body.amount) {
        (Some(a), Some(n)) => {
            let id = declared_asset(chain, a)?;
            let n = amount("amount", n)?;
            let usd = price(state, &id).await.times(n);
            (Some(id), n, usd)
        }
        _ => (None, Decimal::ZERO, UsdValue::Known(Decimal::ZERO)),
    };
    let recipient = match (chain, &body.to) {
        (Chain::Evm(_), Some(t)) => Some(super::transfer::evm_address("to", t)?),
        (_, t) => t.clone(),
    };
    Ok(Intent {
        action: Action::Sign,
        chain,
        recipient,
        asset,
        amount: amt,
        declared_usd,
    })
}

/// Decodes, simulates and values the transaction: everything up to the decision.
pub async fn plan(state: &AppState, agent: Agent, body: &SignTxBody) -> Result<Plan, ApiError> {
    let (chain, tx_bytes) = validate(body)?;
    let adapter = state.chains.adapter(chain).ok_or_else(|| {
        ApiError::invalid("chain", format!("`{chain}` is not enabled on this server"))
    })?;
    let policy = state.policy_of(&agent)?;
    let intent = intent(state, body, &tx_bytes).await?;
    let usage = usage(state, &agent).await?;
    super::precheck(&policy, &intent, &usage)?;
    let from = agent_address(&agent, adapter)?;
    let decoded = adapter
        .decode(&tx_bytes)
        .map_err(|e| chain_error("transaction", e))?;
    let message = if chain == Chain::Solana {
        let raw = custos_chains::solana_wire::split_transaction(&tx_bytes)
            .map_err(|e| ApiError::invalid("transaction", e.to_string()))?;
        if !decoded.signers.iter().any(|s| s == &from) {
            return Err(ApiError::invalid(
                "transaction",
                format!("the agent's address {from} is not a required signer"),
            ));
        }
        raw.message
    } else {
        tx_bytes.clone()
    };
    // Programs the policy does not allow are refused from the instructions alone, before the
    // transaction is run at all; the simulated effects are checked again below.
    let outside = custos_policy::programs_outside_allowlist(&policy, &intent, &decoded.programs);
    if !outside.is_empty() {
        return Err(ApiError::policy_denied(vec![(
            custos_policy::rules::PROGRAMS_ALLOW.into(),
            format!(
                "program or contract not on the allowlist: {}",
                outside.join(", ")
            ),
        )]));
    }
    let tx = UnsignedTx {
        chain,
        tx_bytes,
        message,
        signer: from.clone(),
        amount_base_units: 0,
        decimals: 0,
        last_valid_block_height: None,
    };
    let (simulated, effects) = simulate(state, adapter, &tx, &from).await?;
    Ok(Plan {
        agent,
        policy,
        intent,
        tx,
        simulated,
        effects,
        usage,
        extra: None,
        bucket: None,
    })
}

/// Runs a `sign` request: dry run, denial, parking for approval, or signing.
pub async fn run(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    body: SignTxBody,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let plan = plan(state, agent, &body).await?;
    let parked = json!({"chain": body.chain, "broadcast": body.broadcast, "to": body.to, "asset": body.asset, "amount": body.amount});
    conclude(state, actor, plan, dry_run, body.broadcast, parked).await
}
