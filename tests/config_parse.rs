//! hbd.toml parsing and validation: defaults, the example file, and one
//! test per rejection, each checking that the message names the file,
//! line:column and key.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use hbd::config::{self, Config, ConfigError, Fencing, LinkKind};
use hbd::core::Resource;

const PATH: &str = "/etc/hbd/hbd.toml";

const BASE: &str = r#"[cluster]
name = "t"
keepalive = "200ms"
deadtime = "2s"

[[node]]
name = "n1"
[[node]]
name = "n2"

[[link]]
name = "lan"
type = "bcast"
interface = "eth0"

[[group]]
name = "web"
preferred = "n1"
resources = [
  { vip = "10.0.0.60/24", interface = "eth0" },
  { unit = "nginx.service" },
]
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    config::parse(text, Path::new(PATH))
}

/// `BASE` with `from` replaced by `to` (which must occur).
fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} not in BASE");
    BASE.replacen(from, to, 1)
}

/// Parse must fail at `line:col` about `key`, and the message must contain `fragment`.
#[track_caller]
fn rejects(text: &str, line: usize, col: usize, key: &str, fragment: &str) -> String {
    let err = parse(text).expect_err("should be rejected");
    let msg = err.to_string();
    let head = format!("{PATH}:{line}:{col}: {key}");
    assert!(msg.starts_with(&head), "expected {head:?}…, got:\n{msg}");
    assert!(msg.contains(fragment), "expected {fragment:?} in:\n{msg}");
    assert_eq!(err.key(), Some(key), "{msg}");
    assert_eq!(err.position(), Some((line, col)), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    msg
}

#[test]
fn base_parses_with_defaults() {
    let c = parse(BASE).unwrap();
    assert_eq!(c.path, Path::new(PATH));
    assert_eq!(c.cluster.name, "t");
    assert_eq!(c.cluster.keepalive, Duration::from_millis(200));
    assert_eq!(c.cluster.warntime, Duration::from_secs(1));
    assert_eq!(c.cluster.deadtime, Duration::from_secs(2));
    assert_eq!(c.cluster.initdead, Duration::from_secs(10));
    assert_eq!(c.cluster.port, 694);
    assert!(c.cluster.auto_failback);
    assert_eq!(c.cluster.auth_key, Path::new("/etc/hbd/authkey"));
    assert_eq!(c.cluster.migration_threshold, 3);
    assert_eq!(c.cluster.fencing, Fencing::Off);
    assert_eq!(c.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["n1", "n2"]);
    assert_eq!(c.links[0].kind, LinkKind::Bcast { interface: "eth0".into(), port: 694 });
    assert!(c.ping.hosts.is_empty());
    assert_eq!(c.ping.interval, Duration::from_secs(1));
    assert_eq!(c.ping.timeout, Duration::from_secs(1));
    assert_eq!(c.garp.count, 5);
    assert_eq!(c.garp.interval, Duration::from_millis(200));
    assert_eq!(c.garp.repeat_after, Duration::from_secs(5));
    assert_eq!(c.groups[0].preferred, "n1");
    assert_eq!(
        c.groups[0].resources,
        vec![
            Resource::Vip { addr: "10.0.0.60".parse().unwrap(), prefix: 24, interface: "eth0".into() },
            Resource::unit("nginx.service"),
        ]
    );
    assert!(c.respawn.is_empty());
}

#[test]
fn link_defaults_follow_cluster_port() {
    let text = format!(
        "{BASE}\n[[link]]\nname = \"hb\"\ntype = \"ucast\"\ninterface = \"eth1\"\npeers = [\"10.1.0.1\", \"fd00::2\"]\n\
         [[link]]\nname = \"hb2\"\ntype = \"ucast\"\ninterface = \"eth2\"\npeers = [\"10.2.0.1\"]\nport = 7000\n\
         [[link]]\nname = \"m\"\ntype = \"mcast\"\ninterface = \"eth0\"\ngroup = \"239.0.0.94\"\n\
         [[link]]\nname = \"s\"\ntype = \"serial\"\ndevice = \"/dev/ttyS0\"\n"
    )
    .replace("deadtime = \"2s\"", "deadtime = \"2s\"\nport = 1694");
    let c = parse(&text).unwrap();
    assert_eq!(c.links[0].kind, LinkKind::Bcast { interface: "eth0".into(), port: 1694 });
    let peers: Vec<IpAddr> = vec!["10.1.0.1".parse().unwrap(), "fd00::2".parse().unwrap()];
    assert_eq!(c.links[1].kind, LinkKind::Ucast { interface: "eth1".into(), peers, port: 1694 });
    assert!(matches!(c.links[2].kind, LinkKind::Ucast { port: 7000, .. }));
    assert_eq!(
        c.links[3].kind,
        LinkKind::Mcast { interface: "eth0".into(), group: "239.0.0.94".parse().unwrap(), port: 694, ttl: 1 }
    );
    assert_eq!(c.links[4].kind, LinkKind::Serial { device: "/dev/ttyS0".into(), baud: 19200 });
}

#[test]
fn example_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/hbd.toml");
    let c = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.cluster.name, "demo");
    assert_eq!(c.nodes.len(), 2);
    assert!(c.links.iter().any(|l| matches!(l.kind, LinkKind::Ucast { .. })));
    assert!(c.links.iter().any(|l| matches!(l.kind, LinkKind::Bcast { .. })));
    assert_eq!(c.ping.hosts.len(), 1);
    assert_eq!(c.groups[0].resources.len(), 2);
    assert_eq!(c.respawn[0].unit, "hbd-probe.service");
    // The commented-out mcast and serial examples are valid once uncommented.
    let text = std::fs::read_to_string(&path).unwrap();
    let uncommented: String = text
        .lines()
        .map(|l| {
            let t = l.strip_prefix("# ").unwrap_or(l);
            if t.starts_with("[[link]]")
                || t.starts_with("name = \"m\"")
                || t.starts_with("type = \"mcast\"")
                || t.starts_with("interface = \"eth0\"") && l.starts_with('#')
                || t.starts_with("group =")
                || t.starts_with("ttl =")
                || t.starts_with("port = 694  ")
                || t.starts_with("name = \"null")
                || t.starts_with("type = \"serial\"")
                || t.starts_with("device =")
                || t.starts_with("baud =")
            {
                t.to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let c = config::parse(&uncommented, &path).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    assert!(c.links.iter().any(|l| matches!(l.kind, LinkKind::Mcast { .. })), "{uncommented}");
    assert!(c.links.iter().any(|l| matches!(l.kind, LinkKind::Serial { .. })));
}

#[test]
fn load_names_missing_file() {
    let e = config::load(Path::new("/nonexistent/hbd.toml")).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/hbd.toml: cannot read:"), "{e}");
}

#[test]
fn digest_is_stable_and_covers_shared_settings() {
    let a = parse(BASE).unwrap();
    // Same settings written differently: same digest.
    let b = parse(&format!("# a comment\n{}", BASE.replace("\"2s\"", "\"2000ms\""))).unwrap();
    assert_eq!(a.digest(), b.digest());
    // Link, ping and path differences do not matter.
    let mut c = a.clone();
    c.path = "/elsewhere".into();
    c.links.clear();
    c.ping.hosts.push("10.0.0.1".parse().unwrap());
    assert_eq!(a.digest(), c.digest());
    // Pinned value: the digest must not change between builds or machines.
    assert_eq!(a.digest(), parse(BASE).unwrap().digest());
    for (from, to) in [
        ("name = \"t\"", "name = \"u\""),
        ("keepalive = \"200ms\"", "keepalive = \"300ms\""),
        ("deadtime = \"2s\"", "deadtime = \"3s\""),
        ("deadtime = \"2s\"", "deadtime = \"2s\"\nwarntime = \"1500ms\""),
        ("deadtime = \"2s\"", "deadtime = \"2s\"\ninitdead = \"20s\""),
        ("deadtime = \"2s\"", "deadtime = \"2s\"\nauto_failback = false"),
        ("deadtime = \"2s\"", "deadtime = \"2s\"\nfencing = \"required\""),
        ("deadtime = \"2s\"", "deadtime = \"2s\"\nmigration_threshold = 4"),
        ("name = \"n2\"", "name = \"n3\""),
        ("preferred = \"n1\"", "preferred = \"n2\""),
        ("name = \"web\"", "name = \"www\""),
        ("10.0.0.60/24", "10.0.0.61/24"),
        ("nginx.service", "apache2.service"),
    ] {
        assert_ne!(a.digest(), parse(&with(from, to)).unwrap().digest(), "{to}");
    }
}

#[test]
fn digest_known_value() {
    // Guards against accidental changes of the encoding: nodes running
    // different builds must still agree on equal files.
    let d = parse(BASE).unwrap().digest();
    assert_eq!(format!("{d:016x}"), "08f8bec9489000bb");
}

// --- syntax and types ------------------------------------------------------

#[test]
fn rejects_toml_syntax_error() {
    let err = parse("[cluster]\nname = \"t\nkeepalive = 1\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{PATH}:2:")), "{msg}");
    assert!(msg.contains("invalid TOML"), "{msg}");
    let msg = parse("[cluster]\nname = \"t\"\nname = \"u\"\n").unwrap_err().to_string();
    assert_eq!(msg, format!("{PATH}:3:1: invalid TOML: duplicate key `name`; remove or merge the repeated one"));
    let msg = parse("[cluster]\nname = \"t\"\n[cluster]\n").unwrap_err().to_string();
    assert!(msg.starts_with(&format!("{PATH}:3:")) && msg.contains("duplicate key `cluster`"), "{msg}");
}

