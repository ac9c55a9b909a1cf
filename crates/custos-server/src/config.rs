//! Configuration: a TOML file overlaid with `CUSTOS_<SECTION>_<KEY>` environment variables,
//! validated once at start. A bad key or value is refused naming it; nothing is guessed.
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Environment variables with the `CUSTOS_` prefix that are not configuration keys.
const NON_CONFIG_ENV: &[&str] = &["CUSTOS_LOG", "CUSTOS_CONFIG"];

/// The whole configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listener and data directory.
    pub server: ServerConfig,
    /// Where state lives.
    pub storage: StorageConfig,
    /// How login codes are delivered.
    pub mailer: MailerConfig,
    /// Sessions and one-time codes.
    pub auth: AuthConfig,
    /// Request limits.
    pub rate_limit: RateLimitConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// The custody boundary.
    pub custody: CustodyConfig,
    /// Solana.
    pub solana: crate::chains::SolanaSettings,
    /// EVM chains.
    pub evm: crate::chains::EvmSettings,
    /// USD prices.
    pub oracle: custos_oracle::OracleConfig,
    /// Human approvals.
    pub approvals: ApprovalSettings,
    /// Who owns new agents' policies.
    pub owners: OwnersConfig,
    /// Other wallets' APIs this server also speaks.
    pub compat: CompatConfig,
    /// Agents' transaction status webhooks.
    pub webhooks: WebhooksConfig,
    /// Kalshi's Trade API (the `prediction` action).
    pub kalshi: crate::actions::prediction::kalshi::KalshiSettings,
    /// Operator alerts: where they are posted and the rules that raise them.
    pub alerts: crate::alerts::AlertSettings,
    /// The operator console (`/console`).
    pub console: crate::console::ConsoleSettings,
}

/// `[webhooks]`: where agents may have their transaction statuses posted (`crate::webhooks`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Hosts a webhook may point at (exact names or IP addresses; `https` only, except `http`
    /// to a loopback address). Empty (the default): agents cannot register webhooks.
    pub allow_hosts: Vec<String>,
    /// Attempts per delivery before it is given up (backoff 1 s, 2 s, 4 s, … up to an hour).
    pub max_attempts: u32,
    /// Seconds an attempt may take.
    pub timeout_seconds: u64,
    /// How often the audit log is read for new events and due deliveries are sent, ms.
    pub poll_interval_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_hosts: Vec::new(),
            max_attempts: 8,
            timeout_seconds: 5,
            poll_interval_ms: 250,
        }
    }
}

/// `[compat]`: APIs of other agent wallets, translated onto this server's own pipeline.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompatConfig {
    /// Serve the Knot-compatible API under `/knot/…` (see `crate::knot`). Off by default.
    pub knot: bool,
}

/// `[owners]`: the authority every new agent's policy is enrolled under. Only envelopes signed
/// by these keys (a quorum of them to loosen) change the policy the custody boundary holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OwnersConfig {
    /// Operator owner keys (hex Ed25519 public keys, from `custos admin key generate`) enrolled
    /// for every new agent.
    pub keys: Vec<String>,
    /// Enrol the server's bootstrap owner key (`<data-dir>/owner-bootstrap.key`, created on
    /// first start) too, so the server can sign policy changes an operator sends as plain
    /// documents. The development default; turn it off in production.
    pub bootstrap: bool,
    /// Owner signatures a loosening needs.
    pub quorum: u32,
    /// Seconds a loosening waits in the boundary after it is first submitted.
    pub loosen_delay_seconds: u64,
}

impl Default for OwnersConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            bootstrap: true,
            quorum: 1,
            loosen_delay_seconds: 0,
        }
    }
}

impl OwnersConfig {
    /// The configured operator keys, parsed (validation has already accepted them).
    pub fn operator_keys(&self) -> Result<Vec<custos_signer::OwnerKey>, ConfigError> {
        self.keys
            .iter()
            .map(|k| {
                custos_signer::OwnerKey::from_hex(k)
                    .map_err(|e| cerr("owners.keys", format!("{k:?}: {e}")))
            })
            .collect()
    }
}

/// `[approvals]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalSettings {
    /// How long a parked action waits for its approvers.
    pub ttl_seconds: u64,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        Self { ttl_seconds: 3600 }
    }
}

