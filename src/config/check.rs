//! Health checks: what a resource's or a node's check probes, and how
//! often. Healthy or sick, nothing in between (no weights): `fall` failed
//! probes in a row make a check sick, `rise` passed probes in a row make it
//! healthy again.

use std::time::Duration;

/// Defaults: a probe every 2 s, each given 1 s; sick after 3 failures in a
/// row, healthy after 2 passes in a row.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_RISE: u32 = 2;
pub const DEFAULT_FALL: u32 = 3;
/// The shortest interval: a check is not a heartbeat.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Bounds of `rise` and `fall`.
pub const MAX_RUN: u32 = 100;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Check {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
}

/// What one probe does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Probe {
    /// `GET path` from `host:port` over plain HTTP/1.0; healthy when the
    /// status code is `expect`.
    Http { url: String, host: String, port: u16, path: String, expect: u16 },
    /// A TCP connection to `addr` (`host:port`) is accepted.
    Tcp { addr: String },
    /// Start the oneshot unit `name`; healthy when it finishes with
    /// `Result=success` (exit status 0).
    Unit { name: String },
}

impl Probe {
    /// How status and the journal name the check.
    pub fn describe(&self) -> String {
        match self {
            Probe::Http { url, .. } => url.clone(),
            Probe::Tcp { addr } => format!("tcp {addr}"),
            Probe::Unit { name } => name.clone(),
        }
    }
}

/// A check of the node itself: while it is sick, the node is in standby.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCheck {
    pub name: String,
    pub check: Check,
}

/// Split `http://host[:port][/path]`; `None` if it is not such a URL.
pub(crate) fn parse_http_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') || path.contains(char::is_whitespace) {
        return None;
    }
    let (host, port) = if authority.starts_with('[') || authority.contains(':') {
        split_host_port(authority)?
    } else {
        (authority.to_string(), 80)
    };
    if host.is_empty() {
        return None;
    }
    Some((host, port, path))
}

/// `host:port` or `[v6]:port` → (host without brackets, port).
pub(crate) fn split_host_port(s: &str) -> Option<(String, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return Some((host.to_string(), port.parse().ok()?));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') || host.is_empty() {
        return None;
    }
    Some((host.to_string(), port.parse().ok().filter(|p| *p != 0)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(parse_http_url("http://127.0.0.1/health"), Some(("127.0.0.1".into(), 80, "/health".into())));
        assert_eq!(parse_http_url("http://[::1]:8080"), Some(("::1".into(), 8080, "/".into())));
        assert_eq!(parse_http_url("http://localhost:81/a?b=c"), Some(("localhost".into(), 81, "/a?b=c".into())));
        assert_eq!(parse_http_url("https://127.0.0.1/"), None);
        assert_eq!(parse_http_url("http:///x"), None);
        assert_eq!(parse_http_url("http://web:abc/"), None);
        assert_eq!(split_host_port("127.0.0.1:5432"), Some(("127.0.0.1".into(), 5432)));
        assert_eq!(split_host_port("127.0.0.1"), None);
        assert_eq!(split_host_port("::1:5432"), None);
        assert_eq!(split_host_port("db:0"), None);
    }
}