#[test]
fn rejects_unknown_key() {
    rejects(&with("keepalive", "keepalvie"), 3, 1, "cluster.keepalvie", "unknown key");
    rejects(&with("type = \"bcast\"", "type = \"bcast\"\nmtu = 1500"), 14, 1, "link[0].mtu", "unknown key");
    rejects(
        &with("{ unit = \"nginx.service\" }", "{ unit = \"nginx.service\", after = \"x\" }"),
        21,
        29,
        "group[0].resources[1].after",
        "unknown key",
    );
    rejects(&format!("{BASE}[extra]\na = 1\n"), 23, 2, "extra", "unknown key");
}

#[test]
fn rejects_duration_without_unit() {
    let m = rejects(
        &with("keepalive = \"200ms\"", "keepalive = 2"),
        3,
        13,
        "cluster.keepalive",
        "write it with a unit, e.g. \"2s\"",
    );
    assert_eq!(m, format!("{PATH}:3:13: cluster.keepalive = 2 has no unit; write it with a unit, e.g. \"2s\""));
    rejects(&with("keepalive = \"200ms\"", "keepalive = 0.5"), 3, 13, "cluster.keepalive", "has no unit");
    rejects(&with("keepalive = \"200ms\"", "keepalive = \"2\""), 3, 13, "cluster.keepalive", "write it with a unit");
    rejects(&with("keepalive = \"200ms\"", "keepalive = \"soon\""), 3, 13, "cluster.keepalive", "not a duration");
}

