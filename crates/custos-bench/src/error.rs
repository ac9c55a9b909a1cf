//! The crate's one error type.

/// Anything that stops a benchmark from producing a figure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A socket, file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An HTTP exchange failed below the status line (connection reset, bad response).
    #[error("HTTP: {0}")]
    Http(String),
    /// A server answered something other than what the set-up step needs.
    #[error("{what}: unexpected status {status}: {body}")]
    Unexpected {
        /// What was being done.
        what: String,
        /// The status received.
        status: u16,
        /// The first bytes of the body.
        body: String,
    },
    /// A server did not become ready in time.
    #[error("{0} did not become ready in time")]
    Timeout(String),
    /// A histogram could not be built or merged.
    #[error("histogram: {0}")]
    Histogram(String),
    /// The benchmark was asked to do something it cannot.
    #[error("invalid benchmark parameters: {0}")]
    Invalid(String),
}

impl BenchError {
    /// An I/O error with context.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}
