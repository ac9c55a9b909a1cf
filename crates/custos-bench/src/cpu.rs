//! CPU time a process has used (user + system, all its threads), read from `/proc/<pid>/stat`.
//!
//! Throughput on this shared virtual machine drifts with its neighbours; the CPU a server spends
//! per request drifts far less, so `custos-bench drive --cpu-of <pid>` reports it beside each
//! run: the figure to compare when judging a change to the server (docs/benchmarks.md).
use crate::BenchError;
use std::time::Duration;

/// Clock ticks per second of `utime`/`stime` in `/proc/<pid>/stat`: `USER_HZ`, which Linux
/// fixes at 100 for every architecture's user-visible interface.
const USER_HZ: u64 = 100;

/// User plus system CPU time of `pid` so far (its threads included; reaped children not).
pub fn used(pid: u32) -> Result<Duration, BenchError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| BenchError::io(format!("reading /proc/{pid}/stat"), e))?;
    parse_stat(&stat)
        .ok_or_else(|| BenchError::Invalid(format!("/proc/{pid}/stat has no CPU times")))
}

/// `utime + stime` from a `stat` line. The command name (field 2) is in parentheses and may
/// hold spaces or parentheses itself, so fields are counted after its last `)`.
fn parse_stat(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15.
    let ticks = |i: usize| fields.get(i - 3)?.parse::<u64>().ok();
    let total = ticks(14)? + ticks(15)?;
    Some(Duration::from_micros(total * 1_000_000 / USER_HZ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_the_times_after_an_awkward_name() {
        let line = "4242 (tokio (rt) worker) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 1234 0 0";
        assert_eq!(parse_stat(line), Some(Duration::from_millis(3250)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_uses_cpu_that_only_grows() {
        let me = std::process::id();
        let before = used(me).unwrap();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(100) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = used(me).unwrap();
        assert!(after > before, "{before:?} -> {after:?}");
        assert!(used(u32::MAX).is_err());
    }
}