#[test]
fn rejects_wrong_type() {
    rejects(&with("name = \"n1\"", "name = 1"), 7, 8, "node[0].name", "");
    rejects(
        &with("deadtime = \"2s\"", "deadtime = \"2s\"\nfencing = \"sometimes\""),
        5,
        11,
        "cluster.fencing",
        "\"off\"",
    );
}

// --- cluster timings ---------------------------------------------------------

#[test]
fn rejects_deadtime_not_above_twice_keepalive() {
    let m = rejects(
        &with("deadtime = \"2s\"", "deadtime = \"400ms\""),
        4,
        12,
        "cluster.deadtime",
        "must be more than 2 × keepalive (200ms)",
    );
    assert_eq!(
        m,
        format!("{PATH}:4:12: cluster.deadtime = \"400ms\" must be more than 2 × keepalive (200ms); raise deadtime or lower keepalive")
    );
    // Default deadtime (2s) against a slow keepalive: points at [cluster].
    let text = BASE.replace("deadtime = \"2s\"\n", "").replace("\"200ms\"", "\"1s\"");
    rejects(&text, 1, 1, "cluster.deadtime", "(the default)");
}

#[test]
fn rejects_initdead_below_deadtime() {
    rejects(
        &with("deadtime = \"2s\"", "deadtime = \"2s\"\ninitdead = \"1s\""),
        5,
        12,
        "cluster.initdead",
        "must be at least deadtime (2s)",
    );
}

#[test]
fn rejects_warntime_outside_keepalive_deadtime() {
    for w in ["\"100ms\"", "\"200ms\"", "\"2s\"", "\"5s\""] {
        rejects(
            &with("deadtime = \"2s\"", &format!("deadtime = \"2s\"\nwarntime = {w}")),
            5,
            12,
            "cluster.warntime",
            "must be between keepalive (200ms) and deadtime (2s)",
        );
    }
}

#[test]
fn rejects_migration_threshold_zero() {
    rejects(
        &with("deadtime = \"2s\"", "deadtime = \"2s\"\nmigration_threshold = 0"),
        5,
        23,
        "cluster.migration_threshold",
        "must be at least 1",
    );
}

#[test]
fn rejects_missing_cluster_or_name() {
    let text = BASE.replacen("[cluster]\nname = \"t\"\nkeepalive = \"200ms\"\ndeadtime = \"2s\"\n", "", 1);
    rejects(&text, 1, 1, "cluster", "[cluster] table is missing");
    rejects(&with("name = \"t\"\n", ""), 1, 1, "cluster.name", "is missing");
}

// --- nodes -------------------------------------------------------------------

#[test]
fn rejects_no_nodes() {
    let text = BASE.replace("[[node]]\nname = \"n1\"\n[[node]]\nname = \"n2\"\n", "");
    rejects(&text, 1, 1, "node", "no [[node]]");
}

#[test]
fn rejects_bad_node_name() {
    for bad in ["-n1", "n 1", "n/1", "", &"n".repeat(64), "nö"] {
        rejects(&with("name = \"n1\"", &format!("name = {bad:?}")), 7, 8, "node[0].name", "not a valid node name");
    }
    // Hostname-like names are fine.
    parse(&with("name = \"n1\"", "name = \"node-1.example_com\"").replace("preferred = \"n1\"", "preferred = \"n2\""))
        .unwrap();
}

#[test]
fn rejects_duplicate_node() {
    rejects(&with("name = \"n2\"", "name = \"n1\""), 9, 8, "node[1].name", "is already node[0]");
}

// --- links -------------------------------------------------------------------

#[test]
fn rejects_no_links() {
    let text = BASE.replace("[[link]]\nname = \"lan\"\ntype = \"bcast\"\ninterface = \"eth0\"\n", "");
    rejects(&text, 1, 1, "link", "no [[link]]");
}

#[test]
fn rejects_duplicate_link() {
    let text = format!("{BASE}[[link]]\nname = \"lan\"\ntype = \"bcast\"\ninterface = \"eth1\"\n");
    rejects(&text, 24, 8, "link[1].name", "is already link[0]");
}

const LINK: &str = "type = \"bcast\"\ninterface = \"eth0\"";

