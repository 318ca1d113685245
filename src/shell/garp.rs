//! Announcing a freshly taken VIP: gratuitous ARP requests for IPv4,
//! unsolicited neighbour advertisements for IPv6. Both go out through an
//! AF_PACKET SOCK_DGRAM socket (the kernel adds the Ethernet header);
//! needs CAP_NET_RAW.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::netif;

pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;

#[derive(Debug, thiserror::Error)]
pub enum GarpError {
    #[error("cannot announce {addr}: interface {interface} does not exist on this node")]
    NoInterface { interface: String, addr: IpAddr },
    #[error("cannot announce {addr} on {interface}: {what}: {source} (hbd needs CAP_NET_RAW)")]
    Io {
        interface: String,
        addr: IpAddr,
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

/// A gratuitous ARP request: SPA = TPA = `ip`, SHA = `mac`, THA zero.
pub fn arp_request(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // HTYPE Ethernet
    p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // PTYPE IPv4
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&1u16.to_be_bytes()); // request
    p[8..14].copy_from_slice(&mac);
    p[14..18].copy_from_slice(&ip.octets());
    // THA stays zero.
    p[24..28].copy_from_slice(&ip.octets());
    p
}

fn csum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut it = data.chunks_exact(2);
    for c in &mut it {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = it.remainder() {
        sum += u32::from(*b) << 8;
    }
    sum
}

fn csum_fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The ICMPv6 checksum over the pseudo-header and `icmp` (checksum field zero).
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, icmp: &[u8]) -> u16 {
    let mut s = csum_add(0, &src.octets());
    s = csum_add(s, &dst.octets());
    s = csum_add(s, &(icmp.len() as u32).to_be_bytes());
    s = csum_add(s, &[0, 0, 0, 58]);
    s = csum_add(s, icmp);
    csum_fold(s)
}

pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// An IPv6 packet (header included) carrying an unsolicited neighbour
/// advertisement for `target` to ff02::1: hop limit 255, Override set,
/// target link-layer address option = `mac`.
pub fn unsolicited_na(mac: [u8; 6], target: Ipv6Addr) -> Vec<u8> {
    let mut icmp = vec![0u8; 32];
    icmp[0] = 136; // neighbour advertisement
    icmp[1] = 0;
    icmp[4] = 0x20; // R=0 S=0 O=1
    icmp[8..24].copy_from_slice(&target.octets());
    icmp[24] = 2; // target link-layer address
    icmp[25] = 1; // length in units of 8 octets
    icmp[26..32].copy_from_slice(&mac);
    let c = icmpv6_checksum(target, ALL_NODES, &icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());

    let mut p = Vec::with_capacity(40 + icmp.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    p.push(58); // next header ICMPv6
    p.push(255); // hop limit
    p.extend_from_slice(&target.octets());
    p.extend_from_slice(&ALL_NODES.octets());
    p.extend_from_slice(&icmp);
    p
}

/// An AF_PACKET SOCK_DGRAM socket for `ethertype` plus the link-layer
/// destination it sends to.
struct PacketSock {
    fd: OwnedFd,
    dst: libc::sockaddr_ll,
}

impl PacketSock {
    fn open(ifindex: u32, ethertype: u16, dst_mac: [u8; 6]) -> io::Result<Self> {
        // SAFETY: plain socket(2); the fd is owned at once.
        let fd = unsafe {
            libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, i32::from(ethertype.to_be()))
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is fresh and valid.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_ll is plain old data.
        let mut dst: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        dst.sll_family = libc::AF_PACKET as u16;
        dst.sll_protocol = ethertype.to_be();
        dst.sll_ifindex = ifindex as i32;
        dst.sll_halen = 6;
        dst.sll_addr[..6].copy_from_slice(&dst_mac);
        Ok(PacketSock { fd, dst })
    }

    fn send(&self, payload: &[u8]) -> io::Result<()> {
        // SAFETY: payload and dst are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                payload.as_ptr().cast(),
                payload.len(),
                0,
                (&self.dst as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Sends `count` announcements of `addr` on `ifname`, `interval` apart,
/// the first at once.
pub async fn announce(ifname: &str, addr: IpAddr, count: u32, interval: Duration) -> Result<(), GarpError> {
    let io_err = |what, source| GarpError::Io { interface: ifname.into(), addr, what, source };
    let ifindex = netif::ifindex(ifname).map_err(|_| GarpError::NoInterface { interface: ifname.into(), addr })?;
    let mac = netif::mac(ifname).map_err(|e| io_err("reading its MAC address", e))?;
    let (sock, packet) = match addr {
        IpAddr::V4(ip) => (PacketSock::open(ifindex, ETH_P_ARP, [0xff; 6]), arp_request(mac, ip).to_vec()),
        IpAddr::V6(ip) => (PacketSock::open(ifindex, ETH_P_IPV6, [0x33, 0x33, 0, 0, 0, 1]), unsolicited_na(mac, ip)),
    };
    let sock = sock.map_err(|e| io_err("opening a packet socket", e))?;
    let mut sent = Ok(());
    for i in 0..count {
        if i > 0 {
            tokio::time::sleep(interval).await;
        }
        sent = sock.send(&packet).map_err(|e| io_err("sending", e));
        if sent.is_err() {
            break;
        }
    }
    // Closing a packet socket waits for an RCU grace period
    // (synchronize_net), 10-20 ms: on the daemon's one thread that held up
    // the StartUnit of the failover that had just added the address.
    tokio::task::spawn_blocking(move || drop(sock));
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn na_checksum_verifies() {
        let p = unsolicited_na([2, 0, 0, 0, 0, 1], "fd00::60".parse().unwrap());
        let icmp = &p[40..];
        // Summing with the checksum in place gives all ones.
        let mut s = csum_add(0, &p[8..24]);
        s = csum_add(s, &p[24..40]);
        s = csum_add(s, &(icmp.len() as u32).to_be_bytes());
        s = csum_add(s, &[0, 0, 0, 58]);
        s = csum_add(s, icmp);
        assert_eq!(csum_fold(s), 0);
    }
}
