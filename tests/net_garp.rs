//! Gratuitous ARP and unsolicited NA, captured in a peer namespace, and
//! the peer's neighbour table following the new MAC.

mod net;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use hbd::shell::garp::{self, GarpError};
use hbd::shell::vip::Vip;
use net::Ns;

const STALE_MAC: &str = "02:00:00:00:00:99";

#[test]
fn gratuitous_arp_updates_peer() {
    if !net::root() {
        return;
    }
    let (a, b) = net::pair("10.77.0");
    let vip: Ipv4Addr = "10.77.0.60".parse().unwrap();
    // The peer knows the VIP at some other node's MAC.
    b.ip(&format!("neigh replace {vip} lladdr {STALE_MAC} dev b0 nud stale"));
    let a_mac = net::mac_of(&a, "a0");

    let cap = net::capture(&b, "b0", garp::ETH_P_ARP, Duration::from_millis(1200));
    let took = a.run(move || async move {
        Vip::new().unwrap().add(IpAddr::V4(vip), 24, "a0").await.unwrap();
        let t = Instant::now();
        garp::announce("a0", IpAddr::V4(vip), 3, Duration::from_millis(100)).await.unwrap();
        t.elapsed()
    });
    // First packet at once, then two gaps.
    assert!(took >= Duration::from_millis(190) && took < Duration::from_millis(600), "{took:?}");
    let seen = net::join(cap);
    let garps: Vec<_> = seen
        .iter()
        .filter(|s| {
            let p = &s.payload;
            p.len() >= 28 && p[24..28] == vip.octets() && p[14..18] == vip.octets()
        })
        .collect();
    assert_eq!(garps.len(), 3, "{seen:?}");
    for g in &garps {
        let p = &g.payload;
        assert_eq!(&p[0..6], &[0, 1, 8, 0, 6, 4], "Ethernet/IPv4 ARP");
        assert_eq!(&p[6..8], &[0, 1], "opcode request");
        assert_eq!(net::fmt_mac(&p[8..14]), a_mac, "SHA");
        assert_eq!(net::fmt_mac(&g.src_mac), a_mac, "Ethernet source");
    }
    let neigh = b.ip(&format!("neigh show {vip} dev b0"));
    assert!(neigh.contains(&a_mac), "peer's neighbour entry should now point at {a_mac}: {neigh}");
}

#[test]
fn unsolicited_na_updates_peer() {
    if !net::root() {
        return;
    }
    let (a, b) = net::pair("10.77.1");
    let vip: Ipv6Addr = "fd00:77::60".parse().unwrap();
    b.ip("-6 addr add fd00:77::2/64 dev b0 nodad");
    b.ip(&format!("-6 neigh replace {vip} lladdr {STALE_MAC} dev b0 nud stale"));
    let a_mac = net::mac_of(&a, "a0");

    let cap = net::capture(&b, "b0", garp::ETH_P_IPV6, Duration::from_millis(1000));
    a.run(move || async move {
        Vip::new().unwrap().add(IpAddr::V6(vip), 64, "a0").await.unwrap();
        garp::announce("a0", IpAddr::V6(vip), 2, Duration::from_millis(100)).await.unwrap();
    });
    let seen = net::join(cap);
    let nas: Vec<_> =
        seen.iter().filter(|s| s.payload.len() >= 72 && s.payload[6] == 58 && s.payload[40] == 136).collect();
    assert_eq!(nas.len(), 2, "{seen:?}");
    for na in &nas {
        let p = &na.payload;
        assert_eq!(p[7], 255, "hop limit");
        assert_eq!(&p[24..40], &"ff02::1".parse::<Ipv6Addr>().unwrap().octets(), "destination");
        let icmp = &p[40..];
        assert_eq!(icmp[4] & 0xe0, 0x20, "Override set, Router and Solicited clear");
        assert_eq!(&icmp[8..24], &vip.octets(), "target");
        assert_eq!(&icmp[24..26], &[2, 1], "target link-layer address option");
        assert_eq!(net::fmt_mac(&icmp[26..32]), a_mac);
        assert_eq!(net::fmt_mac(&na.src_mac), a_mac);
        // The checksum verifies.
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
        let mut zeroed = icmp.to_vec();
        zeroed[2] = 0;
        zeroed[3] = 0;
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap());
        assert_eq!(garp::icmpv6_checksum(src, dst, &zeroed).to_be_bytes(), [icmp[2], icmp[3]]);
    }
    let neigh = b.ip(&format!("-6 neigh show {vip} dev b0"));
    assert!(neigh.contains(&a_mac), "peer's neighbour entry should now point at {a_mac}: {neigh}");
}

#[test]
fn missing_interface() {
    if !net::root() {
        return;
    }
    let ns = Ns::new();
    ns.run(|| async {
        let e = garp::announce("eth9", "10.77.0.60".parse().unwrap(), 1, Duration::ZERO).await.unwrap_err();
        assert!(matches!(e, GarpError::NoInterface { .. }), "{e:?}");
        assert!(e.to_string().contains("interface eth9 does not exist"), "{e}");
    });
}
