//! Fault injection for tests: named points on the signing path where a test makes the server
//! panic or abort, to prove that nothing is lost when it does. Compiled in only with the cargo
//! feature `fault-injection` (which release builds do not enable); without it every point is an
//! empty inline function.
//!
//! With the feature, the environment variable `FAULT_INJECT` (deliberately not a `CUSTOS_*`
//! configuration key) lists `point` or `point=panic|abort`, comma-separated, e.g.
//! `FAULT_INJECT=after_reserve=panic`. Each named point fires once, at its first hit, so a test
//! can check that the next request through the same server is unaffected. Points: `after_reserve` (budget reserved, nothing
//! signed), `after_sign` (signature made, nothing recorded), `after_signed_record` (the
//! `….signed` audit record is durable), `after_broadcast` (the node has the transaction). One
//! point does something else than fail: `before_broadcast=expire` lets the embedded devnet's
//! slots pass until the transaction's blockhash has expired, just before it is sent
//! ([`fired`]); `audit_checkpoint=fail` makes the next audit checkpoint fail (a failure the
//! operators are alerted on).

/// `FAULT_INJECT` as read once: (point, action, fired yet).
#[cfg(feature = "fault-injection")]
fn config() -> &'static [(String, String, std::sync::atomic::AtomicBool)] {
    use std::sync::atomic::AtomicBool;
    use std::sync::OnceLock;
    static CONFIG: OnceLock<Vec<(String, String, AtomicBool)>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        std::env::var("FAULT_INJECT")
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| match s.split_once('=') {
                Some((p, a)) => (p.to_owned(), a.to_owned(), AtomicBool::new(false)),
                None => (s.to_owned(), "panic".to_owned(), AtomicBool::new(false)),
            })
            .collect()
    })
}

/// Whether `FAULT_INJECT` names `point=action` and this is its first hit.
#[cfg(feature = "fault-injection")]
pub fn fired(point: &str, action: &str) -> bool {
    use std::sync::atomic::Ordering;
    let hit = config()
        .iter()
        .any(|(p, a, done)| p == point && a == action && !done.swap(true, Ordering::SeqCst));
    if hit {
        tracing::warn!(point, action, "fault injected");
    }
    hit
}

/// Hits the fault point `point`: panics or aborts if `FAULT_INJECT` names it.
#[cfg(feature = "fault-injection")]
#[allow(clippy::panic)] // Panicking on purpose is this function's whole job.
pub fn hit(point: &str) {
    if fired(point, "abort") {
        std::process::abort();
    }
    if fired(point, "panic") {
        panic!("fault injected at {point}");
    }
}

/// Without the `fault-injection` feature: nothing.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn hit(_point: &str) {}

/// Without the `fault-injection` feature: never.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn fired(_point: &str, _action: &str) -> bool {
    false
}
