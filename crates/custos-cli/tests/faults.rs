//! Fail closed under faults: the database goes away or turns read-only, the disk fills up, or
//! the shared rate limiter (Redis) goes away under a running server. Nothing may be signed that
//! is not on record (the audit record cannot be written, and the signature never leaves without
//! it); with Redis gone requests are refused unless the operator chose to fail open. Every
//! refused request is answered `503` rather than hanging or crashing, and the server recovers by
//! itself once the dependency is back.
//!
//! The tests run their own PostgreSQL (`initdb` / `pg_ctl` of the installed PostgreSQL, as the
//! `postgres` user, on a Unix socket in a temporary directory — no TCP port) and their own
//! `redis-server` on a free loopback port, so they can stop them without touching the shared
//! ones. The PostgreSQL one needs root (to run `initdb` as `postgres`) and says it skipped
//! otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{custos_command, Server};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A private PostgreSQL cluster, stopped and removed when dropped.
struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Postgres {
    fn bin_dir() -> Option<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("pg_ctl").exists())
            .collect();
        dirs.sort();
        dirs.pop()
    }

    fn as_postgres(&self, tool: &str) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c
    }

    fn init() -> Option<Self> {
        let bin = Self::bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("custos-pg-")
            .tempdir()
            .ok()?;
        let chown = Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status()
            .ok()?;
        if !chown.success() {
            return None;
        }
        let pg = Self { bin, dir };
        let ok = pg
            .as_postgres("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(pg.data())
            .status()
            .ok()?
            .success();
        ok.then_some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    fn start(&self) {
        let opts = format!(
            "-c listen_addresses='' -k {} -c fsync=off",
            self.socket_dir().display()
        );
        let st = self
            .as_postgres("pg_ctl")
            .args(["-w", "-t", "30", "-o", &opts, "-l"])
            .arg(self.dir.path().join("log"))
            .arg("-D")
            .arg(self.data())
            .arg("start")
            .status()
            .unwrap();
        assert!(st.success(), "pg_ctl start");
    }

    /// Stops at once, like a crash or a lost host: no checkpoint, open connections cut.
    fn kill(&self) {
        let st = self
            .as_postgres("pg_ctl")
            .args(["-w", "-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .status()
            .unwrap();
        assert!(st.success(), "pg_ctl stop");
    }

    /// Makes every new transaction read-only (as a standby or a full-disk guard would), or
    /// writable again, and reloads the configuration.
    fn read_only(&self, on: bool) {
        // Two commands, not one string: ALTER SYSTEM cannot run inside the implicit
        // transaction psql wraps a multi-statement -c in.
        let sql = format!(
            "ALTER SYSTEM SET default_transaction_read_only = {}",
            if on { "on" } else { "off" }
        );
        let st = self
            .as_postgres("psql")
            .args(["-h"])
            .arg(self.socket_dir())
            .args([
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                &sql,
                "-c",
                "SELECT pg_reload_conf()",
            ])
            .status()
            .unwrap();
        assert!(st.success(), "psql ALTER SYSTEM");
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@localhost/postgres?host={}",
            self.socket_dir().display()
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .status();
    }
}

/// Signs `message` as soon as the server works again (retrying for up to `secs` seconds): the
/// recovery every fault test ends with.
async fn signed_once_back(srv: &Server, token: &str, message: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = srv.sign(token, message).await;
        if r.status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after the fault cleared: {} {}",
            r.status,
            r.text
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn the_database_going_away_or_read_only_signs_nothing_and_recovers() {
    let Some(pg) = Postgres::init() else {
        eprintln!("skipped: cannot run a private PostgreSQL here (needs root and PostgreSQL)");
        return;
    };
    pg.start();
    let url = pg.url();
    let srv = Server::builder()
        .env("CUSTOS_STORAGE_URL", &url)
        .start()
        .await;
    let cli = |args: &[&str]| {
        custos_command()
            .args(args)
            .arg("--data-dir")
            .arg(&srv.data_dir)
            .env("CUSTOS_STORAGE_URL", &url)
            .output()
            .unwrap()
    };
    let s = srv.login("db-gone@example.com").await;
    srv.sign(&s.token, "before").await.expect_status(200);

    pg.kill();
    for i in 0..3 {
        let started = Instant::now();
        let r = srv.sign(&s.token, &format!("while gone {i}")).await;
        assert_eq!(r.status, 503, "with the database gone: {}", r.text);
        assert!(r.json().get("signature").is_none(), "{}", r.text);
        assert!(started.elapsed() < Duration::from_secs(30), "hung");
    }
    let h = srv.get("/healthz", None).await;
    assert_eq!(h.status, 503, "healthz with the database gone: {}", h.text);

    pg.start();
    signed_once_back(&srv, &s.token, "after", 30).await;
    srv.get("/healthz", None).await.expect_status(200);

    // A database that turns read-only (a failed-over standby, an operator's guard): the same —
    // nothing signed, 503 — and back to work once it is writable again.
    pg.read_only(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut refused, mut extra) = (0, 0);
    while refused < 3 {
        let r = srv.sign(&s.token, &format!("read-only {refused}")).await;
        match r.status {
            503 => {
                assert!(r.json().get("signature").is_none(), "{}", r.text);
                refused += 1;
            }
            // The reload reaches every backend at its next statement; until then a write may
            // still succeed — and then it is on record like any other.
            200 => {
                assert!(Instant::now() < deadline, "never read-only: {}", r.text);
                extra += 1;
            }
            other => panic!("with the database read-only: {other} {}", r.text),
        }
    }
    pg.read_only(false);
    signed_once_back(&srv, &s.token, "writable again", 30).await;

    // The chain holds every record that was written, and nothing signed is missing from it:
    // every successful signature is on record, the refused ones are not.
    let token = String::from_utf8(cli(&["admin", "token", "--role", "viewer"]).stdout).unwrap();
    let token = token.trim().lines().last().unwrap().to_owned();
    let r = srv.get("/v1/admin/audit/verify", Some(&token)).await;
    r.expect_status(200);
    assert_eq!(r.json()["ok"], true, "{}", r.text);
    let mine = srv.my_audit(&s.token).await;
    let signed = mine
        .iter()
        .filter(|x| {
            x["outcome"] == "success" && x["endpoint"].as_str().unwrap_or("").contains("actions")
        })
        .count();
    assert_eq!(signed, 3 + extra, "{mine:#?}");
}

/// A private `redis-server` on a free loopback port, keeping nothing on disk; killed when
/// dropped.
struct Redis {
    port: u16,
    child: Option<std::process::Child>,
}

impl Redis {
    fn start(port: Option<u16>) -> Option<Self> {
        let port = port.unwrap_or_else(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self {
            port,
            child: Some(child),
        })
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// With `rate_limit.backend = "redis"` and Redis gone, the limiter fails closed: requests are
/// answered `503` (nothing signed) and `/healthz` says why; it recovers by itself when Redis is
/// back. With `rate_limit.redis_fail_open = true` requests are admitted and `/healthz` says the
/// service is degraded.
#[tokio::test]
async fn redis_going_away_fails_closed_unless_told_otherwise_and_recovers() {
    let Some(mut redis) = Redis::start(None) else {
        panic!("redis-server must be installed (the machine runs Redis)");
    };
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let srv = Server::builder()
        .env("CUSTOS_RATE_LIMIT_BACKEND", "redis")
        .env("CUSTOS_RATE_LIMIT_REDIS_URL", &url)
        .start()
        .await;
    let s = srv.login("redis-gone@example.com").await;
    srv.sign(&s.token, "before").await.expect_status(200);
    srv.get("/healthz", None).await.expect_status(200);

    redis.kill();
    for i in 0..3 {
        let started = Instant::now();
        let r = srv.sign(&s.token, &format!("while gone {i}")).await;
        assert_eq!(r.status, 503, "with Redis gone: {}", r.text);
        assert!(r.text.contains("rate limiter"), "{}", r.text);
        assert!(started.elapsed() < Duration::from_secs(5), "hung");
    }
    let h = srv.get("/healthz", None).await;
    assert_eq!(h.status, 503, "{}", h.text);
    assert!(h.text.contains("redis"), "{}", h.text);

    let port = redis.port;
    drop(redis);
    let _redis = Redis::start(Some(port)).unwrap();
    signed_once_back(&srv, &s.token, "after", 20).await;
    srv.get("/healthz", None).await.expect_status(200);
    let mut srv = srv;
    srv.stop();

    // Told to fail open: admitted without limits, and /healthz says so.
    let srv = Server::builder()
        .env("CUSTOS_RATE_LIMIT_BACKEND", "redis")
        .env("CUSTOS_RATE_LIMIT_REDIS_URL", "redis://127.0.0.1:1")
        .env("CUSTOS_RATE_LIMIT_REDIS_FAIL_OPEN", "true")
        .start()
        .await;
    let s = srv.login("redis-open@example.com").await;
    srv.sign(&s.token, "unlimited").await.expect_status(200);
    let h = srv.get("/healthz", None).await;
    assert_eq!(h.status, 200, "{}", h.text);
    assert_eq!(h.json()["status"], "degraded", "{}", h.text);
}

/// A tmpfs of `size` mounted on a directory, unmounted when dropped (lazily: the server may
/// still be stopping).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> bool {
        Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The data directory — database, enclave, decision log, devnet — on a small file system that
/// fills up: requests are answered, never with a signature that has no audit record; once the
/// disk is full they are refused with `503` (not `500`, not a hang); freeing space recovers by
/// itself, and every signature that left is on record in a chain that verifies.
#[tokio::test]
async fn a_full_disk_signs_nothing_unrecorded_and_recovers() {
    let mounted = std::rc::Rc::new(std::cell::Cell::new(false));
    let flag = mounted.clone();
    let srv = Server::builder()
        .prepare(move |dir| flag.set(Tmpfs::mount(dir, "64m")))
        .start()
        .await;
    if !mounted.get() {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    let _mount = Tmpfs(srv.data_dir.clone());
    let s = srv.login("disk-full@example.com").await;
    srv.sign(&s.token, "before").await.expect_status(200);
    let mut signed = 1;

    // Fill the file system to the last byte.
    let filler = srv.data_dir.join("filler");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let one = [0u8; 1];
        while f.write_all(&one).is_ok() {}
        let _ = f.sync_all();
    }
    // Pages the database already holds may still take a few records; then every request is
    // refused. Never a 500, never a hang, never a signature without its record.
    let mut refused = 0;
    for i in 0..300 {
        let started = Instant::now();
        let r = srv.sign(&s.token, &format!("while full {i}")).await;
        assert!(started.elapsed() < Duration::from_secs(30), "hung");
        match r.status {
            200 => signed += 1,
            503 => {
                assert!(r.json().get("signature").is_none(), "{}", r.text);
                refused += 1;
                if refused >= 5 {
                    break;
                }
            }
            other => panic!("with the disk full: {other} {}", r.text),
        }
    }
    assert!(
        refused >= 5,
        "the full disk was never noticed ({signed} signed)"
    );
    let h = srv.get("/healthz", None).await;
    assert!(h.status == 200 || h.status == 503, "{}", h.text);

    std::fs::remove_file(&filler).unwrap();
    signed_once_back(&srv, &s.token, "after", 30).await;
    signed += 1;

    let token = String::from_utf8(
        custos_command()
            .args(["admin", "token", "--role", "viewer", "--data-dir"])
            .arg(&srv.data_dir)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let r = srv.get("/v1/admin/audit/verify", Some(token.trim())).await;
    r.expect_status(200);
    assert_eq!(r.json()["ok"], true, "{}", r.text);
    let on_record = srv
        .my_audit(&s.token)
        .await
        .iter()
        .filter(|x| {
            x["outcome"] == "success" && x["endpoint"].as_str().unwrap_or("").contains("actions")
        })
        .count();
    assert_eq!(on_record, signed, "every signature that left is on record");
}
