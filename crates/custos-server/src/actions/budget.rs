//! Budget reservations as values that cannot leak: [`reserve`] hands back a [`Reserved`] that
//! must be committed, released or handed to the in-flight journal. One that is dropped unresolved — an
//! early return nobody wrote a release for, or a panic unwinding through the handler — is
//! released by its `Drop`, so spend that never happened does not count against the caps.
use crate::error::ApiError;
use crate::state::AppState;
use custos_core::{Agent, Decimal, Reservation, ReserveOutcome};
use custos_policy::PolicyDocument;

/// A reservation not yet resolved. Released when dropped.
#[must_use = "a reservation is released when dropped; commit it or keep it in flight"]
pub struct Reserved {
    state: AppState,
    id: Option<String>,
}

impl Reserved {
    /// The reservation's id.
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// Releases now (the action did not happen).
    pub async fn release(mut self) {
        if let Some(id) = self.id.take() {
            release(&self.state, &id).await;
        }
    }

    /// Commits now against `tx` (the spend happened or counts as spent).
    pub async fn commit(mut self, tx: &str) {
        if let Some(id) = self.id.take() {
            commit(&self.state, &id, tx).await;
        }
    }

    /// [`super::on_record`] while this reservation is held: on success the record and the
    /// reservation back; if the audit log refuses the record, the reservation is released.
    pub async fn record(
        self,
        entry: custos_core::AuditEntry,
        withheld: &str,
    ) -> Result<(custos_core::StoredAudit, Self), ApiError> {
        match super::on_record(&self.state, entry, withheld).await {
            Ok(stored) => Ok((stored, self)),
            Err(e) => {
                self.release().await;
                Err(e)
            }
        }
    }

    /// The transaction is about to leave Custos and its in-flight journal entry (which names
    /// this reservation) now owns it: it is settled with the entry, by the request or by
    /// recovery, never by this value's drop.
    pub fn hand_to_journal(mut self) {
        self.id = None;
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let state = self.state.clone();
        tracing::warn!(reservation = %id, "budget reservation dropped unresolved; releasing it");
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { release(&state, &id).await });
        }
    }
}

async fn release(state: &AppState, id: &str) {
    if let Err(e) = state.store.budget_release(id).await {
        tracing::error!(error = %e, "budget reservation not released");
    }
}

async fn commit(state: &AppState, id: &str, tx: &str) {
    if let Err(e) = state
        .store
        .budget_commit(id, tx, state.clock.now_ms())
        .await
    {
        tracing::error!(error = %e, "budget reservation not committed (it still counts as in flight)");
    }
}

/// Reserves `usd` for the agent in the rolling 24 h budget and the hourly count, in one store
/// transaction; returns the reservation, or the denial naming the cap that refused it.
pub async fn reserve(
    state: &AppState,
    agent: &Agent,
    policy: &PolicyDocument,
    usd: Decimal,
) -> Result<Reserved, ApiError> {
    reserve_in(state, agent, policy, usd, None).await
}

/// [`reserve`], also counting against `bucket` (a per-site share for x402 payments, `liquidity`
/// deposits, `prediction` orders), whose refusal names that share's rule
/// (`payments.daily_usd_per_domain`, `liquidity.daily_usd`, `prediction.daily_usd`).
pub async fn reserve_in(
    state: &AppState,
    agent: &Agent,
    policy: &PolicyDocument,
    usd: Decimal,
    bucket: Option<custos_core::Bucket>,
) -> Result<Reserved, ApiError> {
    let cap_of_bucket = bucket.as_ref().map(|b| (b.key.clone(), b.daily_cap));
    let id = uuid::Uuid::new_v4().to_string();
    let outcome = state
        .store
        .budget_reserve(Reservation {
            id: id.clone(),
            agent: agent.id,
            usd,
            now_ms: state.clock.now_ms(),
            daily_cap: policy.limits.daily_usd,
            max_tx_per_hour: policy.limits.max_tx_per_hour,
            owner: state.instance.clone(),
            bucket,
        })
        .await?;
    match outcome {
        ReserveOutcome::Reserved => Ok(Reserved {
            state: state.clone(),
            id: Some(id),
        }),
        ReserveOutcome::OverDaily { spent } => Err(ApiError::policy_denied(vec![(
            "limits.daily_usd".into(),
            format!(
                "{spent} USD already spent or in flight in 24 h; {usd} more exceeds the cap of {}",
                policy.limits.daily_usd
            ),
        )])),
        ReserveOutcome::OverBucket { spent } => {
            let (key, cap) = cap_of_bucket.unwrap_or_default();
            let (rule, what) = match key.strip_prefix("x402:") {
                Some(site) => ("payments.daily_usd_per_domain", format!("paid to {site}")),
                None => (
                    match key.as_str() {
                        "liquidity" => "liquidity.daily_usd",
                        _ => "prediction.daily_usd",
                    },
                    format!("in {key}"),
                ),
            };
            Err(ApiError::policy_denied(vec![(
                rule.into(),
                format!(
                    "{spent} USD already {what} or in flight in 24 h; {usd} more exceeds its cap of {cap}"
                ),
            )]))
        }
        ReserveOutcome::OverHourly { count } => Err(ApiError::policy_denied(vec![(
            "limits.max_tx_per_hour".into(),
            format!(
                "{count} transactions in the last hour; the cap is {}",
                policy.limits.max_tx_per_hour
            ),
        )])),
    }
}