/// `[server]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory (SQLite database, enclave files, outbox).
    pub data_dir: PathBuf,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Development endpoints (`/v1/dev/*`).
    pub dev: bool,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_grace_seconds: u64,
    /// Seconds a client has to send a request's complete headers; then the connection is
    /// closed (a slow-header client cannot hold it open).
    pub header_read_timeout_seconds: u64,
    /// Seconds a client has to send a request's whole body, from the moment its headers are
    /// read; a slower body is answered `408`.
    pub body_read_timeout_seconds: u64,
    /// Open connections one client address may hold at once; more are closed on accept.
    pub max_connections_per_ip: usize,
    /// Seconds between crash-recovery passes (`recovery`); one also runs at start.
    pub recovery_interval_seconds: u64,
    /// Seconds after which an idempotency claim or budget reservation of another server
    /// instance counts as orphaned, with PostgreSQL (replicas share it: set more than the
    /// longest request). With SQLite one server owns the data directory, so a previous
    /// process's are orphaned at once and this is not used.
    pub orphan_after_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./custos-data"),
            trusted_proxies: vec![],
            dev: true,
            max_body_bytes: 64 * 1024,
            shutdown_grace_seconds: 10,
            header_read_timeout_seconds: 10,
            body_read_timeout_seconds: 30,
            max_connections_per_ip: 128,
            recovery_interval_seconds: 30,
            orphan_after_seconds: 600,
        }
    }
}

/// `[storage]`
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Empty: SQLite in the data directory. `postgres://…`: PostgreSQL.
    pub url: String,
}

/// Which mailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailerKind {
    /// Append to `<data-dir>/outbox.jsonl` (development).
    Outbox,
    /// Deliver over SMTP.
    Smtp,
}

/// `[mailer]`
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailerConfig {
    /// `outbox` or `smtp`.
    pub kind: MailerKind,
    /// Sender address.
    pub from: String,
    /// SMTP host.
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: u16,
    /// SMTP user name.
    pub smtp_username: Option<String>,
    /// SMTP password.
    #[serde(skip_serializing)]
    pub smtp_password: Option<custos_core::SecretString>,
    /// Require STARTTLS.
    pub smtp_starttls: bool,
}

impl std::fmt::Debug for MailerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailerConfig")
            .field("kind", &self.kind)
            .field("from", &self.from)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_username", &self.smtp_username)
            .field(
                "smtp_password",
                &self.smtp_password.as_ref().map(|_| "<redacted>"),
            )
            .field("smtp_starttls", &self.smtp_starttls)
            .finish()
    }
}

impl Default for MailerConfig {
    fn default() -> Self {
        Self {
            kind: MailerKind::Outbox,
            from: "Custos <custos@localhost>".into(),
            smtp_host: "127.0.0.1".into(),
            smtp_port: 25,
            smtp_username: None,
            smtp_password: None,
            smtp_starttls: true,
        }
    }
}

/// `[auth]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// JWT `iss`.
    pub issuer: String,
    /// JWT `aud`.
    pub audience: String,
    /// Session lifetime when the agent's policy does not set one.
    pub session_expiration_hours: u32,
    /// One-time code lifetime.
    pub otp_ttl_seconds: u64,
    /// Wrong guesses that kill a code.
    pub otp_max_attempts: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "custos".into(),
            audience: "custos-api".into(),
            session_expiration_hours: 168,
            otp_ttl_seconds: 600,
            otp_max_attempts: 5,
        }
    }
}

/// `[rate_limit]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// All `/v1` requests per minute.
    pub global_per_minute: u32,
    /// Per client IP per minute.
    pub per_ip_per_minute: u32,
    /// Per authenticated agent per minute.
    pub per_agent_per_minute: u32,
    /// Login-code requests per email per window.
    pub otp_per_email: u32,
    /// That window in minutes.
    pub otp_window_minutes: u32,
    /// Where the counts live: `local` (this process; one server) or `redis` (shared by every
    /// replica, so a limit holds across them).
    pub backend: RateLimitBackend,
    /// `redis://host:port[/db]` (or `rediss://`), without a password.
    pub redis_url: String,
    /// The environment variable holding the Redis password, if it has one (never a `CUSTOS_`
    /// name, never in the URL).
    pub redis_password_env: String,
    /// Prefix of every key Custos writes in Redis.
    pub redis_key_prefix: String,
    /// How long one Redis round trip may take before it counts as down, milliseconds.
    pub redis_timeout_ms: u64,
    /// With Redis down: `false` (default) refuses requests with `503` (no limit is better than
    /// an unenforced one only if you say so); `true` admits them unlimited, logged and counted.
    pub redis_fail_open: bool,
}

