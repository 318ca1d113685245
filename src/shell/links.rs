//! The heartbeat transport: UDP (ucast, bcast, mcast) and serial links.
//! Frames are opaque bytes here; sealing and opening them is the wire
//! module's job.
//!
//! Every link has a supervising task: it opens the link, watches the
//! interface once a second and reopens the link when it comes back. A link
//! that cannot be opened is reported down with the reason and retried every
//! second. Datagrams are read from the UDP sockets by whoever polls
//! [`Incoming`] (the daemon's loop): a task in between that read them and
//! passed them on over a channel cost every frame a second task's poll and
//! a wake-up of the loop, half of the idle wake-up work. Link statuses, and
//! the frames of serial links, still come from the tasks over a channel.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use super::netif::{self, IfState};
use crate::config::{Link, LinkKind};
use crate::wire::serial::{encode_serial, SerialDecoder};

pub use super::netif::local_addrs;

/// How often a down link is retried and an up link's interface checked.
pub const RETRY: Duration = Duration::from_secs(1);
/// Largest datagram we accept.
const MAX_DATAGRAM: usize = 65536;
/// How often this node's addresses are read again while the links are up
/// (a link that is reopened reads them at once). The set only spares the
/// authentication of a stray echo of our own: frames that name this node as
/// their sender are dropped after it anyway.
const OWN_REFRESH: Duration = Duration::from_secs(10);

/// A frame received on a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Index into the configured links.
    pub link: usize,
    pub frame: Vec<u8>,
    /// The sender, for UDP links.
    pub from: Option<SocketAddr>,
}

/// A link went up or down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkStatus {
    pub link: usize,
    pub up: bool,
    /// Names the link and its interface or device, e.g. "link hb (ucast on
    /// eth9): interface eth9 does not exist".
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    Frame(Received),
    Status(LinkStatus),
}

#[derive(Debug, thiserror::Error)]
pub enum LinksError {
    #[error("no heartbeat link could be opened: {}", .0.join("; "))]
    NoneUsable(Vec<String>),
    #[error("no heartbeat links are configured; add a [[link]] to the configuration")]
    NoneConfigured,
}

/// The outcome of one [`Links::send`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Links the frame went out on.
    pub sent: usize,
    /// (link index, error) for links that are up but failed to send.
    pub errors: Vec<(usize, String)>,
}

enum Tx {
    Udp { sock: Arc<UdpSocket>, dests: Vec<SocketAddr> },
    Serial(mpsc::Sender<Vec<u8>>),
}

struct Slot {
    desc: String,
    tx: Mutex<Option<Tx>>,
    /// The open UDP socket, read by [`Incoming`].
    rx: Mutex<Option<Arc<UdpSocket>>>,
    /// Set by [`Incoming`] when reading failed; the supervisor reopens.
    failed: Mutex<Option<String>>,
    failed_now: Notify,
    last_error: Mutex<Option<String>>,
    /// Frames that went out / came in on this link, for the metrics;
    /// relaxed atomics, so counting costs the heartbeat path no lock.
    sent: AtomicU64,
    received: AtomicU64,
    /// Datagrams of this node's own that reached hbd (and were dropped
    /// there): a broadcast link keeps them out in the kernel.
    own_echoes: AtomicU64,
}

impl Slot {
    fn new(desc: String) -> Slot {
        Slot {
            desc,
            tx: Mutex::new(None),
            rx: Mutex::new(None),
            failed: Mutex::new(None),
            failed_now: Notify::new(),
            last_error: Mutex::new(None),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            own_echoes: AtomicU64::new(0),
        }
    }
}

/// Read-only view of each link's frame counters (index = configured link).
#[derive(Clone)]
pub struct LinkCounters(Arc<Vec<Slot>>);

