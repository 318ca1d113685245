//! Helpers for tests against the real kernel: throw-away network
//! namespaces (named `hbt<pid>x<n>`, deleted on drop even when a test
//! panics), veth pairs, and running async code inside a namespace.
#![allow(dead_code)]

use std::future::Future;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

static N: AtomicU32 = AtomicU32::new(0);

pub struct Ns {
    pub name: String,
}

/// Runs a command, panicking with its output when it fails.
pub fn cmd(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("running {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether we may create namespaces; tests print a loud note and return
/// early when not root.
pub fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let ok = unsafe { libc::geteuid() } == 0;
    if !ok {
        eprintln!("!!! SKIPPED: this test needs root (network namespaces, CAP_NET_ADMIN/CAP_NET_RAW)");
    }
    ok
}

impl Ns {
    pub fn new() -> Ns {
        let name = format!("hbt{}x{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        cmd(&["ip", "netns", "add", &name]);
        let ns = Ns { name };
        ns.ip("link set lo up");
        ns
    }

    /// `ip -n NAME <args>` (split on whitespace).
    pub fn ip(&self, args: &str) -> String {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend(args.split_whitespace());
        cmd(&v)
    }

    /// `ip netns exec NAME sh -c <script>`.
    pub fn sh(&self, script: &str) -> String {
        cmd(&["ip", "netns", "exec", &self.name, "sh", "-c", script])
    }

    /// Runs `f()` on a fresh thread that has entered this namespace, on a
    /// current-thread tokio runtime built there (so every socket it opens
    /// lives in the namespace).
    pub fn spawn<F, Fut, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            enter(&path);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(f())
        })
    }

    pub fn run<F, Fut, T>(&self, f: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        join(self.spawn(f))
    }
}

/// Joins a thread, re-raising its panic in the caller.
pub fn join<T>(h: JoinHandle<T>) -> T {
    match h.join() {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// Moves the calling thread into the namespace at `path`.
pub fn enter(path: &str) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // SAFETY: f is an open namespace file; setns only affects this thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

impl Drop for Ns {
    fn drop(&mut self) {
        let out = Command::new("ip").args(["netns", "del", &self.name]).output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            eprintln!("warning: could not delete namespace {}: {out:?}", self.name);
        }
    }
}

/// A veth pair `ifa` in `a` <-> `ifb` in `b`, both up.
pub fn veth(a: &Ns, ifa: &str, b: &Ns, ifb: &str) {
    cmd(&["ip", "link", "add", ifa, "netns", &a.name, "type", "veth", "peer", "name", ifb, "netns", &b.name]);
    a.ip(&format!("link set {ifa} up"));
    b.ip(&format!("link set {ifb} up"));
}

/// Two namespaces joined by a veth pair `a0`/`b0` carrying
/// `<prefix>.1/24` and `<prefix>.2/24`.
pub fn pair(prefix: &str) -> (Ns, Ns) {
    let a = Ns::new();
    let b = Ns::new();
    veth(&a, "a0", &b, "b0");
    a.ip(&format!("addr add {prefix}.1/24 dev a0"));
    b.ip(&format!("addr add {prefix}.2/24 dev b0"));
    (a, b)
}

/// The MAC address of `ifname` in `ns`, as `ip` prints it.
pub fn mac_of(ns: &Ns, ifname: &str) -> String {
    let out = ns.ip(&format!("-o link show {ifname}"));
    let i = out.find("link/ether ").expect("ether link") + "link/ether ".len();
    out[i..i + 17].to_string()
}

pub fn fmt_mac(m: &[u8]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// A frame seen by [`capture`]: source MAC, payload after the Ethernet
/// header, time since capture start.
#[derive(Debug, Clone)]
pub struct Seen {
    pub src_mac: [u8; 6],
    pub payload: Vec<u8>,
    pub at: Duration,
}

/// Captures frames of `ethertype` arriving on `ifname` in `ns` for `dur`.
/// Returns once the socket is bound (so the caller can start sending) and
/// a handle that yields the frames.
pub fn capture(ns: &Ns, ifname: &str, ethertype: u16, dur: Duration) -> JoinHandle<Vec<Seen>> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let path = format!("/run/netns/{}", ns.name);
    let ifname = ifname.to_string();
    let h = std::thread::spawn(move || {
        enter(&path);
        // SAFETY: straightforward socket setup with valid arguments.
        unsafe {
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from(ethertype.to_be()));
            assert!(fd >= 0, "packet socket: {}", std::io::Error::last_os_error());
            let cname = std::ffi::CString::new(ifname.clone()).unwrap();
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = ethertype.to_be();
            sll.sll_ifindex = libc::if_nametoindex(cname.as_ptr()) as i32;
            let r = libc::bind(
                fd,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
            let tv = libc::timeval { tv_sec: 0, tv_usec: 50_000 };
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            );
            ready_tx.send(()).unwrap();
            let start = Instant::now();
            let mut out = Vec::new();
            let mut buf = [0u8; 2048];
            while start.elapsed() < dur {
                let mut from: libc::sockaddr_ll = std::mem::zeroed();
                let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
                let n = libc::recvfrom(
                    fd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                );
                if n > 0 {
                    let mut src_mac = [0u8; 6];
                    src_mac.copy_from_slice(&from.sll_addr[..6]);
                    out.push(Seen { src_mac, payload: buf[..n as usize].to_vec(), at: start.elapsed() });
                }
            }
            libc::close(fd);
            out
        }
    });
    ready_rx.recv().expect("capture thread started");
    h
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}
