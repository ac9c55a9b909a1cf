//! Delivery of login codes: the development outbox file, or SMTP through lettre.
use crate::config::{MailerConfig, MailerKind};
use custos_core::SecretString;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

/// A mail carrying a login code.
pub struct LoginMail<'a> {
    /// Recipient.
    pub to: &'a str,
    /// The code (secret).
    pub code: &'a SecretString,
    /// Minutes until it expires.
    pub ttl_minutes: u64,
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
#[error("mail delivery failed: {0}")]
pub struct MailError(String);

/// Sends login mails.
pub enum Mailer {
    /// Appends JSON lines to a file (development only).
    Outbox {
        /// The file.
        path: PathBuf,
        /// Serialises appends.
        lock: tokio::sync::Mutex<()>,
    },
    /// SMTP.
    Smtp {
        /// Transport.
        transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
        /// Sender.
        from: lettre::message::Mailbox,
    },
}

fn subject() -> &'static str {
    "Your Custos login code"
}

fn body(m: &LoginMail<'_>) -> String {
    format!(
        "Your Custos login code is {}.\n\nIt expires in {} minutes and can be used once. If you did not ask for it, ignore this mail.\n",
        m.code.expose(),
        m.ttl_minutes
    )
}

impl Mailer {
    /// Builds the configured mailer.
    pub fn from_config(c: &MailerConfig, data_dir: &std::path::Path) -> Result<Self, MailError> {
        match c.kind {
            MailerKind::Outbox => Ok(Self::Outbox {
                path: data_dir.join("outbox.jsonl"),
                lock: tokio::sync::Mutex::new(()),
            }),
            MailerKind::Smtp => {
                use lettre::transport::smtp::client::{Tls, TlsParameters};
                let from = c
                    .from
                    .parse()
                    .map_err(|e| MailError(format!("mailer.from: {e}")))?;
                let mut b =
                    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(
                        &c.smtp_host,
                    )
                    .port(c.smtp_port)
                    .timeout(Some(std::time::Duration::from_secs(15)));
                if c.smtp_starttls {
                    let tls = TlsParameters::new(c.smtp_host.clone())
                        .map_err(|e| MailError(e.to_string()))?;
                    b = b.tls(Tls::Required(tls));
                }
                if let (Some(u), Some(p)) = (&c.smtp_username, &c.smtp_password) {
                    b = b.credentials(lettre::transport::smtp::authentication::Credentials::new(
                        u.clone(),
                        p.expose().to_owned(),
                    ));
                }
                Ok(Self::Smtp {
                    transport: b.build(),
                    from,
                })
            }
        }
    }

    /// Whether this is the development outbox.
    pub fn is_outbox(&self) -> bool {
        matches!(self, Self::Outbox { .. })
    }

    /// Delivers `m`.
    pub async fn send(&self, m: LoginMail<'_>) -> Result<(), MailError> {
        match self {
            Self::Outbox { path, lock } => {
                let line = serde_json::json!({"to": m.to, "subject": subject(), "body": body(&m), "code": m.code.expose()});
                let mut bytes = line.to_string().into_bytes();
                bytes.push(b'\n');
                let _g = lock.lock().await;
                let mut f = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode_0600()
                    .open(path)
                    .await
                    .map_err(|e| MailError(e.to_string()))?;
                f.write_all(&bytes)
                    .await
                    .map_err(|e| MailError(e.to_string()))?;
                f.flush().await.map_err(|e| MailError(e.to_string()))?;
                Ok(())
            }
            Self::Smtp { transport, from } => {
                use lettre::AsyncTransport;
                let to =
                    m.to.parse()
                        .map_err(|_| MailError("recipient is not a valid mailbox".into()))?;
                let msg = lettre::Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(subject())
                    .header(lettre::message::header::ContentType::TEXT_PLAIN)
                    .body(body(&m))
                    .map_err(|e| MailError(e.to_string()))?;
                // lettre's errors describe the SMTP exchange, never the message body.
                transport
                    .send(msg)
                    .await
                    .map(|_| ())
                    .map_err(|e| MailError(e.to_string()))
            }
        }
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for tokio::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        self.mode(0o600)
    }
}
