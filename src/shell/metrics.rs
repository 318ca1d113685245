//! The Prometheus endpoint (`[metrics] listen`): HTTP GET /metrics in the
//! text exposition format, names after ClusterLabs' ha_cluster_exporter
//! (`hbd_` prefix, one-hot state gauges, base units, `_total` counters).
//!
//! Everything is rendered in the connection's own task from what already
//! exists: the status snapshot the D-Bus properties read, the links'
//! atomic frame counters and a few event counters. The main loop does no
//! work for a scrape, and a scraper cannot hold it up: connections are
//! few, bounded in time and in request size, and answered once.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::links::LinkCounters;
use crate::config::Listen;
use crate::core::node::{CheckState, NodeState};
use crate::core::{Event, GroupState, MoveReason};
use crate::dbus::{status_text, Status};

/// Scrapes served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 8;
/// A request must arrive whole within this.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The answer must be taken within this.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head read (a scrape's is a few hundred bytes).
pub const MAX_REQUEST: usize = 8192;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why a received frame was dropped (`hbd_frames_rejected_total{reason}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Not a frame: truncated, oversized, bad magic, a broken header.
    Malformed,
    /// A wire version this release does not speak.
    Version,
    /// Another cluster's name.
    Cluster,
    /// A bad tag or a key this node does not have.
    Auth,
    /// Authenticated, from a node not in the configuration.
    UnknownNode,
    /// An old generation or a sequence number seen before.
    Replay,
    /// A body that does not decode.
    Body,
}

const REJECTS: [(Reject, &str); 7] = [
    (Reject::Malformed, "malformed"),
    (Reject::Version, "version"),
    (Reject::Cluster, "cluster"),
    (Reject::Auth, "auth"),
    (Reject::UnknownNode, "unknown-node"),
    (Reject::Replay, "replay"),
    (Reject::Body, "body"),
];

impl Reject {
    pub fn of(e: &crate::wire::WireError) -> Reject {
        use crate::wire::WireError as W;
        match e {
            W::UnknownVersion(_) => Reject::Version,
            W::WrongCluster => Reject::Cluster,
            W::UnknownKey { .. } | W::BadTag { .. } => Reject::Auth,
            _ => Reject::Malformed,
        }
    }
    fn index(self) -> usize {
        REJECTS.iter().position(|(r, _)| *r == self).expect("listed")
    }
}

/// Counters the main loop keeps for the metrics: rejected frames (atomics:
/// a flood of bad frames must cost no lock) and what follows from events
/// (moves, failover durations), which are rare.
#[derive(Default)]
pub struct Counters {
    rejected: [AtomicU64; REJECTS.len()],
    events: Mutex<EventStats>,
}

#[derive(Default)]
struct EventStats {
    moves: BTreeMap<(String, &'static str), u64>,
    /// Seconds from detecting the failure to the group started, last failover.
    failover: BTreeMap<String, f64>,
    /// When each peer was last declared dead.
    dead_at: HashMap<String, Instant>,
    /// Failovers under way: group -> when the failure was detected.
    failing_over: HashMap<String, Instant>,
}

impl Counters {
    pub fn reject(&self, r: Reject) {
        self.rejected[r.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Account for one event the core reported at `now`.
    pub fn event(&self, e: &Event, now: Instant) {
        let relevant = matches!(
            e,
            Event::PeerDead { .. }
                | Event::Takeover { .. }
                | Event::GroupStarted { .. }
                | Event::GroupMoved { .. }
                | Event::Release { .. }
        );
        if !relevant {
            return;
        }
        let mut s = self.events.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::PeerDead { peer } => {
                s.dead_at.insert(peer.clone(), now);
            }
            Event::Takeover { group, reason: MoveReason::Failover } => {
                // Detection is the peer's death, if one was just declared;
                // with fencing the takeover comes after the fence.
                let since =
                    s.dead_at.values().copied().filter(|t| now.duration_since(*t) < Duration::from_secs(600)).max();
                s.failing_over.insert(group.clone(), since.unwrap_or(now));
            }
            Event::Release { group, .. } => {
                s.failing_over.remove(group);
            }
            Event::GroupStarted { group } => {
                if let Some(t) = s.failing_over.remove(group) {
                    s.failover.insert(group.clone(), now.duration_since(t).as_secs_f64());
                }
            }
            Event::GroupMoved { group, reason, .. } => {
                *s.moves.entry((group.clone(), reason.as_str())).or_default() += 1;
            }
            _ => {}
        }
    }
}

/// What a scrape reads.
#[derive(Clone)]
pub struct Source {
    pub status: watch::Receiver<Status>,
    pub links: LinkCounters,
    /// Configured link names, by index (links do not change on reload).
    pub link_names: Vec<String>,
    pub counters: Arc<Counters>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("[metrics] listen = \"{listen}\": cannot listen there: {source}")]
    Bind {
        listen: String,
        #[source]
        source: std::io::Error,
    },
}

/// Whether `listen` is reachable from other hosts (worth a warning).
pub fn is_exposed(listen: &Listen) -> bool {
    match listen {
        Listen::Tcp(a) => !a.ip().is_loopback(),
        Listen::Unix(_) => false,
    }
}

/// Listen on `listen` and serve scrapes until the handle is aborted.
pub async fn serve(listen: &Listen, src: Source) -> Result<JoinHandle<()>, MetricsError> {
    let bind_err = |source| MetricsError::Bind { listen: listen.to_string(), source };
    if is_exposed(listen) {
        warn!(HBD_EVENT = "metrics-exposed",
            "[metrics] listen = \"{listen}\" is not a loopback address: anyone who can reach it can read the cluster's state; listen on 127.0.0.1 or a unix socket, or firewall it");
    }
    let src = Arc::new(src);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let task = match listen {
        Listen::Tcp(addr) => {
            let l = tokio::net::TcpListener::bind(addr).await.map_err(bind_err)?;
            tokio::spawn(async move {
                loop {
                    match l.accept().await {
                        Ok((s, _)) => spawn_conn(s, &src, &slots),
                        Err(e) => accept_failed(e).await,
                    }
                }
            })
        }
        Listen::Unix(path) => {
            let l = bind_unix(path).map_err(bind_err)?;
            tokio::spawn(async move {
                loop {
                    match l.accept().await {
                        Ok((s, _)) => spawn_conn(s, &src, &slots),
                        Err(e) => accept_failed(e).await,
                    }
                }
            })
        }
    };
    info!(HBD_EVENT = "metrics", "serving Prometheus metrics on {listen} (GET /metrics)");
    Ok(task)
}

fn bind_unix(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    // A socket left by an hbd that died is ours to replace; anything else
    // at that path is not.
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.file_type().is_socket() {
            std::fs::remove_file(path)?;
        }
    }
    let l = tokio::net::UnixListener::bind(path)?;
    // Reading is open to all, as on the bus.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(l)
}

async fn accept_failed(e: std::io::Error) {
    // Out of descriptors and the like: wait instead of spinning.
    error!("metrics: accepting a connection: {e}");
    tokio::time::sleep(Duration::from_millis(200)).await;
}

fn spawn_conn<S>(s: S, src: &Arc<Source>, slots: &Arc<Semaphore>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Full: the connection is dropped (closed) at once rather than queued.
    let Ok(permit) = slots.clone().try_acquire_owned() else { return };
    let src = src.clone();
    tokio::spawn(async move {
        handle(s, &src).await;
        drop(permit);
    });
}

/// Read one request head (up to the blank line); Err(true) if too large.
async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> Result<Vec<u8>, bool> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = s.read(&mut chunk).await.map_err(|_| false)?;
        if n == 0 {
            return Err(false);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_REQUEST {
            return Err(true);
        }
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return Ok(buf);
        }
    }
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, src: &Source) {
    let (status, body, head_only) = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut s)).await {
        Err(_) => ("408 Request Timeout", "request not received in time\n".to_string(), false),
        Ok(Err(true)) => ("431 Request Header Fields Too Large", "request too large\n".to_string(), false),
        Ok(Err(false)) => return,
        Ok(Ok(head)) => route(&head, src),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        s.write_all(&out).await?;
        s.shutdown().await
    })
    .await;
    // Closing with unread input makes the kernel reset the connection, and
    // the client may lose the answer (a 431 above all): read what is left,
    // briefly and boundedly.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut left: usize = 64 * 1024;
        let mut sink = [0u8; 4096];
        while left > 0 {
            match s.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// (status line, body, HEAD request).
fn route(head: &[u8], src: &Source) -> (&'static str, String, bool) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return ("400 Bad Request", "bad request\n".to_string(), false);
    };
    if !version.starts_with("HTTP/1.") {
        return ("400 Bad Request", "bad request\n".to_string(), false);
    }
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return ("405 Method Not Allowed", "only GET /metrics\n".to_string(), false);
    }
    let path = target.split('?').next().unwrap_or_default();
    match path {
        "/metrics" => ("200 OK", render(src), head_only),
        "/" => ("200 OK", "hbd: metrics at /metrics\n".to_string(), head_only),
        _ => ("404 Not Found", "not found; metrics are at /metrics\n".to_string(), head_only),
    }
}

/// A label value, escaped as the exposition format wants.
fn esc(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn one(b: bool) -> u8 {
    u8::from(b)
}

/// The whole exposition.
pub fn render(src: &Source) -> String {
    // Copy the snapshot out: the watch's lock is held for a clone only.
    let st = src.status.borrow().clone();
    let mut o = String::with_capacity(4096);

    family(&mut o, "hbd_build_info", "gauge", "Always 1; the version of hbd that serves these metrics.");
    let _ = writeln!(o, "hbd_build_info{{version=\"{}\"}} 1", esc(env!("CARGO_PKG_VERSION")));
    family(&mut o, "hbd_quorate", "gauge", "1 if this node's partition may own groups.");
    let _ = writeln!(o, "hbd_quorate {}", one(st.quorate));
    family(&mut o, "hbd_generation", "gauge", "This node's generation (its count of hbd starts).");
    let _ = writeln!(o, "hbd_generation {}", st.generation);

    family(&mut o, "hbd_node_state", "gauge", "1 for the state each node is in, as this node sees it (one-hot).");
    for n in &st.nodes {
        for s in NodeState::ALL.map(status_text::node_state) {
            let _ = writeln!(o, "hbd_node_state{{node=\"{}\",state=\"{s}\"}} {}", esc(&n.name), one(n.state == s));
        }
    }
    family(&mut o, "hbd_link_up", "gauge", "1 if frames from the peer arrive on the link.");
    for n in st.nodes.iter().filter(|n| !n.local) {
        for (link, state, _) in &n.links {
            let _ =
                writeln!(o, "hbd_link_up{{peer=\"{}\",link=\"{}\"}} {}", esc(&n.name), esc(link), one(state == "up"));
        }
    }
    family(
        &mut o,
        "hbd_link_heartbeat_age_seconds",
        "gauge",
        "Seconds since the last frame from the peer on the link (absent if never heard).",
    );
    for n in st.nodes.iter().filter(|n| !n.local) {
        for (link, _, ms) in n.links.iter().filter(|l| l.2 >= 0) {
            let _ = writeln!(
                o,
                "hbd_link_heartbeat_age_seconds{{peer=\"{}\",link=\"{}\"}} {}",
                esc(&n.name),
                esc(link),
                *ms as f64 / 1000.0
            );
        }
    }

    family(&mut o, "hbd_group_state", "gauge", "1 for the state each group is in (one-hot).");
    for g in &st.groups {
        for s in GroupState::ALL.map(status_text::group_state) {
            let _ = writeln!(o, "hbd_group_state{{group=\"{}\",state=\"{s}\"}} {}", esc(&g.name), one(g.state == *s));
        }
    }
    family(&mut o, "hbd_group_owner", "gauge", "1 for the node that runs the group, 0 for every other node.");
    for g in &st.groups {
        for n in &st.nodes {
            let _ = writeln!(
                o,
                "hbd_group_owner{{group=\"{}\",node=\"{}\"}} {}",
                esc(&g.name),
                esc(&n.name),
                one(g.owner == n.name)
            );
        }
    }
    // Not `_fail_count`: the exposition format reserves a `_count` suffix
    // for histograms and summaries, and promtool rejects it on a gauge.
    family(
        &mut o,
        "hbd_group_failcount",
        "gauge",
        "Unit failures of the group on the node since the last cleanup (the owner's, or this node's if none runs it).",
    );
    for g in &st.groups {
        let node = if g.owner.is_empty() { &st.local } else { &g.owner };
        let _ = writeln!(o, "hbd_group_failcount{{group=\"{}\",node=\"{}\"}} {}", esc(&g.name), esc(node), g.failcount);
    }

    // Health checks where they run: one-hot like the other states.
    family(
        &mut o,
        "hbd_check_state",
        "gauge",
        "Health checks running on this node (a group's resources', and the node's own), one-hot by state.",
    );
    let checks = st
        .groups
        .iter()
        .flat_map(|g| g.checks.iter().map(move |c| (g.name.as_str(), c)))
        .chain(st.nodes.iter().filter(|n| n.local).flat_map(|n| n.checks.iter().map(|c| ("", c))));
    let checks: Vec<_> = checks.collect();
    for (g, c) in &checks {
        for state in CheckState::ALL.map(status_text::check_state) {
            let _ = writeln!(
                o,
                "hbd_check_state{{group=\"{}\",check=\"{}\",probe=\"{}\",state=\"{state}\"}} {}",
                esc(g),
                esc(&c.name),
                esc(&c.probe),
                one(c.state == state)
            );
        }
    }
    family(&mut o, "hbd_check_latency_seconds", "gauge", "How long the last probe of each check took.");
    for (g, c) in &checks {
        if c.latency_ms >= 0 {
            let _ = writeln!(
                o,
                "hbd_check_latency_seconds{{group=\"{}\",check=\"{}\"}} {}",
                esc(g),
                esc(&c.name),
                c.latency_ms as f64 / 1000.0
            );
        }
    }

    let (moves, failover) = {
        let s = src.counters.events.lock().unwrap_or_else(|p| p.into_inner());
        (s.moves.clone(), s.failover.clone())
    };
    family(
        &mut o,
        "hbd_group_moves_total",
        "counter",
        "Times a group came to run somewhere else, as this node saw it, by reason.",
    );
    for ((g, reason), n) in &moves {
        let _ = writeln!(o, "hbd_group_moves_total{{group=\"{}\",reason=\"{reason}\"}} {n}", esc(g));
    }
    family(
        &mut o,
        "hbd_last_failover_duration_seconds",
        "gauge",
        "From detecting the failure to the group started here, for the last failover to this node.",
    );
    for (g, secs) in &failover {
        let _ = writeln!(o, "hbd_last_failover_duration_seconds{{group=\"{}\"}} {secs}", esc(g));
    }

    family(&mut o, "hbd_frames_sent_total", "counter", "Frames sent on each link.");
    for (i, l) in src.link_names.iter().enumerate() {
        let _ = writeln!(o, "hbd_frames_sent_total{{link=\"{}\"}} {}", esc(l), src.links.sent(i));
    }
    family(&mut o, "hbd_frames_received_total", "counter", "Frames received on each link (before any check).");
    for (i, l) in src.link_names.iter().enumerate() {
        let _ = writeln!(o, "hbd_frames_received_total{{link=\"{}\"}} {}", esc(l), src.links.received(i));
    }
    family(&mut o, "hbd_frames_rejected_total", "counter", "Received frames dropped, by reason.");
    for (i, (_, name)) in REJECTS.iter().enumerate() {
        let _ = writeln!(
            o,
            "hbd_frames_rejected_total{{reason=\"{name}\"}} {}",
            src.counters.rejected[i].load(Ordering::Relaxed)
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbus::{GroupStatus, NodeStatus};

    fn source() -> Source {
        let st = Status {
            cluster: "lab".into(),
            local: "n1".into(),
            generation: 3,
            quorate: true,
            nodes: vec![
                NodeStatus {
                    name: "n1".into(),
                    state: "up".into(),
                    local: true,
                    generation: 3,
                    links: vec![],
                    ping: None,
                    checks: vec![],
                    standby: false,
                },
                NodeStatus {
                    name: "n\"2".into(),
                    state: "dead".into(),
                    local: false,
                    generation: 1,
                    links: vec![("hb".into(), "down".into(), 2500), ("lan".into(), "down".into(), -1)],
                    ping: Some(0),
                    checks: vec![],
                    standby: false,
                },
            ],
            groups: vec![GroupStatus {
                name: "web".into(),
                owner: "n1".into(),
                state: "started".into(),
                preferred: "n1".into(),
                resources: vec![],
                failcount: 2,
                note: String::new(),
                checks: vec![],
                pinned: String::new(),
            }],
        };
        Source {
            status: watch::channel(st).1,
            links: LinkCounters::unattached(2),
            link_names: vec!["hb".into(), "lan".into()],
            counters: Arc::default(),
        }
    }

    #[test]
    fn one_hot_states_and_escaped_labels() {
        let src = source();
        let now = Instant::now();
        src.counters.event(&Event::PeerDead { peer: "n\"2".into() }, now);
        src.counters.event(&Event::Takeover { group: "web".into(), reason: MoveReason::Failover }, now);
        src.counters.event(&Event::GroupStarted { group: "web".into() }, now + Duration::from_millis(250));
        src.counters.event(
            &Event::GroupMoved {
                group: "web".into(),
                from: "n\"2".into(),
                to: "n1".into(),
                reason: MoveReason::Failover,
            },
            now,
        );
        src.counters.reject(Reject::Replay);
        let m = render(&src);
        for want in [
            "hbd_node_state{node=\"n1\",state=\"up\"} 1\n",
            "hbd_node_state{node=\"n1\",state=\"dead\"} 0\n",
            "hbd_node_state{node=\"n\\\"2\",state=\"dead\"} 1\n",
            "hbd_link_up{peer=\"n\\\"2\",link=\"hb\"} 0\n",
            "hbd_link_heartbeat_age_seconds{peer=\"n\\\"2\",link=\"hb\"} 2.5\n",
            "hbd_group_state{group=\"web\",state=\"started\"} 1\n",
            "hbd_group_state{group=\"web\",state=\"blocked\"} 0\n",
            "hbd_group_state{group=\"web\",state=\"claiming\"} 0\n",
            "hbd_group_owner{group=\"web\",node=\"n1\"} 1\n",
            "hbd_group_owner{group=\"web\",node=\"n\\\"2\"} 0\n",
            "hbd_group_failcount{group=\"web\",node=\"n1\"} 2\n",
            "hbd_group_moves_total{group=\"web\",reason=\"failover\"} 1\n",
            "hbd_last_failover_duration_seconds{group=\"web\"} 0.25\n",
            "hbd_frames_rejected_total{reason=\"replay\"} 1\n",
            "hbd_frames_rejected_total{reason=\"auth\"} 0\n",
            "hbd_frames_sent_total{link=\"lan\"} 0\n",
            "hbd_quorate 1\n",
            "hbd_generation 3\n",
        ] {
            assert!(m.contains(want), "{want:?} missing from:\n{m}");
        }
        assert!(!m.contains("link=\"lan\"} -"), "a link never heard has no age: {m}");
        // One-hot: a series per state the core has, one of them 1.
        let web: Vec<&str> = m.lines().filter(|l| l.starts_with("hbd_group_state{group=\"web\"")).collect();
        assert_eq!(web.len(), GroupState::ALL.len(), "{web:?}");
        assert_eq!(web.iter().filter(|l| l.ends_with(" 1")).count(), 1, "{web:?}");
        // Every family is declared once, before its samples.
        for l in m.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            assert_eq!(m.matches(&format!("# TYPE {name} ")).count(), 1, "{name}");
        }
    }

    async fn ask(req: &[u8]) -> String {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let src = source();
        let h = tokio::spawn(async move { handle(server, &src).await });
        client.write_all(req).await.unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        drop(client);
        h.await.unwrap();
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn http_answers() {
        let ok = ask(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Type: text/plain; version=0.0.4"), "{ok}");
        assert!(ok.contains("\r\n\r\n# HELP hbd_build_info"), "{ok}");
        let len: usize = ok.split("Content-Length: ").nth(1).unwrap().split("\r\n").next().unwrap().parse().unwrap();
        assert_eq!(len, ok.split_once("\r\n\r\n").unwrap().1.len());
        let head = ask(b"HEAD /metrics HTTP/1.0\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"), "{head}");
        assert!(ask(b"GET /other HTTP/1.1\r\n\r\n").await.starts_with("HTTP/1.1 404 "));
        assert!(ask(b"POST /metrics HTTP/1.1\r\n\r\n").await.starts_with("HTTP/1.1 405 "));
        assert!(ask(b"hello\r\n\r\n").await.starts_with("HTTP/1.1 400 "));
        let mut big = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_REQUEST + 10));
        big.extend(b"\r\n\r\n");
        assert!(ask(&big).await.starts_with("HTTP/1.1 431 "));
    }

    #[test]
    fn exposure() {
        assert!(!is_exposed(&Listen::Tcp("127.0.0.1:9694".parse().unwrap())));
        assert!(!is_exposed(&Listen::Tcp("[::1]:9694".parse().unwrap())));
        assert!(is_exposed(&Listen::Tcp("0.0.0.0:9694".parse().unwrap())));
        assert!(is_exposed(&Listen::Tcp("10.77.0.11:9694".parse().unwrap())));
        assert!(!is_exposed(&Listen::Unix("/run/hbd/metrics.sock".into())));
    }
}
