//! The `exact` scheme on EVM chains: an EIP-3009 `transferWithAuthorization` of the price to the
//! payee, as EIP-712 typed data, signed through `sign-message` ([`crate::actions::evm_message`]),
//! which judges the authorization as the transfer it is and audits it.
use super::{body_json, upstream, Payment, Requirement, Signed};
use crate::actions::Actor;
use crate::error::ApiError;
use crate::state::AppState;
use custos_core::Agent;
use serde_json::json;

/// Why `req` (on `eip155:<id>`) cannot be paid, or its token's decimals.
#[cfg(feature = "evm")]
pub(super) async fn judge(
    state: &AppState,
    policy: &custos_policy::PolicyDocument,
    req: &Requirement,
) -> Result<u8, (String, String)> {
    use custos_core::Chain;
    let id = req
        .network
        .strip_prefix("eip155:")
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| {
            (
                "chains".to_owned(),
                format!("network {} is not an EVM chain (eip155:<id>)", req.network),
            )
        })?;
    if !state.chains.evm_adapters.contains_key(&id) || !policy.chains.contains(&Chain::Evm(id)) {
        return Err((
            "chains".into(),
            format!("evm:{id} is not a chain this wallet may use here"),
        ));
    }
    crate::actions::evm_message::token_decimals(state, id, &req.asset)
        .await
        .map_err(|e| {
            (
                "payments.asset".to_owned(),
                format!("asset {}: {}", req.asset, e.message),
            )
        })
}

#[cfg(not(feature = "evm"))]
pub(super) async fn judge(
    _: &AppState,
    _: &custos_policy::PolicyDocument,
    _: &Requirement,
) -> Result<u8, (String, String)> {
    Err(("chains".into(), "this build has no EVM support".into()))
}

/// Signs the authorization for `p`'s option: amount, token, payee and network exactly the
/// option's, valid from now for no longer than the option asks or the policy allows.
pub(super) async fn sign(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    policy: &custos_policy::PolicyDocument,
    p: &Payment<'_>,
    bucket: Option<custos_core::Bucket>,
    dry_run: bool,
) -> Result<Signed, ApiError> {
    let from = agent
        .addresses
        .get("evm")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let now = state.clock.now_ms() / 1000;
    let window = p
        .req
        .max_timeout_seconds
        .clamp(1, u64::from(policy.payments.max_validity_seconds));
    let valid_before = now.max(0) as u64 + window;
    let mut nonce = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let authorization = json!({
        "from": from,
        "to": p.req.pay_to,
        "value": p.req.amount,
        "validAfter": "0",
        "validBefore": valid_before.to_string(),
        "nonce": format!("0x{}", hex::encode(nonce)),
    });
    let chain_id = p.req.network.trim_start_matches("eip155:");
    let typed = json!({
        "types": {
            "EIP712Domain": [{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
            "TransferWithAuthorization": [{"name":"from","type":"address"},{"name":"to","type":"address"},{"name":"value","type":"uint256"},{"name":"validAfter","type":"uint256"},{"name":"validBefore","type":"uint256"},{"name":"nonce","type":"bytes32"}]
        },
        "primaryType": "TransferWithAuthorization",
        "domain": {"name": p.req.extra["name"], "version": p.req.extra["version"], "chainId": chain_id.parse::<u64>().unwrap_or_default(), "verifyingContract": p.req.asset},
        "message": authorization,
    });
    if !typed["domain"]["name"].is_string() || !typed["domain"]["version"].is_string() {
        return Err(upstream(
            "the seller's option names no EIP-712 domain (extra.name, extra.version)".into(),
            None,
        ));
    }
    let signed = crate::actions::evm_message::run_in(
        state,
        actor,
        agent,
        crate::actions::evm_message::EvmMessageBody {
            chain: format!("evm:{chain_id}"),
            message: None,
            typed_data: Some(typed),
            hash: None,
        },
        dry_run,
        bucket,
    )
    .await?;
    let signed = body_json(signed).await?;
    if dry_run {
        return Ok(Signed::DryRun(signed["explanation"].clone()));
    }
    Ok(Signed::Payload {
        payload: json!({"signature": signed["signature"], "authorization": authorization}),
        payment: json!({
            "network": p.req.network, "asset": p.req.asset, "amount": p.req.amount,
            "pay_to": p.req.pay_to, "usd_value": p.usd.to_string(), "valid_before": valid_before,
        }),
        audit_id: signed["audit_id"].clone(),
    })
}