#[test]
fn rejects_ucast_without_peers() {
    rejects(&with(LINK, "type = \"ucast\"\ninterface = \"eth0\""), 11, 1, "link[0].peers", "needs peers");
    rejects(&with(LINK, "type = \"ucast\"\ninterface = \"eth0\"\npeers = []"), 15, 9, "link[0].peers", "needs peers");
    rejects(
        &with(LINK, "type = \"ucast\"\ninterface = \"eth0\"\npeers = [\"10.0.0.1\", \"peer2\"]"),
        15,
        22,
        "link[0].peers[1]",
        "not an IP address",
    );
}

#[test]
fn rejects_mcast_group_not_multicast() {
    let m = "type = \"mcast\"\ninterface = \"eth0\"\ngroup = \"10.0.0.1\"";
    rejects(&with(LINK, m), 15, 9, "link[0].group", "not a multicast address");
    let v6 = "type = \"mcast\"\ninterface = \"eth0\"\ngroup = \"fd00::1\"";
    rejects(&with(LINK, v6), 15, 9, "link[0].group", "not a multicast address");
    parse(&with(LINK, "type = \"mcast\"\ninterface = \"eth0\"\ngroup = \"ff02::94\"")).unwrap();
}

#[test]
fn rejects_serial_device_not_absolute() {
    rejects(&with(LINK, "type = \"serial\"\ndevice = \"ttyS0\""), 14, 10, "link[0].device", "must be an absolute path");
}

#[test]
fn rejects_key_for_other_link_type() {
    rejects(
        &with(LINK, "type = \"serial\"\ndevice = \"/dev/ttyS0\"\ninterface = \"eth0\""),
        15,
        13,
        "link[0].interface",
        "does not apply to a serial link",
    );
    rejects(
        &with(LINK, "type = \"bcast\"\ninterface = \"eth0\"\nttl = 2"),
        15,
        7,
        "link[0].ttl",
        "does not apply to a bcast link",
    );
}

#[test]
fn rejects_link_without_type_or_interface() {
    rejects(&with(LINK, "interface = \"eth0\""), 11, 1, "link[0].type", "is missing");
    rejects(&with(LINK, "type = \"bcast\""), 11, 1, "link[0].interface", "is missing");
    rejects(&with(LINK, "type = \"token-ring\"\ninterface = \"eth0\""), 13, 8, "link[0].type", "\"ucast\"");
}

// --- groups --------------------------------------------------------------------

#[test]
fn rejects_duplicate_group() {
    let text =
        format!("{BASE}[[group]]\nname = \"web\"\npreferred = \"n2\"\nresources = [{{ unit = \"a.service\" }}]\n");
    rejects(&text, 24, 8, "group[1].name", "is already group[0]");
}

#[test]
fn rejects_preferred_not_a_node() {
    let m = rejects(&with("preferred = \"n1\"", "preferred = \"n3\""), 18, 13, "group[0].preferred", "is not a node");
    assert!(m.contains("n1, n2"), "{m}");
}

#[test]
fn rejects_vip_not_addr_prefix() {
    for bad in ["10.0.0.60", "10.0.0.60/33", "10.0.0/24", "fd00::60", "fd00::60/129", "10.0.0.60/x"] {
        rejects(
            &with("\"10.0.0.60/24\"", &format!("{bad:?}")),
            20,
            11,
            "group[0].resources[0].vip",
            "is not addr/prefix",
        );
    }
    let c = parse(&with("\"10.0.0.60/24\"", "\"fd00::60/64\"")).unwrap();
    assert_eq!(
        c.groups[0].resources[0],
        Resource::Vip { addr: "fd00::60".parse().unwrap(), prefix: 64, interface: "eth0".into() }
    );
}

#[test]
fn rejects_vip_without_interface() {
    rejects(
        &with(", interface = \"eth0\" }", " }"),
        20,
        3,
        "group[0].resources[0].interface",
        "a vip needs the interface",
    );
}

#[test]
fn rejects_unit_without_suffix() {
    rejects(
        &with("\"nginx.service\"", "\"nginx\""),
        21,
        12,
        "group[0].resources[1].unit",
        "has no unit suffix; write the full unit name, e.g. \"nginx.service\"",
    );
    rejects(&with("\"nginx.service\"", "\"getty@.service\""), 21, 12, "group[0].resources[1].unit", "is a template");
    for ok in ["data.mount", "web.target", "x.socket", "backup.timer", "drbd-promote@r0.service"] {
        parse(&with("\"nginx.service\"", &format!("{ok:?}"))).unwrap();
    }
}

#[test]
fn rejects_resource_with_both_or_neither() {
    rejects(
        &with("{ unit = \"nginx.service\" }", "{ unit = \"nginx.service\", vip = \"10.0.0.61/24\" }"),
        21,
        3,
        "group[0].resources[1]",
        "has both vip and unit",
    );
    rejects(&with("{ unit = \"nginx.service\" }", "{ }"), 21, 3, "group[0].resources[1]", "has neither vip nor unit");
}

