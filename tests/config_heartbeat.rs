//! Importing a Heartbeat v1 configuration.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::TempDir;
use hbd::config::{self, import_heartbeat, import_heartbeat_on, Host, Import, ImportError, LinkKind};
use hbd::core::Resource;

mod common;

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
fn ha_dir(name: &str, files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new("hbd-config-hb", name);
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
    // Not this machine's units and init scripts: the same result everywhere.
    let imp = import_heartbeat_on(&dir, &Host::empty()).unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("HBD_SHOW_IMPORT").is_some() {
        println!("{}", imp.toml);
    }
    imp
}

fn unmapped_lines(imp: &Import, file: &str) -> Vec<usize> {
    imp.unmapped.iter().filter(|u| u.file.file_name().unwrap() == file).map(|u| u.line).collect()
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
            Resource::unit("httpd.service"),
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

#[test]
fn crc_is_refused() {
    let dir = ha_dir("crc", &[("ha.cf", HA_CF), ("haresources", HARESOURCES), ("authkeys", "auth 2\n2 crc\n")]);
    let err = import_heartbeat(&dir).unwrap_err();
    assert!(matches!(err, ImportError::Crc { line: 2, id: 2, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("authkeys:2"), "{msg}");
    assert!(msg.contains("no authentication"), "{msg}");
    assert!(msg.contains("hactl keygen"), "{msg}");
}

#[test]
fn crc_key_not_selected_is_dropped_and_listed() {
    let imp = import("crc2", &[("ha.cf", HA_CF), ("authkeys", "auth 3\n2 crc\n3 md5 a-long-enough-md5-secret\n")]);
    let keys = config::parse_auth_keys(imp.authkey.as_deref().unwrap(), Path::new("k")).unwrap();
    assert_eq!(keys.keys, vec![(3, b"a-long-enough-md5-secret".to_vec())]);
    assert_eq!(unmapped_lines(&imp, "authkeys"), [2]);
}

#[test]
fn selected_key_signs_first() {
    let imp = import(
        "sel",
        &[("ha.cf", HA_CF), ("authkeys", "# keys\n1 sha1 0123456789abcdef-one\nauth 2\n2 sha1 0123456789abcdef-two\n")],
    );
    let keys = config::parse_auth_keys(imp.authkey.as_deref().unwrap(), Path::new("k")).unwrap();
    assert_eq!(keys.keys.iter().map(|k| k.0).collect::<Vec<_>>(), [2, 1]);
    assert!(imp.unmapped.iter().all(|u| !u.file.ends_with("authkeys")), "{:?}", imp.unmapped);
}

#[test]
fn undefined_auth_key_is_an_error() {
    let dir = ha_dir("undef", &[("ha.cf", HA_CF), ("authkeys", "auth 4\n1 sha1 0123456789abcdef01\n")]);
    let err = import_heartbeat(&dir).unwrap_err();
    assert!(matches!(err, ImportError::Invalid { line: 1, .. }), "{err}");
}

#[test]
fn authkeys_readable_by_others_is_listed() {
    let dir = ha_dir("mode", &[("ha.cf", HA_CF), ("authkeys", AUTHKEYS)]);
    let p = dir.join("authkeys");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let imp = import_heartbeat(&dir).unwrap();
    let note = imp.unmapped.iter().find(|u| u.file.ends_with("authkeys") && u.line == 0).unwrap();
    assert!(note.why.contains("mode 0644"), "{note}");
    assert!(note.to_string().starts_with("authkeys: has mode 0644"), "{note}");
}

#[test]
fn missing_files() {
    let dir = ha_dir("nohacf", &[("haresources", HARESOURCES)]);
    let err = import_heartbeat(&dir).unwrap_err();
    assert!(matches!(err, ImportError::Read { .. }));
    assert!(err.to_string().contains("ha.cf: cannot read"), "{err}");
    // Only ha.cf: valid, with notes about the other two.
    let imp = import("onlyhacf", &[("ha.cf", HA_CF)]);
    assert!(imp.authkey.is_none());
    assert!(imp.unmapped.iter().any(|u| u.file.ends_with("haresources") && u.line == 0));
    assert!(imp.unmapped.iter().any(|u| u.file.ends_with("authkeys") && u.line == 0));
    config::parse(&imp.toml, Path::new("x")).unwrap();
}

#[test]
fn timings_that_break_hbd_rules_are_adjusted_and_listed() {
    let ha = "keepalive 500ms\ndeadtime 1\nwarntime 5\ninitdead 0.5\nnode a\nnode b\nbcast eth0\n";
    let imp = import("timing", &[("ha.cf", ha)]);
    let c = config::parse(&imp.toml, Path::new("x")).unwrap_or_else(|e| panic!("{e}\n{}", imp.toml));
    // deadtime is kept (it is the failover time); keepalive is lowered.
    assert_eq!(c.cluster.deadtime, Duration::from_secs(1));
    assert_eq!(c.cluster.keepalive, Duration::from_millis(250));
    assert_eq!(c.cluster.initdead, Duration::from_secs(1));
    assert!(c.cluster.warntime > c.cluster.keepalive && c.cluster.warntime < c.cluster.deadtime);
    let ha_lines = unmapped_lines(&imp, "ha.cf");
    for l in [1, 3, 4] {
        assert!(ha_lines.contains(&l), "line {l} not listed: {:?}", imp.unmapped);
    }
    // Only keepalive set: the others are derived so that the result is valid.
    let imp = import("timing2", &[("ha.cf", "keepalive 2\nnode a\nbcast eth0\n")]);
    let c = config::parse(&imp.toml, Path::new("x")).unwrap_or_else(|e| panic!("{e}\n{}", imp.toml));
    assert_eq!(c.cluster.keepalive, Duration::from_secs(2));
    assert!(c.cluster.deadtime > Duration::from_secs(4));
}

#[test]
fn links_of_every_kind() {
    let ha = "\
node a
node b
udpport 1694
ucast eth1 10.1.0.1
ucast eth1 10.1.0.2
ucast eth2 10.2.0.2
bcast eth0 eth3
mcast eth0 239.0.0.94 695 2 0
serial /dev/ttyS0
baud 115200
";
    let imp = import("links", &[("ha.cf", ha)]);
    let c = config::parse(&imp.toml, Path::new("x")).unwrap_or_else(|e| panic!("{e}\n{}", imp.toml));
    let kinds: Vec<&LinkKind> = c.links.iter().map(|l| &l.kind).collect();
    assert_eq!(
        kinds,
        [
            &LinkKind::Ucast {
                interface: "eth1".into(),
                peers: vec!["10.1.0.1".parse().unwrap(), "10.1.0.2".parse().unwrap()],
                port: 1694
            },
            &LinkKind::Ucast { interface: "eth2".into(), peers: vec!["10.2.0.2".parse().unwrap()], port: 1694 },
            &LinkKind::Bcast { interface: "eth0".into(), port: 1694 },
            &LinkKind::Bcast { interface: "eth3".into(), port: 1694 },
            &LinkKind::Mcast { interface: "eth0".into(), group: "239.0.0.94".parse().unwrap(), port: 695, ttl: 2 },
            &LinkKind::Serial { device: "/dev/ttyS0".into(), baud: 115200 },
        ]
    );
    assert_eq!(c.cluster.port, 1694);
}

#[test]
fn haresources_forms() {
    let ha = "node n1 n2\nbcast eth0\nping_group gw 10.0.0.1 10.0.0.254\nauto_failback off\n";
    let hr = "\
# a comment
n1 IPaddr::10.0.0.60/24/eth0 httpd
n2 IPaddr2::10.0.0.61/24/eth1/10.0.0.255 drbddisk::r0 Filesystem::/dev/drbd0::/srv/www::ext4 \\
   MailTo::root@example.com::web postgresql
n1 10.0.0.62
n2 Filesystem::/dev/sdb1::/data::xfs::noatime SendArp::10.0.0.63/eth0 mysql.service
n1 MailTo::root
";
    let imp = import("hares", &[("ha.cf", ha), ("haresources", hr)]);
    let c = config::parse(&imp.toml, Path::new("x")).unwrap_or_else(|e| panic!("{e}\n{}", imp.toml));
    assert!(!c.cluster.auto_failback);
    assert_eq!(c.ping.hosts.len(), 2);
    let names: Vec<&str> = c.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["httpd", "postgresql", "group3", "mysql"]);
    let unit = |n: &str| Resource::unit(n);
    let vip = |a: &str, p: u8, i: &str| Resource::Vip { addr: a.parse().unwrap(), prefix: p, interface: i.into() };
    assert_eq!(c.groups[0].resources, [vip("10.0.0.60", 24, "eth0"), unit("httpd.service")]);
    assert_eq!(c.groups[0].preferred, "n1");
    assert_eq!(
        c.groups[1].resources,
        [
            vip("10.0.0.61", 24, "eth1"),
            unit("drbd-promote@r0.service"),
            unit("srv-www.mount"),
            unit("postgresql.service"),
        ]
    );
    assert_eq!(c.groups[1].preferred, "n2");
    assert_eq!(c.groups[2].resources, [vip("10.0.0.62", 24, "eth0")]);
    assert_eq!(c.groups[3].resources, [unit("data.mount"), unit("mysql.service")]);
    // Listed: ping_group semantics (ha.cf:3), httpd, which is nowhere to be
    // found (2), MailTo on the continued line (reported at its first line,
    // 3), the bare IP's guessed netmask and interface (5), SendArp (6), the
    // MailTo-only line (7).
    let hr_lines = unmapped_lines(&imp, "haresources");
    assert!(!hr_lines.contains(&4), "{:#?}", imp.unmapped);
    for l in [2, 3, 5, 6, 7] {
        assert!(hr_lines.contains(&l), "haresources:{l} not listed: {:#?}", imp.unmapped);
    }
    assert!(unmapped_lines(&imp, "ha.cf").contains(&3));
    let mailto = imp.unmapped.iter().find(|u| u.file.ends_with("haresources") && u.line == 3).unwrap();
    assert!(mailto.why.contains("MailTo"), "{mailto}");
    // The mount units are written.
    let srv = imp.units.iter().find(|u| u.name == "srv-www.mount").expect("srv-www.mount written");
    assert!(srv.content.contains("What=/dev/drbd0\nWhere=/srv/www\nType=ext4\n"), "{}", srv.content);
    let data = imp.units.iter().find(|u| u.name == "data.mount").expect("data.mount written");
    assert!(data.content.contains("Options=noatime\n"), "{}", data.content);
}

#[test]
fn respawn_of_other_programs_becomes_a_unit() {
    let ha =
        "node a\nbcast eth0\nrespawn root /usr/local/bin/my-probe --fast\nrespawn hacluster /usr/lib/heartbeat/ccm\n";
    let imp = import("respawn", &[("ha.cf", ha)]);
    let c = config::parse(&imp.toml, Path::new("x")).unwrap_or_else(|e| panic!("{e}\n{}", imp.toml));
    assert_eq!(c.respawn.len(), 1);
    assert_eq!(c.respawn[0].unit, "my-probe.service");
    let lines = unmapped_lines(&imp, "ha.cf");
    assert!(lines.contains(&3) && lines.contains(&4), "{:?}", imp.unmapped);
    let probe = imp.unmapped.iter().find(|u| u.line == 3).unwrap();
    assert!(probe.why.contains("ExecStart=/usr/local/bin/my-probe --fast"), "{probe}");
}

#[test]
fn every_unknown_directive_is_listed() {
    let ha = "\
node a
bcast eth0
debugfile /var/log/ha-debug
logfile /var/log/ha-log
use_logd yes
watchdog /dev/watchdog
crm off
stonith_host * baytech 10.0.0.3 mylogin mysecretpassword
apiauth ipfail gid=haclient
compression bz2
frobnicate 7
";
    let imp = import("unknown", &[("ha.cf", ha)]);
    assert_eq!(unmapped_lines(&imp, "ha.cf"), (3..=11).collect::<Vec<_>>(), "{:#?}", imp.unmapped);
    let debug = imp.unmapped.iter().find(|u| u.line == 3).unwrap();
    assert_eq!(debug.to_string(), "ha.cf:3: \"debugfile /var/log/ha-debug\": not needed, hbd logs to the journal");
    // They are also in the generated file, as comments.
    assert!(imp.toml.contains("frobnicate 7"));
    config::parse(&imp.toml, Path::new("x")).unwrap();
}

#[test]
fn undeclared_preferred_node_fails_with_the_generated_text() {
    let dir = ha_dir("undeclared", &[("ha.cf", "node a\nbcast eth0\n"), ("haresources", "zzz httpd\n")]);
    match import_heartbeat(&dir).unwrap_err() {
        ImportError::Generated { error, toml } => {
            assert_eq!(error.key(), Some("group[0].preferred"), "{error}");
            assert!(toml.contains("preferred = \"zzz\""));
        }
        e => panic!("{e}"),
    }
}

#[test]
fn ipv6_vip_and_legacy_failback() {
    let ha = "node a\nnode b\nbcast eth0\nauto_failback legacy\n";
    let hr = "a IPv6addr::fd00::60/64/eth0 nginx\n";
    let imp = import("v6", &[("ha.cf", ha), ("haresources", hr)]);
    let c = config::parse(&imp.toml, Path::new("x")).unwrap_or_else(|e| panic!("{e}\n{}", imp.toml));
    assert!(c.cluster.auto_failback);
    assert!(unmapped_lines(&imp, "ha.cf").contains(&4), "{:?}", imp.unmapped);
    assert_eq!(
        c.groups[0].resources[0],
        Resource::Vip { addr: "fd00::60".parse().unwrap(), prefix: 64, interface: "eth0".into() }
    );
    assert_eq!(c.groups[0].name, "nginx");
}

#[test]
fn haresources_node_names_match_without_case_as_in_heartbeat() {
    let imp = import(
        "case",
        &[("ha.cf", "node master\nnode slave\nbcast eth0\n"), ("haresources", "Master 10.0.0.60/24/eth0 nginx\n")],
    );
    let c = config::parse(&imp.toml, Path::new("x")).unwrap_or_else(|e| panic!("{e}\n{}", imp.toml));
    assert_eq!(c.groups[0].preferred, "master");
    let note = imp
        .unmapped
        .iter()
        .find(|u| u.file.ends_with("haresources") && u.line == 1 && u.why.starts_with("node"))
        .unwrap();
    assert_eq!(
        note.why,
        "node \"Master\" is written \"master\" in ha.cf; hbd compares names exactly, so \"master\" is used"
    );
}
