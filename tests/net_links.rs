//! Heartbeat links between two namespaces (ucast, bcast, mcast), link
//! state reporting and retry, and serial links over a socat pty pair.

mod net;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hbd::config::{Link, LinkKind};
use hbd::shell::links::{Incoming, LinkEvent, LinkStatus, Links, LinksError};
use net::Ns;

fn link(name: &str, kind: LinkKind) -> Link {
    Link { name: name.into(), kind }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn udp_links(iface: &str) -> Vec<Link> {
    vec![
        link(
            "hb",
            LinkKind::Ucast { interface: iface.into(), peers: vec![ip("10.79.0.1"), ip("10.79.0.2")], port: 7101 },
        ),
        link("lan", LinkKind::Bcast { interface: iface.into(), port: 7102 }),
        link("m", LinkKind::Mcast { interface: iface.into(), group: ip("239.192.0.94"), port: 7103, ttl: 1 }),
        link("m6", LinkKind::Mcast { interface: iface.into(), group: ip("ff12::94"), port: 7104, ttl: 1 }),
        link(
            "u6",
            LinkKind::Ucast { interface: iface.into(), peers: vec![ip("fd00:79::1"), ip("fd00:79::2")], port: 7105 },
        ),
        // Missing on both nodes: reported down, never fatal.
        link("gone", LinkKind::Bcast { interface: "nope0".into(), port: 7106 }),
    ]
}

/// Everything a node saw: (link, frame, from) and status events, and per
/// link how many of its own frames reached it.
type Seen = (Vec<(usize, Vec<u8>, Option<std::net::SocketAddr>)>, Vec<LinkStatus>, Vec<u64>);

async fn exchange(links: Links, mut rx: Incoming, me: &'static [u8], dur: Duration) -> Seen {
    let counters = links.counters();
    let mut frames = Vec::new();
    let mut status = Vec::new();
    let end = tokio::time::Instant::now() + dur;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => break,
            _ = tick.tick() => {
                let rep = links.send(me);
                assert!(rep.errors.is_empty(), "{rep:?}");
            }
            ev = rx.recv() => match ev.expect("links alive") {
                LinkEvent::Frame(r) => frames.push((r.link, r.frame, r.from)),
                LinkEvent::Status(s) => status.push(s),
            }
        }
    }
    let echoes = (0..counters.len()).map(|i| counters.own_echoes(i)).collect();
    (frames, status, echoes)
}

fn node(ns: &Ns, me: &'static [u8], iface: &'static str, barrier: Arc<Barrier>) -> std::thread::JoinHandle<Seen> {
    ns.spawn(move || async move {
        let (links, rx) = Links::start(&udp_links(iface), &[]).await.expect("links start");
        // Wait until both nodes listen.
        barrier.wait();
        exchange(links, rx, me, Duration::from_millis(1500)).await
    })
}

#[test]
fn udp_links_deliver_between_namespaces_not_to_self() {
    if !net::root() {
        return;
    }
    let (a, b) = net::pair("10.79.0");
    a.ip("-6 addr add fd00:79::1/64 dev a0 nodad");
    b.ip("-6 addr add fd00:79::2/64 dev b0 nodad");
    let barrier = Arc::new(Barrier::new(2));
    let ha = node(&a, b"from-a", "a0", barrier.clone());
    let hb = node(&b, b"from-b", "b0", barrier);
    let (fa, sa, ea) = net::join(ha);
    let (fb, sb, eb) = net::join(hb);

    for (who, frames, status, echoes, other, other_ip4, other_ip6) in [
        ("a", &fa, &sa, &ea, b"from-b", "10.79.0.2", "fd00:79::2"),
        ("b", &fb, &sb, &eb, b"from-a", "10.79.0.1", "fd00:79::1"),
    ] {
        assert!(frames.iter().all(|(_, f, _)| f == other), "{who} got its own frames back: {frames:?}");
        // Not even to be dropped: the kernel keeps a broadcast (and
        // multicast) link's own frames from the node (each would be a
        // wake-up of hbd for nothing).
        assert_eq!(echoes[1..4], [0, 0, 0], "{who}: own frames that reached hbd per link: {echoes:?}");
        for l in 0..5 {
            let got: Vec<_> = frames.iter().filter(|(i, _, _)| *i == l).collect();
            assert!(got.len() >= 5, "{who}: link {l} delivered {} frames: {frames:?}", got.len());
            let want = if l >= 3 { other_ip6 } else { other_ip4 };
            // IPv6 multicast leaves from the link-local address once it is usable.
            let ok = |a: IpAddr| {
                a == ip(want) || matches!(a, IpAddr::V6(v) if l == 3 && (v.segments()[0] & 0xffc0) == 0xfe80)
            };
            assert!(got.iter().all(|(_, _, from)| ok(from.unwrap().ip())), "{who}: link {l}: {got:?}");
        }
        assert!(frames.iter().all(|(i, _, _)| *i != 5));
        // Initial status: 0..=4 up, 5 down naming the link and interface.
        for l in 0..5 {
            assert!(status.iter().any(|s| s.link == l && s.up), "{who}: {status:?}");
        }
        let down = status.iter().find(|s| s.link == 5).expect("status for link 5");
        assert!(!down.up);
        assert_eq!(down.reason, "link gone (bcast on nope0): interface nope0 does not exist");
    }
}

