//! The floating address: add, remove and check it with rtnetlink, and watch
//! for someone else removing it.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

use futures::channel::mpsc::UnboundedReceiver;
use futures::StreamExt;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{Handle, MulticastGroup};

use super::netif;

#[derive(Debug, thiserror::Error)]
pub enum VipError {
    #[error("cannot manage {addr}: interface {interface} does not exist on this node; {hint}")]
    NoInterface { interface: String, addr: IpAddr, hint: String },
    #[error("{op} {addr}/{prefix} on interface {interface} failed: {source}")]
    Netlink {
        op: &'static str,
        addr: IpAddr,
        prefix: u8,
        interface: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open a netlink socket for VIP management: {0}")]
    Socket(#[source] std::io::Error),
    #[error("netlink request failed: {0}")]
    Other(String),
}

impl VipError {
    /// Point a missing-interface error at the group and file that asked for it.
    pub fn with_group(self, group: &str, config: &Path) -> Self {
        match self {
            VipError::NoInterface { interface, addr, .. } => VipError::NoInterface {
                hint: format!("check group {group}'s vip interface in {}", config.display()),
                interface,
                addr,
            },
            e => e,
        }
    }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

fn to_io(e: rtnetlink::Error) -> std::io::Error {
    match &e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        _ => std::io::Error::other(e.to_string()),
    }
}

fn no_iface(interface: &str, addr: IpAddr) -> VipError {
    VipError::NoInterface {
        interface: interface.to_string(),
        addr,
        hint: "check the vip's interface in the configuration".into(),
    }
}

fn attr_addr(m: &AddressMessage) -> Option<IpAddr> {
    // IFA_LOCAL is the address itself (IFA_ADDRESS is the peer on p2p links);
    // IPv6 only sends IFA_ADDRESS.
    let mut addr = None;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(x) => return Some(*x),
            AddressAttribute::Address(x) => addr = Some(*x),
            _ => {}
        }
    }
    addr
}

fn flags(m: &AddressMessage) -> AddressFlags {
    m.attributes
        .iter()
        .find_map(|a| match a {
            AddressAttribute::Flags(f) => Some(*f),
            _ => None,
        })
        .unwrap_or_else(|| AddressFlags::from_bits_retain(m.header.flags.bits() as u32))
}

/// One address as the kernel lists it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AddrInfo {
    pub addr: IpAddr,
    pub prefix: u8,
    pub ifindex: u32,
    /// IPv6 duplicate address detection still running: not usable yet.
    pub tentative: bool,
}

fn info(m: &AddressMessage) -> Option<AddrInfo> {
    Some(AddrInfo {
        addr: attr_addr(m)?,
        prefix: m.header.prefix_len,
        ifindex: m.header.index,
        tentative: flags(m).contains(AddressFlags::Tentative),
    })
}

/// VIP operations over one rtnetlink connection.
#[derive(Clone)]
pub struct Vip {
    handle: Handle,
}

impl Vip {
    /// Opens a netlink connection and spawns it on the current tokio runtime.
    pub fn new() -> Result<Self, VipError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(VipError::Socket)?;
        tokio::spawn(conn);
        Ok(Vip { handle })
    }

    /// Uses a handle whose connection the caller already spawned.
    pub fn from_handle(handle: Handle) -> Self {
        Vip { handle }
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    fn index(ifname: &str, addr: IpAddr) -> Result<u32, VipError> {
        netif::ifindex(ifname).map_err(|_| no_iface(ifname, addr))
    }

    /// Adds `addr/prefix` to `ifname`. Already present counts as success.
    /// IPv6 addresses get NODAD so they are usable at once.
    pub async fn add(&self, addr: IpAddr, prefix: u8, ifname: &str) -> Result<(), VipError> {
        let index = Self::index(ifname, addr)?;
        let mut req = self.handle.address().add(index, addr, prefix);
        if addr.is_ipv6() {
            req.message_mut().attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Err(no_iface(ifname, addr)),
            Err(e) => Err(VipError::Netlink { op: "adding", addr, prefix, interface: ifname.into(), source: to_io(e) }),
        }
    }

    /// Removes `addr/prefix` from `ifname`. Already absent counts as success.
    pub async fn remove(&self, addr: IpAddr, prefix: u8, ifname: &str) -> Result<(), VipError> {
        let index = Self::index(ifname, addr)?;
        let mut msg = AddressMessage::default();
        msg.header.family = match addr {
            IpAddr::V4(_) => rtnetlink::packet_route::AddressFamily::Inet,
            IpAddr::V6(_) => rtnetlink::packet_route::AddressFamily::Inet6,
        };
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(addr));
        if addr.is_ipv6() {
            msg.attributes = vec![AddressAttribute::Address(addr)];
        }
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EADDRNOTAVAIL) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Err(no_iface(ifname, addr)),
            Err(e) => {
                Err(VipError::Netlink { op: "removing", addr, prefix, interface: ifname.into(), source: to_io(e) })
            }
        }
    }

    /// The address as configured on `ifname`, if it is.
    pub async fn lookup(&self, addr: IpAddr, ifname: &str) -> Result<Option<AddrInfo>, VipError> {
        let index = Self::index(ifname, addr)?;
        let mut s = self.handle.address().get().set_link_index_filter(index).set_address_filter(addr).execute();
        let mut found = None;
        while let Some(m) = s.next().await {
            let m = m.map_err(|e| VipError::Other(e.to_string()))?;
            if let Some(i) = info(&m) {
                if i.addr == addr {
                    found = Some(i);
                }
            }
        }
        Ok(found)
    }

    /// Whether `addr` is configured on `ifname` (any prefix).
    pub async fn present(&self, addr: IpAddr, ifname: &str) -> Result<bool, VipError> {
        Ok(self.lookup(addr, ifname).await?.is_some())
    }

    /// Every address in this namespace.
    pub async fn dump(&self) -> Result<Vec<AddrInfo>, VipError> {
        let mut s = self.handle.address().get().execute();
        let mut out = Vec::new();
        while let Some(m) = s.next().await {
            let m = m.map_err(|e| VipError::Other(e.to_string()))?;
            out.extend(info(&m));
        }
        Ok(out)
    }
}

