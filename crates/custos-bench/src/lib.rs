//! Load generator and benchmark suite for Custos.
//!
//! The generator ([`load`]) drives an HTTP/1.1 server over keep-alive loopback connections, one
//! connection per virtual user, at a fixed concurrency; every run is bounded both in requests
//! and in seconds, and its latencies go into an HDR histogram. The suite ([`suite`]) starts the
//! servers it needs (Custos in several configurations, OpenBao for the peer comparison), runs the
//! scenarios of issue 6 and reports each as a ratio of two figures measured in the same run, the
//! two sides in alternating rounds ([`rounds`]); [`report`] writes the JSON file, the table and
//! an SVG plot. [`disk`] measures the disk's floor for one synced commit. [`cpu`] reads a process's CPU time, for `custos-bench drive --cpu-of`.
//!
//! What it deliberately does not do: it never talks to anything but 127.0.0.1, it never runs
//! unbounded, and it does not judge the figures — the report states targets and measured ratios
//! side by side and leaves the verdict to the reader.
#![forbid(unsafe_code)]

pub mod cpu;
pub mod disk;
pub mod error;
pub mod http;
pub mod load;
pub mod openbao;
pub mod process;
pub mod raw;
pub mod report;
pub mod rounds;
pub mod stats;
pub mod suite;

pub use error::BenchError;