/// `rate_limit.backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitBackend {
    /// In this process.
    Local,
    /// In Redis, shared by replicas.
    Redis,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            global_per_minute: 1000,
            per_ip_per_minute: 100,
            per_agent_per_minute: 60,
            otp_per_email: 5,
            otp_window_minutes: 15,
            backend: RateLimitBackend::Local,
            redis_url: String::new(),
            redis_password_env: String::new(),
            redis_key_prefix: "custos:rl:".into(),
            redis_timeout_ms: 250,
            redis_fail_open: false,
        }
    }
}

/// Where audit records go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditSinkKind {
    /// The database, durable before the response leaves (default).
    Store,
    /// Memory only — for measuring the durability cost in benchmarks; never for real use.
    Memory,
}

/// `[audit]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Sink.
    pub sink: AuditSinkKind,
    /// Most records committed in one transaction.
    pub batch_max: usize,
    /// Sign a checkpoint of the chain head every this many records (0 = never).
    pub checkpoint_every: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            sink: AuditSinkKind::Store,
            batch_max: 512,
            checkpoint_every: 1000,
        }
    }
}

/// Where the enclave's master key comes from (`custody.kms`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KmsKind {
    /// A random key file in the enclave data dir (the default).
    #[default]
    LocalFile,
    /// scrypt over a passphrase from the environment variable `custody.kms_passphrase_env`.
    Passphrase,
    /// OpenBao / Vault Transit (`custody.openbao_*`; needs the `openbao` build feature).
    Openbao,
}

/// Which custody backend signs (`custody.backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustodyBackend {
    /// The `custos enclave` process (the default).
    #[default]
    Enclave,
    /// A PKCS#11 token (HSM, or SoftHSM2): keys generated on it and never leaving it. Needs the
    /// `pkcs11` build feature.
    Pkcs11,
}

/// `[custody]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CustodyConfig {
    /// `enclave` or `pkcs11`.
    pub backend: CustodyBackend,
    /// With `backend = "pkcs11"`: the module (`.so`) path.
    pub pkcs11_module: String,
    /// With `backend = "pkcs11"`: the label of the initialised token.
    pub pkcs11_token_label: String,
    /// With `backend = "pkcs11"`: the environment variable holding the user PIN.
    pub pkcs11_pin_env: String,
    /// With `backend = "pkcs11"`: logged-in sessions kept open (default 4).
    pub pkcs11_sessions: usize,
    /// Unix socket of the enclave; empty = `<data-dir>/enclave.sock`.
    pub enclave_socket: String,
    /// Do not start an enclave child process; connect to a running one.
    pub external_enclave: bool,
    /// Enclave data directory; empty = `<data-dir>/enclave`.
    pub enclave_data_dir: String,
    /// Master key source for the enclave `custos serve` starts.
    pub kms: KmsKind,
    /// With `kms = "passphrase"`: the environment variable holding the passphrase.
    pub kms_passphrase_env: String,
    /// With `kms = "openbao"`: the server address (`https://…`; `http://` only for loopback).
    pub openbao_addr: String,
    /// With `kms = "openbao"`: the environment variable holding the token (default `BAO_TOKEN`).
    pub openbao_token_env: String,
    /// With `kms = "openbao"`: the Transit key wrapping data keys (default `custos`).
    pub openbao_transit_key: String,
    /// With `kms = "openbao"`: a KV v2 mount to keep sealed keys in instead of the disk.
    pub openbao_kv_mount: String,
    /// With `kms = "openbao"`: an extra PEM CA certificate to trust.
    pub openbao_ca_cert: String,
    /// A key this many days old is reported as due for rotation.
    pub rotation_due_days: u32,
}

