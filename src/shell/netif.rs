//! Small interface queries in the current network namespace: index, MAC,
//! up/running flags and addresses (getifaddrs, SIOCGIF* ioctls).

use std::cell::OnceCell;
use std::ffi::{CStr, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// One address configured on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    pub interface: String,
    pub addr: IpAddr,
    pub prefix: u8,
    /// The IPv4 broadcast address, when the interface has one.
    pub broadcast: Option<Ipv4Addr>,
}

fn cname(ifname: &str) -> io::Result<CString> {
    if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{ifname:?} is not a valid interface name")));
    }
    CString::new(ifname).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))
}

/// The interface's index; `ENODEV` when it does not exist.
pub fn ifindex(ifname: &str) -> io::Result<u32> {
    if let Ok(r) = ioctl(ifname, libc::SIOCGIFINDEX) {
        // SAFETY: SIOCGIFINDEX fills ifru_ifindex.
        return Ok(unsafe { r.ifr_ifru.ifru_ifindex } as u32);
    }
    let c = cname(ifname)?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        let e = io::Error::last_os_error();
        // if_nametoindex reports ENODEV for a missing interface.
        return Err(if e.raw_os_error() == Some(0) { io::Error::from_raw_os_error(libc::ENODEV) } else { e });
    }
    Ok(idx)
}

/// The interface's name for an index.
pub fn ifname(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IFNAMSIZ];
    // SAFETY: buf has IFNAMSIZ bytes as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into buf.
    Some(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
}

fn ifreq(ifname: &str) -> io::Result<libc::ifreq> {
    let c = cname(ifname)?;
    // SAFETY: ifreq is plain old data; all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(c.as_bytes()) {
        *d = *s as libc::c_char;
    }
    Ok(req)
}

fn ioctl_sock() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

thread_local! {
    /// One socket per thread for every query: links check their interface
    /// each second, and a socket per check was most of an idle daemon's
    /// system calls. Per thread, because a socket answers for the network
    /// namespace it was made in, and a thread may enter another one first.
    static SOCK: OnceCell<OwnedFd> = const { OnceCell::new() };
}

fn with_ioctl_sock<T>(f: impl FnOnce(RawFd) -> T) -> io::Result<T> {
    SOCK.with(|c| {
        if c.get().is_none() {
            let _ = c.set(ioctl_sock()?);
        }
        Ok(f(c.get().map_or(-1, |s| s.as_raw_fd())))
    })
}

fn ioctl(ifname: &str, req: libc::Ioctl) -> io::Result<libc::ifreq> {
    let mut r = ifreq(ifname)?;
    // SAFETY: r is a valid ifreq for these SIOCGIF* requests.
    if with_ioctl_sock(|fd| unsafe { libc::ioctl(fd, req, &mut r) })? < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

/// The interface's hardware (MAC) address.
pub fn mac(ifname: &str) -> io::Result<[u8; 6]> {
    let r = ioctl(ifname, libc::SIOCGIFHWADDR)?;
    // SAFETY: SIOCGIFHWADDR fills ifru_hwaddr.
    let sa = unsafe { r.ifr_ifru.ifru_hwaddr };
    let mut m = [0u8; 6];
    for (d, s) in m.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(m)
}

/// Link state as a heartbeat link cares about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfState {
    Missing,
    /// Administratively down (`ip link set … down`).
    Down,
    /// Up but without carrier.
    NoCarrier,
    Up,
}

pub fn state(ifname: &str) -> IfState {
    match ioctl(ifname, libc::SIOCGIFFLAGS) {
        Err(_) => IfState::Missing,
        Ok(r) => {
            // SAFETY: SIOCGIFFLAGS fills ifru_flags.
            let f = unsafe { r.ifr_ifru.ifru_flags } as libc::c_int;
            if f & libc::IFF_UP == 0 {
                IfState::Down
            } else if f & libc::IFF_RUNNING == 0 {
                IfState::NoCarrier
            } else {
                IfState::Up
            }
        }
    }
}

