//! The Custos API server: the request pipeline of SPEC.md as axum middleware and handlers.
//!
//! In order, every `/v1` request meets: the global and per-IP rate limits (`pipeline`),
//! authentication and the per-agent limit (`auth`), strict validation (`extract`),
//! idempotency (`idempotency`), the handler (`routes`), and one hash-chained audit record
//! (`audit`, `pipeline::audit_layer`) that is durable before the response leaves.
//!
//! This crate never holds an agent's private key: signing goes through the
//! [`custos_core::Custody`] trait to a boundary in another process. It does not choose the
//! store or the boundary either: the `custos` binary wires them in.
#![forbid(unsafe_code)]

pub mod actions;
pub mod alerts;
pub mod app;
pub mod audit;
pub mod audit_info;
pub mod auth;
pub mod chains;
pub mod config;
pub mod console;
pub mod error;
pub mod extract;
pub mod faults;
pub mod files;
pub mod idempotency;
pub mod inprocess;
pub mod keyed;
pub mod knot;
pub mod listener;
pub mod mailer;
pub mod mcp;
pub mod metrics;
pub mod openapi;
pub mod owners;
pub mod pipeline;
pub mod policy_sync;
pub mod ratelimit;
pub mod recovery;
pub mod routes;
pub mod signing;
pub mod skill;
pub mod state;
pub mod webhooks;

pub use app::{router, run, Parts};
pub use config::Config;
