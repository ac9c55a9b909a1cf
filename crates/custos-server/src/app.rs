//! Assembles the router in pipeline order and runs the server with graceful shutdown.
use crate::audit::AuditSink;
use crate::auth::jwt::JwtKeys;
use crate::config::Config;
use crate::mailer::Mailer;
use crate::metrics::Metrics;
use crate::pipeline;
use crate::ratelimit::Limits;
use crate::routes::{
    admin, agent, alerts, auth, dev, keys, policy, prediction, system, tighten, transactions,
    wallet, webhook,
};
use crate::state::{AppState, Inner};
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, post};
use axum::Router;
use custos_core::{Clock, Custody, Store};
use std::future::Future;
use std::sync::Arc;

/// Builds the router: the REST API; `/mcp`, whose tool calls the REST API answers; the operator
/// console (`/console`, on by default); and, with `[compat] knot = true`, the Knot-compatible
/// `/knot/…`, translated onto the REST API.
pub fn router(state: AppState) -> Router {
    let api = api_router(state.clone());
    let max_body = state.cfg.server.max_body_bytes;
    let tools = crate::mcp::InProcess::new(api.clone(), crate::inprocess::MAX_REPLY_BYTES);
    let mcp = Router::new()
        .route_service("/mcp", custos_mcp::http_service(Arc::new(tools), max_body))
        .route_layer(from_fn_with_state(state.clone(), crate::mcp::bounded_body))
        .route_layer(from_fn_with_state(state.clone(), crate::mcp::agent_bearer))
        .route_layer(from_fn(pipeline::tag_route))
        .layer(from_fn_with_state(state.clone(), pipeline::front_door))
        .layer(from_fn_with_state(state.clone(), pipeline::request_context))
        .with_state(state.clone());
    let mut app = api.clone().merge(mcp);
    if state.cfg.console.enabled {
        match crate::console::router(state.clone(), api.clone()) {
            Ok(console) => app = app.merge(console),
            // Validation built the same relying party: not reached with a loaded config.
            Err(e) => tracing::error!(error = %e, "the console is off"),
        }
    }
    if state.cfg.compat.knot {
        app = app.merge(crate::knot::router(state, api));
    }
    app
}

