//! Log in, transfer, read the audit — with `custos-client`.
//!
//! ```sh
//! AGENT_EMAIL=agent@example.com cargo run -p custos-client --example login_transfer_audit -- \
//!     http://127.0.0.1:8080 RECIPIENT 0.1
//! ```
//!
//! The login code is read from stdin (type it from the email; on a development server it is in
//! the data dir's outbox). Prints a JSON summary on stdout.
use custos_client::types::{Outcome, TransferBody};
use custos_client::{new_idempotency_key, Client, Error};
use serde_json::{json, Value};

/// The example's work: `read_code` is asked for the login code once it has been sent.
pub async fn run(
    base_url: &str,
    email: &str,
    recipient: &str,
    amount: &str,
    read_code: impl FnOnce() -> String,
) -> Result<Value, Error> {
    // 1. Log in: a code goes to the email address; exchange it for a session.
    let anonymous = Client::new(base_url)?;
    anonymous.request_login_code(email).await?;
    let (client, session) = anonymous.login(email, &read_code()).await?;

    // 2. Transfer, with an idempotency key; the retry returns the same transaction.
    let key = new_idempotency_key();
    let body = TransferBody {
        chain: "solana".into(),
        to: recipient.into(),
        asset: "SOL".into(),
        amount: amount.into(),
    };
    let first = client.transfer(&body, &key).await?;
    let again = client.transfer(&body, &key).await?;
    let (Outcome::Done(first), Outcome::Done(again)) = (first, again) else {
        return Err(Error::Decode("the transfer is waiting for approval".into()));
    };

    // 3. Read the audit trail and find the transfer in it.
    let records = client.audit(1000, 0).await?;
    let actions: Vec<&Value> = records
        .iter()
        .map(|r| r.get("entry").unwrap_or(r))
        .filter(|e| e["tx"] == first.tx.as_str())
        .map(|e| &e["action"])
        .collect();
    Ok(json!({
        "agent_id": session.agent_id,
        "tx": first.tx,
        "status": first.status,
        "same_tx_on_retry": again.tx == first.tx,
        "audit_actions": actions,
    }))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, recipient, amount] = args.as_slice() else {
        eprintln!("usage: AGENT_EMAIL=… login_transfer_audit BASE_URL RECIPIENT AMOUNT");
        return std::process::ExitCode::from(2);
    };
    let email = std::env::var("AGENT_EMAIL").unwrap_or_default();
    let read_code = || {
        eprint!("login code: ");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        line.trim().to_owned()
    };
    match run(base, &email, recipient, amount, read_code).await {
        Ok(summary) => {
            println!("{summary}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
