//! Running health checks: HTTP and TCP probes inside hbd (async, no fork,
//! never on the path of a heartbeat: each check is a task of its own that
//! looks at its non-blocking socket on a timer grid shared by all probes),
//! unit checks as oneshot units started through systemd, so a user's
//! script runs sandboxed with its own timeout. The shell only probes; the
//! core counts and decides.

use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

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

/// One probe, bounded by the check's timeout. `names` is the check's own,
/// kept from one probe to the next.
pub async fn probe(check: &Check, systemd: &Systemd, names: &mut Names) -> Outcome {
    let o = timed(check, attempt(&check.probe, systemd, names)).await;
    names.after(&o);
    o
}

/// An HTTP or TCP probe without systemd at hand (a unit check fails): the
/// same path as [`probe`], for measuring it (`examples/probe_cost`).
pub async fn probe_net(check: &Check, names: &mut Names) -> Outcome {
    let o = timed(check, attempt_net(&check.probe, names)).await;
    names.after(&o);
    o
}

/// How long the addresses a check's host name resolved to serve its
/// probes before the name is resolved again.
const RESOLVE_AGAIN: Duration = Duration::from_secs(30);

/// The addresses one check's host name resolved to, kept between its
/// probes. Resolving is the C library's work on a thread of the runtime's
/// blocking pool (`/etc/hosts`, then DNS): for `localhost` it cost as much
/// CPU as the rest of an HTTP probe, and a DNS name asked its server every
/// interval. A failed probe forgets them, so the next one follows a name
/// that moved; literal addresses are never resolved.
#[derive(Debug, Default)]
pub struct Names {
    addrs: Vec<SocketAddr>,
    at: Option<Instant>,
    /// A resolution still under way, left by a probe that timed out: the
    /// next probe waits for it instead of starting another. A DNS server
    /// that does not answer holds one thread of the blocking pool per check
    /// (for the resolver's own timeout), not one per probe: 100 checks at
    /// 1 s would otherwise fill the pool that hbd's bus authorisations also
    /// need.
    pending: Option<tokio::task::JoinHandle<std::io::Result<Vec<SocketAddr>>>>,
}

impl Names {
    /// The addresses of `addr` (`host:port`): kept ones while fresh, else
    /// resolved now.
    async fn resolve(&mut self, addr: &str) -> Result<Vec<SocketAddr>, String> {
        if let Ok(sa) = addr.parse::<SocketAddr>() {
            return Ok(vec![sa]);
        }
        if let Some(at) = self.at {
            if at.elapsed() < RESOLVE_AGAIN {
                return Ok(self.addrs.clone());
            }
        }
        let pending = self.pending.get_or_insert_with(|| {
            let addr = addr.to_owned();
            tokio::task::spawn_blocking(move || std::net::ToSocketAddrs::to_socket_addrs(&addr).map(Iterator::collect))
        });
        let resolved = pending.await;
        self.pending = None;
        let addrs = match resolved {
            Ok(r) => r.map_err(|e| format!("cannot resolve {addr}: {e}"))?,
            Err(e) => return Err(format!("cannot resolve {addr}: {e}")),
        };
        if addrs.is_empty() {
            return Err(format!("cannot resolve {addr}: no address"));
        }
        self.addrs.clone_from(&addrs);
        self.at = Some(Instant::now());
        Ok(addrs)
    }

    /// Tried first from now on: `localhost` is `::1` first on Debian, and
    /// a server listening on `127.0.0.1` alone refused every probe's first
    /// connection.
    fn prefer(&mut self, sa: SocketAddr) {
        if let Some(i) = self.addrs.iter().position(|a| *a == sa) {
            self.addrs[..=i].rotate_right(1);
        }
    }