impl Default for CustodyConfig {
    fn default() -> Self {
        Self {
            backend: CustodyBackend::Enclave,
            pkcs11_module: String::new(),
            pkcs11_token_label: String::new(),
            pkcs11_pin_env: String::new(),
            pkcs11_sessions: 4,
            enclave_socket: String::new(),
            external_enclave: false,
            enclave_data_dir: String::new(),
            kms: KmsKind::LocalFile,
            kms_passphrase_env: String::new(),
            openbao_addr: String::new(),
            openbao_token_env: String::new(),
            openbao_transit_key: String::new(),
            openbao_kv_mount: String::new(),
            openbao_ca_cert: String::new(),
            rotation_due_days: 90,
        }
    }
}

impl CustodyConfig {
    /// The `custos enclave` arguments selecting the configured KMS.
    pub fn enclave_kms_args(&self) -> Vec<String> {
        let mut a = vec![];
        match self.kms {
            KmsKind::LocalFile => {}
            KmsKind::Passphrase => {
                a.extend([
                    "--kms-passphrase-env".into(),
                    self.kms_passphrase_env.clone(),
                ]);
            }
            KmsKind::Openbao => {
                a.extend(["--openbao-addr".into(), self.openbao_addr.clone()]);
                let or = |v: &str, d: &str| {
                    if v.is_empty() {
                        d.to_owned()
                    } else {
                        v.to_owned()
                    }
                };
                a.extend([
                    "--openbao-token-env".into(),
                    or(&self.openbao_token_env, "BAO_TOKEN"),
                ]);
                a.extend([
                    "--openbao-transit-key".into(),
                    or(&self.openbao_transit_key, "custos"),
                ]);
                if !self.openbao_kv_mount.is_empty() {
                    a.extend(["--openbao-kv-mount".into(), self.openbao_kv_mount.clone()]);
                }
                if !self.openbao_ca_cert.is_empty() {
                    a.extend(["--openbao-ca-cert".into(), self.openbao_ca_cert.clone()]);
                }
            }
        }
        a
    }
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration key `{key}`: {reason}")]
pub struct ConfigError {
    /// Dotted key (`rate_limit.per_ip_per_minute`) or the environment variable.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

fn cerr(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        reason: reason.into(),
    }
}

impl Config {
    /// Loads `file` (if any), overlays `env` (`CUSTOS_*` pairs), validates.
    pub fn load(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut tree = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| cerr(p.display().to_string(), format!("cannot read: {e}")))?;
                text.parse::<toml::Table>().map_err(|e| {
                    cerr(
                        p.display().to_string(),
                        format!("invalid TOML: {}", e.message()),
                    )
                })?
            }
            None => toml::Table::new(),
        };
        let defaults = toml::Table::try_from(Config::default())
            .map_err(|e| cerr("<defaults>", e.to_string()))?;
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix("CUSTOS_") else {
                continue;
            };
            if NON_CONFIG_ENV.contains(&name.as_str()) {
                continue;
            }
            let (section, key) = split_env_key(rest, &defaults)
                .ok_or_else(|| cerr(&name, "unknown configuration variable"))?;
            let value = typed_env_value(&defaults, &section, &key, &raw)
                .map_err(|r| cerr(format!("{section}.{key}"), format!("from {name}: {r}")))?;
            let sec = tree
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(t) = sec else {
                return Err(cerr(section, "must be a table"));
            };
            t.insert(key, value);
        }
        let cfg: Config =
            serde_path_to_error::deserialize(toml::Value::Table(tree)).map_err(|e| {
                let path = e.path().to_string();
                let msg = e.inner().to_string();
                let msg = msg.lines().next().unwrap_or_default().to_string();
                let key = match msg
                    .strip_prefix("unknown field `")
                    .and_then(|r| r.split('`').next())
                {
                    Some(name) if !path.ends_with(name) => format!("{path}.{name}"),
                    _ => path,
                };
                cerr(key, msg)
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let r = &self.rate_limit;
        for (k, v) in [
            ("rate_limit.global_per_minute", r.global_per_minute),
            ("rate_limit.per_ip_per_minute", r.per_ip_per_minute),
            ("rate_limit.per_agent_per_minute", r.per_agent_per_minute),
            ("rate_limit.otp_per_email", r.otp_per_email),
            ("rate_limit.otp_window_minutes", r.otp_window_minutes),
            ("auth.otp_max_attempts", self.auth.otp_max_attempts),
        ] {
            if v == 0 {
                return Err(cerr(k, "must be at least 1"));
            }
        }
        if r.backend == RateLimitBackend::Redis {
            let u = &r.redis_url;
            if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
                return Err(cerr(
                    "rate_limit.redis_url",
                    "required with backend = \"redis\": redis://host:port[/db] or rediss://…",
                ));
            }
            let authority = u
                .split("://")
                .nth(1)
                .unwrap_or("")
                .split('/')
                .next()
                .unwrap_or("");
            if authority.contains('@') {
                return Err(cerr(
                    "rate_limit.redis_url",
                    "must not carry credentials: name an environment variable in rate_limit.redis_password_env",
                ));
            }
            if r.redis_password_env.starts_with("CUSTOS_") {
                return Err(cerr(
                    "rate_limit.redis_password_env",
                    "must not start with CUSTOS_ (those are configuration keys)",
                ));
            }
            if !(1..=60_000).contains(&r.redis_timeout_ms) {
                return Err(cerr(
                    "rate_limit.redis_timeout_ms",
                    "must be between 1 and 60000",
                ));
            }
            if r.redis_key_prefix.is_empty() {
                return Err(cerr("rate_limit.redis_key_prefix", "must not be empty"));
            }
        }
        if !(1..=8760).contains(&self.auth.session_expiration_hours) {
            return Err(cerr(
                "auth.session_expiration_hours",
                "must be between 1 and 8760",
            ));
        }
        if !(1..=86_400).contains(&self.auth.otp_ttl_seconds) {
            return Err(cerr("auth.otp_ttl_seconds", "must be between 1 and 86400"));
        }
        if self.auth.issuer.is_empty() || self.auth.audience.is_empty() {
            return Err(cerr("auth.issuer", "issuer and audience must not be empty"));
        }
        let owners = self.owners.operator_keys()?;
        let count = owners.len() + usize::from(self.owners.bootstrap);
        if count == 0 {
            return Err(cerr(
                "owners.keys",
                "with owners.bootstrap = false at least one owner key is needed",
            ));
        }
        if self.owners.quorum == 0 || self.owners.quorum as usize > count {
            return Err(cerr(
                "owners.quorum",
                format!("must be between 1 and the {count} enrolled owner keys"),
            ));
        }
        if self.owners.loosen_delay_seconds > 366 * 24 * 3600 {
            return Err(cerr("owners.loosen_delay_seconds", "at most one year"));
        }
        let w = &self.webhooks;
        if !(1..=20).contains(&w.max_attempts) {
            return Err(cerr("webhooks.max_attempts", "must be between 1 and 20"));
        }
        if !(1..=60).contains(&w.timeout_seconds) {
            return Err(cerr("webhooks.timeout_seconds", "must be between 1 and 60"));
        }
        if !(10..=60_000).contains(&w.poll_interval_ms) {
            return Err(cerr(
                "webhooks.poll_interval_ms",
                "must be between 10 and 60000",
            ));
        }
        if let Some(h) = w.allow_hosts.iter().find(|h| {
            h.is_empty() || (h.contains(['/', ':', '@', ' ']) && h.parse::<IpAddr>().is_err())
        }) {
            return Err(cerr(
                "webhooks.allow_hosts",
                format!("`{h}` is not a host name or IP address (no scheme, port or path)"),
            ));
        }
        if !(1..=3650).contains(&self.custody.rotation_due_days) {
            return Err(cerr(
                "custody.rotation_due_days",
                "must be between 1 and 3650",
            ));
        }
        if self.custody.backend == CustodyBackend::Pkcs11 {
            let c = &self.custody;
            for (key, v) in [
                ("custody.pkcs11_module", &c.pkcs11_module),
                ("custody.pkcs11_token_label", &c.pkcs11_token_label),
                ("custody.pkcs11_pin_env", &c.pkcs11_pin_env),
            ] {
                if v.is_empty() {
                    return Err(cerr(key, "required with custody.backend = \"pkcs11\""));
                }
            }
            if c.pkcs11_pin_env.starts_with("CUSTOS_") {
                return Err(cerr(
                    "custody.pkcs11_pin_env",
                    "must not start with CUSTOS_ (those are configuration keys)",
                ));
            }
            if !(1..=64).contains(&c.pkcs11_sessions) {
                return Err(cerr("custody.pkcs11_sessions", "must be between 1 and 64"));
            }
        }
        match self.custody.kms {
            KmsKind::LocalFile => {}
            KmsKind::Passphrase => {
                let v = &self.custody.kms_passphrase_env;
                if v.is_empty() || v.starts_with("CUSTOS_") {
                    return Err(cerr(
                        "custody.kms_passphrase_env",
                        "required with kms = \"passphrase\": the name of an environment variable not starting with CUSTOS_",
                    ));
                }
            }
            KmsKind::Openbao => {
                let a = &self.custody.openbao_addr;
                if !(a.starts_with("https://")
                    || a.starts_with("http://127.")
                    || a.starts_with("http://localhost")
                    || a.starts_with("http://[::1]"))
                {
                    return Err(cerr(
                        "custody.openbao_addr",
                        "required with kms = \"openbao\": an https:// address (http:// only for loopback)",
                    ));
                }
                if self.custody.openbao_token_env.starts_with("CUSTOS_") {
                    return Err(cerr(
                        "custody.openbao_token_env",
                        "must not start with CUSTOS_ (those are configuration keys)",
                    ));
                }
            }
        }
        if self.mailer.kind == MailerKind::Smtp && self.mailer.smtp_host.is_empty() {
            return Err(cerr(
                "mailer.smtp_host",
                "required when mailer.kind = \"smtp\"",
            ));
        }
        if self
            .mailer
            .from
            .parse::<lettre::message::Mailbox>()
            .is_err()
        {
            return Err(cerr(
                "mailer.from",
                "not a valid mailbox (e.g. `Custos <custos@example.com>`)",
            ));
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.server.max_body_bytes) {
            return Err(cerr(
                "server.max_body_bytes",
                "must be between 1024 and 16777216",
            ));
        }
        for (key, v) in [
            (
                "server.header_read_timeout_seconds",
                self.server.header_read_timeout_seconds,
            ),
            (
                "server.body_read_timeout_seconds",
                self.server.body_read_timeout_seconds,
            ),
        ] {
            if !(1..=3600).contains(&v) {
                return Err(cerr(key, "must be between 1 and 3600"));
            }
        }
        if !(1..=100_000).contains(&self.server.max_connections_per_ip) {
            return Err(cerr(
                "server.max_connections_per_ip",
                "must be between 1 and 100000",
            ));
        }
        if !self.storage.url.is_empty()
            && !self.storage.url.starts_with("postgres://")
            && !self.storage.url.starts_with("postgresql://")
            && !self.storage.url.starts_with("sqlite:")
        {
            return Err(cerr(
                "storage.url",
                "must be empty (SQLite in the data dir), sqlite:<path> or postgres://…",
            ));
        }
        crate::chains::parse_commitment(&self.solana.commitment)
            .map_err(|e| cerr("solana.commitment", e))?;
        if self.solana.backend == crate::chains::SolanaBackendKind::Rpc
            && self.solana.rpc_url.is_empty()
        {
            return Err(cerr(
                "solana.rpc_url",
                "required when solana.backend = \"rpc\"",
            ));
        }
        if self
            .solana
            .priority_fee_percentile
            .is_some_and(|p| !(1..=100).contains(&p))
        {
            return Err(cerr(
                "solana.priority_fee_percentile",
                "must be between 1 and 100",
            ));
        }
        if self.solana.max_priority_fee_micro_lamports < self.solana.priority_fee_micro_lamports {
            return Err(cerr(
                "solana.max_priority_fee_micro_lamports",
                "must be at least solana.priority_fee_micro_lamports",
            ));
        }
        if !(1..=600).contains(&self.solana.confirm_timeout_seconds) {
            return Err(cerr(
                "solana.confirm_timeout_seconds",
                "must be between 1 and 600",
            ));
        }
        self.evm.validate().map_err(|(k, m)| cerr(&k, m))?;
        self.solana.validate().map_err(|(k, m)| cerr(&k, m))?;
        self.kalshi.validate().map_err(|(k, m)| cerr(&k, m))?;
        self.alerts.validate().map_err(|(k, m)| cerr(&k, m))?;
        self.console.validate().map_err(|(k, m)| cerr(&k, m))?;
        if !(1..=7 * 86_400).contains(&self.approvals.ttl_seconds) {
            return Err(cerr(
                "approvals.ttl_seconds",
                "must be between 1 and 604800",
            ));
        }
        if self.audit.batch_max == 0 || self.audit.batch_max > 10_000 {
            return Err(cerr("audit.batch_max", "must be between 1 and 10000"));
        }
        Ok(())
    }

    /// The enclave socket path.
    pub fn enclave_socket(&self) -> PathBuf {
        if self.custody.enclave_socket.is_empty() {
            self.server.data_dir.join("enclave.sock")
        } else {
            PathBuf::from(&self.custody.enclave_socket)
        }
    }

    /// The enclave data directory.
    pub fn enclave_data_dir(&self) -> PathBuf {
        if self.custody.enclave_data_dir.is_empty() {
            self.server.data_dir.join("enclave")
        } else {
            PathBuf::from(&self.custody.enclave_data_dir)
        }
    }
}

