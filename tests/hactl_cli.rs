//! hactl against the org.hbd1 service on a private dbus-daemon (driven by
//! real cores), and hactl's commands that need no daemon.

#[path = "dbus_harness/mod.rs"]
mod harness;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use harness::{hactl, text, Bus, Cluster, TempDir, TWO_NODES};

const NOT_RUNNING: &str = "hactl: hbd is not running on this node (start it with: systemctl start hbd)\n";
const DENIED: &str = "hactl: permission denied: changing the cluster needs root or membership of group haclient\n";
const NOBODY: &[&str] = &["--reuid=65534", "--regid=65534", "--clear-groups"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_human_and_json() {
    let bus = Bus::start();
    let mut cl = Cluster::start(&bus, TWO_NODES).await;
    cl.settled().await;

    let t = Instant::now();
    let out = hactl(&bus.address, &[], &["status"]).await;
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], "cluster lab: local node n1, quorate, generation 1", "{s}");
    assert_eq!(lines[1], "node n1 (local): up, generation 1, ping hosts: 0", "{s}");
    assert!(lines[2].starts_with("node n-2: up, generation 1, links: hb up "), "{s}");
    assert!(lines[2].ends_with(", lan down, ping hosts: 0"), "{s}");
    assert_eq!(
        lines[3],
        "group web: started on n1 (preferred), fail count 0: vip 10.99.0.60/24 started, unit nginx.service started",
        "{s}"
    );
    assert_eq!(
        lines[4],
        "group db-1: started on n-2 (preferred), fail count 0: unit postgresql.service started on n-2"
    );
    assert_eq!(lines.len(), 5, "{s}");
    eprintln!("hactl status took {took:?} (process start included)");

    let out = hactl(&bus.address, &[], &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["cluster"], "lab");
    assert_eq!(v["local"], "n1");
    assert_eq!(v["quorate"], true);
    assert_eq!(v["generation"], 1);
    assert_eq!(v["nodes"][0]["name"], "n1");
    assert_eq!(v["nodes"][0]["local"], true);
    assert_eq!(v["nodes"][1]["name"], "n-2");
    assert_eq!(v["nodes"][1]["state"], "up");
    assert_eq!(v["nodes"][1]["ping_hosts"], 0);
    assert_eq!(v["nodes"][1]["links"][0]["name"], "hb");
    assert_eq!(v["nodes"][1]["links"][0]["state"], "up");
    assert!(v["nodes"][1]["links"][0]["age_ms"].is_i64());
    assert_eq!(v["nodes"][1]["links"][1]["age_ms"], serde_json::Value::Null);
    assert_eq!(v["groups"][0]["name"], "web");
    assert_eq!(v["groups"][0]["owner"], "n1");
    assert_eq!(v["groups"][0]["state"], "started");
    assert_eq!(v["groups"][0]["preferred"], "n1");
    assert_eq!(v["groups"][0]["failcount"], 0);
    assert_eq!(v["groups"][0]["note"], "");
    assert_eq!(v["groups"][0]["resources"][1]["kind"], "unit");
    assert_eq!(v["groups"][0]["resources"][1]["name"], "nginx.service");
    assert_eq!(v["groups"][0]["resources"][1]["state"], "started");
    assert_eq!(v["groups"][1]["owner"], "n-2");

    let out = hactl(&bus.address, &[], &["links"]).await;
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["PEER", "LINK", "STATE", "LAST", "HEARD"]);
    assert!(
        lines[1].starts_with("n-2")
            && lines[1].contains("hb")
            && lines[1].contains(" up ")
            && lines[1].ends_with("ago")
    );
    assert!(lines[2].contains("lan") && lines[2].contains("down") && lines[2].ends_with("never"), "{s}");

    // Reading the properties over the bus is fast.
    let conn = bus.connect().await;
    let t = Instant::now();
    for _ in 0..10 {
        hbd::dbus::client::fetch_status(&conn).await.unwrap();
    }
    let each = t.elapsed() / 10;
    assert!(each < Duration::from_millis(50), "fetch_status took {each:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_move_and_errors() {
    let bus = Bus::start();
    let mut cl = Cluster::start(&bus, TWO_NODES).await;
    cl.settled().await;

    let out = hactl(&bus.address, &[], &["standby", "--wait"]).await;
    let so = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{so}{}", text(&out.stderr));
    assert!(so.contains("web: started on n-2"), "{so}");
    assert!(so.ends_with("n1 is in standby and runs no groups\n"), "{so}");
    let st = cl.wait_for("n1 in standby", |s| s.nodes[0].state == "standby").await;
    assert!(st.groups.iter().all(|g| g.owner == "n-2"), "{st:?}");

    // A group cannot go to a node in standby, but can come back after unstandby.
    let out = hactl(&bus.address, &[], &["unstandby", "n1"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    cl.wait_for("n1 up", |s| s.nodes[0].state == "up").await;
    let out = hactl(&bus.address, &[], &["move", "db-1", "n1", "--wait"]).await;
    let so = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{so}{}", text(&out.stderr));
    assert!(
        so.ends_with(
            "db-1: started on n1 (preferred: n-2); pinned to n1 by hactl move or takeover on n1; hactl move --clear db-1 to release\n"
        ),
        "{so}"
    );
    // Removing the pin: the group follows its preferred node again
    // (auto_failback), by either spelling.
    let out = hactl(&bus.address, &[], &["move", "--clear", "db-1"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "db-1: placement removed; it follows its preferred node again\n");
    let st = cl.wait_for("db-1 back on n-2", |s| s.groups.iter().any(|g| g.name == "db-1" && g.owner == "n-2")).await;
    assert!(st.groups.iter().all(|g| g.note.is_empty()), "{st:?}");
    let out = hactl(&bus.address, &[], &["unmove", "db-1"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = hactl(&bus.address, &[], &["move", "db-1"]).await;
    assert_eq!(out.status.code(), Some(2), "a move without a node is a usage error");
    let out = hactl(&bus.address, &[], &["unmove", "nope"]).await;
    assert_eq!(out.status.code(), Some(1));

    for args in [&["move", "nope", "n1"][..], &["standby", "n9"], &["cleanup", "nope"]] {
        let out = hactl(&bus.address, &[], args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let e = text(&out.stderr);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.starts_with("hactl: no ") && e.contains("in the cluster configuration"), "{e}");
    }
    let out = hactl(&bus.address, &[], &["cleanup", "web"]).await;
    assert_eq!((out.status.code(), text(&out.stdout)), (Some(0), "web: failures cleared\n".to_string()));
    let out = hactl(&bus.address, &[], &["reload"]).await;
    assert_eq!(out.status.code(), Some(0));
    let out = hactl(&bus.address, &[], &["takeover"]).await;
    assert_eq!(out.status.code(), Some(0));
    let out = hactl(&bus.address, &[], &["move", "web"]).await;
    assert_eq!(out.status.code(), Some(2), "usage error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_running() {
    // A bus where nobody owns org.hbd1.
    let bus = Bus::start();
    for args in [&["status"][..], &["standby"], &["links"], &["status", "--json"]] {
        let out = hactl(&bus.address, &[], args).await;
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert_eq!(text(&out.stderr), NOT_RUNNING);
        assert!(out.stdout.is_empty());
    }
    // No bus at all.
    let dir = TempDir::new("nobus");
    let addr = format!("unix:path={}", dir.path().join("bus").display());
    let out = hactl(&addr, &[], &["status"]).await;
    assert_eq!((out.status.code(), text(&out.stderr)), (Some(3), NOT_RUNNING.to_string()));
}

/// Create group haclient if missing; remove it on drop if we created it.
struct HaclientGroup {
    created: bool,
    gid: u32,
}

impl HaclientGroup {
    fn ensure() -> HaclientGroup {
        let created = hbd::dbus::auth::group_gid("haclient").is_none();
        if created {
            let st = std::process::Command::new("groupadd").args(["-f", "haclient"]).status().expect("groupadd");
            assert!(st.success());
        }
        HaclientGroup { created, gid: hbd::dbus::auth::group_gid("haclient").expect("haclient") }
    }
}

impl Drop for HaclientGroup {
    fn drop(&mut self) {
        if self.created {
            let _ = std::process::Command::new("groupdel").arg("haclient").status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_control() {
    let bus = Bus::start();
    let mut cl = Cluster::start(&bus, TWO_NODES).await;
    cl.settled().await;
    let group = HaclientGroup::ensure();

    // Reading is open.
    let out = hactl(&bus.address, NOBODY, &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Changing is not.
    for args in [&["standby"][..], &["unstandby", "n1"], &["move", "web", "n-2"], &["cleanup", "web"], &["reload"]] {
        let out = hactl(&bus.address, NOBODY, args).await;
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stderr), DENIED);
    }
    assert_eq!(cl.status.borrow().nodes[0].state, "up");
    // The bus's error name is AccessDenied.
    let groups = format!("--groups={}", group.gid);
    let with_group = ["--reuid=65534", "--regid=65534", groups.as_str()];
    let out = hactl(&bus.address, &with_group, &["cleanup", "web"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = hactl(&bus.address, &with_group, &["standby", "n-2"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    cl.wait_for("n-2 in standby", |s| s.nodes[1].state == "standby").await;
}

/// The shipped policy file on a bus whose defaults are those of the system bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_bus_policy() {
    const SYSTEM_DEFAULTS: &str = r#"<policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>"#;
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("dbus-interfaces/org.hbd1.conf");
    let bus = Bus::start_with(SYSTEM_DEFAULTS, &[&conf]);
    let mut cl = Cluster::start(&bus, TWO_NODES).await;
    cl.settled().await;
    let out = hactl(&bus.address, NOBODY, &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = hactl(&bus.address, NOBODY, &["standby"]).await;
    assert_eq!((out.status.code(), text(&out.stderr)), (Some(4), DENIED.to_string()));
    let out = hactl(&bus.address, &[], &["cleanup", "web"]).await;
    assert_eq!(out.status.code(), Some(0), "root may: {}", text(&out.stderr));
    // Only root may own the name.
    let conn = zbus::connection::Builder::address(bus.address.as_str()).unwrap().build().await.unwrap();
    assert!(conn.request_name("org.hbd1").await.is_err());
}

#[tokio::test]
async fn config_check() {
    let dir = TempDir::new("check");
    let key = dir.path().join("authkey");
    let out = hactl("", &[], &["keygen", "-o", key.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let repo_conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/hbd.toml");
    let out =
        hactl("", &[], &["config", "check", repo_conf.to_str().unwrap(), "--auth-key", key.to_str().unwrap()]).await;
    let so = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{so}{}", text(&out.stderr));
    assert!(so.contains("hbd.toml: ok (cluster demo: 2 nodes, 2 links, 1 group, 1 ping host, 1 respawn unit)"), "{so}");
    assert!(so.contains("authkey: ok (1 key; key 1 signs)"), "{so}");

    // The auth key the file names is checked too.
    let text_conf = std::fs::read_to_string(&repo_conf)
        .unwrap()
        .replace("auth_key = \"/etc/hbd/authkey\"", &format!("auth_key = \"{}\"", key.display()));
    let conf = dir.path().join("hbd.toml");
    std::fs::write(&conf, &text_conf).unwrap();
    let out = hactl("", &[], &["config", "check", conf.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Metrics and alert agents are named in the summary; an agent that
    // cannot run is refused, saying what to do.
    let agent = dir.path().join("agent.sh");
    std::fs::write(&agent, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let monitored = dir.path().join("monitored.toml");
    let monitored_text = format!(
        "{text_conf}\n[metrics]\nlisten = \"127.0.0.1:9694\"\n\n[[alert]]\npath = \"{}\"\nrecipient = \"/var/log/a.log\"\n",
        agent.display()
    );
    std::fs::write(&monitored, &monitored_text).unwrap();
    let out = hactl("", &[], &["config", "check", monitored.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(", 1 respawn unit, metrics on 127.0.0.1:9694, 1 alert agent)"),
        "{}",
        text(&out.stdout)
    );
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = hactl("", &[], &["config", "check", monitored.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    let line = monitored_text.lines().position(|l| l.starts_with("path = ")).unwrap() + 1;
    assert_eq!(
        text(&out.stderr),
        format!(
            "hactl: {}:{line}:8: alert[0].path = \"{a}\" is not executable; run: chmod +x {a}\n",
            monitored.display(),
            a = agent.display()
        )
    );
    std::fs::write(&monitored, monitored_text.replace("127.0.0.1:9694", "localhost:9694")).unwrap();
    let out = hactl("", &[], &["config", "check", monitored.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("metrics.listen = \"localhost:9694\" is neither an address with a port"),
        "{}",
        text(&out.stderr)
    );

    // Timings down to a few milliseconds are allowed; below what the
    // benchmark shows stable, with a warning.
    let fast = dir.path().join("fast.toml");
    std::fs::write(
        &fast,
        text_conf
            .replace("keepalive = \"200ms\"", "keepalive = \"5ms\"")
            .replace("warntime = \"1s\"", "warntime = \"20ms\"")
            .replace("deadtime = \"2s\"", "deadtime = \"40ms\""),
    )
    .unwrap();
    let out = hactl("", &[], &["config", "check", fast.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("hactl: warning: deadtime = 40ms is below 50ms, the shortest that showed no false failover"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(
        &fast,
        text_conf
            .replace("keepalive = \"200ms\"", "keepalive = \"10ms\"")
            .replace("deadtime = \"2s\"", "deadtime = \"50ms\"")
            .replace("warntime = \"1s\"", "warntime = \"30ms\""),
    )
    .unwrap();
    let out = hactl("", &[], &["config", "check", fast.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("warning"), "{}", text(&out.stderr));

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = hactl("", &[], &["config", "check", conf.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("chmod 600"), "{}", text(&out.stderr));

    // A broken file: position and key.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, text_conf.replace("deadtime = \"2s\"", "deadtime = \"2 parsecs\"")).unwrap();
    let out = hactl("", &[], &["config", "check", broken.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(e.starts_with(&format!("hactl: {}:", broken.display())) && e.contains("deadtime"), "{e}");
    let out = hactl("", &[], &["config", "check", dir.path().join("missing.toml").to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read"));

    // A file beyond what the heartbeats can carry: refused, the limit named.
    let mut many = text_conf.clone();
    for n in 3..=33 {
        many = many.replacen("\n[[node]]\n", &format!("\n[[node]]\nname = \"n{n}\"\n[[node]]\n"), 1);
    }
    let too_big = dir.path().join("too-big.toml");
    std::fs::write(&too_big, many).unwrap();
    let out = hactl("", &[], &["config", "check", too_big.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let e = text(&out.stderr);
    assert!(e.contains("33 nodes; a cluster has at most 32"), "{e}");
}

#[tokio::test]
async fn import_heartbeat_keygen_completions() {
    let dir = TempDir::new("import");
    let ha = dir.path().join("ha.d");
    std::fs::create_dir(&ha).unwrap();
    std::fs::write(
        ha.join("ha.cf"),
        "keepalive 1\ndeadtime 10\ninitdead 30\nucast eth1 10.78.0.12\nbcast eth0\nauto_failback on\nnode n1\nnode n2\nping 10.77.0.1\ncrm no\n",
    )
    .unwrap();
    std::fs::write(ha.join("haresources"), "n1 IPaddr2::10.77.0.60/24/eth0 nginx\n").unwrap();
    std::fs::write(ha.join("authkeys"), "auth 1\n1 sha1 0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(ha.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();

    let out = hactl("", &[], &["config", "import-heartbeat", ha.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let toml = text(&out.stdout);
    assert!(toml.contains("[[group]]") && toml.contains("nginx.service"), "{toml}");
    let e = text(&out.stderr);
    assert!(e.contains("ha.cf:10: \"crm no\""), "unmapped items are listed: {e}");

    let conf = dir.path().join("hbd.toml");
    let key = dir.path().join("authkey");
    let args = ["config", "import-heartbeat", ha.to_str().unwrap(), "-o", conf.to_str().unwrap()];
    let out = hactl("", &[], &[&args[..], &["--authkey", key.to_str().unwrap()]].concat()).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    hbd::config::load(&conf).expect("the imported file validates");
    hbd::config::load_auth_keys(&key).expect("the imported key loads");
    // Refuses to overwrite without --force.
    let out = hactl("", &[], &args).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--force"));

    // keygen
    let k2 = dir.path().join("k2");
    let out = hactl("", &[], &["keygen", "-o", k2.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::metadata(&k2).unwrap().permissions().mode() & 0o777, 0o600);
    let keys = hbd::config::load_auth_keys(&k2).unwrap();
    assert_eq!(keys.keys.len(), 1);
    let out = hactl("", &[], &["keygen"]).await;
    assert!(text(&out.stdout).lines().any(|l| l.starts_with("1 ")));

    for shell in ["bash", "zsh", "fish"] {
        let out = hactl("", &[], &["completions", shell]).await;
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out.stdout).contains("hactl") && text(&out.stdout).contains("standby"), "{shell}");
    }
    // hactl's own version, whether or not an hbd answers.
    let out = hactl("unix:path=/nonexistent/bus", &[], &["version"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), format!("hactl {}\nhbd is not running on this node\n", env!("CARGO_PKG_VERSION")));

    let mandir = dir.path().join("man");
    let out = hactl("", &[], &["man", mandir.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0));
    for page in ["hactl.8", "hbd.8", "hbd.toml.5"] {
        let t = std::fs::read_to_string(mandir.join(page)).unwrap();
        assert!(t.starts_with(".TH") || t.contains("\n.TH"), "{page}");
    }
    // The committed hactl.8 is up to date.
    let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man/hactl.8")).unwrap();
    assert_eq!(shipped, std::fs::read_to_string(mandir.join("hactl.8")).unwrap(), "regenerate with: hactl man man/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_redraws_on_signals() {
    use tokio::io::AsyncBufReadExt;
    let bus = Bus::start();
    let mut cl = Cluster::start(&bus, TWO_NODES).await;
    cl.settled().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hactl"))
        .args(["status", "--watch", "--json"])
        .env("HBD_BUS_ADDRESS", &bus.address)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || -> serde_json::Value {
        let l = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await.expect("a redraw").unwrap();
        serde_json::from_str(&l.expect("a line")).expect("one JSON document per line")
    };
    let first = next().await;
    assert_eq!(first["groups"][0]["owner"], "n1");
    let conn = bus.connect().await;
    hbd::dbus::client::call_manager(&conn, "MoveGroup", &("web", "n-2")).await.unwrap();
    loop {
        let v = next().await;
        if v["groups"][0]["owner"] == "n-2" && v["groups"][0]["state"] == "started" {
            break;
        }
    }
    child.kill().await.unwrap();
}

/// The JSON Schema keywords `docs/hactl-status.schema.json` uses, checked
/// strictly: a keyword this validator does not know fails the test rather
/// than being skipped.
fn schema_errors(root: &serde_json::Value, schema: &serde_json::Value, v: &serde_json::Value, at: &str) -> Vec<String> {
    use serde_json::Value;
    let mut errs = Vec::new();
    let Value::Object(s) = schema else { return vec![format!("{at}: schema is not an object")] };
    for (k, want) in s {
        match k.as_str() {
            "$schema" | "$id" | "title" | "description" | "$defs" => {}
            "$ref" => {
                let name = want.as_str().and_then(|r| r.strip_prefix("#/$defs/")).expect("local $ref");
                errs.extend(schema_errors(root, &root["$defs"][name], v, at));
            }
            "type" => {
                let types: Vec<&str> = match want {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
                    _ => panic!("bad type in schema"),
                };
                let ok = types.iter().any(|t| match *t {
                    "object" => v.is_object(),
                    "array" => v.is_array(),
                    "string" => v.is_string(),
                    "boolean" => v.is_boolean(),
                    "integer" => v.is_i64() || v.is_u64(),
                    "null" => v.is_null(),
                    t => panic!("type {t} not supported by this validator"),
                });
                if !ok {
                    errs.push(format!("{at}: {v} is not of type {want}"));
                }
            }
            "const" if v != want => errs.push(format!("{at}: {v} is not {want}")),
            "const" => {}
            "enum" if !want.as_array().unwrap().contains(v) => errs.push(format!("{at}: {v} is not one of {want}")),
            "enum" => {}
            "minimum" => {
                if let Some(n) = v.as_f64() {
                    if n < want.as_f64().unwrap() {
                        errs.push(format!("{at}: {v} is below {want}"));
                    }
                }
            }
            "required" => {
                if let Some(o) = v.as_object() {
                    for r in want.as_array().unwrap() {
                        if !o.contains_key(r.as_str().unwrap()) {
                            errs.push(format!("{at}: missing {r}"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(o) = v.as_object() {
                    for (name, sub) in want.as_object().unwrap() {
                        if let Some(x) = o.get(name) {
                            errs.extend(schema_errors(root, sub, x, &format!("{at}.{name}")));
                        }
                    }
                }
            }
            "items" => {
                if let Some(a) = v.as_array() {
                    for (i, x) in a.iter().enumerate() {
                        errs.extend(schema_errors(root, want, x, &format!("{at}[{i}]")));
                    }
                }
            }
            k => panic!("schema keyword {k} not supported by this validator"),
        }
    }
    errs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_follows_the_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/hactl-status.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // The validator catches what it must.
    let bad = serde_json::json!({"schema": 2, "nodes": [{"state": "asleep"}]});
    let errs = schema_errors(&schema, &schema, &bad, "$");
    assert!(errs.iter().any(|e| e.contains("$.schema")), "{errs:?}");
    assert!(errs.iter().any(|e| e.contains("$.nodes[0].state: \"asleep\"")), "{errs:?}");
    assert!(errs.iter().any(|e| e.contains("missing \"groups\"")), "{errs:?}");

    let bus = Bus::start();
    let mut cl = Cluster::start(&bus, TWO_NODES).await;
    cl.settled().await;
    // A pin and a note, so the optional parts are exercised too.
    let out = hactl(&bus.address, &[], &["move", "web", "n-2"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    cl.wait_for("web started on n-2", |s| {
        s.groups.iter().any(|g| g.name == "web" && g.owner == "n-2" && g.state == "started")
    })
    .await;
    for args in [&["status", "--json"][..]] {
        let out = hactl(&bus.address, &[], args).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let errs = schema_errors(&schema, &schema, &v, "$");
        assert!(errs.is_empty(), "{errs:?} in {v:#}");
        assert_eq!(v["schema"], 1);
        assert_eq!(v["hbd_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(v["hactl_version"], env!("CARGO_PKG_VERSION"));
        let web = v["groups"].as_array().unwrap().iter().find(|g| g["name"] == "web").unwrap();
        assert_eq!(web["owner"], "n-2", "{v:#}");
        assert!(web["note"].as_str().unwrap().contains("pinned to n-2"), "the pin shows in the note: {v:#}");
    }

    let out = hactl(&bus.address, &[], &["version"]).await;
    assert_eq!(out.status.code(), Some(0));
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(text(&out.stdout), format!("hactl {v}\nhbd {v}\n"));
}
