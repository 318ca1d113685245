//! Ping nodes (Heartbeat's ipfail): ICMP echo to each configured host
//! every `interval`; a host is reachable while its probes are answered
//! within `timeout`. Raw sockets, so CAP_NET_RAW is needed; replies are
//! matched by identifier, sequence and source, others' replies ignored.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};

use socket2::SockAddr;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::Ping;

#[derive(Debug, thiserror::Error)]
pub enum PingError {
    #[error("cannot open a raw {family} ICMP socket for the ping hosts: {source} (hbd needs CAP_NET_RAW)")]
    Socket {
        family: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("ping interval must be longer than zero")]
    ZeroInterval,
}

const PAYLOAD: &[u8; 8] = b"hbd-ping";

fn raw_socket(v6: bool) -> io::Result<AsyncFd<OwnedFd>> {
    let (dom, proto) = if v6 { (libc::AF_INET6, libc::IPPROTO_ICMPV6) } else { (libc::AF_INET, libc::IPPROTO_ICMP) };
    // SAFETY: plain socket(2); the fd is owned at once.
    let fd = unsafe { libc::socket(dom, libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is fresh and valid; the OwnedFd keeps it open for the
    // AsyncFd's whole life.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: as above, the descriptor stays open and unchanged while registered.
    Ok(unsafe { AsyncFd::register(fd) }?)
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut it = data.chunks_exact(2);
    for c in &mut it {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = it.remainder() {
        sum += u32::from(*b) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request; for IPv6 the kernel fills in the checksum.
pub fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// (identifier, sequence) of an echo reply; IPv4 packets include the IP header.
fn parse_reply(v6: bool, pkt: &[u8]) -> Option<(u16, u16)> {
    let icmp = if v6 {
        pkt
    } else {
        let ihl = usize::from(pkt.first()? & 0x0f) * 4;
        pkt.get(ihl..)?
    };
    if icmp.len() < 8 || icmp[0] != if v6 { 129 } else { 0 } || icmp[1] != 0 {
        return None;
    }
    Some((u16::from_be_bytes([icmp[4], icmp[5]]), u16::from_be_bytes([icmp[6], icmp[7]])))
}

fn send_to(fd: &AsyncFd<OwnedFd>, pkt: &[u8], to: IpAddr) -> io::Result<()> {
    let sa = SockAddr::from(SocketAddr::new(to, 0));
    // SAFETY: pkt and sa are valid for their lengths.
    let n = unsafe {
        libc::sendto(fd.get_ref().as_raw_fd(), pkt.as_ptr().cast(), pkt.len(), 0, sa.as_ptr().cast(), sa.len())
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn recv_from(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<(usize, IpAddr)> {
    // SAFETY: sockaddr_storage is plain old data.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: buf and ss are valid for the lengths given.
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let ip = match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let s = unsafe { &*(&ss as *const libc::sockaddr_storage as *const libc::sockaddr_in) };
            IpAddr::V4(Ipv4Addr::from(s.sin_addr.s_addr.to_ne_bytes()))
        }
        _ => {
            // SAFETY: raw ICMPv6 sockets return sockaddr_in6.
            let s = unsafe { &*(&ss as *const libc::sockaddr_storage as *const libc::sockaddr_in6) };
            IpAddr::V6(Ipv6Addr::from(s.sin6_addr.s6_addr))
        }
    };
    Ok((n as usize, ip))
}

async fn readable(fd: &Option<AsyncFd<OwnedFd>>) -> io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, OwnedFd>> {
    match fd {
        Some(f) => f.readable().await,
        None => std::future::pending().await,
    }
}

static NEXT_ID: AtomicU16 = AtomicU16::new(0);

struct Probe {
    host: usize,
    seq: u16,
    serial: u64,
    deadline: Instant,
}

/// Probes the ping hosts in the background; dropping it stops the probes.
pub struct PingMonitor {
    rx: mpsc::Receiver<usize>,
    task: JoinHandle<()>,
}

impl Drop for PingMonitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PingMonitor {
    /// Opens the raw sockets (failing here when CAP_NET_RAW is missing) and
    /// starts probing at once.
    pub fn start(cfg: &Ping) -> Result<Self, PingError> {
        if cfg.interval.is_zero() {
            return Err(PingError::ZeroInterval);
        }
        let v4 = if cfg.hosts.iter().any(IpAddr::is_ipv4) {
            Some(raw_socket(false).map_err(|source| PingError::Socket { family: "IPv4", source })?)
        } else {
            None
        };
        let v6 = if cfg.hosts.iter().any(IpAddr::is_ipv6) {
            Some(raw_socket(true).map_err(|source| PingError::Socket { family: "IPv6", source })?)
        } else {
            None
        };
        let id = (std::process::id() as u16) ^ NEXT_ID.fetch_add(0x9e37, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(16);
        let task = tokio::spawn(run(cfg.clone(), id, v4, v6, tx));
        Ok(PingMonitor { rx, task })
    }

    /// The number of reachable hosts: first once every host has been
    /// tried, then whenever it changes. With no hosts configured, 0 once.
    pub async fn changed(&mut self) -> Option<usize> {
        self.rx.recv().await
    }
}

async fn run(cfg: Ping, id: u16, v4: Option<AsyncFd<OwnedFd>>, v6: Option<AsyncFd<OwnedFd>>, tx: mpsc::Sender<usize>) {
    let n = cfg.hosts.len();
    if n == 0 {
        let _ = tx.send(0).await;
        return;
    }
    let timeout = if cfg.timeout.is_zero() { cfg.interval } else { cfg.timeout };
    let mut state: Vec<Option<bool>> = vec![None; n];
    // Serial of the newest probe answered, per host.
    let mut answered: Vec<u64> = vec![0; n];
    let mut pending: Vec<Probe> = Vec::new();
    let mut serial: u64 = 0;
    let mut seq: u16 = 0;
    let mut next_probe = Instant::now();
    let mut reported: Option<usize> = None;
    let mut buf = vec![0u8; 2048];
    loop {
        let wake = pending.iter().map(|p| p.deadline).min().map_or(next_probe, |d| d.min(next_probe));
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                if now >= next_probe {
                    for (h, host) in cfg.hosts.iter().enumerate() {
                        seq = seq.wrapping_add(1);
                        serial += 1;
                        let fd = if host.is_ipv4() { &v4 } else { &v6 };
                        let sent = fd
                            .as_ref()
                            .map(|fd| send_to(fd, &echo_request(host.is_ipv6(), id, seq), *host));
                        match sent {
                            Some(Ok(())) => pending.push(Probe { host: h, seq, serial, deadline: now + timeout }),
                            Some(Err(e)) => {
                                tracing::debug!("ping {host}: {e}");
                                state[h] = Some(false);
                            }
                            None => state[h] = Some(false),
                        }
                    }
                    next_probe += cfg.interval;
                    if next_probe <= now {
                        next_probe = now + cfg.interval;
                    }
                }
                pending.retain(|p| {
                    if p.deadline <= now {
                        if answered[p.host] < p.serial {
                            state[p.host] = Some(false);
                        }
                        false
                    } else {
                        true
                    }
                });
            }
            r = readable(&v4) => handle_readable(r, false, id, &cfg.hosts, &mut pending, &mut state, &mut answered, &mut buf),
            r = readable(&v6) => handle_readable(r, true, id, &cfg.hosts, &mut pending, &mut state, &mut answered, &mut buf),
        }
        if state.iter().all(Option::is_some) {
            let count = state.iter().filter(|s| **s == Some(true)).count();
            if reported != Some(count) {
                reported = Some(count);
                if tx.send(count).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn handle_readable(
    r: io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, OwnedFd>>,
    v6: bool,
    id: u16,
    hosts: &[IpAddr],
    pending: &mut Vec<Probe>,
    state: &mut [Option<bool>],
    answered: &mut [u64],
    buf: &mut [u8],
) {
    let mut guard = match r {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!("ping socket: {e}");
            return;
        }
    };
    let mut errors = 0;
    loop {
        match recv_from(guard.get_inner(), buf) {
            Ok((len, from)) => {
                let Some((rid, rseq)) = parse_reply(v6, &buf[..len]) else {
                    continue;
                };
                if rid != id {
                    continue;
                }
                if let Some(i) = pending.iter().position(|p| p.seq == rseq && hosts[p.host] == from) {
                    let p = pending.swap_remove(i);
                    state[p.host] = Some(true);
                    answered[p.host] = answered[p.host].max(p.serial);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                guard.clear_ready();
                return;
            }
            // A pending socket error (e.g. host unreachable) is reported
            // once; keep reading.
            Err(e) => {
                errors += 1;
                tracing::debug!("ping socket: {e}");
                if errors > 64 {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_checksum_and_parse() {
        let p = echo_request(false, 0x1234, 7);
        assert_eq!(checksum(&p), 0);
        let mut reply = vec![0x45u8; 20];
        let mut icmp = p.clone();
        icmp[0] = 0;
        reply.extend(icmp);
        reply[0] = 0x45;
        assert_eq!(parse_reply(false, &reply), Some((0x1234, 7)));
        assert_eq!(parse_reply(false, &p), None);
    }
}