/// `MAILER_SMTP_PORT` → (`mailer`, `smtp_port`), matched against the known sections and keys
/// (section names may contain `_`, e.g. `RATE_LIMIT`).
fn split_env_key(rest: &str, defaults: &toml::Table) -> Option<(String, String)> {
    let lower = rest.to_ascii_lowercase();
    for (section, v) in defaults {
        let Some(key) = lower
            .strip_prefix(section.as_str())
            .and_then(|k| k.strip_prefix('_'))
        else {
            continue;
        };
        if let toml::Value::Table(_) = v {
            if known_key(section, key, defaults) {
                return Some((section.clone(), key.to_owned()));
            }
        }
    }
    None
}

/// Optional keys whose value is an integer (absent from the serialized defaults, so their type
/// cannot be read off them).
const OPTIONAL_INTEGER_KEYS: &[(&str, &str)] = &[("solana", "priority_fee_percentile")];

fn known_key(section: &str, key: &str, defaults: &toml::Table) -> bool {
    let in_defaults =
        matches!(defaults.get(section), Some(toml::Value::Table(t)) if t.contains_key(key));
    // Optional keys are absent from the serialized defaults.
    in_defaults
        || matches!(
            (section, key),
            ("mailer", "smtp_username" | "smtp_password")
        )
        || OPTIONAL_INTEGER_KEYS.contains(&(section, key))
}

