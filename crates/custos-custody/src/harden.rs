//! Process hardening for the enclave process, applied once at start: no core dumps, not
//! dumpable (which also blocks same-uid ptrace attach), and memory locked against swap where the
//! memlock limit allows it.
#[cfg(not(target_os = "linux"))]
use tracing::warn;

/// Applies what it can and logs what it could not; never fails the start, because a
/// development host may lack the privileges (the log says plainly what is missing).
pub fn harden_process() {
    #[cfg(target_os = "linux")]
    linux::harden();
    #[cfg(not(target_os = "linux"))]
    warn!("process hardening is only implemented on Linux; core dumps and swap are not blocked");
}

#[cfg(target_os = "linux")]
mod linux {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    use tracing::{info, warn};

    pub(super) fn harden() {
        no_dumps();
        lock_memory();
    }

    pub(super) fn no_dumps() {
        match rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        {
            Ok(()) => info!("PR_SET_DUMPABLE=0"),
            Err(e) => warn!("could not clear the dumpable flag: {e}"),
        }
        match setrlimit(
            Resource::Core,
            Rlimit {
                current: Some(0),
                maximum: Some(0),
            },
        ) {
            Ok(()) => info!("RLIMIT_CORE=0"),
            Err(e) => warn!("could not set RLIMIT_CORE to 0: {e}"),
        }
    }

    /// `mlockall(MCL_CURRENT | MCL_FUTURE)` only when RLIMIT_MEMLOCK is unlimited: with a finite
    /// limit, MCL_FUTURE makes later allocations fail once the limit is reached, which would
    /// abort the process mid-request — worse than swap exposure on a development host.
    fn lock_memory() {
        let limit = getrlimit(Resource::Memlock);
        if limit.current.is_some() {
            warn!(
                "RLIMIT_MEMLOCK is finite ({:?} bytes); not locking memory, key pages may be swapped",
                limit.current
            );
            return;
        }
        let flags = rustix::mm::MlockAllFlags::CURRENT | rustix::mm::MlockAllFlags::FUTURE;
        match rustix::mm::mlockall(flags) {
            Ok(()) => info!("mlockall(MCL_CURRENT|MCL_FUTURE)"),
            Err(e) => warn!("mlockall failed: {e}; key pages may be swapped"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn core_limit_is_zero_after_hardening() {
        // Not harden_process(): mlockall would lock the whole test binary's memory.
        super::linux::no_dumps();
        let l = rustix::process::getrlimit(rustix::process::Resource::Core);
        assert_eq!(l.current, Some(0));
        assert_eq!(
            rustix::process::dumpable_behavior().ok(),
            Some(rustix::process::DumpableBehavior::NotDumpable)
        );
    }
}
