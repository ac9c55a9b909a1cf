//! Authentication: email one-time codes, session JWTs, agent API keys and operator tokens, and
//! the middleware that turns an `Authorization: Bearer` header into a [`Principal`].
pub mod jwt;
pub mod otp;
pub mod principal;
pub mod tokens;

pub use principal::{AgentCtx, ConsolePrincipal, OperatorCtx, Principal};