#[test]
fn rejects_group_without_resources() {
    let text = BASE.replace(
        "resources = [\n  { vip = \"10.0.0.60/24\", interface = \"eth0\" },\n  { unit = \"nginx.service\" },\n]",
        "resources = []",
    );
    rejects(&text, 19, 13, "group[0].resources", "has no resources");
    let text = BASE.replace(
        "resources = [\n  { vip = \"10.0.0.60/24\", interface = \"eth0\" },\n  { unit = \"nginx.service\" },\n]\n",
        "",
    );
    rejects(&text, 16, 1, "group[0].resources", "has no resources");
}

#[test]
fn rejects_resource_in_two_groups() {
    let text =
        format!("{BASE}[[group]]\nname = \"db\"\npreferred = \"n2\"\nresources = [{{ unit = \"nginx.service\" }}]\n");
    rejects(&text, 26, 23, "group[1].resources[0].unit", "already used by group[0].resources[1]");
}

#[test]
fn rejects_a_unit_in_two_groups_whatever_its_timeout_or_check() {
    // Each node would stop it for the group it does not run there.
    let text = format!(
        "{BASE}[[group]]\nname = \"db\"\npreferred = \"n2\"\nresources = [{{ unit = \"nginx.service\", timeout = \"30s\" }}]\n"
    );
    rejects(&text, 26, 23, "group[1].resources[0].unit", "already used by group[0].resources[1]");
    let text = with(
        "  { unit = \"nginx.service\" },\n",
        "  { unit = \"nginx.service\" },\n  { unit = \"nginx.service\", check = { tcp = \"127.0.0.1:80\" } },\n",
    );
    let msg = parse(&text).expect_err("the same unit twice in a group").to_string();
    assert!(
        msg.contains("group[0].resources[2].unit") && msg.contains("already used by group[0].resources[1]"),
        "{msg}"
    );
}

// --- respawn and ping -------------------------------------------------------------

#[test]
fn rejects_respawn_unit_without_suffix() {
    let text = format!("{BASE}[[respawn]]\nunit = \"probe\"\n");
    rejects(&text, 24, 8, "respawn[0].unit", "has no unit suffix");
    let text = format!("{BASE}[[respawn]]\nunit = \"nginx.service\"\n");
    rejects(&text, 24, 8, "respawn[0].unit", "is also in group \"web\"");
}

#[test]
fn rejects_ping_host_not_ip() {
    let text = format!("{BASE}[ping]\nhosts = [\"10.0.0.1\", \"gateway\"]\n");
    rejects(&text, 24, 22, "ping.hosts[1]", "is not an IP address");
}

#[test]
fn ping_and_garp_settings() {
    let text = format!("{BASE}[ping]\nhosts = [\"10.0.0.1\", \"fd00::1\"]\ninterval = \"2s\"\ntimeout = \"500ms\"\n[garp]\ncount = 3\ninterval = \"100ms\"\nrepeat_after = \"0s\"\n");
    let c = parse(&text).unwrap();
    assert_eq!(c.ping.hosts.len(), 2);
    assert_eq!(c.ping.interval, Duration::from_secs(2));
    assert_eq!(c.ping.timeout, Duration::from_millis(500));
    assert_eq!(c.garp.count, 3);
    assert_eq!(c.garp.interval, Duration::from_millis(100));
    assert_eq!(c.garp.repeat_after, Duration::ZERO);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Any input gives a config or an error with a position; never a panic.
    #[test]
    fn never_panics(text in "(\\PC|\\n|\\[|\\]|=|\"){0,200}") {
        let _ = parse(&text);
    }

    /// Mangling one character of a valid file never panics either, and an
    /// error always carries the file name.
    #[test]
    fn mangled_base(pos in 0usize..BASE.len(), c in proptest::char::any()) {
        let mut text: Vec<char> = BASE.chars().collect();
        let i = pos % text.len();
        text[i] = c;
        let text: String = text.into_iter().collect();
        if let Err(e) = parse(&text) {
            proptest::prop_assert!(e.to_string().starts_with(PATH), "{}", e);
        }
    }
}

#[test]
fn failure_timeout_and_unit_timeouts() {
    let c = parse(BASE).unwrap();
    assert_eq!(c.cluster.failure_timeout, std::time::Duration::from_secs(600), "default 10min");
    let c = parse(&with("deadtime = \"2s\"", "deadtime = \"2s\"\nfailure_timeout = \"0s\"")).unwrap();
    assert!(c.cluster.failure_timeout.is_zero(), "0 = never expire");
    let c = parse(&with("{ unit = \"nginx.service\" }", "{ unit = \"nginx.service\", timeout = \"90s\" }")).unwrap();
    assert_eq!(
        c.groups[0].resources[1],
        hbd::config::Resource::Unit {
            name: "nginx.service".into(),
            timeout: Some(std::time::Duration::from_secs(90)),
            check: None
        }
    );
    let msg = parse(&with("{ unit = \"nginx.service\" }", "{ unit = \"nginx.service\", timeout = \"0s\" }"))
        .expect_err("zero timeout")
        .to_string();
    assert!(msg.contains("timeout") && msg.contains("must be more than 0"), "{msg}");
    let msg = parse(&with("interface = \"eth0\" },", "interface = \"eth0\", timeout = \"5s\" },"))
        .expect_err("timeout on a vip")
        .to_string();
    assert!(msg.contains("timeout only applies to a unit"), "{msg}");
}