/// What the address watcher reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddrEvent {
    Added { addr: IpAddr, prefix: u8, ifindex: u32 },
    Removed { addr: IpAddr, prefix: u8, ifindex: u32 },
}

/// Follows RTNLGRP_IPV4_IFADDR/IPV6_IFADDR. When the kernel reports lost
/// notifications (socket overrun) it dumps all addresses again and reports
/// the difference against what it knew, so no removal goes unseen.
pub struct AddrWatcher {
    vip: Vip,
    events: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, rtnetlink::sys::SocketAddr)>,
    known: HashSet<(IpAddr, u8, u32)>,
    queue: std::collections::VecDeque<AddrEvent>,
}

impl AddrWatcher {
    /// Subscribes, then dumps the current addresses as the baseline.
    pub async fn new() -> Result<Self, VipError> {
        let (conn, handle, events) =
            rtnetlink::new_multicast_connection(&[MulticastGroup::Ipv4Ifaddr, MulticastGroup::Ipv6Ifaddr])
                .map_err(VipError::Socket)?;
        tokio::spawn(conn);
        let vip = Vip::from_handle(handle);
        let known = vip.dump().await?.into_iter().map(|i| (i.addr, i.prefix, i.ifindex)).collect();
        Ok(AddrWatcher { vip, events, known, queue: Default::default() })
    }

    async fn resync(&mut self) {
        let now: HashSet<_> = match self.vip.dump().await {
            Ok(v) => v.into_iter().map(|i| (i.addr, i.prefix, i.ifindex)).collect(),
            Err(e) => {
                tracing::warn!("re-reading addresses after lost netlink events failed: {e}");
                return;
            }
        };
        for &(addr, prefix, ifindex) in self.known.difference(&now) {
            self.queue.push_back(AddrEvent::Removed { addr, prefix, ifindex });
        }
        for &(addr, prefix, ifindex) in now.difference(&self.known) {
            self.queue.push_back(AddrEvent::Added { addr, prefix, ifindex });
        }
        self.known = now;
    }

    /// The next address change; `None` when the netlink connection ended.
    pub async fn next(&mut self) -> Option<AddrEvent> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            let (msg, _) = self.events.next().await?;
            match msg.payload {
                NetlinkPayload::Overrun(_) => {
                    tracing::warn!("netlink address events were lost; re-reading all addresses");
                    self.resync().await;
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(m)) => {
                    if let Some(i) = info(&m) {
                        if self.known.insert((i.addr, i.prefix, i.ifindex)) {
                            self.queue.push_back(AddrEvent::Added {
                                addr: i.addr,
                                prefix: i.prefix,
                                ifindex: i.ifindex,
                            });
                        }
                    }
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(m)) => {
                    if let Some(i) = info(&m) {
                        self.known.remove(&(i.addr, i.prefix, i.ifindex));
                        self.queue.push_back(AddrEvent::Removed { addr: i.addr, prefix: i.prefix, ifindex: i.ifindex });
                    }
                }
                _ => {}
            }
        }
    }

    /// Waits for `addr` to be removed from interface `ifindex`, skipping
    /// other events.
    pub async fn removed(&mut self, addr: IpAddr, ifindex: u32) -> Option<()> {
        loop {
            if let AddrEvent::Removed { addr: a, ifindex: i, .. } = self.next().await? {
                if a == addr && i == ifindex {
                    return Some(());
                }
            }
        }
    }
}
