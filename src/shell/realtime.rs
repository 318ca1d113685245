//! Realtime scheduling and locked memory for the thread that sends and
//! judges heartbeats. At a deadtime of tens of milliseconds, a heartbeat
//! held back because other processes keep the CPUs busy, or because a page
//! of hbd was swapped out, looks to the peers exactly like a dead node:
//! Heartbeat ran locked in memory at realtime priority for that reason,
//! and keepalived's VRRP does the same.
//!
//! hbd asks for both itself (the unit grants CAP_SYS_NICE and
//! CAP_IPC_LOCK) rather than through `CPUSchedulingPolicy=`, so a machine or
//! container that refuses realtime still runs hbd, with a warning, instead
//! of failing its start.

use std::io;

/// What [`enter`] achieved, for the start-up journal line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The realtime priority taken (SCHED_RR), or why none was.
    pub priority: Result<i32, String>,
    /// Whether memory is locked, or why not.
    pub locked: Result<(), String>,
}

/// Take realtime priority for the calling thread (and the threads it
/// starts from now on; processes it would fork get the normal policy
/// back) and lock the process's memory, as far as the limits allow.
/// Threads started before (the journal writer) keep the normal policy:
/// logging must not compete with the heartbeats.
pub fn enter() -> Outcome {
    Outcome { priority: take_priority(), locked: lock_memory() }
}

/// Above every normal process, below the interrupt threads of a
/// PREEMPT_RT kernel (FIFO 50): hbd must never hold up the network
/// interrupts that bring it its frames.
pub const PRIORITY: i32 = 40;

fn take_priority() -> Result<i32, String> {
    let param = libc::sched_param { sched_priority: PRIORITY };
    // SAFETY: a plain syscall on the calling thread with a valid argument.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param) };
    if rc != 0 {
        return Err(format!("sched_setscheduler(SCHED_RR, {PRIORITY}): {}", io::Error::last_os_error()));
    }
    Ok(PRIORITY)
}

fn lock_memory() -> Result<(), String> {
    // Without CAP_IPC_LOCK a finite RLIMIT_MEMLOCK holds, and a later
    // allocation that would pass it fails: hbd would abort. Lock only when
    // nothing can run out.
    let limit = rlimit(libc::RLIMIT_MEMLOCK).map_err(|e| format!("cannot read RLIMIT_MEMLOCK: {e}"))?;
    if limit != libc::RLIM_INFINITY && !has_ipc_lock() {
        return Err(format!("no CAP_IPC_LOCK, and LimitMEMLOCK= is {limit} bytes, not infinity"));
    }
    // On fault: pages are locked as they are touched, so thread stacks and
    // buffers reserved but never used do not become resident.
    // SAFETY: a plain syscall.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT) };
    if rc != 0 {
        return Err(format!("mlockall: {}", io::Error::last_os_error()));
    }
    Ok(())
}

/// Whether CAP_IPC_LOCK (bit 14) is in this process's effective set.
fn has_ipc_lock() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 14) != 0)
}

fn rlimit(resource: libc::__rlimit_resource_t) -> io::Result<u64> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `r` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(resource, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `enter` reports is what the kernel then says of the thread:
    /// SCHED_RR at [`PRIORITY`] exactly when it reports a priority, and a
    /// reason in words when it does not.
    #[test]
    fn enter_reports_what_the_kernel_then_says() {
        let (out, policy, priority) = std::thread::spawn(|| {
            let out = enter();
            let policy = unsafe { libc::sched_getscheduler(0) } & !libc::SCHED_RESET_ON_FORK;
            let mut param = libc::sched_param { sched_priority: -1 };
            assert_eq!(unsafe { libc::sched_getparam(0, &mut param) }, 0);
            // The rest of the test process keeps its memory unlocked.
            unsafe { libc::munlockall() };
            (out, policy, param.sched_priority)
        })
        .join()
        .expect("thread");
        match &out.priority {
            Ok(p) => assert_eq!((policy, priority, *p), (libc::SCHED_RR, PRIORITY, PRIORITY)),
            Err(e) => {
                assert_eq!(policy, libc::SCHED_OTHER);
                assert!(e.starts_with("sched_setscheduler(SCHED_RR, 40): "), "{e}");
            }
        }
        // This thread was not touched.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }
}