/// Times beyond any sane heartbeat are refused before sums of them could
/// overflow in the daemon.
#[test]
fn rejects_times_beyond_their_bounds() {
    let msg =
        parse(&with("keepalive = \"200ms\"", "keepalive = \"2min\"")).expect_err("keepalive of 2 min").to_string();
    assert!(msg.contains("cluster.keepalive") && msg.contains("at most 1m"), "{msg}");
    let msg = parse(&with("deadtime = \"2s\"", "deadtime = \"1000000000s\"")).expect_err("huge deadtime").to_string();
    assert!(msg.contains("at most"), "{msg}");
}

/// A cluster of `nodes` nodes and `groups` groups, every name 63 characters
/// long (the longest the schema allows), with `extra` appended to [cluster].
fn big(nodes: usize, groups: usize, links: &str) -> String {
    let long = |p: &str, i: usize| {
        let s = format!("{p}{i}-");
        format!("{s}{}", "x".repeat(63 - s.len()))
    };
    let mut t = String::from("[cluster]\nname = \"t\"\nkeepalive = \"200ms\"\ndeadtime = \"2s\"\n\n");
    for n in 0..nodes {
        t += &format!("[[node]]\nname = \"{}\"\n", long("node", n));
    }
    t += links;
    for g in 0..groups {
        t += &format!(
            "[[group]]\nname = \"{}\"\npreferred = \"{}\"\nresources = [{{ vip = \"10.{}.{}.{}/16\", interface = \"eth0\" }}]\n",
            long("group", g),
            long("node", g % nodes),
            g / 65536,
            (g / 256) % 256,
            g % 256
        );
    }
    t
}

const LAN: &str = "[[link]]\nname = \"lan\"\ntype = \"bcast\"\ninterface = \"eth0\"\n";

#[test]
fn the_largest_carried_cluster_is_accepted() {
    // 32 nodes, 1,000 groups, longest names, a serial link at 19,200 baud.
    let serial =
        format!("{LAN}[[link]]\nname = \"null-modem\"\ntype = \"serial\"\ndevice = \"/dev/ttyS0\"\nbaud = 19200\n");
    let c = parse(&big(32, 1000, &serial)).unwrap();
    assert_eq!((c.nodes.len(), c.groups.len()), (32, 1000));
}

#[test]
fn rejects_what_cannot_be_carried_naming_the_limit() {
    let msg = parse(&big(33, 2, LAN)).unwrap_err().to_string();
    assert!(msg.contains("33 nodes; a cluster has at most 32"), "{msg}");
    assert_eq!(parse(&big(33, 2, LAN)).unwrap_err().key(), Some("node[32]"));

    let msg = parse(&big(2, 3000, LAN)).unwrap_err().to_string();
    assert!(msg.contains("3000 groups need up to") && msg.contains("more than the limit of 306000 bytes"), "{msg}");
    assert!(msg.contains("groups of 1 resource with names of 63 characters fit"), "{msg}");

    let slow = format!("{LAN}[[link]]\nname = \"m\"\ntype = \"serial\"\ndevice = \"/dev/ttyS0\"\nbaud = 2400\n");
    let msg = parse(&big(2, 1, &slow)).unwrap_err().to_string();
    assert!(msg.contains("link[1].baud = 2400 is too slow for keepalive = 200ms"), "{msg}");
}

/// BASE with `check = CHECK` on nginx.service.
fn with_check(check: &str) -> String {
    with("{ unit = \"nginx.service\" }", &format!("{{ unit = \"nginx.service\", check = {check} }}"))
}

#[test]
fn checks_parse_with_defaults() {
    use hbd::config::Probe;
    let c = parse(&with_check("{ http = \"http://127.0.0.1:8080/health\" }")).unwrap();
    let check = c.groups[0].resources[1].check().expect("check");
    assert_eq!(
        check.probe,
        Probe::Http {
            url: "http://127.0.0.1:8080/health".into(),
            host: "127.0.0.1".into(),
            port: 8080,
            path: "/health".into(),
            expect: 200
        }
    );
    assert_eq!((check.interval.as_millis(), check.timeout.as_millis(), check.rise, check.fall), (2000, 1000, 2, 3));
    let c = parse(&with_check("{ tcp = \"[::1]:5432\", interval = \"1s\", timeout = \"500ms\", rise = 1, fall = 5 }"))
        .unwrap();
    let check = c.groups[0].resources[1].check().unwrap();
    assert_eq!(check.probe, Probe::Tcp { addr: "[::1]:5432".into() });
    assert_eq!((check.rise, check.fall), (1, 5));
    let c = parse(&with_check("{ unit = \"pg-check.service\" }")).unwrap();
    assert_eq!(c.groups[0].resources[1].check().unwrap().probe, Probe::Unit { name: "pg-check.service".into() });
    let text = format!("{BASE}\n[[node_check]]\nname = \"uplink\"\ncheck = {{ tcp = \"10.77.0.1:53\" }}\n");
    let c = parse(&text).unwrap();
    assert_eq!(c.node_checks[0].name, "uplink");
    assert_eq!(c.node_checks[0].check.probe, Probe::Tcp { addr: "10.77.0.1:53".into() });
}

