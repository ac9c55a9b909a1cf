//! The SMTP mailer against a real SMTP server (aiosmtpd, `scripts/smtp_sink.py`, installed by
//! `scripts/test-deps.sh`): the OTP arrives by mail and logs the agent in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_error, repo_root, Server};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `scripts/smtp_sink.py`, killed on drop.
struct SmtpSink {
    child: Child,
    port: u16,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let probe = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status();
        assert!(
            probe.is_ok_and(|s| s.success()),
            "python3 with aiosmtpd is required: run scripts/test-deps.sh"
        );
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mail.jsonl");
        // Port 0: the sink binds a port the kernel chooses and reports it, so the mailer can
        // never reach another process that happened to take a port picked here.
        let mut child = Command::new("python3")
            .arg(repo_root().join("scripts/smtp_sink.py"))
            .arg("0")
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start smtp_sink.py");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("smtp_sink.py stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("read smtp_sink.py's ready line");
        let port: u16 = match line.trim().strip_prefix("ready ").map(str::parse) {
            Some(Ok(port)) => port,
            _ => panic!(
                "smtp_sink.py did not start: {line:?} {:?}",
                child.try_wait()
            ),
        };
        SmtpSink {
            child,
            port,
            out,
            _dir: dir,
        }
    }

    fn mails(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    async fn wait_mail_to(&self, email: &str, n: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mails: Vec<Value> = self
                .mails()
                .into_iter()
                .filter(|m| m["rcpt_tos"].as_array().unwrap().iter().any(|r| r == email))
                .collect();
            if mails.len() >= n {
                return mails[n - 1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "no mail #{n} to {email} reached the SMTP server"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every run of exactly six digits in `text` (not part of a longer number).
fn six_digit_runs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            if run.len() == 6 {
                out.push(run.clone());
            }
            run.clear();
        }
    }
    out
}

async fn smtp_server(sink: &SmtpSink) -> Server {
    Server::builder()
        .env("CUSTOS_MAILER_KIND", "smtp")
        .env("CUSTOS_MAILER_SMTP_HOST", "127.0.0.1")
        .env("CUSTOS_MAILER_SMTP_PORT", &sink.port.to_string())
        .env("CUSTOS_MAILER_SMTP_STARTTLS", "false")
        .env("CUSTOS_MAILER_FROM", "custos@example.org")
        .start()
        .await
}

#[tokio::test]
async fn otp_by_smtp_logs_in() {
    let sink = SmtpSink::start();
    let srv = smtp_server(&sink).await;
    let email = "smtp-user@example.com";

    let r = srv
        .post("/v1/auth/otp", None, &json!({"email": email}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let mail = sink.wait_mail_to(email, 1).await;
    assert_eq!(
        mail["mail_from"], "custos@example.org",
        "envelope sender is mailer.from"
    );
    assert!(
        mail["raw"].as_str().unwrap().contains("custos@example.org"),
        "From header"
    );
    assert!(!mail["subject"].as_str().unwrap().is_empty(), "{mail}");
    let codes = six_digit_runs(mail["body"].as_str().unwrap());
    assert_eq!(
        codes.len(),
        1,
        "one 6-digit code in the mail: {}",
        mail["body"]
    );
    let code = &codes[0];
    // The SMTP mailer does not also write the development outbox.
    assert!(
        srv.outbox(email).is_empty(),
        "smtp mailer wrote outbox.jsonl too"
    );

    let r = srv.verify(email, code).await;
    r.expect_status(200);
    let token = r.json()["token"].as_str().unwrap().to_string();
    let me = srv.get("/v1/wallets/me", Some(&token)).await;
    me.expect_status(200);
    assert_eq!(me.json()["email"], email);

    // A second request sends a second, different mail whose code works, once.
    let r = srv
        .post("/v1/auth/otp", None, &json!({"email": email}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let mail2 = sink.wait_mail_to(email, 2).await;
    let code2 = six_digit_runs(mail2["body"].as_str().unwrap())
        .pop()
        .unwrap();
    srv.verify(email, &code2).await.expect_status(200);
    assert_error(&srv.verify(email, &code2).await, &[401], "unauthorized");
}

#[tokio::test]
async fn smtp_mailer_is_configurable_by_file() {
    let sink = SmtpSink::start();
    let srv = Server::builder()
        .config(&format!(
            "[mailer]\nkind = \"smtp\"\nfrom = \"file@example.org\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\nsmtp_starttls = false\n",
            sink.port
        ))
        .start()
        .await;
    let email = "file-config@example.com";
    let r = srv
        .post("/v1/auth/otp", None, &json!({"email": email}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let mail = sink.wait_mail_to(email, 1).await;
    assert_eq!(mail["mail_from"], "file@example.org");
    let code = six_digit_runs(mail["body"].as_str().unwrap())
        .pop()
        .expect("a code");
    srv.verify(email, &code).await.expect_status(200);
}
