//! Test harness shared by the D-Bus and hactl tests: a private
//! dbus-daemon, and a small main loop that drives real `hbd::core::Node`s
//! and serves org.hbd1 for the first of them.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hbd::core::{Action, Event, Input, Node, Op};
use hbd::dbus::status_text::worded;
use hbd::dbus::{ApiEvent, ApiHandle, ApiRequest, Status};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "hbd-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        // Other users (the tests run hactl as nobody) must reach the bus socket.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A private dbus-daemon; killed on drop.
pub struct Bus {
    child: Child,
    pub address: String,
    pub dir: TempDir,
}

/// A bus configuration that lets everyone connect, own and call anything.
const OPEN_POLICY: &str = r#"<policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>"#;

impl Bus {
    /// A bus where everything is allowed.
    pub fn start() -> Bus {
        Bus::start_with(OPEN_POLICY, &[])
    }

    /// A bus with `policy` (busconfig elements) and `includes` (files
    /// included into the configuration, e.g. the shipped system policy).
    pub fn start_with(policy: &str, includes: &[&Path]) -> Bus {
        let dir = TempDir::new("bus");
        let sock = dir.path().join("bus");
        let includes: String = includes.iter().map(|p| format!("  <include>{}</include>\n", p.display())).collect();
        let conf = format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  {policy}
{includes}</busconfig>
"#,
            sock.display()
        );
        let conf_path = dir.path().join("bus.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf_path.display()))
            .args(["--nofork", "--print-address", "--nopidfile", "--nosyslog"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dbus-daemon (apt-get install dbus)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(!line.trim().is_empty(), "dbus-daemon did not start");
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o777)).unwrap();
        Bus { child, address: format!("unix:path={}", sock.display()), dir }
    }