/// Interprets an environment string with the type the key's default has.
fn typed_env_value(
    defaults: &toml::Table,
    section: &str,
    key: &str,
    raw: &str,
) -> Result<toml::Value, String> {
    let default = match defaults.get(section) {
        Some(toml::Value::Table(t)) => t.get(key),
        _ => None,
    };
    let optional_integer = OPTIONAL_INTEGER_KEYS.contains(&(section, key));
    Ok(match default {
        _ if optional_integer => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| format!("`{raw}` is not an integer"))?,
        ),
        Some(toml::Value::Integer(_)) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| format!("`{raw}` is not an integer"))?,
        ),
        Some(toml::Value::Float(_)) => toml::Value::Float(
            raw.trim()
                .parse()
                .map_err(|_| format!("`{raw}` is not a number"))?,
        ),
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(format!("`{raw}` is not a boolean")),
        }),
        Some(toml::Value::Array(_)) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn env_overrides_and_types() {
        let c = Config::load(
            None,
            env(&[
                ("CUSTOS_MAILER_KIND", "smtp"),
                ("CUSTOS_MAILER_SMTP_PORT", "2525"),
                ("CUSTOS_MAILER_SMTP_PASSWORD", "12345"),
                ("CUSTOS_RATE_LIMIT_PER_IP_PER_MINUTE", "7"),
                ("CUSTOS_SERVER_TRUSTED_PROXIES", "127.0.0.1, ::1"),
                ("CUSTOS_LOG", "trace"),
                ("CUSTOS_SOLANA_PRIORITY_FEE_PERCENTILE", "75"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.solana.priority_fee_percentile, Some(75));
        assert_eq!(c.mailer.kind, MailerKind::Smtp);
        assert_eq!(c.mailer.smtp_port, 2525);
        assert_eq!(
            c.mailer.smtp_password.as_ref().map(|p| p.expose()),
            Some("12345")
        );
        assert_eq!(c.rate_limit.per_ip_per_minute, 7);
        assert_eq!(c.server.trusted_proxies.len(), 2);
        assert!(!format!("{c:?}").contains("12345"));
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("CUSTOS_RATE_LIMIT_PER_IP_PER_MINUTE", "abc")],
                "rate_limit.per_ip_per_minute",
            ),
            (
                &[("CUSTOS_RATE_LIMIT_PER_IP_PER_MINUTE", "0")],
                "rate_limit.per_ip_per_minute",
            ),
            (&[("CUSTOS_SERVER_BOGUS", "1")], "CUSTOS_SERVER_BOGUS"),
            (&[("CUSTOS_MAILER_KIND", "pigeon")], "mailer.kind"),
            (&[("CUSTOS_SERVER_LISTEN", "nowhere")], "server.listen"),
            (
                &[("CUSTOS_SERVER_TRUSTED_PROXIES", "10.0.0.300")],
                "server.trusted_proxies",
            ),
            (
                &[("CUSTOS_SERVER_HEADER_READ_TIMEOUT_SECONDS", "0")],
                "server.header_read_timeout_seconds",
            ),
            (
                &[("CUSTOS_SERVER_BODY_READ_TIMEOUT_SECONDS", "7200")],
                "server.body_read_timeout_seconds",
            ),
            (
                &[("CUSTOS_SERVER_MAX_CONNECTIONS_PER_IP", "0")],
                "server.max_connections_per_ip",
            ),
            (
                &[("CUSTOS_SERVER_ORPHAN_AFTER_SECONDS", "soon")],
                "server.orphan_after_seconds",
            ),
            (
                &[("CUSTOS_SOLANA_PRIORITY_FEE_PERCENTILE", "101")],
                "solana.priority_fee_percentile",
            ),
            (
                &[
                    ("CUSTOS_SOLANA_PRIORITY_FEE_MICRO_LAMPORTS", "5000"),
                    ("CUSTOS_SOLANA_MAX_PRIORITY_FEE_MICRO_LAMPORTS", "4000"),
                ],
                "solana.max_priority_fee_micro_lamports",
            ),
            (
                &[("CUSTOS_ALERTS_URL", "http://alerts.example.com/x")],
                "alerts.url",
            ),
            (
                &[("CUSTOS_ALERTS_RULES", "denial_burst,nap")],
                "alerts.rules",
            ),
            (
                &[("CUSTOS_ALERTS_LARGE_TRANSACTION_USD", "lots")],
                "alerts.large_transaction_usd",
            ),
            (
                &[("CUSTOS_ALERTS_LARGE_TRANSACTION_USD", "-1")],
                "alerts.large_transaction_usd",
            ),
            (
                &[("CUSTOS_ALERTS_DENIAL_BURST_SECONDS", "0")],
                "alerts.denial_burst_seconds",
            ),
        ];
        for (pairs, key) in cases {
            let e = Config::load(None, env(pairs)).unwrap_err();
            assert!(e.key.starts_with(key), "{pairs:?}: got {e}");
        }
    }

    #[test]
    fn alerts_from_the_environment() {
        let cfg = Config::load(
            None,
            env(&[
                ("CUSTOS_ALERTS_URL", "https://alerts.example.com/hook"),
                ("CUSTOS_ALERTS_LARGE_TRANSACTION_USD", "2500.5"),
                ("CUSTOS_ALERTS_RULES", "denial_burst, agent_frozen"),
            ]),
        )
        .unwrap();
        assert!(cfg.alerts.enabled());
        assert_eq!(cfg.alerts.large_transaction_usd, 2500.5);
        assert!(cfg.alerts.has("agent_frozen") && !cfg.alerts.has("rotation_due"));
        assert!(!Config::load(None, vec![])
            .unwrap()
            .alerts
            .has("denial_burst"));
    }

    #[test]
    fn file_unknown_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[server]\nbogus = 1\n").unwrap();
        let e = Config::load(Some(&p), vec![]).unwrap_err();
        assert_eq!(e.key, "server.bogus", "{e}");
        std::fs::write(&p, "[rate_limit]\nglobal_per_minute = \"x\"\n").unwrap();
        let e = Config::load(Some(&p), vec![]).unwrap_err();
        assert_eq!(e.key, "rate_limit.global_per_minute", "{e}");
    }
}
