//! Logging: natively to the journal with structured fields when journald is
//! there, else a compact format on stderr.
//!
//! # How to log
//!
//! Use `tracing`'s macros with the `HBD_*` fields below as field names;
//! they reach the journal under exactly these names (no prefix), so an
//! operator can filter on them:
//!
//! ```no_run
//! let g = "web";
//! tracing::info!(HBD_EVENT = "failover", HBD_GROUP = %g, "group web moves to n2: n1 is dead");
//! tracing::warn!(HBD_EVENT = "link-down", HBD_PEER = "n2", HBD_LINK = "hb", "link n2:hb dead");
//! ```
//!
//! ```text
//! journalctl -u hbd HBD_EVENT=failover
//! journalctl -u hbd HBD_PEER=n2 HBD_LINK=hb
//! ```
//!
//! Fields: `HBD_EVENT` (a stable, kebab-case event name: `failover`,
//! `link-up`, `link-down`, `peer-dead`, `unit-failed`, …), `HBD_PEER`,
//! `HBD_LINK`, `HBD_GROUP`, `HBD_UNIT`; `HBD_NODE` (the local node) is
//! added to every entry by [`init`]. The journal also gets `PRIORITY`
//! (error 3, warn 4, info 6, debug/trace 7),
//! `CODE_FILE`/`CODE_LINE` and `TARGET`. Use `%value` (Display) for names so
//! they are not quoted.
//!
//! The level comes from `HBD_LOG` (an `EnvFilter` directive such as
//! `debug` or `hbd=debug,zbus=warn`); the default is `info`.

use std::io::IsTerminal;
use std::path::Path;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// journald's native protocol socket.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Where [`init`] sends log entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Journal,
    Stderr,
}

fn filter() -> (EnvFilter, Option<String>) {
    match std::env::var("HBD_LOG") {
        Ok(spec) if !spec.trim().is_empty() => match EnvFilter::try_new(&spec) {
            Ok(f) => (f, None),
            Err(e) => (EnvFilter::new("info"), Some(format!("ignoring HBD_LOG={spec:?} ({e}); logging at info"))),
        },
        _ => (EnvFilter::new("info"), None),
    }
}

/// Install the global subscriber for node `node`: the journal if
/// [`JOURNAL_SOCKET`] exists and accepts entries, else stderr. Calling it
/// again is harmless (the first subscriber stays). Returns the backend used.
pub fn init(node: &str) -> Backend {
    let filter_warning = filter().1;
    let mut backend = Backend::Stderr;
    let mut journal_error = None;
    if Path::new(JOURNAL_SOCKET).exists() {
        // Through a bounded queue and a writer thread: a stalled journald
        // must never hold up the loop that sends heartbeats.
        match super::journald::Layer::new(JOURNAL_SOCKET, node) {
            Ok(layer) => {
                if tracing_subscriber::registry().with(filter().0).with(layer).try_init().is_ok() {
                    backend = Backend::Journal;
                }
            }
            Err(e) => journal_error = Some(e),
        }
    }
    if backend == Backend::Stderr {
        let _ = tracing_subscriber::registry()
            .with(filter().0)
            .with(
                tracing_subscriber::fmt::layer()
                    .compact()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .try_init();
        if let Some(e) = journal_error {
            tracing::warn!("{JOURNAL_SOCKET} exists but journald does not answer ({e}); logging to stderr");
        }
    }
    if let Some(w) = filter_warning {
        tracing::warn!("{w}");
    }
    tracing::debug!(HBD_NODE = node, ?backend, "logging initialised");
    backend
}