    fn after(&mut self, o: &Outcome) {
        if !o.ok {
            self.at = None;
        }
    }
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

async fn attempt(p: &Probe, systemd: &Systemd, names: &mut Names) -> Result<(), String> {
    match p {
        Probe::Unit { name } => attempt_unit(name, systemd).await,
        _ => attempt_net(p, names).await,
    }
}

async fn attempt_net(p: &Probe, names: &mut Names) -> Result<(), String> {
    match p {
        Probe::Tcp { addr } => {
            connect(addr, names).await?;
            Ok(())
        }
        Probe::Http { url, host, port, path, expect } => {
            let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
            let s = connect(&authority, names).await.map_err(|e| format!("{url}: {e}"))?;
            let req = format!(
                "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: hbd-check\r\nConnection: close\r\n\r\n"
            );
            send_all(&s, req.as_bytes()).await.map_err(|e| format!("{url}: cannot send the request: {e}"))?;
            let code = read_status(&s).await.map_err(|e| format!("{url}: {e}"))?;
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
    // A oneshot with RemainAfterExit=yes stays active ("exited") after its
    // script: a start would find it started and not run the script again,
    // and the check would stay healthy whatever the service does. Stopped
    // first, each probe runs the script.
    if systemd.sub_state(name).await.is_ok_and(|s| s == "exited") {
        systemd.stop(name).await.map_err(|e| e.to_string())?;
    }
    // systemd refuses a unit's sixth start within 10 s (its default start
    // limit, there against crash loops). A unit that passed is unloaded and
    // starts afresh, but a failed one stays: from the sixth failed probe on,
    // each would fail with 'start-limit-hit' instead of the script's own
    // result, and go on failing after the script passes again. The check's
    // interval is what bounds these starts.
    systemd.reset_failed(name).await.map_err(|e| e.to_string())?;
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

/// Probes look at their sockets on a grid of instants shared by all of
/// them, rather than each being woken by its own socket: every arrival on
/// a socket the runtime follows is a wake-up (the connection, the answer,
/// the server's close), and probes started together (checks of one slot,
/// see `probe_phase`) woke hbd once per answer. On the grid one wake-up
/// serves every probe in flight: 100 checks at 1 s woke hbd about 115
/// times a second more than without them, now about 40 (the lab's set-up
/// of bench/checks.sh). The price is latency: a quick answer is read at
/// the next grid instant, at most `POLL_STEP` late (status shows a latency
/// to within that).
const POLL_STEP: Duration = Duration::from_millis(5);
/// An answer still awaited after that is looked for less and less often
/// (a remote server a few round trips away), up to this.
const POLL_MAX: Duration = Duration::from_millis(40);

/// Until the first grid instant at least `after` from now (the next one
/// for zero).
async fn next_poll(after: Duration) {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let due = Instant::now() + after - epoch;
    let steps = due.as_nanos() / POLL_STEP.as_nanos() + 1;
    let at = epoch + POLL_STEP * u32::try_from(steps).unwrap_or(u32::MAX);
    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
}

/// A polled wait: the first look at the next grid instant, then one step
/// on, then each one twice as far as the last, up to `POLL_MAX`.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(Duration::ZERO)
    }
    async fn wait(&mut self) {
        next_poll(self.0).await;
        self.0 = (self.0 * 2).clamp(POLL_STEP, POLL_MAX);
    }
}

/// A connected TCP socket to `addr` (`host:port`; each address the name
/// resolves to in turn, as a connect of the standard library would, the
/// one that answered last first).
async fn connect(addr: &str, names: &mut Names) -> Result<Socket, String> {
    let mut last = String::new();
    for sa in names.resolve(addr).await? {
        match connect_one(sa).await {
            Ok(s) => {
                names.prefer(sa);
                return Ok(s);
            }
            Err(e) => last = connect_error(addr, &e),
        }
    }
    Err(last)
}

fn connect_error(addr: &str, e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => format!("connection to {addr} refused"),
        _ => format!("cannot connect to {addr}: {e}"),
    }
}

async fn connect_one(sa: SocketAddr) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(sa), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
    match s.connect(&sa.into()) {
        Ok(()) => return Ok(s),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    // On loopback the handshake is over when connect returns.
    let mut backoff = Backoff::new();
    loop {
        match s.peer_addr() {
            Ok(_) => return Ok(s),
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {}
            Err(e) => return Err(e),
        }
        // Not connected: refused, unreachable, or still under way.
        if let Some(e) = s.take_error()? {
            return Err(e);
        }
        backoff.wait().await;
    }
}

async fn send_all(s: &Socket, mut data: &[u8]) -> std::io::Result<()> {
    let mut backoff = Backoff::new();
    while !data.is_empty() {
        // (A reset connection is an error here, not a SIGPIPE.)
        match s.send_with_flags(data, libc::MSG_NOSIGNAL) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => backoff.wait().await,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Read up to the end of the status line and return its code.
async fn read_status(mut s: &Socket) -> Result<u16, String> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    let mut backoff = Backoff::new();
    while !buf.contains(&b'\n') {
        if buf.len() >= MAX_HEAD {
            return Err("no HTTP status line in the first 4 KiB of the answer".into());
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => backoff.wait().await,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read the answer: {e}")),
        }
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

    // Probes against real sockets on loopback, on a runtime like the
    // daemon's (one thread).

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(f)
    }

    /// One probe by a check of its own (nothing resolved before).
    fn once(check: &Check) -> Outcome {
        run(probe_net(check, &mut Names::default()))
    }

    /// A server on `addr` that handles each connection with `answer`.
    fn serve(addr: &str, answer: fn(std::net::TcpStream)) -> u16 {
        let l = std::net::TcpListener::bind(addr).expect("a local port");
        let port = l.local_addr().expect("bound").port();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                answer(s);
            }
        });
        port
    }

    fn http(host: &str, port: u16, expect: u16) -> Check {
        let url = format!("http://{host}:{port}/health");
        Check {
            probe: Probe::Http {
                url,
                host: host.trim_matches(['[', ']']).into(),
                port,
                path: "/health".into(),
                expect,
            },
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(300),
            rise: 1,
            fall: 3,
        }
    }

    /// Reads the request, answers with `code`, closes.
    fn reply(mut s: std::net::TcpStream, code: u16) {
        use std::io::Write;
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        let _ = write!(s, "HTTP/1.0 {code} X\r\nContent-Length: 2\r\n\r\nok");
    }

    fn healthy(s: std::net::TcpStream) {
        reply(s, 200);
    }

    fn sick(s: std::net::TcpStream) {
        reply(s, 500);
    }

    #[test]
    fn an_http_probe_reads_the_status_and_says_what_it_got() {
        let ok = serve("127.0.0.1:0", healthy);
        let o = once(&http("127.0.0.1", ok, 200));
        assert!(o.ok, "{}", o.detail);
        // Read at the next instant of the grid (with room for a busy machine).
        assert!(o.latency < POLL_STEP * 4, "{:?}", o.latency);
        let port = serve("127.0.0.1:0", sick);
        let o = once(&http("127.0.0.1", port, 200));
        assert_eq!(o.detail, format!("HTTP 500 from http://127.0.0.1:{port}/health (expected 200)"));
    }

    #[test]
    fn an_http_probe_names_what_went_wrong() {
        // A port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let o = once(&http("127.0.0.1", port, 200));
        assert_eq!(o.detail, format!("http://127.0.0.1:{port}/health: connection to 127.0.0.1:{port} refused"));
        let closes = serve("127.0.0.1:0", drop);
        let o = once(&http("127.0.0.1", closes, 200));
        assert!(!o.ok);
        assert!(
            o.detail.ends_with("the connection closed without an answer") || o.detail.contains("reset"),
            "{}",
            o.detail
        );
        let hangs = serve("127.0.0.1:0", |s| {
            std::thread::sleep(Duration::from_secs(2));
            drop(s);
        });
        let o = once(&http("127.0.0.1", hangs, 200));
        assert_eq!(o.detail, format!("http://127.0.0.1:{hangs}/health: no answer within 300ms"));
        assert!(o.latency >= Duration::from_millis(300) && o.latency < Duration::from_millis(400), "{:?}", o.latency);
    }

    #[test]
    fn a_connection_slow_to_be_accepted_is_followed_to_its_answer() {
        // A listen queue of one place, taken: the probe's SYN is dropped
        // and its connect stays in progress until the kernel sends the SYN
        // again (after about 1 s), by when the server has made room. The
        // probe follows it on the grid and reads the answer.
        let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        l.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
        l.listen(0).unwrap();
        let port = l.local_addr().unwrap().as_socket().unwrap().port();
        let filler = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let l: std::net::TcpListener = l.into();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let mut conns = l.incoming().flatten();
            drop(conns.next()); // the filler
            for s in conns {
                healthy(s);
            }
        });
        let check = Check { timeout: Duration::from_secs(3), ..http("127.0.0.1", port, 200) };
        let o = once(&check);
        drop(filler);
        assert!(o.ok, "{}", o.detail);
        assert!(o.latency > Duration::from_millis(500), "the connect was not held up: {:?}", o.latency);
    }

    #[test]
    fn tcp_probes_and_names_with_several_addresses() {
        let port = serve("127.0.0.1:0", drop);
        let tcp = |addr: String| Check { probe: Probe::Tcp { addr }, ..http("127.0.0.1", port, 200) };
        assert!(once(&tcp(format!("127.0.0.1:{port}"))).ok);
        // localhost is ::1 and 127.0.0.1 here: the server only on the
        // second, reached after the first refuses.
        let o = once(&tcp(format!("localhost:{port}")));
        assert!(o.ok, "{}", o.detail);
        let ok = serve("127.0.0.1:0", healthy);
        assert!(once(&http("localhost", ok, 200)).ok);
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            let p6 = serve("[::1]:0", healthy);
            let o = once(&http("[::1]", p6, 200));
            assert!(o.ok, "{}", o.detail);
        }
    }

    #[test]
    fn a_name_is_resolved_again_after_a_while_or_a_failure() {
        let port = serve("127.0.0.1:0", drop);
        let refusing = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let check = Check { probe: Probe::Tcp { addr: format!("localhost:{port}") }, ..http("127.0.0.1", port, 200) };
        let mut names = Names::default();
        assert!(run(probe_net(&check, &mut names)).ok);
        assert!(names.addrs.contains(&SocketAddr::from(([127, 0, 0, 1], port))), "{names:?}");
        // The next probe goes where the name went last time, without asking.
        names.addrs = vec![refusing];
        let o = run(probe_net(&check, &mut names));
        assert_eq!(o.detail, format!("connection to localhost:{port} refused"));
        // The failure forgot it: the one after asks again.
        assert!(run(probe_net(&check, &mut names)).ok);
        // Of two addresses, the one that answered is tried first next time.
        let good = SocketAddr::from(([127, 0, 0, 1], port));
        names.addrs = vec![refusing, good];
        assert!(run(probe_net(&check, &mut names)).ok);
        assert_eq!(names.addrs, [good, refusing]);
        // So does one after RESOLVE_AGAIN.
        if let Some(long_ago) = Instant::now().checked_sub(RESOLVE_AGAIN) {
            names.addrs = vec![refusing];
            names.at = Some(long_ago);
            let o = run(probe_net(&check, &mut names));
            assert!(o.ok, "{}", o.detail);
        }
        // A resolution that outlives its probe's timeout is awaited by the
        // next probe, not started again: a name that does not resolve at
        // all, and a resolution under way that will say 127.0.0.1.
        let name = format!("no-such-host.invalid:{port}");
        let slow =
            Check { probe: Probe::Tcp { addr: name.clone() }, timeout: Duration::from_millis(100), ..check.clone() };
        let mut names = Names::default();
        let o = run(async {
            names.pending = Some(tokio::task::spawn_blocking(move || {
                std::thread::sleep(Duration::from_millis(300));
                Ok(vec![good])
            }));
            let o = probe_net(&slow, &mut names).await;
            assert_eq!(o.detail, format!("tcp {name}: no answer within 100ms"));
            assert!(names.pending.is_some(), "the resolution was dropped with the probe");
            probe_net(&Check { timeout: Duration::from_secs(1), ..slow.clone() }, &mut names).await
        });
        assert!(o.ok, "{}", o.detail);
        assert!(names.pending.is_none() && names.addrs == [good], "{names:?}");
        // A literal address is used as it is.
        let mut literal = Names::default();
        let o =
            run(probe_net(&Check { probe: Probe::Tcp { addr: format!("127.0.0.1:{port}") }, ..check }, &mut literal));
        assert!(o.ok && literal.at.is_none(), "{literal:?}");
    }
}
