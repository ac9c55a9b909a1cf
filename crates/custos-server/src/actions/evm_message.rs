//! `sign-message` on an EVM chain: an EIP-191 personal message (`message`), EIP-712 typed data
//! (`typed_data`) or, only when the policy turns `actions.sign_raw_hash` on, a bare 32-byte
//! hash (`hash`). All go through the policy: the chain must be allowed and message signing
//! enabled; a typed-data permit (EIP-2612, DAI, Permit2) is an approval of its amount to its
//! spender, so an unlimited permit needs the spender on `spenders.allow` and a limited one counts
//! its USD value against the per-transaction cap and the rolling daily budget — reserved before
//! the signature is made and committed once its audit record is durable. An EIP-3009
//! authorization (`TransferWithAuthorization`, `ReceiveWithAuthorization`) moves tokens as soon
//! as anyone submits it, so it is judged as a `transfer` of its value to its payee: the transfer
//! toggle, the recipient rules, the per-transaction and daily caps and the per-token caps apply,
//! and its value is reserved and counted like any transfer's.
use super::{denied, price, usage, Actor};
use crate::audit_info::{AuditInfo, Audited};
use crate::error::ApiError;
use crate::pipeline::entry_for;
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::{
    Action, Agent, AssetId, AuditOutcome, Chain, Decimal, Delegation, DelegationAmount,
    DelegationKind, Effects, Intent, KeyScheme, SignPayload, UsdValue,
};
use custos_policy::Decision;
use serde::Deserialize;
use serde_json::json;

/// The request body of `sign-message` on an EVM chain: exactly one of `message`, `typed_data`
/// and `hash`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvmMessageBody {
    /// `evm:<chain id>`.
    #[schema(example = "evm:1")]
    pub chain: String,
    /// UTF-8 text, signed as an EIP-191 personal message.
    #[serde(default)]
    #[schema(example = "Sign in to example.com")]
    pub message: Option<String>,
    /// An EIP-712 document (`types`, `primaryType`, `domain`, `message`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub typed_data: Option<serde_json::Value>,
    /// A 32-byte hash, `0x` + 64 hex digits (policy `actions.sign_raw_hash` only).
    #[serde(default)]
    pub hash: Option<String>,
}

/// The audit record's parameters of a message signature. Amounts serialize as decimal strings
/// (see `custos_core::Atoms`), so no value a document can carry fails to serialize.
#[derive(serde::Serialize)]
struct MessageParams<'a> {
    chain: Chain,
    kind: &'a str,
    digest: Option<String>,
    delegations: &'a [Delegation],
    /// An EIP-3009 authorization's payee, token and whole-unit amount.
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    asset: Option<&'a AssetId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<String>,
}

/// What is to be signed, validated.
enum Job {
    Personal(String),
    Typed(String),
    Hash(Vec<u8>),
}

/// Largest personal message, bytes.
pub const MAX_PERSONAL_BYTES: usize = 16 * 1024;

fn validate(body: &EvmMessageBody) -> Result<(u64, Job), ApiError> {
    let chain: Chain = body
        .chain
        .parse()
        .map_err(|e: custos_core::ChainParseError| ApiError::invalid("chain", e.to_string()))?;
    let Chain::Evm(id) = chain else {
        return Err(ApiError::invalid("chain", "must be `evm:<chain id>` here"));
    };
    let job = match (&body.message, &body.typed_data, &body.hash) {
        (Some(m), None, None) => {
            if m.is_empty() || m.len() > MAX_PERSONAL_BYTES {
                return Err(ApiError::invalid(
                    "message",
                    format!("must be 1 to {MAX_PERSONAL_BYTES} bytes"),
                ));
            }
            Job::Personal(m.clone())
        }
        (None, Some(t), None) => {
            let s = t.to_string();
            #[cfg(feature = "evm")]
            custos_chains::evm::typed_data::summarize(&s)
                .map_err(|e| ApiError::invalid("typed_data", e.0))?;
            Job::Typed(s)
        }
        (None, None, Some(h)) => {
            let bytes = h
                .strip_prefix("0x")
                .and_then(|d| hex::decode(d).ok())
                .filter(|b| b.len() == 32)
                .ok_or_else(|| ApiError::invalid("hash", "must be 0x + 64 hex digits"))?;
            Job::Hash(bytes)
        }
        _ => {
            return Err(ApiError::invalid(
                "message",
                "give exactly one of `message`, `typed_data` and `hash`",
            ))
        }
    };
    Ok((id, job))
}

/// Signs for the agent, or refuses naming the rule; with `dry_run`, explains the policy's
/// decision (the same intent and effects, permits valued) and signs nothing.
pub async fn run(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    body: EvmMessageBody,
    dry_run: bool,
) -> Result<Response, ApiError> {
    run_in(state, actor, agent, body, dry_run, None).await
}

