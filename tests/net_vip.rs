//! VIP add/remove/present and the address watcher, against the kernel in a
//! throw-away network namespace.

mod net;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use hbd::shell::netif;
use hbd::shell::vip::{AddrWatcher, Vip, VipError};
use net::Ns;

/// A namespace with a veth pair v0/v1 (both ends here, so v0 has carrier
/// and IPv6 DAD would really run on it).
fn ns_with_veth() -> Ns {
    let ns = Ns::new();
    ns.ip("link add v0 type veth peer name v1");
    ns.ip("link set v0 up");
    ns.ip("link set v1 up");
    ns
}

#[test]
fn add_remove_idempotent_v4() {
    if !net::root() {
        return;
    }
    let ns = ns_with_veth();
    let name = ns.name.clone();
    ns.run(move || async move {
        let vip = Vip::new().unwrap();
        let a: IpAddr = "10.78.0.60".parse().unwrap();
        assert!(!vip.present(a, "v0").await.unwrap());
        vip.add(a, 24, "v0").await.unwrap();
        vip.add(a, 24, "v0").await.expect("adding an address that is there already is fine");
        assert!(vip.present(a, "v0").await.unwrap());
        let shown = net::cmd(&["ip", "-n", &name, "-4", "addr", "show", "dev", "v0"]);
        assert!(shown.contains("inet 10.78.0.60/24"), "{shown}");
        assert!(shown.contains("brd 10.78.0.255"), "{shown}");
        vip.remove(a, 24, "v0").await.unwrap();
        vip.remove(a, 24, "v0").await.expect("removing an absent address is fine");
        assert!(!vip.present(a, "v0").await.unwrap());
        let shown = net::cmd(&["ip", "-n", &name, "-4", "addr", "show", "dev", "v0"]);
        assert!(!shown.contains("10.78.0.60"), "{shown}");
    });
}

#[test]
fn v6_is_usable_at_once() {
    if !net::root() {
        return;
    }
    let ns = ns_with_veth();
    // Control: without NODAD the kernel keeps an address tentative.
    ns.ip("-6 addr add fd00:78::61/64 dev v0");
    let shown = ns.ip("-6 addr show dev v0");
    assert!(shown.contains("fd00:78::61/64 scope global tentative"), "DAD should be running: {shown}");
    let name = ns.name.clone();
    ns.run(move || async move {
        let vip = Vip::new().unwrap();
        let a: IpAddr = "fd00:78::60".parse().unwrap();
        vip.add(a, 64, "v0").await.unwrap();
        let info = vip.lookup(a, "v0").await.unwrap().expect("present");
        assert!(!info.tentative, "{info:?}");
        let shown = net::cmd(&["ip", "-n", &name, "-6", "addr", "show", "dev", "v0"]);
        let line = shown.lines().find(|l| l.contains("fd00:78::60/64")).expect("address listed");
        assert!(!line.contains("tentative"), "{line}");
        assert!(line.contains("nodad"), "{line}");
        vip.add(a, 64, "v0").await.unwrap();
        vip.remove(a, 64, "v0").await.unwrap();
        vip.remove(a, 64, "v0").await.unwrap();
        assert!(!vip.present(a, "v0").await.unwrap());
    });
}

#[test]
fn missing_interface_is_named() {
    if !net::root() {
        return;
    }
    let ns = Ns::new();
    ns.run(|| async {
        let vip = Vip::new().unwrap();
        let a: IpAddr = "10.78.0.60".parse().unwrap();
        let e = vip.add(a, 24, "eth9").await.unwrap_err();
        assert!(matches!(e, VipError::NoInterface { .. }), "{e:?}");
        let msg = e.with_group("web", Path::new("/etc/hbd/hbd.toml")).to_string();
        assert!(
            msg.contains(
                "interface eth9 does not exist on this node; check group web's vip interface in /etc/hbd/hbd.toml"
            ),
            "{msg}"
        );
        assert!(matches!(vip.remove(a, 24, "eth9").await, Err(VipError::NoInterface { .. })));
        assert!(matches!(vip.present(a, "eth9").await, Err(VipError::NoInterface { .. })));
    });
}

#[test]
fn watcher_reports_foreign_removal() {
    if !net::root() {
        return;
    }
    let ns = ns_with_veth();
    let name = ns.name.clone();
    ns.run(move || async move {
        let vip = Vip::new().unwrap();
        let mut w = AddrWatcher::new().await.unwrap();
        let idx = netif::ifindex("v0").unwrap();
        for (a, p) in [("10.78.0.60", 24u8), ("fd00:78::60", 64)] {
            let a: IpAddr = a.parse().unwrap();
            vip.add(a, p, "v0").await.unwrap();
            // Someone else removes it.
            net::cmd(&["ip", "-n", &name, "addr", "del", &format!("{a}/{p}"), "dev", "v0"]);
            tokio::time::timeout(Duration::from_secs(5), w.removed(a, idx))
                .await
                .unwrap_or_else(|_| panic!("no removal event for {a}"))
                .expect("watcher alive");
        }
    });
}