#[test]
fn rejects_bad_checks() {
    // Line 35 is the unit's line in BASE; each message names the key.
    let bad = |check: &str, key: &str, fragment: &str| {
        let msg = parse(&with_check(check)).expect_err(check).to_string();
        assert!(msg.starts_with(PATH) && msg.contains(key) && msg.contains(fragment), "{check}: {msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    };
    bad("{ https = \"https://x/\" }", "group[0].resources[1].check.https", "unknown key");
    bad("{ http = \"https://127.0.0.1/\" }", "group[0].resources[1].check.http", "is not an http:// URL");
    bad("{ tcp = \"127.0.0.1\" }", "group[0].resources[1].check.tcp", "is not host:port");
    bad("{ tcp = \"127.0.0.1:5432\", rise = 0 }", "group[0].resources[1].check.rise", "must be from 1 to 100");
    bad("{ tcp = \"127.0.0.1:5432\", fall = 0 }", "group[0].resources[1].check.fall", "must be from 1 to 100");
    bad(
        "{ tcp = \"127.0.0.1:5432\", interval = \"1s\", timeout = \"1s\" }",
        "group[0].resources[1].check.timeout",
        "less than interval",
    );
    bad(
        "{ http = \"http://a/\", tcp = \"a:1\" }",
        "group[0].resources[1].check",
        "more than one of http, tcp and unit",
    );
    bad("{ interval = \"1s\" }", "group[0].resources[1].check", "says nothing to probe");
    bad("{ tcp = \"a:1\", expect = 200 }", "group[0].resources[1].check.expect", "only applies to an http check");
    bad("{ unit = \"nope\" }", "group[0].resources[1].check.unit", "");
    let msg = parse(&with("interface = \"eth0\" },", "interface = \"eth0\", check = { tcp = \"a:1\" } },"))
        .expect_err("check on a vip")
        .to_string();
    assert!(msg.contains("a check applies to a unit"), "{msg}");
    let text = format!("{BASE}\n[[node_check]]\nname = \"uplink\"\ncheck = {{ unit = \"nginx.service\" }}\n");
    let msg = parse(&text).expect_err("node check on a group unit").to_string();
    assert!(msg.contains("node_check[0].check.unit") && msg.contains("is a unit of group \"web\""), "{msg}");
}

/// `BASE` with `extra` appended; the line `extra`'s first line lands on.
fn plus(extra: &str) -> (String, usize) {
    (format!("{BASE}\n{extra}"), BASE.lines().count() + 2)
}

#[test]
fn metrics_listen_forms() {
    for (listen, want) in [
        ("127.0.0.1:9694", config::Listen::Tcp("127.0.0.1:9694".parse().unwrap())),
        ("[::1]:9694", config::Listen::Tcp("[::1]:9694".parse().unwrap())),
        ("/run/hbd/metrics.sock", config::Listen::Unix("/run/hbd/metrics.sock".into())),
    ] {
        let (text, _) = plus(&format!("[metrics]\nlisten = \"{listen}\"\n"));
        let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.metrics.unwrap().listen, want);
    }
    assert_eq!(parse(BASE).unwrap().metrics, None, "off by default");
}

#[test]
fn rejects_bad_metrics_listen() {
    for bad in ["localhost", "9694", "127.0.0.1", "metrics.sock", "127.0.0.1:0", "/run/hbd/"] {
        let (text, line) = plus(&format!("[metrics]\nlisten = \"{bad}\"\n"));
        let msg = rejects(&text, line + 1, 10, "metrics.listen", "");
        assert!(msg.contains(&format!("metrics.listen = \"{bad}\"")), "{msg}");
        assert!(msg.contains("127.0.0.1:9694") || msg.contains("metrics.sock"), "says what to write: {msg}");
    }
    let (text, line) = plus("[metrics]\n");
    rejects(&text, line, 1, "metrics.listen", "metrics.listen is missing; add listen = \"127.0.0.1:9694\"");
}

#[test]
fn alerts_parse_with_defaults() {
    let (text, _) = plus("[[alert]]\npath = \"/bin/true\"\nrecipient = \"/var/log/a.log\"\n\n[[alert]]\npath = \"/bin/true\"\ntimeout = \"5s\"\nselect = [\"node\"]\n");
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.alerts.len(), 2);
    assert_eq!(c.alerts[0].recipient, "/var/log/a.log");
    assert_eq!(c.alerts[0].timeout, config::DEFAULT_ALERT_TIMEOUT);
    assert_eq!(c.alerts[0].select, config::AlertKind::ALL.to_vec());
    assert_eq!(c.alerts[1].timeout, Duration::from_secs(5));
    assert_eq!(c.alerts[1].select, vec![config::AlertKind::Node]);
}

