//! The boundary's decisions, recorded: every signature made or refused and every policy
//! envelope accepted or refused is appended to the signer's own decision log
//! ([`custos_signer::decisions`]) before the answer leaves the boundary. Shared by the
//! sealed-keystore enclave and the PKCS#11 boundary, so both keep the same record.
use custos_core::{CustodyError, PolicyApplied, PolicyJson, SignRequest, Signature};
use custos_signer::decisions::{DecisionLog, Event};
use custos_signer::{EnvelopeError, PolicyBook, PolicyEnvelope};

/// Maps a policy-book failure: storage is the boundary's problem, anything else a refusal of
/// the envelope (named).
pub(crate) fn envelope_error(e: EnvelopeError) -> CustodyError {
    match e {
        EnvelopeError::Storage(m) => CustodyError::Internal(format!("policy book: {m}")),
        other => CustodyError::EnvelopeRefused(other.to_string()),
    }
}

/// The log cannot be written (a full or read-only disk): nothing is released, and the caller
/// is told the boundary is unavailable — a storage fault, not a bug.
fn log_error(e: std::io::Error) -> CustodyError {
    CustodyError::Unavailable(format!("decision log: {e}"))
}

/// Runs `sign` (which reports the policy version it judged under) and records its outcome; a
/// signature is released only once its record is written. Without a log (an in-process
/// boundary in tests) nothing is recorded.
pub(crate) fn sign(
    log: Option<&DecisionLog>,
    now_ms: i64,
    req: &SignRequest,
    sign: impl FnOnce(&mut Option<u64>) -> Result<Signature, CustodyError>,
) -> Result<Signature, CustodyError> {
    let mut version = None;
    let result = sign(&mut version);
    let Some(log) = log else {
        return result;
    };
    let (outcome, reason) = match &result {
        Ok(_) => ("signed", None),
        Err(e) => ("refused", Some(e.to_string())),
    };
    let subject = custos_signer::decisions::subject(&req.payload.bytes());
    log.append(
        now_ms,
        req.agent_id,
        Event::Sign,
        subject,
        version,
        outcome,
        reason,
    )
    .map_err(log_error)?;
    result
}

/// Verifies `envelope` into `book` and records the decision.
pub(crate) fn submit(
    log: Option<&DecisionLog>,
    book: &PolicyBook,
    now_ms: i64,
    envelope: &PolicyJson,
) -> Result<PolicyApplied, CustodyError> {
    let parsed = PolicyEnvelope::from_json(envelope);
    let (wallet, subject, version) = match &parsed {
        Ok(env) => (env.wallet, hex::encode(env.hash()), Some(env.version)),
        Err(_) => (
            custos_core::AgentId(Default::default()),
            custos_signer::decisions::subject(envelope.as_str().as_bytes()),
            None,
        ),
    };
    let result = parsed.and_then(|env| book.submit(env, now_ms));
    if let Some(log) = log {
        let (outcome, reason) = match &result {
            Ok(PolicyApplied::Pending { .. }) => ("pending", None),
            Ok(_) => ("accepted", None),
            Err(e) => ("refused", Some(e.to_string())),
        };
        log.append(
            now_ms,
            wallet,
            Event::Policy,
            subject,
            version,
            outcome,
            reason,
        )
        .map_err(log_error)?;
    }
    result.map_err(envelope_error)
}