/// [`run`], counting whatever the signature is worth against `bucket` too (an x402 payment's
/// per-site share, [`super::pay`]).
pub(crate) async fn run_in(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    body: EvmMessageBody,
    dry_run: bool,
    bucket: Option<custos_core::Bucket>,
) -> Result<Response, ApiError> {
    let (id, job) = validate(&body)?;
    let chain = Chain::Evm(id);
    let policy = state.policy_of(&agent)?;
    let use_ = usage(state, &agent).await?;
    // Permits become spending allowances, which the policy values at their full amount; an
    // EIP-3009 authorization is a transfer; everything else moves nothing.
    let mut effects = Effects::default();
    let mut authorized: Option<Intent> = None;
    let (payload, kind, digest_hint) = match &job {
        Job::Personal(m) => (
            SignPayload::Message {
                bytes: m.as_bytes().to_vec(),
            },
            "eip191",
            None,
        ),
        Job::Typed(doc) => {
            #[cfg(feature = "evm")]
            {
                let s = custos_chains::evm::typed_data::summarize(doc)
                    .map_err(|e| ApiError::invalid("typed_data", e.0))?;
                match s.chain_id {
                    Some(cid) if cid != id => {
                        return Err(ApiError::invalid(
                            "typed_data",
                            format!("domain.chainId is {cid}, but the request is for evm:{id}"),
                        ));
                    }
                    Some(_) => {}
                    None if policy.typed_data.allow_missing_chain_id => {}
                    None => {
                        return Err(ApiError::policy_denied(vec![(
                            custos_policy::rules::TYPED_DATA_MISSING_CHAIN_ID.into(),
                            "the document's domain has no chainId, so its signature would be valid on every chain; the policy does not allow that".into(),
                        )]))
                    }
                }
                if let Some(t) = &s.transfer {
                    authorized =
                        Some(authorized_transfer(state, &agent, id, t, &mut effects).await?);
                }
                for p in &s.permits {
                    let asset = p.asset.as_ref().map(|a| AssetId::new(a.to_string()));
                    let (amount, decimals) = match (p.amount, &asset) {
                        (Some(n), Some(a)) => {
                            let decimals = token_decimals(state, id, a.as_str()).await?;
                            (DelegationAmount::Limited(n), Some(decimals))
                        }
                        _ => (DelegationAmount::Unlimited, None),
                    };
                    if let Some(a) = &asset {
                        let quote = price(state, a).await;
                        effects.prices.insert(a.clone(), quote);
                    }
                    effects.delegations.push(Delegation {
                        kind: DelegationKind::Spend,
                        spender: p.grantee.clone().unwrap_or_default(),
                        asset,
                        decimals,
                        amount,
                    });
                }
                (
                    SignPayload::Eip712 {
                        typed_data: doc.clone(),
                    },
                    "eip712",
                    Some(hex::encode(s.digest)),
                )
            }
            #[cfg(not(feature = "evm"))]
            {
                let _ = doc;
                return Err(ApiError::invalid("chain", "this build has no EVM support"));
            }
        }
        Job::Hash(h) => {
            if !policy.actions.sign_raw_hash {
                return Err(ApiError::policy_denied(vec![(
                    "actions.sign_raw_hash".into(),
                    "raw-hash signing is off: nothing about a bare hash can be checked".into(),
                )]));
            }
            (
                SignPayload::RawHash { hash: h.clone() },
                "raw_hash",
                Some(hex::encode(h)),
            )
        }
    };
    let intent = authorized.unwrap_or(Intent {
        action: Action::SignMessage,
        chain,
        recipient: None,
        asset: None,
        amount: Decimal::ZERO,
        declared_usd: UsdValue::Known(Decimal::ZERO),
    });
    if dry_run {
        let e = custos_policy::explain(&policy, &intent, &effects, &use_);
        return Ok(Json(serde_json::json!({"dry_run": true, "explanation": e})).into_response());
    }
    let approved = match custos_policy::evaluate_payload(
        &policy,
        &intent,
        &effects,
        &use_,
        0,
        payload.digest(),
    ) {
        Decision::Allow(a) => *a,
        Decision::Deny { reasons } => return Err(denied(&reasons)),
        Decision::RequireApproval { .. } => {
            return Err(ApiError::policy_denied(vec![(
                custos_policy::rules::APPROVALS_ABOVE_USD.into(),
                "this permit's value needs human approval, which typed data cannot wait for yet"
                    .into(),
            )]))
        }
    };
    let usd = approved.get().usd_value;
    // The permit's value is reserved before anything is signed.
    let reservation = if usd > Decimal::ZERO {
        Some(super::budget::reserve_in(state, &agent, &policy, usd, bucket).await?)
    } else {
        None
    };
    let sig = match state
        .custody
        .sign(&approved, agent.id, KeyScheme::Secp256k1Ecdsa, payload)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            if let Some(r) = reservation {
                r.release().await;
            }
            return Err(e.into());
        }
    };
    state
        .metrics
        .signatures
        .with_label_values(&[KeyScheme::Secp256k1Ecdsa.as_str()])
        .inc();
    // Ethereum's convention: v = 27 + recovery id.
    let mut rsv = sig.bytes.clone();
    if let Some(v) = rsv.get_mut(64) {
        *v = v.saturating_add(27);
    }
    let signature = format!("0x{}", hex::encode(&rsv));
    let params = serde_json::to_value(MessageParams {
        chain,
        kind,
        digest: digest_hint,
        delegations: &effects.delegations,
        to: intent.recipient.as_deref(),
        asset: intent.asset.as_ref(),
        amount: (intent.action == Action::Transfer).then(|| intent.amount.to_string()),
    })
    .map_err(ApiError::internal)?;
    let mut entry = entry_for(
        state,
        Some(actor.principal),
        actor.endpoint,
        actor.request_id,
        200,
        AuditInfo {
            action: "sign_message".into(),
            params: Some(params),
            subject: Some(agent.id),
            tx: None,
            usd: Some(usd.to_string()),
            token_amounts: None,
        },
        None,
    );
    entry.outcome = AuditOutcome::Success;
    let withheld = "withholding the signature";
    let (stored, reservation) = match reservation {
        Some(r) => r.record(entry, withheld).await.map(|(s, r)| (s, Some(r)))?,
        None => (super::on_record(state, entry, withheld).await?, None),
    };
    if let Some(r) = reservation {
        r.commit(&format!("sig:{}", stored.id)).await;
    }
    let address = agent
        .addresses
        .get("evm")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let mut r = Json(json!({
        "status": "signed", "scheme": "secp256k1_ecdsa", "kind": kind, "signature": signature,
        "address": address, "usd_value": usd.to_string(), "audit_id": stored.id,
    }))
    .into_response();
    r.extensions_mut().insert(Audited(stored.id));
    Ok(r)
}

