//! `custos admin key generate` and `custos policy sign`: the owner's side of policy authority,
//! run on the owner's machine with the owner's key file. Nothing here talks to the server; the
//! envelope printed is what the operator `PUT`s.
use anyhow::{bail, Context, Result};
use custos_policy::PolicyDocument;
use custos_signer::{Authority, OwnerSigningKey, PolicyEnvelope, ENVELOPE_FORMAT};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `custos admin key generate --out FILE`: a new owner key, written 0600; prints the public key
/// to enrol (in `owners.keys`).
pub fn key_generate(out: &Path) -> Result<ExitCode> {
    let key = OwnerSigningKey::generate();
    key.write_new(out)
        .with_context(|| format!("cannot create {} (it must not exist yet)", out.display()))?;
    println!("{}", key.public());
    eprintln!(
        "owner key written to {} (keep it offline; its public half above is what you enrol)",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn envelope_from(path: &Path, v: serde_json::Value) -> Result<PolicyEnvelope> {
    // `GET …/policy/envelope` answers `{current, pending}`; a bare envelope is accepted too.
    let v = match v.get("current") {
        Some(c) if v.get("format").is_none() => c.clone(),
        _ => v,
    };
    PolicyEnvelope::from_json(&custos_core::PolicyJson::from(v))
        .with_context(|| format!("{} is not a policy envelope", path.display()))
}

/// What `custos policy sign` is asked to do.
pub struct SignArgs {
    /// The owner key file.
    pub key: PathBuf,
    /// A policy document (needs `current`) or an envelope to add a signature to.
    pub input: PathBuf,
    /// The envelope in force (from `GET /v1/admin/agents/{id}/policy/envelope`).
    pub current: Option<PathBuf>,
    /// A new authority (`{owners, quorum, loosen_delay_seconds}`) for the next version.
    pub authority: Option<PathBuf>,
    /// Not in force before this time (ms since the epoch); default now.
    pub not_before_ms: Option<i64>,
    /// Write here instead of stdout.
    pub out: Option<PathBuf>,
}

/// `custos policy sign`: builds the next envelope from a document (sections the document leaves
/// out keep the current envelope's values) and signs it, or adds this key's signature to an
/// envelope another owner started.
pub fn policy_sign(a: SignArgs) -> Result<ExitCode> {
    let key = OwnerSigningKey::read(&a.key).map_err(anyhow::Error::msg)?;
    let input = read_json(&a.input)?;
    let mut env = if input.get("format").and_then(|f| f.as_str()) == Some(ENVELOPE_FORMAT) {
        if a.current.is_some() || a.authority.is_some() || a.not_before_ms.is_some() {
            bail!("--current, --authority and --not-before-ms build a new envelope; {} already is one (its body is signed as it is)", a.input.display());
        }
        envelope_from(&a.input, input)?
    } else {
        let Some(current) = &a.current else {
            bail!("--current FILE is needed to sign a policy document: the envelope in force, from GET /v1/admin/agents/<id>/policy/envelope");
        };
        let held = envelope_from(current, read_json(current)?)?;
        let doc = PolicyDocument::from_json_over(&input, &held.document)
            .map_err(|e| anyhow::anyhow!("{}: {}: {}", a.input.display(), e.field, e.message))?;
        let authority: Authority = match &a.authority {
            Some(p) => serde_json::from_value(read_json(p)?).with_context(|| {
                format!(
                    "{}: not an authority {{owners, quorum, loosen_delay_seconds}}",
                    p.display()
                )
            })?,
            None => held.authority.clone(),
        };
        let now = i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        )
        .unwrap_or(i64::MAX);
        PolicyEnvelope::new(
            held.wallet,
            held.version + 1,
            held.hash(),
            a.not_before_ms.unwrap_or(now),
            authority,
            doc,
        )
    };
    env.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    env.sign(&key);
    let text = serde_json::to_string_pretty(&env)?;
    match &a.out {
        Some(p) => std::fs::write(p, format!("{text}\n"))
            .with_context(|| format!("cannot write {}", p.display()))?,
        None => {
            let mut o = std::io::stdout().lock();
            writeln!(o, "{text}")?;
        }
    }
    eprintln!(
        "signed version {} for agent {} with owner key {} ({} signature(s))",
        env.version,
        env.wallet,
        key.public(),
        env.signatures.len()
    );
    Ok(ExitCode::SUCCESS)
}