    pub async fn connect(&self) -> zbus::Connection {
        zbus::connection::Builder::address(self.address.as_str()).unwrap().build().await.unwrap()
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two nodes; `n-2` needs escaping in object paths. Group `web` prefers
/// n1, group `db-1` prefers n-2. Heartbeats travel on link `hb` only, so
/// link `lan` stays down.
pub const TWO_NODES: &str = r#"
[cluster]
name = "lab"
keepalive = "50ms"
warntime = "200ms"
deadtime = "400ms"
initdead = "400ms"
auto_failback = true

[[node]]
name = "n1"
[[node]]
name = "n-2"

[[link]]
name = "hb"
type = "ucast"
interface = "lo"
peers = ["127.0.0.1"]

[[link]]
name = "lan"
type = "bcast"
interface = "lo"

[[group]]
name = "web"
preferred = "n1"
resources = [
  { vip = "10.99.0.60/24", interface = "lo" },
  { unit = "nginx.service" },
]

[[group]]
name = "db-1"
preferred = "n-2"
resources = [{ unit = "postgresql.service" }]
"#;

/// A cluster of real cores in one task; n1's status is served on the bus.
pub struct Cluster {
    pub status: watch::Receiver<Status>,
    task: tokio::task::JoinHandle<()>,
    pub conn: zbus::Connection,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Cluster {
    /// Start the cores of every node in `toml` and serve n1's API on `bus`.
    pub async fn start(bus: &Bus, toml: &str) -> Cluster {
        let cfg = hbd::config::parse(toml, Path::new("test.toml")).expect("test config");
        let names: Vec<String> = cfg.nodes.iter().map(|n| n.name.clone()).collect();
        let nodes: Vec<Node> =
            names.iter().map(|n| Node::new(cfg.clone(), n, 1, Duration::ZERO).expect("node")).collect();
        let (status_tx, status_rx) = watch::channel(worded(&nodes[0].status()));
        let (req_tx, req_rx) = mpsc::channel(16);
        let (ev_tx, _) = broadcast::channel(64);
        let conn = bus.connect().await;
        let api = ApiHandle { status: status_rx.clone(), requests: req_tx, events: ev_tx.clone() };
        hbd::dbus::serve(&conn, api).await.expect("serve");
        let task = tokio::spawn(drive(nodes, status_tx, req_rx, ev_tx));
        Cluster { status: status_rx, task, conn }
    }

    /// Wait until n1's status satisfies `f` (at most 10 s).
    pub async fn wait_for(&mut self, what: &str, f: impl Fn(&Status) -> bool) -> Status {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            {
                let s = self.status.borrow_and_update();
                if f(&s) {
                    return s.clone();
                }
            }
            match tokio::time::timeout_at(deadline, self.status.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!("timed out waiting for {what}; status: {:#?}", self.status.borrow()),
            }
        }
    }

    /// Wait until every group is started on its preferred node.
    pub async fn settled(&mut self) -> Status {
        self.wait_for("groups started on their preferred nodes", |s| {
            s.groups.iter().all(|g| g.state == "started" && g.owner == g.preferred)
        })
        .await
    }
}

/// The test's main loop: the shell's part of the contract, done in memory.
/// Heartbeats go from core to core on link 0; every start and stop
/// succeeds at once.
async fn drive(
    mut nodes: Vec<Node>,
    status_tx: watch::Sender<Status>,
    mut requests: mpsc::Receiver<ApiRequest>,
    events: broadcast::Sender<ApiEvent>,
) {
    let start = Instant::now();
    let names: Vec<String> = nodes.iter().map(|n| n.name().to_string()).collect();
    let mut queue: VecDeque<(usize, Input)> = VecDeque::new();
    let mut pending: HashMap<u64, oneshot::Sender<Result<(), hbd::core::CommandError>>> = HashMap::new();
    let mut next_id = 0u64;
    for i in 0..nodes.len() {
        queue.push_back((i, Input::Tick));
    }
    loop {
        while let Some((i, input)) = queue.pop_front() {
            let now = start.elapsed();
            let gen = nodes[i].generation();
            for a in nodes[i].handle(now, input) {
                match a {
                    Action::Send { seq, msg, .. } => {
                        for j in (0..nodes.len()).filter(|&j| j != i) {
                            let from = names[i].clone();
                            queue
                                .push_back((j, Input::Frame { from, link: 0, generation: gen, seq, msg: msg.clone() }));
                        }
                    }
                    Action::Start { group, resource, .. } => {
                        queue.push_back((i, Input::ResourceDone { group, resource, op: Op::Start, result: Ok(()) }))
                    }
                    Action::Stop { group, resource, .. } => {
                        queue.push_back((i, Input::ResourceDone { group, resource, op: Op::Stop, result: Ok(()) }))
                    }
                    Action::Fence { node } => queue.push_back((i, Input::FenceDone { node, ok: true })),
                    Action::Reply { id, result } if i == 0 => {
                        if let Some(tx) = pending.remove(&id) {
                            let _ = tx.send(result);
                        }
                    }
                    Action::Event(Event::GroupMoved { group, from, to, reason }) if i == 0 => {
                        let _ = events.send(ApiEvent::GroupMoved { group, from, to, reason: reason.as_str().into() });
                    }
                    _ => {}
                }
            }
        }
        let st = worded(&nodes[0].status());
        status_tx.send_if_modified(|s| {
            if *s != st {
                *s = st;
                true
            } else {
                false
            }
        });
        let deadline = nodes.iter().map(|n| n.next_deadline()).min().unwrap();
        let at = tokio::time::Instant::from_std(start + deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {
                let now = start.elapsed();
                for (i, n) in nodes.iter().enumerate() {
                    if n.next_deadline() <= now {
                        queue.push_back((i, Input::Tick));
                    }
                }
            }
            req = requests.recv() => match req {
                Some(ApiRequest::Command { cmd, reply }) => {
                    next_id += 1;
                    pending.insert(next_id, reply);
                    queue.push_back((0, Input::Command { id: next_id, cmd }));
                }
                Some(ApiRequest::Reload { reply }) => {
                    let _ = reply.send(Ok(()));
                }
                None => break,
            }
        }
    }
}

/// Run hactl with `args` against `bus` (as root unless `setpriv` args are given).
pub async fn hactl(bus_address: &str, setpriv: &[&str], args: &[&str]) -> std::process::Output {
    let exe = env!("CARGO_BIN_EXE_hactl");
    let mut cmd = if setpriv.is_empty() {
        tokio::process::Command::new(exe)
    } else {
        let mut c = tokio::process::Command::new("setpriv");
        c.args(setpriv).arg("--").arg(exe);
        c
    };
    cmd.args(args).env("HBD_BUS_ADDRESS", bus_address).env_remove("DBUS_SYSTEM_BUS_ADDRESS");
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(90), cmd.output()).await.expect("hactl hung").expect("run hactl")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
