//! Development endpoints, only with `server.dev = true` and the embedded devnet: fund the
//! caller, create test token mints, let slots pass. A server on a real cluster answers `404`
//! here.
use crate::audit_info::AuditInfo;
use crate::auth::AgentCtx;
use crate::chains::DevFaucet;
use crate::error::ApiError;
use crate::extract::StrictJson;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

fn faucet(state: &AppState) -> Result<&Arc<dyn DevFaucet>, ApiError> {
    match (&state.chains.faucet, state.cfg.server.dev) {
        (Some(f), true) => Ok(f),
        _ => Err(ApiError::not_found(
            "development endpoints are available only with server.dev and the embedded devnet",
        )),
    }
}

/// `POST /v1/dev/airdrop` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AirdropBody {
    /// `solana`.
    #[schema(pattern = "^solana$", example = "solana")]
    pub chain: String,
    /// `SOL` or a mint created with `/v1/dev/mints`.
    #[schema(pattern = "^(SOL|[1-9A-HJ-NP-Za-km-z]{32,44})$", example = "SOL")]
    pub asset: String,
    /// Decimal string.
    #[schema(pattern = r"^[0-9]{1,9}(\.[0-9]{1,9})?$", example = "1")]
    pub amount: String,
}

/// Funds the caller on the embedded devnet.
#[utoipa::path(post, path = "/v1/dev/airdrop", tag = "dev", security(("bearer" = [])), request_body = AirdropBody, responses((status = 200, description = "`{status, tx}`")))]
pub async fn airdrop(
    State(state): State<AppState>,
    ctx: AgentCtx,
    StrictJson(body): StrictJson<AirdropBody>,
) -> Result<Response, ApiError> {
    let f = faucet(&state)?;
    if body.chain != "solana" {
        return Err(ApiError::invalid(
            "chain",
            "the development faucet serves `solana` only",
        ));
    }
    let amount = crate::actions::amount("amount", &body.amount)?;
    if amount > custos_core::Decimal::from_atoms(1_000_000 * 10u128.pow(18)) {
        return Err(ApiError::invalid("amount", "at most 1000000 per airdrop"));
    }
    let to = ctx
        .agent
        .addresses
        .get("solana")
        .and_then(|v| v.as_str())
        .ok_or_else(|| ApiError::internal("agent has no solana address"))?;
    let tx = f
        .airdrop(to, &body.asset, amount)
        .await
        .map_err(|m| ApiError::invalid("asset", m))?;
    let mut r = Json(json!({"status": "confirmed", "tx": tx})).into_response();
    r.extensions_mut().insert(AuditInfo {
        action: "dev.airdrop".into(),
        params: Some(json!({"asset": body.asset, "amount": body.amount})),
        tx: Some(tx),
        ..AuditInfo::default()
    });
    Ok(r)
}

/// `POST /v1/dev/mints` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintBody {
    /// Token decimals (0–9).
    #[schema(minimum = 0, maximum = 9)]
    #[serde(deserialize_with = "crate::extract::whole_number")]
    pub decimals: u8,
    /// `token` (SPL Token, default) or `token-2022`.
    #[serde(default)]
    #[schema(pattern = "^(token|token-2022)$")]
    pub program: Option<String>,
}

/// Creates a test token mint controlled by the devnet faucet.
#[utoipa::path(post, path = "/v1/dev/mints", tag = "dev", security(("bearer" = [])), request_body = MintBody, responses((status = 201, description = "`{mint}`")))]
pub async fn create_mint(
    State(state): State<AppState>,
    _ctx: AgentCtx,
    StrictJson(body): StrictJson<MintBody>,
) -> Result<Response, ApiError> {
    let f = faucet(&state)?;
    if body.decimals > 9 {
        return Err(ApiError::invalid("decimals", "must be 0 to 9"));
    }
    let token_2022 = match body.program.as_deref() {
        None | Some("token") => false,
        Some("token-2022") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "program",
                "must be `token` or `token-2022`",
            ))
        }
    };
    let mint = f
        .create_mint(body.decimals, token_2022)
        .await
        .map_err(ApiError::internal)?;
    let mut r = (axum::http::StatusCode::CREATED, Json(json!({"mint": mint}))).into_response();
    r.extensions_mut().insert(AuditInfo::with(
        "dev.mint",
        json!({"mint": mint, "decimals": body.decimals, "token_2022": token_2022}),
    ));
    Ok(r)
}

/// `POST /v1/dev/slots` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotsBody {
    /// Empty slots to let pass (1–100000), each with a new blockhash: 151 expire every
    /// blockhash handed out before.
    #[schema(minimum = 1, maximum = 100000)]
    #[serde(deserialize_with = "crate::extract::whole_number")]
    pub advance: u64,
}

/// Lets slots pass on the embedded devnet (to see blockhashes expire).
#[utoipa::path(post, path = "/v1/dev/slots", tag = "dev", security(("bearer" = [])), request_body = SlotsBody, responses((status = 200, description = "`{slot}`: the slot reached")))]
pub async fn slots(
    State(state): State<AppState>,
    _ctx: AgentCtx,
    StrictJson(body): StrictJson<SlotsBody>,
) -> Result<Response, ApiError> {
    let f = faucet(&state)?;
    if !(1..=100_000).contains(&body.advance) {
        return Err(ApiError::invalid("advance", "must be 1 to 100000"));
    }
    let slot = f
        .advance_slots(body.advance)
        .await
        .map_err(ApiError::internal)?;
    let mut r = Json(json!({"slot": slot})).into_response();
    r.extensions_mut().insert(AuditInfo::with(
        "dev.slots",
        json!({"advance": body.advance, "slot": slot}),
    ));
    Ok(r)
}
