//! sd_notify(3) for `Type=notify` with `WatchdogSec=`: a thin wrapper over
//! `sd-notify`. Every call is a no-op when `NOTIFY_SOCKET` is unset (run
//! from a shell, or in tests). Errors sending to the socket are logged, not
//! returned: a notification is never a reason to stop serving.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(what: &str, state: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!("sd_notify {what} failed: {e}");
    }
}

/// `READY=1`: links are bound and `org.hbd1` is owned.
pub fn ready() {
    send("READY=1", &[NotifyState::Ready]);
}

/// `STATUS=…`: a one-line summary shown by `systemctl status hbd`.
pub fn status(line: &str) {
    // A newline would end the STATUS= assignment and start a bogus one.
    let line = line.replace('\n', " ");
    send("STATUS", &[NotifyState::Status(&line)]);
}

/// `STOPPING=1`: graceful shutdown has begun.
pub fn stopping() {
    send("STOPPING=1", &[NotifyState::Stopping]);
}

/// `WATCHDOG=1`: the main loop is alive. Call at least every
/// [`watchdog_interval`].
pub fn watchdog() {
    send("WATCHDOG=1", &[NotifyState::Watchdog]);
}

/// How often to call [`watchdog`]: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3)
/// advises; `None` when the watchdog is off or meant for another PID.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|d| !d.is_zero()).map(|d| d / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test for all of it: it changes the process environment, which
    /// parallel tests would race on.
    #[test]
    fn no_op_without_socket_and_sends_with_one() {
        let old = std::env::var_os("NOTIFY_SOCKET");
        std::env::remove_var("NOTIFY_SOCKET");
        ready();
        status("two\nlines");
        watchdog();
        stopping();
        std::env::remove_var("WATCHDOG_USEC");
        assert_eq!(watchdog_interval(), None);

        let dir = std::env::temp_dir().join(format!("hbd-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        std::env::set_var("NOTIFY_SOCKET", &path);
        std::env::set_var("WATCHDOG_USEC", "4000000");
        std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
        let mut buf = [0u8; 256];
        let mut recv = || {
            let n = sock.recv(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        ready();
        assert_eq!(recv(), "READY=1\n");
        status("up: 2 nodes\nx");
        assert_eq!(recv(), "STATUS=up: 2 nodes x\n");
        watchdog();
        assert_eq!(recv(), "WATCHDOG=1\n");
        stopping();
        assert_eq!(recv(), "STOPPING=1\n");
        assert_eq!(watchdog_interval(), Some(Duration::from_secs(2)));
        std::env::set_var("WATCHDOG_PID", "1");
        assert_eq!(watchdog_interval(), None);
        std::env::remove_var("WATCHDOG_USEC");
        std::env::remove_var("WATCHDOG_PID");
        match old {
            Some(v) => std::env::set_var("NOTIFY_SOCKET", v),
            None => std::env::remove_var("NOTIFY_SOCKET"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