impl LinkCounters {
    /// Counters of `n` links that are not open (for tests of readers).
    pub fn unattached(n: usize) -> LinkCounters {
        LinkCounters(Arc::new((0..n).map(|i| Slot::new(format!("link {i}"))).collect()))
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Datagrams of this node's own that link `i` delivered to hbd.
    pub fn own_echoes(&self, i: usize) -> u64 {
        self.0.get(i).map_or(0, |s| s.own_echoes.load(Ordering::Relaxed))
    }
    pub fn sent(&self, i: usize) -> u64 {
        self.0.get(i).map_or(0, |s| s.sent.load(Ordering::Relaxed))
    }
    pub fn received(&self, i: usize) -> u64 {
        self.0.get(i).map_or(0, |s| s.received.load(Ordering::Relaxed))
    }
}

/// Every configured link. Dropping it stops the link tasks.
pub struct Links {
    slots: Arc<Vec<Slot>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Links {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn describe(l: &Link) -> String {
    match &l.kind {
        LinkKind::Ucast { interface, .. } => format!("link {} (ucast on {interface})", l.name),
        LinkKind::Bcast { interface, .. } => format!("link {} (bcast on {interface})", l.name),
        LinkKind::Mcast { interface, group, .. } => format!("link {} (mcast {group} on {interface})", l.name),
        LinkKind::Serial { device, .. } => {
            format!("link {} (serial on {})", l.name, device.display())
        }
    }
}

/// Addresses whose datagrams we drop as our own: the configured ones plus
/// whatever this node has right now.
type Own = Arc<RwLock<OwnAddrs>>;

#[derive(Default)]
struct OwnAddrs {
    addrs: HashSet<IpAddr>,
    /// Shared by every link, so the address dump runs once a second and
    /// not once per link.
    refreshed: Option<Instant>,
}

fn refresh_own(own: &Own, fixed: &[IpAddr]) {
    let mut s: HashSet<IpAddr> = fixed.iter().copied().collect();
    s.extend(local_addrs());
    *own.write().unwrap_or_else(|e| e.into_inner()) = OwnAddrs { addrs: s, refreshed: Some(Instant::now()) };
}

fn refresh_own_if_stale(own: &Own, fixed: &[IpAddr]) {
    let at = own.read().unwrap_or_else(|e| e.into_inner()).refreshed;
    if at.is_none_or(|t| t.elapsed() >= OWN_REFRESH) {
        refresh_own(own, fixed);
    }
}

fn is_own(own: &Own, a: IpAddr) -> bool {
    let a = a.to_canonical();
    own.read().unwrap_or_else(|e| e.into_inner()).addrs.contains(&a)
}

impl Links {
    /// Opens every link once, then keeps each one supervised. Fails only
    /// when not a single link could be opened. `own` are this node's
    /// addresses (ucast peers among them are skipped; datagrams from them
    /// are dropped); the live addresses of this namespace are added to it.
    pub async fn start(links: &[Link], own: &[IpAddr]) -> Result<(Links, Incoming), LinksError> {
        if links.is_empty() {
            return Err(LinksError::NoneConfigured);
        }
        let (events, rx) = mpsc::channel(1024);
        let own_set: Own = Arc::default();
        refresh_own(&own_set, own);
        let slots: Arc<Vec<Slot>> = Arc::new(links.iter().map(|l| Slot::new(describe(l))).collect());
        let mut opened = Vec::new();
        let mut failures = Vec::new();
        for (i, l) in links.iter().enumerate() {
            let r = open(l, &own_set).await;
            match &r {
                Ok(o) => {
                    *slots[i].tx.lock().unwrap_or_else(|e| e.into_inner()) = Some(o.tx());
                    if let Opened::Udp { sock, .. } = o {
                        *slots[i].rx.lock().unwrap_or_else(|e| e.into_inner()) = Some(sock.clone());
                    }
                    let _ = events.try_send(LinkEvent::Status(LinkStatus {
                        link: i,
                        up: true,
                        reason: format!("{}: up", slots[i].desc),
                    }));
                }
                Err(e) => {
                    let reason = format!("{}: {e}", slots[i].desc);
                    failures.push(reason.clone());
                    let _ = events.try_send(LinkEvent::Status(LinkStatus { link: i, up: false, reason }));
                }
            }
            opened.push(r);
        }
        if failures.len() == links.len() {
            return Err(LinksError::NoneUsable(failures));
        }
        let mut tasks = Vec::new();
        for ((i, l), first) in links.iter().enumerate().zip(opened) {
            let sup = Supervisor {
                index: i,
                link: l.clone(),
                slots: slots.clone(),
                events: events.clone(),
                own: own_set.clone(),
                fixed_own: own.to_vec(),
            };
            tasks.push(tokio::spawn(sup.run(first)));
        }
        let incoming =
            Incoming { slots: slots.clone(), events: rx, own: own_set, buf: vec![0u8; MAX_DATAGRAM], next: 0 };
        Ok((Links { slots, tasks }, incoming))
    }

    /// Sends `frame` on every link that is up. Never blocks; a link that
    /// fails is recorded in the report (and in [`Links::last_error`]).
    pub fn send(&self, frame: &[u8]) -> SendReport {
        self.send_where(frame, |_| true)
    }

    /// Like [`Links::send`], on the links `on(index)` picks only.
    pub fn send_where(&self, frame: &[u8], on: impl Fn(usize) -> bool) -> SendReport {
        let mut rep = SendReport::default();
        for (i, slot) in self.slots.iter().enumerate() {
            if !on(i) {
                continue;
            }
            // (sent under the lock: neither send blocks, and the supervisor
            // takes it only to swap the link)
            let g = slot.tx.lock().unwrap_or_else(|e| e.into_inner());
            let Some(tx) = &*g else { continue };
            let mut err = None;
            match tx {
                Tx::Udp { sock, dests } => {
                    for d in dests {
                        // Straight sendto(2) on the non-blocking socket: tokio's
                        // try_send_to refuses until the reactor has seen the
                        // socket writable once.
                        if let Err(e) = socket2::SockRef::from(&**sock).send_to(frame, &(*d).into()) {
                            err = Some(format!("{}: sending to {d}: {e}", slot.desc));
                        }
                    }
                }
                Tx::Serial(s) => {
                    if let Err(e) = s.try_send(frame.to_vec()) {
                        err = Some(format!(
                            "{}: {}",
                            slot.desc,
                            match e {
                                mpsc::error::TrySendError::Full(_) => "the serial line is not keeping up",
                                mpsc::error::TrySendError::Closed(_) => "the serial port closed",
                            }
                        ));
                    }
                }
            }
            drop(g);
            match err {
                None => {
                    slot.sent.fetch_add(1, Ordering::Relaxed);
                    rep.sent += 1
                }
                Some(e) => {
                    tracing::debug!("{e}");
                    *slot.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.clone());
                    rep.errors.push((i, e));
                }
            }
        }
        rep
    }

    /// The frame counters of every link.
    pub fn counters(&self) -> LinkCounters {
        LinkCounters(self.slots.clone())
    }

    /// Whether link `i` is open right now.
    pub fn is_up(&self, i: usize) -> bool {
        self.slots.get(i).is_some_and(|s| s.tx.lock().unwrap_or_else(|e| e.into_inner()).is_some())
    }

    /// How many links are open right now.
    pub fn up_count(&self) -> usize {
        (0..self.slots.len()).filter(|&i| self.is_up(i)).count()
    }

    /// The last send error of link `i`, if any.
    pub fn last_error(&self, i: usize) -> Option<String> {
        self.slots.get(i).and_then(|s| s.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// The receiving end of every link (see the module's docs).
pub struct Incoming {
    slots: Arc<Vec<Slot>>,
    /// Statuses and serial frames from the link tasks.
    events: mpsc::Receiver<LinkEvent>,
    own: Own,
    buf: Vec<u8>,
    /// The link read first at the next poll: a flood on one link does not
    /// keep the others unread.
    next: usize,
}

impl Incoming {
    /// The next frame or status; `None` once every link task has ended.
    pub async fn recv(&mut self) -> Option<LinkEvent> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// What has arrived already, without waiting: whatever the kernel
    /// holds, even on sockets the runtime has not yet seen readable.
    pub fn try_recv(&mut self) -> Option<LinkEvent> {
        if let Ok(ev) = self.events.try_recv() {
            return Some(ev);
        }
        self.read_sockets(|sock, buf| loop {
            return match socket2::SockRef::from(sock).recv_from(uninit(buf)) {
                Ok((len, from)) => match from.as_socket() {
                    Some(from) => Poll::Ready(Ok((len, from))),
                    None => continue,
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Poll::Ready(Err(e)),
            };
        })
    }

    /// Polls the channel, then each open socket.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<LinkEvent>> {
        if let Poll::Ready(ev) = self.events.poll_recv(cx) {
            return Poll::Ready(ev);
        }
        let ev = self.read_sockets(|sock, buf| {
            let mut rb = ReadBuf::new(buf);
            match sock.poll_recv_from(cx, &mut rb) {
                Poll::Ready(Ok(from)) => Poll::Ready(Ok((rb.filled().len(), from))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        });
        ev.map_or(Poll::Pending, |ev| Poll::Ready(Some(ev)))
    }

    /// The first frame `read` gets from the open sockets, starting after
    /// the link that delivered last; a socket whose read fails is handed
    /// to its supervisor.
    fn read_sockets(
        &mut self,
        mut read: impl FnMut(&UdpSocket, &mut [u8]) -> Poll<io::Result<(usize, SocketAddr)>>,
    ) -> Option<LinkEvent> {
        let n = self.slots.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            let Some(sock) = self.socket(i) else { continue };
            loop {
                match read(&sock, &mut self.buf) {
                    Poll::Ready(Ok((len, from))) => {
                        if let Some(ev) = self.frame(i, len, from) {
                            return Some(ev);
                        }
                    }
                    Poll::Ready(Err(e)) => {
                        self.failed(i, e);
                        break;
                    }
                    Poll::Pending => break,
                }
            }
        }
        None
    }

    fn socket(&self, i: usize) -> Option<Arc<UdpSocket>> {
        self.slots[i].rx.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The datagram of `len` bytes in the buffer, from `from` on link `i`;
    /// `None` for an echo of our own.
    fn frame(&mut self, i: usize, len: usize, from: SocketAddr) -> Option<LinkEvent> {
        let slot = &self.slots[i];
        if is_own(&self.own, from.ip()) {
            slot.own_echoes.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        slot.received.fetch_add(1, Ordering::Relaxed);
        self.next = (i + 1) % self.slots.len();
        let from = SocketAddr::new(from.ip().to_canonical(), from.port());
        Some(LinkEvent::Frame(Received { link: i, frame: self.buf[..len].to_vec(), from: Some(from) }))
    }

    /// Reading link `i` failed: it is read no more, and its supervisor
    /// reports it down and reopens it.
    fn failed(&self, i: usize, e: io::Error) {
        let slot = &self.slots[i];
        *slot.rx.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *slot.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("receiving: {e}"));
        slot.failed_now.notify_one();
    }
}

/// The buffer as socket2's `recv_from` takes it.
fn uninit(buf: &mut [u8]) -> &mut [std::mem::MaybeUninit<u8>] {
    // SAFETY: u8 and MaybeUninit<u8> have the same layout, and recv_from
    // only writes initialised bytes into it.
    unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) }
}

/// An open link, before it is handed to its supervisor.
enum Opened {
    Udp { sock: Arc<UdpSocket>, dests: Vec<SocketAddr>, interface: String },
    Serial { port: tokio_serial::SerialStream, tx: mpsc::Sender<Vec<u8>>, rx: mpsc::Receiver<Vec<u8>> },
}

impl Opened {
    /// The sending side, installed in the link's slot while it is open.
    fn tx(&self) -> Tx {
        match self {
            Opened::Udp { sock, dests, .. } => Tx::Udp { sock: sock.clone(), dests: dests.clone() },
            Opened::Serial { tx, .. } => Tx::Serial(tx.clone()),
        }
    }
}

fn iface_check(interface: &str) -> Result<u32, String> {
    match netif::state(interface) {
        IfState::Missing => Err(format!("interface {interface} does not exist")),
        IfState::Down => Err(format!("interface {interface} is down")),
        IfState::NoCarrier => Err(format!("interface {interface} has no carrier")),
        IfState::Up => netif::ifindex(interface).map_err(|e| format!("interface {interface}: {e}")),
    }
}

fn udp_socket(domain: Domain, interface: &str) -> io::Result<Socket> {
    let s = Socket::new(domain, Type::DGRAM.cloexec(), Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    if domain == Domain::IPV6 {
        s.set_only_v6(false)?;
    }
    s.bind_device(Some(interface.as_bytes()))?;
    Ok(s)
}

/// The most addresses the kernel filter of [`drop_own_v4`] compares.
const OWN_FILTER_MAX: usize = 64;

/// Linux loops every broadcast back to the sender's sockets (there is no
/// IP_MULTICAST_LOOP for broadcast): each frame of ours would wake hbd once
/// more only to be dropped, a quarter of the wake-ups of an idle two-node
/// cluster. A socket filter drops datagrams from this node's IPv4
/// addresses in the kernel; [`is_own`] still drops what it misses (an
/// address added after the link opened).
fn drop_own_v4(s: &Socket, own: &Own) -> io::Result<()> {
    use socket2::SockFilter;
    // The IPv4 header is at SKF_NET_OFF; the source address 12 bytes in.
    const SKF_NET_OFF: i32 = -0x100000;
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let mut addrs: Vec<u32> = own
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(v4) => Some(u32::from(*v4)),
            IpAddr::V6(_) => None,
        })
        .collect();
    addrs.sort_unstable();
    addrs.truncate(OWN_FILTER_MAX);
    let n = addrs.len();
    let mut prog = vec![SockFilter::new(LD_W_ABS, 0, 0, (SKF_NET_OFF + 12) as u32)];
    // Each compare jumps to the final "drop" on a match.
    prog.extend(addrs.iter().enumerate().map(|(i, a)| SockFilter::new(JEQ_K, (n - i) as u8, 0, *a)));
    prog.push(SockFilter::new(RET_K, 0, 0, u32::MAX));
    prog.push(SockFilter::new(RET_K, 0, 0, 0));
    s.attach_filter(&prog)
}

fn set_mcast_if_v4(s: &Socket, ifindex: u32) -> io::Result<()> {
    let m = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: ifindex as i32,
    };
    // SAFETY: m is a valid ip_mreqn for IP_MULTICAST_IF.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&m as *const libc::ip_mreqn).cast(),
            std::mem::size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn to_tokio(s: Socket) -> io::Result<Arc<UdpSocket>> {
    s.set_nonblocking(true)?;
    Ok(Arc::new(UdpSocket::from_std(s.into())?))
}

fn v6_dest(ip: IpAddr, port: u16, ifindex: u32) -> SocketAddr {
    let v6 = match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    };
    let scope = if (v6.segments()[0] & 0xffc0) == 0xfe80 || v6.is_multicast() { ifindex } else { 0 };
    SocketAddr::V6(SocketAddrV6::new(v6, port, 0, scope))
}

fn ctx(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> String {
    move |e| format!("{what}: {e}")
}

fn open_udp(kind: &LinkKind, own: &Own) -> Result<Opened, String> {
    match kind {
        LinkKind::Ucast { interface, peers, port } => {
            let ifindex = iface_check(interface)?;
            let peers: Vec<IpAddr> = peers.iter().copied().filter(|p| !is_own(own, *p)).collect();
            let v6 = peers.iter().any(IpAddr::is_ipv6);
            let (domain, any): (Domain, SocketAddr) = if v6 {
                (Domain::IPV6, (Ipv6Addr::UNSPECIFIED, *port).into())
            } else {
                (Domain::IPV4, (Ipv4Addr::UNSPECIFIED, *port).into())
            };
            let s = udp_socket(domain, interface).map_err(ctx("creating a UDP socket"))?;
            s.bind(&SockAddr::from(any)).map_err(ctx(format!("binding UDP port {port}")))?;
            let dests = peers
                .iter()
                .map(|p| if v6 { v6_dest(*p, *port, ifindex) } else { SocketAddr::new(*p, *port) })
                .collect();
            Ok(Opened::Udp { sock: to_tokio(s).map_err(ctx("socket"))?, dests, interface: interface.clone() })
        }
        LinkKind::Bcast { interface, port } => {
            iface_check(interface)?;
            let s = udp_socket(Domain::IPV4, interface).map_err(ctx("creating a UDP socket"))?;
            s.set_broadcast(true).map_err(ctx("SO_BROADCAST"))?;
            drop_own_v4(&s, own).map_err(ctx("SO_ATTACH_FILTER"))?;
            s.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, *port)))
                .map_err(ctx(format!("binding UDP port {port}")))?;
            let dest = SocketAddr::new(netif::broadcast_addr(interface).into(), *port);
            Ok(Opened::Udp {
                sock: to_tokio(s).map_err(ctx("socket"))?,
                dests: vec![dest],
                interface: interface.clone(),
            })
        }
        LinkKind::Mcast { interface, group, port, ttl } => {
            let ifindex = iface_check(interface)?;
            match group {
                IpAddr::V4(g) => {
                    let s = udp_socket(Domain::IPV4, interface).map_err(ctx("creating a UDP socket"))?;
                    s.bind(&SockAddr::from(SocketAddrV4::new(*g, *port)))
                        .map_err(ctx(format!("binding {g}:{port}")))?;
                    s.join_multicast_v4_n(g, &socket2::InterfaceIndexOrAddress::Index(ifindex))
                        .map_err(ctx(format!("joining {g}")))?;
                    set_mcast_if_v4(&s, ifindex).map_err(ctx("IP_MULTICAST_IF"))?;
                    s.set_multicast_ttl_v4(*ttl).map_err(ctx("IP_MULTICAST_TTL"))?;
                    s.set_multicast_loop_v4(false).map_err(ctx("IP_MULTICAST_LOOP"))?;
                    let dest = SocketAddr::new(IpAddr::V4(*g), *port);
                    Ok(Opened::Udp {
                        sock: to_tokio(s).map_err(ctx("socket"))?,
                        dests: vec![dest],
                        interface: interface.clone(),
                    })
                }
                IpAddr::V6(g) => {
                    let s = Socket::new(Domain::IPV6, Type::DGRAM.cloexec(), Some(Protocol::UDP))
                        .map_err(ctx("creating a UDP socket"))?;
                    s.set_reuse_address(true).map_err(ctx("SO_REUSEADDR"))?;
                    s.set_only_v6(true).map_err(ctx("IPV6_V6ONLY"))?;
                    s.bind_device(Some(interface.as_bytes())).map_err(ctx("SO_BINDTODEVICE"))?;
                    s.bind(&SockAddr::from(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, *port, 0, 0)))
                        .map_err(ctx(format!("binding UDP port {port}")))?;
                    s.join_multicast_v6(g, ifindex).map_err(ctx(format!("joining {g}")))?;
                    s.set_multicast_if_v6(ifindex).map_err(ctx("IPV6_MULTICAST_IF"))?;
                    s.set_multicast_hops_v6(*ttl).map_err(ctx("IPV6_MULTICAST_HOPS"))?;
                    s.set_multicast_loop_v6(false).map_err(ctx("IPV6_MULTICAST_LOOP"))?;
                    let dest = SocketAddr::V6(SocketAddrV6::new(*g, *port, 0, ifindex));
                    Ok(Opened::Udp {
                        sock: to_tokio(s).map_err(ctx("socket"))?,
                        dests: vec![dest],
                        interface: interface.clone(),
                    })
                }
            }
        }
        LinkKind::Serial { .. } => unreachable!("serial links are opened elsewhere"),
    }
}

