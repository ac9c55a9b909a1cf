//! What each subcommand does. Configuration is loaded and validated here, once, so every
//! command refuses a bad key the same way.
use crate::supervise::Supervisor;
use crate::Common;
use anyhow::{bail, Context, Result};
use custos_core::{
    AuditEntry, AuditOutcome, Clock, OperatorRole, OperatorTokenRecord, Store, SystemClock,
};
use custos_server::auth::tokens;
use custos_server::Config;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

fn load_config(common: &Common) -> Result<Config> {
    let env = std::env::vars().filter(|(k, _)| k.starts_with("CUSTOS_"));
    let mut cfg = Config::load(common.config.as_deref(), env)?;
    if let Some(d) = &common.data_dir {
        cfg.server.data_dir = d.clone();
    }
    Ok(cfg)
}

fn ensure_private_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    }
    Ok(())
}

async fn open_store(cfg: &Config) -> Result<Arc<dyn Store>> {
    let url = cfg.storage.url.as_str();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let s = custos_store::PostgresStore::connect(url)
            .await
            .context("cannot open PostgreSQL store")?;
        return Ok(Arc::new(s));
    }
    ensure_private_dir(&cfg.server.data_dir)?;
    let s = match url.strip_prefix("sqlite:") {
        Some(path) => custos_store::SqliteStore::open(std::path::Path::new(path)).await,
        None => custos_store::SqliteStore::open_in_dir(&cfg.server.data_dir).await,
    }
    .context("cannot open SQLite store")?;
    Ok(Arc::new(s))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            return;
        }
    }
    let _ = ctrl_c.await;
}

/// `custos serve`.
pub async fn serve(common: Common, listen: Option<std::net::SocketAddr>) -> Result<ExitCode> {
    let mut cfg = load_config(&common)?;
    if let Some(l) = listen {
        cfg.server.listen = l;
    }
    ensure_private_dir(&cfg.server.data_dir)?;
    let store = open_store(&cfg).await?;
    // The bootstrap owner key is the boundary's enrolment key: it exists before the boundary
    // starts, so the boundary can be told to accept new agents' first policies from it.
    let bootstrap = custos_server::owners::bootstrap_key(&cfg.server.data_dir)
        .map_err(anyhow::Error::msg)?
        .public();
    let (custody, supervisor) = open_custody(&cfg, bootstrap).await?;
    let parts = custos_server::Parts {
        cfg,
        store,
        custody,
        clock: Arc::new(SystemClock),
    };
    let result = custos_server::run(parts, shutdown_signal()).await;
    if let Some(s) = supervisor {
        s.stop().await;
    }
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The configured custody backend: the supervised (or external) enclave, or a PKCS#11 token.
async fn open_custody(
    cfg: &Config,
    enrolment_key: custos_signer::OwnerKey,
) -> Result<(Arc<dyn custos_core::Custody>, Option<Supervisor>)> {
    let socket = cfg.enclave_socket();
    let supervisor = if cfg.custody.external_enclave {
        None
    } else {
        // With the PKCS#11 backend the enclave process opens the token; this process never
        // loads the module.
        let mut args = if cfg.custody.backend == custos_server::config::CustodyBackend::Pkcs11 {
            pkcs11_enclave_args(cfg)
        } else {
            cfg.custody.enclave_kms_args()
        };
        args.extend(["--enrol-key".to_owned(), enrolment_key.to_hex()]);
        Some(Supervisor::start(
            socket.clone(),
            cfg.enclave_data_dir(),
            args,
        )?)
    };
    let client = custos_custody::EnclaveClient::new(&socket);
    wait_for_enclave(&client).await?;
    Ok((Arc::new(client), supervisor))
}

/// The `custos enclave` arguments that put it on the configured PKCS#11 token. The PIN stays in
/// the environment variable named by `custody.pkcs11_pin_env`: the enclave reads it, the server
/// never does.
fn pkcs11_enclave_args(cfg: &Config) -> Vec<String> {
    let c = &cfg.custody;
    vec![
        "--pkcs11-module".into(),
        c.pkcs11_module.clone(),
        "--pkcs11-token-label".into(),
        c.pkcs11_token_label.clone(),
        "--pkcs11-pin-env".into(),
        c.pkcs11_pin_env.clone(),
        "--pkcs11-sessions".into(),
        c.pkcs11_sessions.to_string(),
    ]
}

/// Both `--pkcs11-token-label` and `--pkcs11-pin-env` are needed with `--pkcs11-module`.
fn pkcs11_rest(label: Option<String>, pin_env: Option<String>) -> Result<(String, String)> {
    match (label, pin_env) {
        (Some(l), Some(p)) => Ok((l, p)),
        (None, _) => bail!("--pkcs11-token-label is needed with --pkcs11-module"),
        (_, None) => bail!("--pkcs11-pin-env is needed with --pkcs11-module"),
    }
}

/// `custos enclave --pkcs11-module …`: the boundary with the token as its key store.
#[cfg(feature = "pkcs11")]
async fn enclave_on_token(
    socket: PathBuf,
    data_dir: PathBuf,
    module: PathBuf,
    (label, pin_env): (String, String),
    sessions: usize,
    enrolment_keys: Vec<custos_signer::OwnerKey>,
) -> Result<ExitCode> {
    ensure_private_dir(&data_dir)?;
    let pin = std::env::var(&pin_env).with_context(|| {
        format!("--pkcs11-pin-env: the environment variable {pin_env} is not set")
    })?;
    let mut p =
        custos_custody::Pkcs11Config::new(&module, &label, custos_core::SecretString::new(pin));
    p.sessions = sessions;
    p.policy_dir = Some(data_dir.join("policies"));
    p.decision_log = Some(data_dir.join("decisions.log"));
    p.freeze_file = Some(data_dir.join("frozen.json"));
    p.enrolment_keys = enrolment_keys;
    tracing::info!(module = %module.display(), token = %label, "custody boundary on a PKCS#11 token");
    tokio::select! {
        r = custos_custody::run_pkcs11(&socket, p, true, 256) => r.context("PKCS#11 boundary failed")?,
        _ = shutdown_signal() => tracing::info!("enclave stopping"),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "pkcs11"))]