/// The REST API.
fn api_router(state: AppState) -> Router {
    let authenticated = Router::new()
        .route("/v1/wallets/me/credential", get(agent::credential))
        .route("/v1/wallets/me/approvals/{id}", get(agent::approval))
        .route("/v1/wallets/me", get(wallet::me))
        .route(
            "/v1/wallets/me/policy",
            get(wallet::my_policy).patch(tighten::tighten),
        )
        .route("/v1/wallets/me/audit", get(wallet::my_audit))
        .route("/v1/wallets/me/actions/{action}", post(wallet::action))
        .route("/v1/wallets/me/balances", get(wallet::balances))
        .route("/v1/wallets/me/prediction/key", post(prediction::key))
        .route(
            "/v1/wallets/me/prediction/balance",
            get(prediction::balance),
        )
        .route(
            "/v1/wallets/me/prediction/positions",
            get(prediction::positions),
        )
        .route("/v1/wallets/me/prediction/orders", get(prediction::orders))
        .route("/v1/wallets/me/transactions", get(transactions::list))
        .route(
            "/v1/wallets/me/webhook",
            get(webhook::get).put(webhook::put).delete(webhook::delete),
        )
        .route(
            "/v1/wallets/me/webhook/deliveries",
            get(webhook::deliveries),
        )
        .route(
            "/v1/wallets/me/transactions/{tx}/speed-up",
            post(transactions::speed_up),
        )
        .route(
            "/v1/wallets/me/transactions/{tx}/cancel",
            post(transactions::cancel),
        )
        .route(
            "/v1/wallets/me/transactions/{tx}",
            get(transactions::status),
        )
        .route("/v1/dev/airdrop", post(dev::airdrop))
        .route("/v1/dev/mints", post(dev::create_mint))
        .route("/v1/dev/slots", post(dev::slots))
        .route("/v1/admin/approvals", get(admin::list_approvals))
        .route("/v1/admin/approvals/{id}", get(admin::get_approval))
        .route("/v1/admin/approvals/{id}/approve", post(admin::approve))
        .route("/v1/admin/approvals/{id}/reject", post(admin::reject))
        .route("/v1/admin/agents", get(admin::list_agents))
        .route("/v1/admin/agents/{id}", get(admin::get_agent))
        .route(
            "/v1/admin/agents/{id}/policy",
            get(policy::get_policy).put(policy::put_policy),
        )
        .route(
            "/v1/admin/agents/{id}/policy/envelope",
            get(policy::get_policy_envelope),
        )
        .route(
            "/v1/admin/agents/{id}/policy/dry-run",
            post(policy::dry_run),
        )
        .route("/v1/admin/agents/{id}/keys", get(keys::list))
        .route(
            "/v1/admin/agents/{id}/keys/{scheme}/rotate",
            post(keys::rotate),
        )
        .route("/v1/admin/agents/{id}/freeze", post(admin::freeze))
        .route("/v1/admin/agents/{id}/unfreeze", post(admin::unfreeze))
        .route("/v1/admin/alerts", get(alerts::list_alerts))
        .route("/v1/admin/alerts/test", post(alerts::test_alert))
        .route(
            "/v1/admin/kill-switch",
            get(admin::kill_switch).post(admin::set_kill_switch),
        )
        .route(
            "/v1/admin/agents/{id}/api-keys",
            get(admin::list_api_keys).post(admin::create_api_key),
        )
        .route(
            "/v1/admin/agents/{id}/api-keys/{key_id}",
            delete(admin::revoke_api_key),
        )
        .route("/v1/admin/audit", get(admin::audit))
        .route("/v1/admin/audit/verify", get(admin::audit_verify))
        .route("/v1/admin/audit/checkpoints", get(admin::audit_checkpoints))
        // route_layer: the last added runs first, so authentication precedes the audit layer.
        .route_layer(from_fn_with_state(state.clone(), pipeline::audit_layer))
        .route_layer(from_fn_with_state(
            state.clone(),
            crate::auth::principal::authenticate,
        ));
    let public = Router::new()
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(system::metrics))
        .route("/openapi.json", get(system::openapi))
        .route("/skill.md", get(system::skill))
        .route("/v1/attestation", get(system::attestation))
        .route("/v1/auth/otp", post(auth::request_otp))
        .route("/v1/auth/verify", post(auth::verify_otp))
        .route("/v1/auth/jwks", get(auth::jwks));
    let max_body = state.cfg.server.max_body_bytes;
    let body_timeout = std::time::Duration::from_secs(state.cfg.server.body_read_timeout_seconds);
    Router::new()
        .merge(authenticated)
        .merge(public)
        .route_layer(from_fn(pipeline::tag_route))
        .fallback(|| async { crate::error::ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            crate::error::ApiError {
                status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
                ..crate::error::ApiError::bad_request("method not allowed for this endpoint")
            }
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::Extension(crate::extract::MaxBody(max_body)))
        .layer(axum::Extension(crate::extract::BodyTimeout(body_timeout)))
        .layer(from_fn_with_state(state.clone(), pipeline::front_door))
        .layer(from_fn_with_state(state.clone(), pipeline::request_context))
        .with_state(state)
}