/// Reads events until `pred` matches one, or panics after `timeout`.
async fn wait_status(rx: &mut Incoming, timeout: Duration, pred: impl Fn(&LinkStatus) -> bool) -> LinkStatus {
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(LinkEvent::Status(s))) if pred(&s) => return s,
            Ok(Some(_)) => {}
            Ok(None) => panic!("links closed"),
            Err(_) => panic!("no matching status within {timeout:?}"),
        }
    }
}

#[test]
fn down_and_missing_interfaces_are_reported_and_retried() {
    if !net::root() {
        return;
    }
    let ns = Ns::new();
    ns.ip("link add v0 type veth peer name v1");
    ns.ip("link set v0 up");
    ns.ip("link set v1 up");
    ns.ip("addr add 10.79.5.1/24 dev v0");
    let name = ns.name.clone();
    ns.run(move || async move {
        let ip_ns = |args: &str| {
            let mut v = vec!["ip", "-n", name.as_str()];
            v.extend(args.split_whitespace());
            net::cmd(&v);
        };
        let cfg = vec![
            link("lan", LinkKind::Bcast { interface: "v0".into(), port: 7201 }),
            link("hb", LinkKind::Ucast { interface: "eth9".into(), peers: vec![ip("10.79.6.2")], port: 7202 }),
        ];
        let (links, mut rx) = Links::start(&cfg, &[]).await.expect("one link works");
        let s = wait_status(&mut rx, Duration::from_secs(1), |s| s.link == 1).await;
        assert!(!s.up);
        assert_eq!(s.reason, "link hb (ucast on eth9): interface eth9 does not exist");
        assert!(links.is_up(0) && !links.is_up(1));
        let rep = links.send(b"x");
        assert_eq!(rep.sent, 1, "{rep:?}");

        // The missing interface appears: the link comes up by itself.
        ip_ns("link add eth9 type veth peer name eth9p");
        ip_ns("link set eth9p up");
        ip_ns("link set eth9 up");
        let s = wait_status(&mut rx, Duration::from_secs(3), |s| s.link == 1).await;
        assert!(s.up, "{s:?}");
        assert_eq!(links.up_count(), 2);

        // An interface set down is reported, and recovers when set up.
        ip_ns("link set v0 down");
        let s = wait_status(&mut rx, Duration::from_secs(3), |s| s.link == 0).await;
        assert!(!s.up);
        assert_eq!(s.reason, "link lan (bcast on v0): interface v0 is down");
        assert!(!links.is_up(0));
        ip_ns("link set v0 up");
        let s = wait_status(&mut rx, Duration::from_secs(3), |s| s.link == 0).await;
        assert!(s.up, "{s:?}");
    });
}

