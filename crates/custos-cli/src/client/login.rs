//! `custos login`: checks a token against the server and saves it as a profile. An operator
//! pastes a token from `custos admin token`; an agent logs in with an email code (the code is
//! sent now, then given with --code or on stdin) or an API key on stdin. Secrets are read from
//! stdin, never from the command line, where other users could see them in the process list.
use super::args::LoginCmd;
use super::profile::{self, Kind, Profile, Profiles};
use super::render::{show, Output, Table};
use super::{Remote, Target};
use anyhow::{bail, Context as _, Result};
use custos_core::SecretString;
use serde_json::json;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;

/// One line from stdin, trimmed, after `prompt` (on stderr, only when stdin is a terminal).
fn read_line(prompt: &str) -> Result<SecretString> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read stdin")?;
    let value = line.trim().to_owned();
    line.clear();
    if value.is_empty() {
        bail!(
            "nothing was given on stdin ({})",
            prompt.trim_end_matches([':', ' '])
        );
    }
    Ok(SecretString::new(value))
}

/// `custos login [--url URL] [--name NAME] operator|agent …`.
pub async fn run(t: &Target, name: &str, who: LoginCmd) -> Result<ExitCode> {
    let file = profile::path()?;
    let profiles = Profiles::load(&file)?;
    let url = match (&t.url, profiles.pick(t.profile.as_deref(), &file)?) {
        (Some(u), _) => u.clone(),
        (None, Some(p)) => p.url.clone(),
        (None, None) => {
            bail!("give the server's address with --url (e.g. --url http://127.0.0.1:8080)")
        }
    };
    let profile = match who {
        LoginCmd::Operator => {
            let token = read_line("operator token: ")?;
            let r = Remote::new(&url, Some(token.clone()), t.output, None)?;
            r.get("/v1/admin/agents?limit=1")
                .await
                .context("the server did not accept the token as an operator's")?;
            Profile {
                url: r.base().to_owned(),
                kind: Kind::Operator,
                token,
                agent_id: None,
                email: None,
            }
        }
        LoginCmd::Agent {
            api_key_stdin: true,
            ..
        } => {
            let token = read_line("API key: ")?;
            let r = Remote::new(&url, Some(token.clone()), t.output, None)?;
            let me = r
                .get("/v1/wallets/me")
                .await
                .context("the server did not accept the API key")?;
            Profile {
                url: r.base().to_owned(),
                kind: Kind::Agent,
                token,
                agent_id: me["agent_id"].as_str().map(str::to_owned),
                email: me["email"].as_str().map(str::to_owned),
            }
        }
        LoginCmd::Agent { email, code, .. } => {
            let Some(email) = email else {
                bail!("give --email (or --api-key-stdin)")
            };
            let r = Remote::new(&url, None, t.output, None)?;
            r.post("/v1/auth/otp", &json!({"email": email})).await?;
            let code = match code {
                Some(c) => SecretString::new(c),
                None => {
                    if !std::io::stdin().is_terminal() {
                        // A script waits for this line before it hands over the code.
                        eprintln!("code sent to {email}; reading it from stdin");
                    }
                    read_line(&format!("code sent to {email}: "))?
                }
            };
            let rep = r
                .post(
                    "/v1/auth/verify",
                    &json!({"email": email, "code": code.expose()}),
                )
                .await?;
            let token = rep.body["token"]
                .as_str()
                .context("the server's answer has no token")?;
            Profile {
                url: r.base().to_owned(),
                kind: Kind::Agent,
                token: SecretString::new(token.to_owned()),
                agent_id: rep.body["agent_id"].as_str().map(str::to_owned),
                email: Some(email),
            }
        }
    };
    let summary = json!({
        "profile": name,
        "url": profile.url,
        "kind": match profile.kind { Kind::Operator => "operator", Kind::Agent => "agent" },
        "agent_id": profile.agent_id,
        "file": file.display().to_string(),
    });
    profiles.save_with(&file, name, profile)?;
    if t.output == Output::Table {
        eprintln!(
            "logged in; profile `{name}` saved to {} and made current",
            file.display()
        );
    }
    show(t.output, &summary, Table::fields);
    Ok(ExitCode::SUCCESS)
}
