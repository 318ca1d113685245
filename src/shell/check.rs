//! Running health checks: HTTP and TCP probes inside hbd (async, no fork,
//! never on the path of a heartbeat: each check is a task of its own that
//! only waits on its socket), unit checks as oneshot units started through
//! systemd, so a user's script runs sandboxed with its own timeout. The
//! shell only probes; the core counts and decides.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::systemd::{Systemd, UnitError};
use crate::config::{Check, Probe};

/// The most of an HTTP answer read: the status line is all that counts.
const MAX_HEAD: usize = 4096;

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    pub detail: String,
    pub latency: Duration,
}

/// One probe, bounded by the check's timeout.
pub async fn probe(check: &Check, systemd: &Systemd) -> Outcome {
    timed(check, attempt(&check.probe, systemd)).await
}

/// An HTTP or TCP probe without systemd at hand (a unit check fails): the
/// same path as [`probe`], for measuring it (`examples/probe_cost`).
pub async fn probe_net(check: &Check) -> Outcome {
    timed(check, attempt_net(&check.probe)).await
}

async fn timed(check: &Check, attempt: impl std::future::Future<Output = Result<(), String>>) -> Outcome {
    let t0 = Instant::now();
    let r = tokio::time::timeout(check.timeout, attempt).await;
    let latency = t0.elapsed();
    match r {
        Ok(Ok(())) => Outcome { ok: true, detail: String::new(), latency },
        Ok(Err(detail)) => Outcome { ok: false, detail, latency },
        Err(_) => Outcome {
            ok: false,
            detail: format!(
                "{}: no answer within {}",
                check.probe.describe(),
                humantime::format_duration(check.timeout)
            ),
            latency,
        },
    }
}

async fn attempt(p: &Probe, systemd: &Systemd) -> Result<(), String> {
    match p {
        Probe::Unit { name } => attempt_unit(name, systemd).await,
        _ => attempt_net(p).await,
    }
}

async fn attempt_net(p: &Probe) -> Result<(), String> {
    match p {
        Probe::Tcp { addr } => {
            connect(addr).await?;
            Ok(())
        }
        Probe::Http { url, host, port, path, expect } => {
            let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
            let mut s = connect(&authority).await.map_err(|e| format!("{url}: {e}"))?;
            let req = format!(
                "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: hbd-check\r\nConnection: close\r\n\r\n"
            );
            s.write_all(req.as_bytes()).await.map_err(|e| format!("{url}: cannot send the request: {e}"))?;
            let code = read_status(&mut s).await.map_err(|e| format!("{url}: {e}"))?;
            if code == *expect {
                Ok(())
            } else {
                Err(format!("HTTP {code} from {url} (expected {expect})"))
            }
        }
        Probe::Unit { name } => Err(format!("{name}: a unit check needs systemd")),
    }
}

/// A oneshot unit: its start job ends when the script does, and its Result
/// says how. A unit still running from the last probe is joined, not
/// started twice.
async fn attempt_unit(name: &str, systemd: &Systemd) -> Result<(), String> {
    match systemd.start(name).await {
        // A script that exits non-zero fails its start job: its Result
        // says how.
        Ok(()) | Err(UnitError::JobFailed { .. }) => {}
        Err(e) => return Err(e.to_string()),
    }
    let result = systemd.unit_result(name).await.map_err(|e| e.to_string())?;
    if result == "success" {
        return Ok(());
    }
    let status = match systemd.exit_status(name).await {
        Ok(Some(n)) if result == "exit-code" => format!(", exit status {n}"),
        _ => String::new(),
    };
    Err(format!("{name} ended with result '{result}'{status}; see `journalctl -u {name}`"))
}

async fn connect(addr: &str) -> Result<TcpStream, String> {
    TcpStream::connect(addr).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => format!("connection to {addr} refused"),
        _ => format!("cannot connect to {addr}: {e}"),
    })
}

/// Read up to the end of the status line and return its code.
async fn read_status(s: &mut TcpStream) -> Result<u16, String> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    while !buf.contains(&b'\n') {
        if buf.len() >= MAX_HEAD {
            return Err("no HTTP status line in the first 4 KiB of the answer".into());
        }
        let n = s.read(&mut chunk).await.map_err(|e| format!("cannot read the answer: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    parse_status_line(&buf).ok_or_else(|| {
        let line = String::from_utf8_lossy(&buf[..buf.len().min(80)]).lines().next().unwrap_or("").to_string();
        if line.is_empty() {
            "the connection closed without an answer".to_string()
        } else {
            format!("not an HTTP answer: {line:?}")
        }
    })
}

/// `HTTP/1.x NNN …` → NNN.
fn parse_status_line(buf: &[u8]) -> Option<u16> {
    let line = buf.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code: u16 = parts.next()?.parse().ok()?;
    (100..=599).contains(&code).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 500 Internal Server Error\r\nx"), Some(500));
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 abc\r\n"), None);
        assert_eq!(parse_status_line(b""), None);
    }
}