#[test]
fn a_link_that_comes_back_delivers_frames_again() {
    if !net::root() {
        return;
    }
    let (a, b) = net::pair("10.79.8");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    // b: a datagram to a's heartbeat port every 20 ms.
    let sender = b.spawn(move || async move {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = s.send_to(b"from-b", "10.79.8.1:7401");
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let name = a.name.clone();
    a.run(move || async move {
        let cfg =
            vec![link("hb", LinkKind::Ucast { interface: "a0".into(), peers: vec![ip("10.79.8.2")], port: 7401 })];
        let (_links, mut rx) = Links::start(&cfg, &[]).await.expect("link opens");
        async fn frame(rx: &mut Incoming) -> Vec<u8> {
            loop {
                match tokio::time::timeout(Duration::from_secs(3), rx.recv()).await.expect("a frame in time") {
                    Some(LinkEvent::Frame(r)) => return r.frame,
                    Some(LinkEvent::Status(_)) => {}
                    None => panic!("closed"),
                }
            }
        }
        assert_eq!(frame(&mut rx).await, b"from-b");
        net::cmd(&["ip", "-n", &name, "link", "set", "a0", "down"]);
        let s = wait_status(&mut rx, Duration::from_secs(3), |s| s.link == 0).await;
        assert!(!s.up, "{s:?}");
        net::cmd(&["ip", "-n", &name, "link", "set", "a0", "up"]);
        // (a0 may be reported without carrier first, until its peer's is up)
        wait_status(&mut rx, Duration::from_secs(3), |s| s.link == 0 && s.up).await;
        // The reopened link's socket is read: frames come in again.
        assert_eq!(frame(&mut rx).await, b"from-b");
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    net::join(sender);
}

#[test]
fn no_working_link_is_an_error() {
    if !net::root() {
        return;
    }
    let ns = Ns::new();
    ns.run(|| async {
        let cfg = vec![
            link("hb", LinkKind::Bcast { interface: "eth9".into(), port: 7301 }),
            link("s", LinkKind::Serial { device: "/dev/hbd-no-such-tty".into(), baud: 19200 }),
        ];
        let Err(e) = Links::start(&cfg, &[]).await else { panic!("should fail") };
        assert!(matches!(e, LinksError::NoneUsable(ref v) if v.len() == 2), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("link hb (bcast on eth9): interface eth9 does not exist"), "{msg}");
        assert!(msg.contains("/dev/hbd-no-such-tty"), "{msg}");
    });
}

struct Socat(Child, PathBuf);

impl Drop for Socat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn socat_pair() -> Option<(Socat, PathBuf, PathBuf)> {
    if Command::new("socat").arg("-V").stdout(Stdio::null()).status().is_err() {
        eprintln!("!!! SKIPPED serial test: socat is not installed (apt-get install socat)");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("hbt-serial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pa, pb) = (dir.join("a"), dir.join("b"));
    let child = Command::new("socat")
        .arg(format!("pty,raw,echo=0,link={}", pa.display()))
        .arg(format!("pty,raw,echo=0,link={}", pb.display()))
        .stdin(Stdio::null())
        .spawn()
        .expect("start socat");
    let guard = Socat(child, dir);
    assert!(net::wait_until(Duration::from_secs(5), || pa.exists() && pb.exists()), "socat made no ptys");
    Some((guard, pa, pb))
}

#[test]
fn serial_link_over_pty_pair() {
    let Some((_socat, pa, pb)) = socat_pair() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let la = vec![link("null-modem", LinkKind::Serial { device: pa.clone(), baud: 19200 })];
        let lb = vec![link("null-modem", LinkKind::Serial { device: pb.clone(), baud: 19200 })];
        let (a, mut ra) = Links::start(&la, &[]).await.expect("open a");
        let (b, mut rb) = Links::start(&lb, &[]).await.expect("open b");
        // The largest frame hbd sends; the decoder drops anything longer as noise.
        let big: Vec<u8> = (0..hbd::wire::MAX_FRAME as u32).map(|i| i as u8).collect();
        async fn frame(rx: &mut Incoming) -> Vec<u8> {
            loop {
                match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a frame in time") {
                    Some(LinkEvent::Frame(r)) => {
                        assert_eq!((r.link, r.from), (0, None));
                        return r.frame;
                    }
                    Some(LinkEvent::Status(s)) => assert!(s.up, "{s:?}"),
                    None => panic!("closed"),
                }
            }
        }
        assert_eq!(a.send(b"hello from a").sent, 1);
        assert_eq!(frame(&mut rb).await, b"hello from a");
        assert_eq!(b.send(&big).sent, 1);
        assert_eq!(frame(&mut ra).await, big);
        for i in 0..20u8 {
            a.send(&[i; 40]);
        }
        for i in 0..20u8 {
            assert_eq!(frame(&mut rb).await, vec![i; 40]);
        }
    });
}