async fn open(l: &Link, own: &Own) -> Result<Opened, String> {
    match &l.kind {
        LinkKind::Serial { device, baud } => {
            let b = tokio_serial::new(device.to_string_lossy(), *baud);
            tokio_serial::SerialStream::open(&b)
                .map(|port| {
                    let (tx, rx) = mpsc::channel(64);
                    Opened::Serial { port, tx, rx }
                })
                .map_err(|e| format!("cannot open serial device {}: {e}", device.display()))
        }
        k => open_udp(k, own),
    }
}

struct Supervisor {
    index: usize,
    link: Link,
    slots: Arc<Vec<Slot>>,
    events: mpsc::Sender<LinkEvent>,
    own: Own,
    fixed_own: Vec<IpAddr>,
}

impl Supervisor {
    fn slot(&self) -> &Slot {
        &self.slots[self.index]
    }

    fn set_tx(&self, tx: Option<Tx>) {
        *self.slot().tx.lock().unwrap_or_else(|e| e.into_inner()) = tx;
    }

    fn set_rx(&self, rx: Option<Arc<UdpSocket>>) {
        *self.slot().rx.lock().unwrap_or_else(|e| e.into_inner()) = rx;
    }

    async fn status(&self, up: bool, why: &str) -> bool {
        let reason = format!("{}: {why}", self.slot().desc);
        if up {
            tracing::info!("{reason}");
        } else {
            tracing::warn!("{reason}");
        }
        self.events.send(LinkEvent::Status(LinkStatus { link: self.index, up, reason })).await.is_ok()
    }