fn prefix_of(mask: &[u8]) -> u8 {
    mask.iter().map(|b| b.count_ones() as u8).sum()
}

// SAFETY contract: sa is null or points to a sockaddr of its family.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<(IpAddr, Vec<u8>)> {
    if sa.is_null() {
        return None;
    }
    match (*sa).sa_family as libc::c_int {
        libc::AF_INET => {
            let s = &*(sa as *const libc::sockaddr_in);
            let o = s.sin_addr.s_addr.to_ne_bytes();
            Some((IpAddr::V4(Ipv4Addr::from(o)), o.to_vec()))
        }
        libc::AF_INET6 => {
            let s = &*(sa as *const libc::sockaddr_in6);
            let o = s.sin6_addr.s6_addr;
            Some((IpAddr::V6(Ipv6Addr::from(o)), o.to_vec()))
        }
        _ => None,
    }
}

/// Every IPv4/IPv6 address of every interface in this namespace.
pub fn all_addrs() -> io::Result<Vec<IfAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills head; freed with freeifaddrs below.
    if unsafe { libc::getifaddrs(&mut head) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut p = head;
    while !p.is_null() {
        // SAFETY: p walks the list getifaddrs returned.
        let ifa = unsafe { &*p };
        p = ifa.ifa_next;
        // SAFETY: the pointers come from getifaddrs and match their family.
        let Some((addr, _)) = (unsafe { sockaddr_ip(ifa.ifa_addr) }) else {
            continue;
        };
        let prefix = unsafe { sockaddr_ip(ifa.ifa_netmask) }.map(|(_, m)| prefix_of(&m)).unwrap_or(if addr.is_ipv4() {
            32
        } else {
            128
        });
        let broadcast = if ifa.ifa_flags & libc::IFF_BROADCAST as u32 != 0 {
            // SAFETY: with IFF_BROADCAST, ifa_ifu is the broadcast address.
            match unsafe { sockaddr_ip(ifa.ifa_ifu) } {
                Some((IpAddr::V4(b), _)) => Some(b),
                _ => None,
            }
        } else {
            None
        };
        // SAFETY: ifa_name is a NUL-terminated string.
        let interface = unsafe { CStr::from_ptr(ifa.ifa_name) }.to_string_lossy().into_owned();
        out.push(IfAddr { interface, addr, prefix, broadcast });
    }
    // SAFETY: head came from getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// The addresses on one interface (empty when it has none or is missing).
pub fn iface_addrs(ifname: &str) -> Vec<IfAddr> {
    all_addrs().unwrap_or_default().into_iter().filter(|a| a.interface == ifname).collect()
}

/// Every address of this node (this namespace), loopback included.
pub fn local_addrs() -> Vec<IpAddr> {
    all_addrs().unwrap_or_default().into_iter().map(|a| a.addr).collect()
}

/// The IPv4 broadcast address to use on an interface: the one configured
/// on its primary address (SIOCGIFBRDADDR, as Heartbeat's bcast did), else
/// the limited broadcast. `ip addr add` without `brd +` leaves it at
/// 0.0.0.0, and then the kernel has no broadcast route for the subnet's
/// top address either. (getifaddrs is no help: without a broadcast
/// attribute it reports the address itself.)
pub fn broadcast_addr(ifname: &str) -> Ipv4Addr {
    let Ok(r) = ioctl(ifname, libc::SIOCGIFBRDADDR) else {
        return Ipv4Addr::BROADCAST;
    };
    // SAFETY: SIOCGIFBRDADDR fills ifru_broadaddr with a sockaddr_in.
    let sa = unsafe { r.ifr_ifru.ifru_broadaddr };
    // SAFETY: the kernel stored a sockaddr_in there.
    let sin = unsafe { &*(&sa as *const libc::sockaddr as *const libc::sockaddr_in) };
    let b = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
    let own = iface_addrs(ifname).iter().any(|a| a.addr == IpAddr::V4(b));
    if b.is_unspecified() || own {
        Ipv4Addr::BROADCAST
    } else {
        b
    }
}