/// What `run` needs from its caller (the CLI decides how the store and custody are reached).
pub struct Parts {
    /// Validated configuration.
    pub cfg: Config,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The custody boundary.
    pub custody: Arc<dyn Custody>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

/// Builds the state and starts the background tasks (audit writer, purges). The returned
/// handle must be awaited after the router is dropped to flush the audit log.
pub fn build(parts: Parts) -> anyhow_like::Result<(AppState, Background)> {
    let cfg = parts.cfg;
    let data_dir = cfg.server.data_dir.clone();
    let metrics = Arc::new(Metrics::new().map_err(|e| anyhow_like::err(format!("metrics: {e}")))?);
    let jwt = JwtKeys::load_or_create(&data_dir, &cfg.auth.issuer, &cfg.auth.audience)
        .map_err(|e| anyhow_like::err(format!("JWT key: {e}")))?;
    let otp_pepper = crate::files::load_or_create_secret32(&data_dir.join("otp-pepper.key"))
        .map_err(|e| anyhow_like::err(format!("OTP pepper: {e}")))?;
    let webhook_root = crate::files::load_or_create_secret32(&data_dir.join("webhook-root.key"))
        .map_err(|e| anyhow_like::err(format!("webhook root key: {e}")))?;
    let mailer =
        Mailer::from_config(&cfg.mailer, &data_dir).map_err(|e| anyhow_like::err(e.to_string()))?;
    let (audit, audit_task) = AuditSink::start(
        parts.store.clone(),
        parts.custody.clone(),
        cfg.audit.clone(),
        metrics.clone(),
    );
    let limits = Limits::new(&cfg.rate_limit).map_err(anyhow_like::err)?;
    let default_policy = std::sync::Arc::new(crate::state::EffectivePolicy::new(
        custos_policy::PolicyDocument {
            session_expiration_hours: cfg.auth.session_expiration_hours,
            ..Default::default()
        },
    ));
    let chains = crate::chains::open(&cfg.solana, &data_dir)
        .and_then(|c| c.with_evm(&cfg.evm))
        .map_err(anyhow_like::err)?;
    let oracle = custos_oracle::build(&cfg.oracle, parts.clock.clone()).map_err(|e| {
        anyhow_like::err(format!(
            "configuration key `oracle.{}`: {}",
            e.key, e.message
        ))
    })?;
    tracing::info!("prices: {}", cfg.oracle.describe());
    let owners = crate::owners::Owners::load(&cfg)
        .map_err(|e| anyhow_like::err(format!("owner keys: {e}")))?;
    let state = AppState::new(Inner {
        owners,
        instance: uuid::Uuid::new_v4().to_string(),
        store: parts.store,
        custody: crate::signing::Boundary::new(parts.custody),
        clock: parts.clock,
        mailer,
        jwt,
        otp_pepper,
        webhook_root,
        alerts: crate::alerts::Alerts::default(),
        limits,
        audit,
        metrics,
        default_policy,
        policies: Default::default(),
        chains,
        oracle,
        cfg,
        skill_md: Default::default(),
    });
    let (stop_housekeeping, stop) = tokio::sync::watch::channel(false);
    let housekeeping = tokio::spawn(housekeeping(state.clone(), stop));
    Ok((
        state,
        Background {
            audit: audit_task,
            housekeeping,
            stop_housekeeping,
        },
    ))
}

/// The background tasks of a running server.
pub struct Background {
    /// The audit writer; finishes once every handle to it is gone.
    pub audit: tokio::task::JoinHandle<()>,
    /// Periodic purges; holds a state handle, so it must be stopped for the writer to finish.
    pub housekeeping: tokio::task::JoinHandle<()>,
    /// Asks housekeeping to stop between two passes (never in the middle of one: a pass cut
    /// off inside a store transaction could leave the writer connection to roll back the next
    /// statement, such as the final audit checkpoint).
    pub stop_housekeeping: tokio::sync::watch::Sender<bool>,
}

/// Purges expired codes and answered idempotency entries and prunes idle rate-limit keys every
/// minute; runs the crash-recovery pass every `server.recovery_interval_seconds`; follows every
/// agent's owner-signed policy once at start and adopts due loosenings every second
/// ([`crate::policy_sync`]); queues and sends webhook deliveries and operator alerts every
/// `webhooks.poll_interval_ms` ([`crate::webhooks`], [`crate::alerts`]).
async fn housekeeping(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    match crate::policy_sync::follow_all(&state).await {
        Ok((seen, adopted)) if adopted > 0 => {
            tracing::warn!(
                seen,
                adopted,
                "stored policies differed from the owner-signed ones in force and were replaced"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not follow the owner-signed policies at start"),
    }
    let every = std::time::Duration::from_secs(state.cfg.server.recovery_interval_seconds.max(1));
    let mut recover = tokio::time::interval(every);
    // The first tick is immediate; the start-up pass already ran.
    recover.tick().await;
    let mut adopt = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut hooks = tokio::time::interval(std::time::Duration::from_millis(
        state.cfg.webhooks.poll_interval_ms,
    ));
    hooks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let hook_client = crate::webhooks::client(&state);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    let mut rotation = tokio::time::interval(std::time::Duration::from_secs(3600));
    rotation.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = recover.tick() => {
                if let Err(e) = crate::recovery::pass(&state).await {
                    tracing::warn!(error = %e, "recovery pass failed");
                }
                continue;
            }
            _ = adopt.tick() => {
                crate::policy_sync::pass(&state).await;
                continue;
            }
            _ = hooks.tick() => {
                crate::webhooks::pass(&state, &hook_client).await;
                crate::alerts::pass(&state, &hook_client).await;
                continue;
            }
            _ = rotation.tick() => {
                if let Err(e) = crate::routes::keys::measure_rotation_due(&state).await {
                    tracing::warn!(error = %e.message, "could not measure keys due for rotation");
                }
                continue;
            }
            _ = tick.tick() => {}
        }
        let now = state.clock.now_ms();
        state.limits.prune(now);
        if let Err(e) = state.store.purge_expired_otps(now).await {
            tracing::warn!(error = %e, "OTP purge failed");
        }
        if let Err(e) = state.store.purge_idempotency(now - 24 * 3600 * 1000).await {
            tracing::warn!(error = %e, "idempotency purge failed");
        }
        if let Err(e) = state.store.expire_approvals(now).await {
            tracing::warn!(error = %e, "approval expiry failed");
        }
    }
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish and flushes the
/// audit log. Writes the bound address to `<data-dir>/listen.addr`.
pub async fn run(
    parts: Parts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow_like::Result<()> {
    let listen = parts.cfg.server.listen;
    let data_dir = parts.cfg.server.data_dir.clone();
    let grace = std::time::Duration::from_secs(parts.cfg.server.shutdown_grace_seconds);
    let outbox = matches!(parts.cfg.mailer.kind, crate::config::MailerKind::Outbox);
    let (state, background) = build(parts)?;
    // A node serving another chain id than configured is a configuration error; a node that
    // is down is not (requests fail with 503 until it is back).
    for adapter in state.chains.evm.values() {
        match adapter.check_chain().await {
            Ok(()) => {}
            Err(custos_core::ChainError::InvalidInput(m)) => return Err(anyhow_like::err(m)),
            Err(e) => {
                tracing::warn!(chain = %adapter.chain(), error = %e, "evm node not reachable at start")
            }
        }
    }
    // Before any request touches the books: finish what a previous process left.
    if let Err(e) = crate::recovery::pass(&state).await {
        tracing::warn!(error = %e, "start-up recovery pass failed");
    }
    // Before any request is audited: webhook events start after what is already on record.
    crate::webhooks::start(&state)
        .await
        .map_err(|e| anyhow_like::err(format!("webhook cursor: {e}")))?;
    crate::alerts::start(&state)
        .await
        .map_err(|e| anyhow_like::err(format!("alerts: {e}")))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow_like::err(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| anyhow_like::err(e.to_string()))?;
    std::fs::write(data_dir.join("listen.addr"), addr.to_string())
        .map_err(|e| anyhow_like::err(format!("listen.addr: {e}")))?;
    if outbox {
        tracing::warn!(path = %data_dir.join("outbox.jsonl").display(), "mailer is the development outbox: login codes are written to a file, not sent");
    }
    tracing::info!(%addr, "custos listening");
    let limits = crate::listener::ConnLimits::from(&state.cfg.server);
    let app = router(state);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        crate::listener::serve(listener, app, limits, async move {
            let _ = rx.await;
        })
        .await
    });
    shutdown.await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = tx.send(());
    match tokio::time::timeout(grace, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "server error"),
        Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
        Err(_) => tracing::warn!("in-flight requests did not finish within the grace period"),
    }
    // The router is gone; stopping housekeeping drops the last audit handle, so the writer
    // drains, signs a final checkpoint and ends.
    let _ = background.stop_housekeeping.send(true);
    let mut housekeeping = background.housekeeping;
    if tokio::time::timeout(grace, &mut housekeeping)
        .await
        .is_err()
    {
        housekeeping.abort();
        let _ = housekeeping.await;
    }
    let _ = tokio::time::timeout(grace, background.audit).await;
    Ok(())
}

/// A minimal error type for start-up failures (no `anyhow` in library crates).
pub mod anyhow_like {
    /// A start-up failure with its reason.
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    pub struct StartError(pub String);
    /// Result alias.
    pub type Result<T> = std::result::Result<T, StartError>;
    /// Builds an error.
    pub fn err(s: impl Into<String>) -> StartError {
        StartError(s.into())
    }
}