/// The intent of an EIP-3009 authorization — a `transfer` of its value to its payee — with its
/// outflow, payee and price added to `effects`. Only the wallet's own authorization can be
/// signed: one naming another `from` would be void on chain.
#[cfg(feature = "evm")]
async fn authorized_transfer(
    state: &AppState,
    agent: &Agent,
    chain_id: u64,
    t: &custos_chains::evm::typed_data::AuthorizedTransfer,
    effects: &mut Effects,
) -> Result<Intent, ApiError> {
    let mine = agent.addresses.get("evm").and_then(|v| v.as_str());
    if mine.is_none_or(|m| !m.eq_ignore_ascii_case(&t.from)) {
        return Err(ApiError::invalid(
            "typed_data",
            "message.from is not this wallet's address: only the wallet's own tokens can be authorized",
        ));
    }
    let decimals = token_decimals(state, chain_id, &t.token).await?;
    let asset = AssetId::new(t.token.clone());
    let quote = price(state, &asset).await;
    effects.prices.insert(asset.clone(), quote);
    effects.changes.push(custos_core::AssetDelta {
        asset: asset.clone(),
        decimals,
        delta_atoms: t
            .value
            .to_u128()
            .and_then(|v| i128::try_from(v).ok())
            .map_or(i128::MIN, |v| -v),
    });
    effects.recipients.push(t.to.clone());
    // An amount too large for a decimal is declared as the largest one: the caps refuse it.
    let amount = t.value.to_whole(decimals).unwrap_or(Decimal::MAX);
    Ok(Intent {
        action: Action::Transfer,
        chain: Chain::Evm(chain_id),
        recipient: Some(t.to.clone()),
        asset: Some(asset),
        amount,
        declared_usd: quote.times(amount),
    })
}

/// The decimals of ERC-20 `token` on `evm:chain_id`, asked of the chain.
#[cfg(feature = "evm")]
pub(crate) async fn token_decimals(
    state: &AppState,
    chain_id: u64,
    token: &str,
) -> Result<u8, ApiError> {
    let adapter = state.chains.evm_adapters.get(&chain_id).ok_or_else(|| {
        ApiError::invalid(
            "chain",
            format!("`evm:{chain_id}` is not enabled on this server"),
        )
    })?;
    let addr = custos_chains::evm::wire::parse_address(token, "typed_data")
        .map_err(|e| ApiError::invalid("typed_data", e.to_string()))?;
    adapter
        .token_decimals(addr)
        .await
        .map_err(|e| super::chain_error("typed_data", e))
}
