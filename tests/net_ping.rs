//! Ping hosts: one reachable peer, one address nobody owns, then the peer
//! goes away.

mod net;

use std::time::Duration;

use hbd::config::Ping;
use hbd::shell::ping::PingMonitor;

#[test]
fn counts_reachable_hosts() {
    if !net::root() {
        return;
    }
    let (a, b) = net::pair("10.80.0");
    b.ip("-6 addr add fd00:80::2/64 dev b0 nodad");
    a.ip("-6 addr add fd00:80::1/64 dev a0 nodad");
    let bname = b.name.clone();
    a.run(move || async move {
        let cfg = Ping {
            hosts: vec!["10.80.0.2".parse().unwrap(), "10.80.0.99".parse().unwrap(), "fd00:80::2".parse().unwrap()],
            interval: Duration::from_millis(200),
            timeout: Duration::from_millis(500),
        };
        let mut m = PingMonitor::start(&cfg).expect("raw sockets (CAP_NET_RAW)");
        let first = tokio::time::timeout(Duration::from_secs(3), m.changed()).await.expect("a first count");
        assert_eq!(first, Some(2), "10.80.0.2 and fd00:80::2 answer, 10.80.0.99 does not");
        // The peer loses its addresses: its hosts stop answering.
        net::cmd(&["ip", "-n", &bname, "addr", "flush", "dev", "b0"]);
        let next = tokio::time::timeout(Duration::from_secs(3), m.changed()).await.expect("a change");
        assert!(next < Some(2), "{next:?}");
        let mut last = next;
        while last != Some(0) {
            last = tokio::time::timeout(Duration::from_secs(3), m.changed()).await.expect("down to zero");
        }
        // And come back.
        net::cmd(&["ip", "-n", &bname, "addr", "add", "10.80.0.2/24", "dev", "b0"]);
        let back = tokio::time::timeout(Duration::from_secs(3), m.changed()).await.expect("back");
        assert_eq!(back, Some(1));
    });
}

#[test]
fn no_hosts_reports_zero_once() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let cfg = Ping { hosts: vec![], interval: Duration::from_secs(1), timeout: Duration::from_secs(1) };
        let mut m = PingMonitor::start(&cfg).unwrap();
        assert_eq!(m.changed().await, Some(0));
        assert_eq!(m.changed().await, None);
    });
}