    async fn run(self, first: Result<Opened, String>) {
        // The first attempt's status was reported by `Links::start`.
        let mut last_down: Option<String> = first.as_ref().err().cloned();
        let mut next = Some(first);
        loop {
            let attempt = match next.take() {
                Some(r) => r,
                None => {
                    refresh_own(&self.own, &self.fixed_own);
                    open(&self.link, &self.own).await
                }
            };
            match attempt {
                Ok(o) => {
                    self.set_tx(Some(o.tx()));
                    if let Opened::Udp { sock, .. } = &o {
                        // (a failure reported for the socket this replaces
                        // is old news)
                        self.slot().failed.lock().unwrap_or_else(|e| e.into_inner()).take();
                        self.set_rx(Some(sock.clone()));
                    }
                    // The reader polls the new socket once this status
                    // wakes it.
                    if last_down.is_some() && !self.status(true, "up").await {
                        return;
                    }
                    let why = match o {
                        Opened::Udp { interface, .. } => Some(self.watch_udp(&interface).await),
                        Opened::Serial { port, rx, .. } => self.run_serial(port, rx).await,
                    };
                    self.set_tx(None);
                    self.set_rx(None);
                    let Some(why) = why else { return };
                    if !self.status(false, &why).await {
                        return;
                    }
                    last_down = Some(why);
                }
                Err(why) => {
                    if last_down.as_deref() != Some(why.as_str()) {
                        if !self.status(false, &why).await {
                            return;
                        }
                        last_down = Some(why);
                    }
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    /// Watches an open UDP link (its reader is [`Incoming`]) until it
    /// fails: the reason.
    async fn watch_udp(&self, interface: &str) -> String {
        let mut tick = tokio::time::interval(RETRY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.slot().failed_now.notified() => {
                    if let Some(why) = self.slot().failed.lock().unwrap_or_else(|e| e.into_inner()).take() {
                        return why;
                    }
                }
                _ = tick.tick() => {
                    if let Err(why) = iface_check(interface) {
                        return why;
                    }
                    refresh_own_if_stale(&self.own, &self.fixed_own);
                }
            }
        }
    }

    async fn run_serial(&self, port: tokio_serial::SerialStream, mut rx: mpsc::Receiver<Vec<u8>>) -> Option<String> {
        let (mut rd, mut wr) = tokio::io::split(port);
        let writer = async move {
            while let Some(f) = rx.recv().await {
                wr.write_all(&encode_serial(&f)).await?;
            }
            io::Result::Ok(())
        };
        tokio::pin!(writer);
        let mut dec = SerialDecoder::new();
        let mut buf = vec![0u8; 4096];
        loop {
            tokio::select! {
                r = rd.read(&mut buf) => match r {
                    Ok(0) => return Some("the serial device closed".into()),
                    Ok(n) => {
                        for frame in dec.push(&buf[..n]) {
                            self.slot().received.fetch_add(1, Ordering::Relaxed);
                            let ev = LinkEvent::Frame(Received { link: self.index, frame, from: None });
                            if self.events.send(ev).await.is_err() {
                                return None;
                            }
                        }
                    }
                    Err(e) => return Some(format!("reading: {e}")),
                },
                r = &mut writer => return Some(match r {
                    Ok(()) => "writer stopped".into(),
                    Err(e) => format!("writing: {e}"),
                }),
            }
        }
    }
}
