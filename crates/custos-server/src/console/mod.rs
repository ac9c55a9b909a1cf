//! The operator console: a web dashboard at `/console` for the people who run the server.
//!
//! - **Accounts** (`custos_core::operator`): an admin invites an operator by email
//!   (`custos admin operator invite`); the operator proves the address with an emailed code and
//!   registers a passkey (WebAuthn, `webauthn-rs`), then logs in with it. Refused logins count;
//!   too many lock the account for a while. Every step is audited (`console.*`).
//! - **Sessions** ([`session`]): an HTTP-only, `Secure`, `SameSite=Strict` cookie naming a
//!   stored session; every change carries the anti-forgery header its `custos_csrf` cookie
//!   names (double submit), and a request another site sends is refused.
//! - **TOTP** ([`step_up`], [`totp`]): an operator sets up an authenticator app (RFC 6238, QR
//!   code); every change made from the console needs a code entered in the last
//!   `console.totp_fresh_minutes`, each code good once.
//! - **The dashboard** ([`assets`]): static ES modules, no CDN, no build step; what it shows and
//!   changes goes through [`forward`], which sends `/console/api/v1/…` to the REST admin API
//!   `/v1/admin/…` in process as the logged-in operator — the same handlers, role checks and
//!   audit as an operator token, with no second path to any action.
pub mod assets;
pub mod forward;
pub mod passkeys;
pub mod session;
pub mod settings;
pub mod step_up;
pub mod totp;

pub use settings::ConsoleSettings;

use crate::state::AppState;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{any, get, post};
use axum::Router;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use webauthn_rs::prelude::{PasskeyAuthentication, PasskeyRegistration, Webauthn};

/// A ceremony begun and not finished: what its `ticket` stands for.
enum Ceremony {
    /// Registering a passkey for an account.
    Register {
        account: String,
        state: Box<PasskeyRegistration>,
        expires_ms: i64,
    },
    /// Logging in to an account.
    Login {
        account: String,
        state: Box<PasskeyAuthentication>,
        expires_ms: i64,
    },
}

impl Ceremony {
    /// When it stops being accepted.
    fn expires_ms(&self) -> i64 {
        match self {
            Self::Register { expires_ms, .. } | Self::Login { expires_ms, .. } => *expires_ms,
        }
    }
}

/// Ceremonies last this long, ms.
const CEREMONY_MS: i64 = 5 * 60 * 1000;
/// At most this many ceremonies wait at once (past it, every waiting one is dropped: a flood
/// cannot grow memory, and honest users start again).
const MAX_CEREMONIES: usize = 10_000;

/// The console's state: the server's, the REST API it forwards to, the WebAuthn relying party
/// and the ceremonies under way (in this process: a ceremony is finished on the replica that
/// began it).
#[derive(Clone)]
pub struct Console {
    app: AppState,
    api: Router,
    webauthn: Arc<Webauthn>,
    ceremonies: Arc<Mutex<HashMap<String, Ceremony>>>,
}

impl Console {
    /// Keeps a ceremony; returns its ticket.
    fn begin(&self, c: Ceremony) -> String {
        let ticket = session::random_token();
        let now = self.app.clock.now_ms();
        if let Ok(mut m) = self.ceremonies.lock() {
            m.retain(|_, c| c.expires_ms() > now);
            if m.len() >= MAX_CEREMONIES {
                m.clear();
            }
            m.insert(ticket.clone(), c);
        }
        ticket
    }

    /// Takes the ceremony a ticket names (once), if it has not expired.
    fn take(&self, ticket: &str) -> Option<Ceremony> {
        let now = self.app.clock.now_ms();
        let c = self.ceremonies.lock().ok()?.remove(ticket)?;
        (c.expires_ms() > now).then_some(c)
    }
}

/// The relying party for `settings`.
fn relying_party(s: &ConsoleSettings) -> Result<Webauthn, String> {
    let origin = s.origin_url()?;
    let any_port = origin.port().is_none();
    webauthn_rs::WebauthnBuilder::new(&s.rp_id, &origin)
        .map_err(|e| format!("console: {e}"))?
        .rp_name("Custos")
        .allow_any_port(any_port)
        .build()
        .map_err(|e| format!("console: {e}"))
}

/// The console's routes (`/console`, `/console/api/…`), behind the front door like every route.
pub fn router(app: AppState, api: Router) -> Result<Router, String> {
    let console = Console {
        webauthn: Arc::new(relying_party(&app.cfg.console)?),
        app: app.clone(),
        api,
        ceremonies: Arc::default(),
    };
    let routes = Router::new()
        .route("/console", get(assets::index))
        .route("/console/", get(assets::index))
        .route("/console/{file}", get(assets::file))
        .route("/console/api/enrol/start", post(passkeys::enrol_start))
        .route("/console/api/enrol/verify", post(passkeys::enrol_verify))
        .route("/console/api/enrol/finish", post(passkeys::enrol_finish))
        .route("/console/api/login/start", post(passkeys::login_start))
        .route("/console/api/login/finish", post(passkeys::login_finish))
        .route("/console/api/logout", post(passkeys::logout))
        .route("/console/api/me", get(passkeys::me))
        .route("/console/api/totp/enrol", post(step_up::enrol))
        .route("/console/api/totp/confirm", post(step_up::confirm))
        .route("/console/api/totp/verify", post(step_up::verify))
        .route("/console/api/v1/{*rest}", any(forward::forward))
        .route_layer(from_fn_with_state(console.clone(), session::csrf_guard))
        .route_layer(from_fn_with_state(app.clone(), crate::mcp::bounded_body))
        .route_layer(from_fn(crate::pipeline::tag_route))
        .with_state(console);
    Ok(routes
        .layer(from_fn_with_state(app.clone(), crate::pipeline::front_door))
        .layer(from_fn_with_state(app, crate::pipeline::request_context)))
}