#[test]
fn rejects_bad_alert_path() {
    let (text, line) = plus("[[alert]]\npath = \"/nonexistent/agent.sh\"\n");
    rejects(
        &text,
        line + 1,
        8,
        "alert[0].path",
        "alert[0].path = \"/nonexistent/agent.sh\" does not exist; install the agent there",
    );
    let (text, line) = plus("[[alert]]\npath = \"agent.sh\"\n");
    rejects(&text, line + 1, 8, "alert[0].path", "is not an absolute path");
    let plain = std::env::temp_dir().join(format!("hbd-test-agent-{}", std::process::id()));
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&plain, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let (text, line) = plus(&format!("[[alert]]\npath = \"{}\"\n", plain.display()));
    let want = format!("is not executable; run: chmod +x {}", plain.display());
    let r = std::panic::catch_unwind(|| rejects(&text, line + 1, 8, "alert[0].path", &want));
    std::fs::remove_file(&plain).unwrap();
    r.unwrap();
    let (text, line) = plus("[[alert]]\npath = \"/tmp\"\n");
    rejects(&text, line + 1, 8, "alert[0].path", "is not a file");
    let (text, line) = plus("[[alert]]\nrecipient = \"x\"\n");
    rejects(&text, line, 1, "alert[0].path", "alert[0].path is missing; name the agent to run");
}

#[test]
fn rejects_bad_alert_select_and_timeout() {
    let (text, line) = plus("[[alert]]\npath = \"/bin/true\"\nselect = [\"node\", \"attribute\"]\n");
    rejects(
        &text,
        line + 2,
        19,
        "alert[0].select[1]",
        "is not a kind of event; use \"node\", \"resource\" or \"fencing\"",
    );
    let (text, line) = plus("[[alert]]\npath = \"/bin/true\"\nselect = []\n");
    rejects(&text, line + 2, 10, "alert[0].select", "selects nothing");
    let (text, line) = plus("[[alert]]\npath = \"/bin/true\"\ntimeout = \"0s\"\n");
    rejects(&text, line + 2, 11, "alert[0].timeout", "must be more than 0");
}

#[test]
fn alert_options_and_timestamp_format() {
    let (text, _) = plus(
        "[[alert]]\npath = \"/bin/true\"\noptions = { trap_community = \"private\", trap_node_states = \"lost,member\", retries = 3, verbose = true }\ntimestamp_format = \"%Y-%m-%d,%H:%M:%S.%01N\"\n\n[[alert]]\npath = \"/bin/true\"\n",
    );
    let c = parse(&text).unwrap();
    let opts: Vec<(&str, &str)> = c.alerts[0].options.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for want in
        [("trap_community", "private"), ("trap_node_states", "lost,member"), ("retries", "3"), ("verbose", "true")]
    {
        assert!(opts.contains(&want), "{want:?} not in {opts:?}");
    }
    assert_eq!(c.alerts[0].timestamp_format, "%Y-%m-%d,%H:%M:%S.%01N");
    assert!(c.alerts[1].options.is_empty());
    assert_eq!(c.alerts[1].timestamp_format, "%H:%M:%S.%06N", "Pacemaker's default");
}

#[test]
fn rejects_bad_alert_options_and_timestamp_format() {
    let (text, line) = plus("[[alert]]\npath = \"/bin/true\"\noptions = { \"trap-community\" = \"x\" }\n");
    rejects(
        &text,
        line + 2,
        32,
        "alert[0].options.trap-community",
        "alert[0].options.trap-community: not an environment variable name",
    );
    let (text, line) = plus("[[alert]]\npath = \"/bin/true\"\noptions = { CRM_alert_recipient = \"x\" }\n");
    rejects(
        &text,
        line + 2,
        35,
        "alert[0].options.CRM_alert_recipient",
        "CRM_alert_recipient: set by hbd for each event",
    );
    let (text, line) = plus("[[alert]]\npath = \"/bin/true\"\noptions = { hosts = [\"a\", \"b\"] }\n");
    rejects(&text, line + 2, 21, "alert[0].options.hosts", "must be a string, a number or true/false");
    let (text, line) = plus("[[alert]]\npath = \"/bin/true\"\ntimestamp_format = \"\"\n");
    rejects(&text, line + 2, 20, "alert[0].timestamp_format", "makes an empty timestamp");
}

#[test]
fn example_metrics_and_alert_are_valid_uncommented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/hbd.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut on = false;
    let mut out = Vec::new();
    for l in text.lines() {
        if l == "# [metrics]" || l == "# [[alert]]" {
            on = true;
        } else if !l.starts_with("# ") || l.starts_with("# Alert") {
            on = false;
        }
        out.push(if on { l.strip_prefix("# ").unwrap().to_string() } else { l.to_string() });
    }
    let mut uncommented = out.join("\n");
    // The sample comes with Pacemaker (pacemaker-common), which a build
    // machine may not have.
    let sample = "/usr/share/pacemaker/alerts/alert_file.sh.sample";
    if !Path::new(sample).exists() {
        uncommented = uncommented.replace(sample, "/bin/sh");
    }
    let c = config::parse(&uncommented, &path).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    assert_eq!(c.metrics.unwrap().listen, config::Listen::Tcp("127.0.0.1:9694".parse().unwrap()));
    assert_eq!(c.alerts.len(), 1, "{uncommented}");
    assert_eq!(c.alerts[0].recipient, "/var/log/hbd-alerts.log");
    assert_eq!(c.alerts[0].timeout, Duration::from_secs(30));
}