async fn enclave_on_token(
    _: PathBuf,
    _: PathBuf,
    _: PathBuf,
    _: (String, String),
    _: usize,
    _: Vec<custos_signer::OwnerKey>,
) -> Result<ExitCode> {
    bail!("--pkcs11-module needs a build with `--features pkcs11`")
}

async fn wait_for_enclave(client: &custos_custody::EnclaveClient) -> Result<()> {
    use custos_core::Custody;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match client.health().await {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= deadline => bail!(
                "the enclave did not come up at {}: {e}",
                client.socket_path().display()
            ),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// What `custos enclave` was asked to run.
pub struct EnclaveArgs {
    /// Unix socket.
    pub socket: PathBuf,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Passphrase KMS.
    pub passphrase_env: Option<String>,
    /// OpenBao KMS.
    pub openbao: crate::OpenBaoArgs,
    /// Exit with the parent.
    pub exit_with_parent: bool,
    /// Enrolment keys (hex).
    pub enrol_keys: Vec<String>,
    /// A PKCS#11 token as key store.
    pub pkcs11: crate::Pkcs11Args,
}

/// `custos enclave`.
pub async fn enclave(a: EnclaveArgs) -> Result<ExitCode> {
    let EnclaveArgs {
        socket,
        data_dir,
        passphrase_env,
        openbao,
        exit_with_parent,
        enrol_keys,
        pkcs11,
    } = a;
    if exit_with_parent {
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
            .context("cannot watch the parent process")?;
    }
    let enrolment_keys = enrol_keys
        .iter()
        .map(|k| {
            custos_signer::OwnerKey::from_hex(k)
                .map_err(|e| anyhow::anyhow!("--enrol-key {k:?}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(module) = pkcs11.pkcs11_module {
        let rest = pkcs11_rest(pkcs11.pkcs11_token_label, pkcs11.pkcs11_pin_env)?;
        return enclave_on_token(
            socket,
            data_dir,
            module,
            rest,
            pkcs11.pkcs11_sessions,
            enrolment_keys,
        )
        .await;
    }
    let mut cfg = custos_custody::EnclaveConfig::new(socket, data_dir);
    cfg.enrolment_keys = enrolment_keys;
    if let Some(var) = passphrase_env {
        cfg.kms = custos_custody::KmsChoice::LocalPassphraseEnv { var };
    }
    if let Some(addr) = openbao.openbao_addr {
        if !cfg!(feature = "openbao") {
            bail!("this build has no OpenBao support; rebuild with `--features openbao`");
        }
        cfg.kms = custos_custody::KmsChoice::OpenBao {
            addr,
            token_env: openbao.openbao_token_env,
            transit_key: openbao.openbao_transit_key,
            kv_mount: openbao.openbao_kv_mount,
            ca_cert: openbao.openbao_ca_cert,
        };
    }
    tokio::select! {
        r = custos_custody::run(cfg) => r.context("enclave failed")?,
        _ = shutdown_signal() => tracing::info!("enclave stopping"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `custos devnet`: prints the JSON-RPC URL, then the PubSub WebSocket's, one a line.
#[cfg(feature = "solana")]
pub async fn devnet(
    listen: std::net::SocketAddr,
    ws_listen: Option<std::net::SocketAddr>,
    slot_ms: u64,
    data_dir: PathBuf,
) -> Result<ExitCode> {
    use custos_chains::solana::DevnetServerConfig;
    ensure_private_dir(&data_dir)?;
    let config = DevnetServerConfig::new(listen)
        .ws_listen(ws_listen)
        .slot_interval(std::time::Duration::from_millis(slot_ms));
    let server = custos_chains::solana::serve_devnet_with(config, &data_dir)
        .await
        .context("cannot start the devnet")?;
    tracing::info!(
        url = %server.url(),
        ws_url = %server.ws_url(),
        slot_ms,
        data_dir = %data_dir.display(),
        "devnet JSON-RPC and PubSub listening"
    );
    // One write, errors ignored: a caller that reads the first line and closes the pipe (as
    // scripts do) must not take the devnet down with a failed second print.
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{}\n{}\n", server.url(), server.ws_url());
        let _ = out.flush();
    }
    shutdown_signal().await;
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// `custos admin alert-secret`: the alert receiver's signing secret, on stdout only.
pub fn alert_secret(common: Common) -> Result<ExitCode> {
    let cfg = load_config(&common)?;
    let root = custos_server::files::load_or_create_secret32(
        &cfg.server.data_dir.join("webhook-root.key"),
    )
    .context("reading the webhook root key")?;
    let secret = custos_server::alerts::secret(&root, cfg.alerts.secret_version);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", secret.expose())?;
    Ok(ExitCode::SUCCESS)
}

/// The audit record of a local admin command (`operator` = `cli`).
fn cli_audit(now: i64, endpoint: &str, action: &str, params: serde_json::Value) -> AuditEntry {
    AuditEntry {
        time_ms: now,
        agent_id: None,
        operator: Some("cli".into()),
        endpoint: endpoint.into(),
        action: action.into(),
        params,
        usd_amount: None,
        token_amounts: serde_json::json!([]),
        tx: None,
        outcome: AuditOutcome::Success,
        status: 0,
        reason: None,
        request_id: uuid_like(),
    }
}

/// `custos admin operator invite`: creates the account (no passkey yet), audited.
pub async fn operator_invite(common: Common, email: &str, role: &str) -> Result<ExitCode> {
    let cfg = load_config(&common)?;
    let role = OperatorRole::parse(role).context("role must be admin, operator or viewer")?;
    let email = custos_server::routes::auth::normalize_email(email)
        .map_err(|e| anyhow::anyhow!("email: {}", e.message))?;
    let store = open_store(&cfg).await?;
    let now = SystemClock.now_ms();
    let account = custos_core::OperatorAccount {
        id: format!("opr_{}", uuid::Uuid::new_v4().simple()),
        email: email.clone(),
        role,
        created_at_ms: now,
        disabled: false,
        passkeys: vec![],
        totp: None,
        failed_logins: 0,
        locked_until_ms: 0,
        version: 0,
    };
    match store.operator_account_create(&account).await {
        Ok(()) => {}
        Err(custos_core::StoreError::Conflict(_)) => {
            anyhow::bail!("an operator with the email {email} exists already")
        }
        Err(e) => return Err(e.into()),
    }
    store
        .audit_append(&[cli_audit(
            now,
            "CLI admin operator invite",
            "admin.operator.invite",
            serde_json::json!({"operator_id": account.id, "email": email, "role": role.as_str()}),
        )])
        .await?;
    println!(
        "{} invited as {}: they enrol at /console",
        email,
        role.as_str()
    );
    Ok(ExitCode::SUCCESS)
}

/// `custos admin operator list`.
pub async fn operator_list(common: Common) -> Result<ExitCode> {
    let cfg = load_config(&common)?;
    let store = open_store(&cfg).await?;
    let mut after: Option<String> = None;
    loop {
        let page = store.operator_accounts(200, after.as_deref()).await?;
        for a in &page {
            let totp = a.totp.as_ref().is_some_and(|t| t.confirmed);
            println!(
                "{}\t{}\tpasskeys={}\ttotp={}\tdisabled={}",
                a.email,
                a.role.as_str(),
                a.passkeys.len(),
                totp,
                a.disabled
            );
        }
        match page.last() {
            Some(l) if page.len() == 200 => after = Some(l.email.clone()),
            _ => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `custos admin token`.
pub async fn admin_token(common: Common, role: &str) -> Result<ExitCode> {
    let cfg = load_config(&common)?;
    let role = OperatorRole::parse(role).context("role must be admin, operator or viewer")?;
    let store = open_store(&cfg).await?;
    let minted = tokens::mint(tokens::OPERATOR_TOKEN_PREFIX);
    let now = SystemClock.now_ms();
    store
        .create_operator_token(OperatorTokenRecord {
            token_id: minted.id.clone(),
            token_hash: minted.hash,
            role,
            created_at_ms: now,
            revoked_at_ms: None,
        })
        .await?;
    let entry = cli_audit(
        now,
        "CLI admin token",
        "admin.token.create",
        serde_json::json!({"token_id": minted.id, "role": role.as_str()}),
    );
    store.audit_append(&[entry]).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", minted.secret.expose())?;
    Ok(ExitCode::SUCCESS)
}

fn uuid_like() -> String {
    let mut b = [0u8; 16];
    rand_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn rand_bytes(b: &mut [u8]) {
    // The token module already draws from the OS CSPRNG; reuse it for a request id.
    let t = tokens::mint("");
    let n = b.len().min(t.hash.len());
    b[..n].copy_from_slice(&t.hash[..n]);
}

/// What `custos audit verify` prints (to stderr, and in its `ok` line) when no trusted key is
/// given.
pub const NO_TRUST_WARNING: &str = "warning: no --trust-key or --trust-attestation given: \
checkpoints were checked only against the first key found in the database, which whoever can \
write the database chooses";

/// `custos audit verify` without a trusted key (the demo): the checkpoints are checked against
/// the first key found in the database, with [`NO_TRUST_WARNING`].
pub async fn audit_verify(common: Common) -> Result<ExitCode> {
    audit_verify_trusted(common, None, None).await
}

/// `custos audit verify-signer --log FILE (--trust-key HEX | --trust-attestation FILE)`: the
/// signer's own decision log (`<enclave data dir>/decisions.log`) against its identity key. Exit
/// 0 with an `ok` line, 2 naming the first broken record, 1 for unusable flags.
pub fn audit_verify_signer(
    log: PathBuf,
    trust_key: Option<String>,
    trust_attestation: Option<PathBuf>,
) -> Result<ExitCode> {
    let key = match (trust_key, trust_attestation) {
        (Some(_), Some(_)) => {
            bail!("--trust-key and --trust-attestation: give one of them, not both")
        }
        (Some(k), None) => custos_server::audit::parse_trusted_key(&k)
            .map_err(|why| anyhow::anyhow!("--trust-key: {why}"))?,
        (None, Some(path)) => key_from_attestation(&path)?,
        (None, None) => bail!(
            "--trust-key or --trust-attestation is needed: a signer's log is only as good as the key it is checked against"
        ),
    };
    let raw = custos_signer::OwnerKey::from_hex(&key)
        .map_err(|why| anyhow::anyhow!("--trust-key: {why}"))?;
    match custos_signer::decisions::verify(&log, raw.as_bytes()) {
        Ok(v) => {
            let tail = if v.signed_through < v.records {
                format!(
                    "; records {}-{} are chained but not yet covered by a signature",
                    v.signed_through + 1,
                    v.records
                )
            } else {
                String::new()
            };
            println!(
                "ok: {} decisions, signed through record {} by the trusted key {key}{tail}",
                v.records, v.signed_through
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(b) => {
            println!("{b}");
            eprintln!("{b}");
            Ok(ExitCode::from(2))
        }
    }
}

/// `custos audit verify [--trust-key HEX | --trust-attestation FILE]`: exit 0 with an `ok` line,
/// 2 naming the first broken record, 1 if the flags or the database are unusable.
/// The trusted boundary key from `--trust-key` or `--trust-attestation` (at most one).
pub fn trusted_key(
    trust_key: Option<String>,
    trust_attestation: Option<PathBuf>,
) -> Result<Option<String>> {
    Ok(match (trust_key, trust_attestation) {
        (Some(_), Some(_)) => {
            bail!("--trust-key and --trust-attestation: give one of them, not both")
        }
        (Some(k), None) => Some(
            custos_server::audit::parse_trusted_key(&k)
                .map_err(|why| anyhow::anyhow!("--trust-key: {why}"))?,
        ),
        (None, Some(path)) => Some(key_from_attestation(&path)?),
        (None, None) => None,
    })
}

pub async fn audit_verify_trusted(
    common: Common,
    trust_key: Option<String>,
    trust_attestation: Option<PathBuf>,
) -> Result<ExitCode> {
    // The flags first: a bad one is refused before the database is opened.
    let trusted = trusted_key(trust_key, trust_attestation)?;
    let cfg = load_config(&common)?;
    let store = open_store(&cfg).await?;
    let trust = match &trusted {
        Some(k) => custos_server::audit::Trust::Key(k),
        None => custos_server::audit::Trust::FirstFound,
    };
    match custos_server::audit::verify_with_trust(&*store, trust, |cp| {
        custos_custody::verify_checkpoint(cp).is_ok()
    })
    .await?
    {
        Ok(rep) => {
            let mut line = format!(
                "ok: {} records, {} signed checkpoints",
                rep.records, rep.checkpoints
            );
            match (&trusted, &rep.key) {
                (Some(k), Some(_)) => line.push_str(&format!(" by the trusted key {k}")),
                (None, Some(k)) => line.push_str(&format!(" by key {k}")),
                (_, None) => {}
            }
            if rep.covered < rep.records {
                line.push_str(&format!(
                    "; records {}-{} are not covered by a signed checkpoint yet",
                    rep.covered + 1,
                    rep.records
                ));
            }
            if trusted.is_none() {
                line.push_str("; ");
                line.push_str(NO_TRUST_WARNING);
                eprintln!("{NO_TRUST_WARNING}");
            }
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Err(b) => {
            println!("{b}");
            eprintln!("{b}");
            Ok(ExitCode::from(2))
        }
    }
}

/// The identity key of an attestation document saved from `GET /v1/attestation`, once the
/// document verifies. A `dev` (or `pkcs11`) document is self-signed: it proves only that the
/// holder of the key signed it, so it is as trustworthy as the way the file was obtained.
/// Checks an attestation document's signature and that it carries `nonce`, for every format
/// this build can check (`dev`, and `pkcs11` with that feature); a `nitro` document needs a
/// measurement policy and is refused here.
pub fn verify_attestation(doc: &custos_core::AttestationDocument, nonce: &[u8]) -> Result<()> {
    let verified = match doc.format.as_str() {
        "dev" => custos_custody::verify_dev_attestation(doc, nonce),
        #[cfg(feature = "pkcs11")]
        "pkcs11" => custos_custody::pkcs11::verify_pkcs11_attestation(doc, nonce).map(|_| ()),
        #[cfg(not(feature = "pkcs11"))]
        "pkcs11" => bail!("a pkcs11 document needs a build with `--features pkcs11`"),
        "nitro" => bail!(
            "nitro documents are not checked here (they need a measurement policy); \
             verify it with your policy and pass its public_key with --trust-key"
        ),
        _ => Err(custos_custody::VerifyError::UnsupportedFormat(
            doc.format.clone(),
        )),
    };
    verified.map_err(|e| anyhow::anyhow!("{e}"))
}

fn key_from_attestation(path: &std::path::Path) -> Result<String> {
    let flag = format!("--trust-attestation {}", path.display());
    let text =
        std::fs::read_to_string(path).with_context(|| format!("{flag}: cannot read the file"))?;
    let doc: custos_core::AttestationDocument = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{flag}: not an attestation document (the JSON GET /v1/attestation returns): {e}"
        )
    })?;
    // A saved document is checked against the nonce it carries; its freshness was the business
    // of whoever fetched it.
    let nonce = decode_hex(&doc.nonce)
        .ok_or_else(|| anyhow::anyhow!("{flag}: the document's nonce is not hex"))?;
    verify_attestation(&doc, &nonce)
        .map_err(|e| anyhow::anyhow!("{flag}: the document does not verify: {e}"))?;
    custos_server::audit::parse_trusted_key(&doc.public_key)
        .map_err(|why| anyhow::anyhow!("{flag}: its public_key: {why}"))
}

/// Lowercase or uppercase hex to bytes; `None` if it is not hex.
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            let hi = (p[0] as char).to_digit(16)?;
            let lo = (p[1] as char).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

/// `custos audit export`.
pub async fn audit_export(common: Common, out: Option<PathBuf>) -> Result<ExitCode> {
    let cfg = load_config(&common)?;
    let store = open_store(&cfg).await?;
    let mut w: Box<dyn Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(&p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut after = 0;
    loop {
        let page = store.audit_page(None, after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for r in &page {
            serde_json::to_writer(&mut w, r)?;
            w.write_all(b"\n")?;
        }
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `custos audit tail` on the local data dir: the last `lines` records (only `agent`'s, if
/// given), then, with `follow`, new ones as they are written.
pub async fn audit_tail(
    common: Common,
    agent: Option<&str>,
    lines: usize,
    follow: bool,
    output: crate::client::render::Output,
) -> Result<ExitCode> {
    let agent = agent
        .map(|a| a.parse::<custos_core::AgentId>())
        .transpose()
        .map_err(|_| anyhow::anyhow!("--agent: not an agent id (UUID)"))?;
    let cfg = load_config(&common)?;
    let store = open_store(&cfg).await?;
    crate::client::operator::tail(output, lines, follow, async |after| {
        let page = store.audit_page(agent, after, 1000).await?;
        Ok(page
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()?)
    })
    .await
}
