//! Importing a Heartbeat v1 configuration.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hbd::config::{self, import_heartbeat, Import, ImportError, LinkKind};
use hbd::core::Resource;

const HA_CF: &str = "\
# /etc/ha.d/ha.cf
logfacility local0
keepalive 2
deadtime 30
warntime 10
initdead 120
udpport 694
ucast eth1 172.16.0.51
bcast eth0
auto_failback on
node node1
node node2
ping 10.0.0.2
respawn hacluster /usr/lib/heartbeat/ipfail
";

const HARESOURCES: &str = "node1 IPaddr::10.0.0.60 httpd\n";

const AUTHKEYS: &str = "auth 1\n1 sha1 testlab\n";

/// A fresh directory holding the given files (authkeys mode 0600).
fn ha_dir(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hbd-config-hb-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, content) in files {
        let p = dir.join(file);
        std::fs::write(&p, content).unwrap();
        let mode = if *file == "authkeys" { 0o600 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    dir
}

fn import(name: &str, files: &[(&str, &str)]) -> Import {
    let dir = ha_dir(name, files);
    import_heartbeat(&dir).unwrap_or_else(|e| panic!("{e}"))
}

fn unmapped_lines(imp: &Import, file: &str) -> Vec<usize> {
    imp.unmapped
        .iter()
        .filter(|u| u.file.file_name().unwrap() == file)
        .map(|u| u.line)
        .collect()
}

#[test]
fn realistic_two_node_setup() {
    let imp = import("real", &[("ha.cf", HA_CF), ("haresources", HARESOURCES), ("authkeys", AUTHKEYS)]);
    println!("{}", imp.toml);
    for u in &imp.unmapped {
        println!("{u}");
    }
    let c = config::parse(&imp.toml, Path::new("hbd.toml")).unwrap_or_else(|e| panic!("{e}\n{}", imp.toml));
    assert_eq!(c.cluster.keepalive, Duration::from_secs(2));
    assert_eq!(c.cluster.deadtime, Duration::from_secs(30));
    assert_eq!(c.cluster.warntime, Duration::from_secs(10));
    assert_eq!(c.cluster.initdead, Duration::from_secs(120));
    assert_eq!(c.cluster.port, 694);
    assert!(c.cluster.auto_failback);
    assert_eq!(c.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["node1", "node2"]);
    assert_eq!(c.links.len(), 2);
    assert_eq!(
        c.links[0].kind,
        LinkKind::Ucast { interface: "eth1".into(), peers: vec!["172.16.0.51".parse().unwrap()], port: 694 }
    );
    assert_eq!(c.links[1].kind, LinkKind::Bcast { interface: "eth0".into(), port: 694 });
    assert_eq!(c.ping.hosts, vec!["10.0.0.2".parse::<std::net::IpAddr>().unwrap()]);
    assert_eq!(c.groups.len(), 1);
    let g = &c.groups[0];
    assert_eq!(g.name, "httpd");
    assert_eq!(g.preferred, "node1");
    assert_eq!(
        g.resources,
        vec![
            // No prefix or interface in haresources: /24 and the first ucast/bcast link's interface.
            Resource::Vip { addr: "10.0.0.60".parse().unwrap(), prefix: 24, interface: "eth1".into() },
            Resource::Unit { name: "httpd.service".into() },
        ]
    );
    assert!(c.respawn.is_empty(), "ipfail is built in");
    // Where things came from is written down.
    assert!(imp.toml.contains("# ha.cf:3 keepalive 2"), "{}", imp.toml);
    assert!(imp.toml.contains("haresources:1"), "{}", imp.toml);
    assert!(imp.toml.contains("/24 assumed"), "{}", imp.toml);
    // Unmapped: logfacility (2) and ipfail (14); the guessed VIP details.
    let ha = unmapped_lines(&imp, "ha.cf");
    assert!(ha.contains(&2) && ha.contains(&14), "{:?}", imp.unmapped);
    let logf = imp.unmapped.iter().find(|u| u.line == 2).unwrap();
    assert_eq!(logf.to_string(), "ha.cf:2: \"logfacility local0\": not needed, hbd logs to the journal");
    let ipfail = imp.unmapped.iter().find(|u| u.line == 14).unwrap();
    assert!(ipfail.why.contains("ipfail"), "{ipfail}");
    assert!(unmapped_lines(&imp, "haresources").contains(&1));
    // The authkey: sha1 secret "testlab" is too short, so it is derived.
    let key = imp.authkey.as_deref().unwrap();
    let keys = config::parse_auth_keys(key, Path::new("authkey")).unwrap();
    assert_eq!(keys.keys.len(), 1);
    assert_eq!(keys.keys[0].0, 1);
    assert_eq!(keys.keys[0].1.len(), 64);
    assert!(!key.contains("testlab"));
    let note = imp.unmapped.iter().find(|u| u.file.ends_with("authkeys")).unwrap();
    assert!(note.why.contains("SHA-256"), "{note}");
    // Deterministic: the other node importing the same files gets the same key.
    let again = import("real2", &[("ha.cf", HA_CF), ("haresources", HARESOURCES), ("authkeys", AUTHKEYS)]);
    let key_lines = |k: &str| k.lines().filter(|l| !l.starts_with('#')).map(String::from).collect::<Vec<_>>();
    assert_eq!(key_lines(again.authkey.as_deref().unwrap()), key_lines(key));
    // Nothing is listed twice and every entry has a reason.
    assert!(imp.unmapped.iter().all(|u| !u.why.is_empty()));
}
