//! `transfer`: `{"chain","to","asset","amount"}` — SOL or an SPL / Token-2022 mint on Solana;
//! the native coin (`ETH`) or an ERC-20 contract on an EVM chain (`evm:<chain id>`).
use super::{agent_address, amount, chain_error, conclude, price, simulate, usage, Actor, Plan};
use crate::error::ApiError;
use crate::state::AppState;
use axum::response::Response;
use custos_core::{Action, Agent, AssetId, AssetRef, Chain, Intent, TransferIntent};
use serde::Deserialize;
use serde_json::json;

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// `solana` or `evm:<chain id>`.
    #[schema(example = "solana")]
    pub chain: String,
    /// Recipient address.
    #[schema(example = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM")]
    pub to: String,
    /// `SOL` or a token mint on Solana; the native symbol (`ETH`) or an ERC-20 contract on EVM.
    #[schema(example = "SOL")]
    pub asset: String,
    /// Decimal string in whole units, e.g. `"1.25"`.
    #[schema(example = "0.1")]
    pub amount: String,
}

fn solana_address(field: &str, s: &str) -> Result<(), ApiError> {
    match bs58::decode(s).into_vec() {
        Ok(b) if b.len() == 32 && s.len() <= 44 => Ok(()),
        _ => Err(ApiError::invalid(
            field,
            "not a Solana address (base58 of 32 bytes)",
        )),
    }
}

/// An EVM address, returned in its EIP-55 spelling; a mixed-case address with a wrong checksum
/// is refused (it is a typo).
pub fn evm_address(field: &str, s: &str) -> Result<String, ApiError> {
    #[cfg(feature = "evm")]
    {
        custos_chains::evm::wire::parse_address(s, field)
            .map(|a| custos_chains::evm::wire::checksum(&a))
            .map_err(|_| {
                ApiError::invalid(
                    field,
                    "not an EVM address (0x + 40 hex digits, EIP-55 checksum if mixed case)",
                )
            })
    }
    #[cfg(not(feature = "evm"))]
    {
        let _ = s;
        Err(ApiError::invalid(field, "this build has no EVM support"))
    }
}

/// A validated transfer.
pub struct Validated {
    /// The chain.
    pub chain: Chain,
    /// The recipient, normalised (EIP-55 on EVM).
    pub to: String,
    /// The asset.
    pub asset: AssetRef,
    /// How the asset is named in prices and policy (`SOL`, `ETH`, a mint, an EIP-55 contract).
    pub asset_id: AssetId,
    /// The amount.
    pub amount: custos_core::Decimal,
}

/// Validates the body (before any side effect). On EVM chains, an asset that is not an address
/// is the native coin's symbol, checked against the chain's configuration when planned.
pub fn validate(body: &TransferBody) -> Result<Validated, ApiError> {
    let chain: Chain = body
        .chain
        .parse()
        .map_err(|e: custos_core::ChainParseError| ApiError::invalid("chain", e.to_string()))?;
    let amount = amount("amount", &body.amount)?;
    match chain {
        Chain::Solana => {
            solana_address("to", &body.to)?;
            let asset = if body.asset == "SOL" {
                AssetRef::Native
            } else {
                solana_address("asset", &body.asset)?;
                AssetRef::Token(body.asset.clone())
            };
            Ok(Validated {
                chain,
                to: body.to.clone(),
                asset_id: AssetId::new(body.asset.clone()),
                asset,
                amount,
            })
        }
        Chain::Evm(_) => {
            let to = evm_address("to", &body.to)?;
            let (asset, asset_id) = if body.asset.starts_with("0x") {
                let a = evm_address("asset", &body.asset)?;
                (AssetRef::Token(a.clone()), AssetId::new(a))
            } else if !body.asset.is_empty()
                && body.asset.len() <= 12
                && body.asset.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                (AssetRef::Native, AssetId::new(body.asset.clone()))
            } else {
                return Err(ApiError::invalid(
                    "asset",
                    "the native coin's symbol (ETH) or an ERC-20 contract address",
                ));
            };
            Ok(Validated {
                chain,
                to,
                asset,
                asset_id,
                amount,
            })
        }
        other => Err(ApiError::invalid(
            "chain",
            format!("`{other}` transfers are not available on this server yet"),
        )),
    }
}

/// Builds, simulates and values the transfer: everything up to the decision.
pub async fn plan(state: &AppState, agent: Agent, body: &TransferBody) -> Result<Plan, ApiError> {
    let v = validate(body)?;
    let adapter = state.chains.adapter(v.chain).ok_or_else(|| {
        ApiError::invalid(
            "chain",
            format!("`{}` is not enabled on this server", v.chain),
        )
    })?;
    if v.asset == AssetRef::Native && v.asset_id.as_str() != adapter.native_symbol() {
        return Err(ApiError::invalid(
            "asset",
            format!(
                "`{}` is neither {} nor a token address",
                v.asset_id,
                adapter.native_symbol()
            ),
        ));
    }
    let policy = state.policy_of(&agent)?;
    let intent = Intent {
        action: Action::Transfer,
        chain: v.chain,
        recipient: Some(v.to.clone()),
        asset: Some(v.asset_id.clone()),
        amount: v.amount,
        declared_usd: price(state, &v.asset_id).await.times(v.amount),
    };
    let usage = usage(state, &agent).await?;
    // Cheap checks first: a disabled action, chain or denied recipient never touches the chain.
    super::precheck(&policy, &intent, &usage)?;
    let from = agent_address(&agent, adapter)?;
    let tx = adapter
        .build_transfer(&TransferIntent {
            from: from.clone(),
            to: v.to.clone(),
            asset: v.asset.clone(),
            amount: v.amount,
        })
        .await
        .map_err(|e| chain_error("amount", e))?;
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

/// Runs a transfer for the agent: dry run, denial, parking for approval, or execution.
pub async fn run(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    body: TransferBody,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let plan = plan(state, agent, &body).await?;
    let parked =
        json!({"chain": body.chain, "to": body.to, "asset": body.asset, "amount": body.amount});
    conclude(state, actor, plan, dry_run, true, parked).await
}
