//! The daemon: sets up links, netlink, systemd and the bus, then runs the
//! one loop that owns the core. Everything the core asks for is carried out
//! by tasks that report back into this loop, so the core is only ever
//! touched from here.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::alerts::{AlertEvent, Alerts};
use super::journal::{log_event, status_line};
use super::links::{LinkEvent, Links};
use super::metrics::{self, Reject};
use super::systemd::Systemd;
use super::vip::{AddrEvent, AddrWatcher, Vip};
use super::{garp, generation, notify};
use crate::config::LinkKind;
use crate::config::{self, Config};
use crate::core::{Action, CheckTarget, CommandError, Event, Input, Node, Op, OpError, Resource, UnitState};
use crate::dbus::{ApiEvent, ApiHandle, ApiRequest, LINK_AGE_SIGNAL_INTERVAL};
use crate::wire::{self, Codec, Header, ReplayGuard};

#[derive(Clone, Debug)]
pub struct Options {
    pub config: PathBuf,
    pub node: Option<String>,
    pub state_dir: PathBuf,
    /// Serve org.hbd1 on the system bus.
    pub dbus: bool,
}

/// Results of work the loop handed out.
enum Done {
    Op { group: String, resource: usize, op: Op, result: Result<(), OpError> },
    Failed { group: String, resource: usize, reason: String },
    Unit { group: String, resource: usize, state: UnitState },
    Fence { node: String, ok: bool },
    Respawn { unit: String },
    Check { target: CheckTarget, session: u64, outcome: super::check::Outcome },
}

/// A problem an operator must fix in the files; restarting will not help.
/// hbd exits with EX_CONFIG (78), which hbd.service does not restart.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigProblem(pub String);

fn config_problem(msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(ConfigProblem(msg.to_string()))
}

/// The hostname, as Heartbeat used it for the node name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// How long hbd waits at start for the system bus and systemd on it.
const BUS_WAIT: Duration = Duration::from_secs(30);

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let cfg = config::load(&opts.config).map_err(config_problem)?;
    let name = match &opts.node {
        Some(n) => n.clone(),
        None => hostname(),
    };
    if cfg.node_index(&name).is_none() {
        let nodes: Vec<&str> = cfg.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(config_problem(format!(
            "this node is called {name:?}, which is not a [[node]] in {} (nodes: {}); set the hostname or start hbd with --node NAME",
            opts.config.display(),
            nodes.join(", ")
        )));
    }
    super::log::init(&name);
    let keys = config::load_auth_keys(&cfg.cluster.auth_key).map_err(config_problem)?;
    // A state directory that is read-only, full or holds a bad counter is
    // for the operator to fix: exit 78 like a config problem, so systemd
    // does not restart hbd in a loop.
    let gen = generation::bump(&opts.state_dir).map_err(config_problem)?;
    info!(HBD_EVENT = "starting", "hbd {} starting as {name}, generation {gen}", env!("CARGO_PKG_VERSION"));

    let own: Vec<IpAddr> = super::netif::local_addrs();
    let (links, link_rx) = Links::start(&cfg.links, &own).await.map_err(|e| anyhow!("{e}"))?;
    for (i, l) in cfg.links.iter().enumerate() {
        if !links.is_up(i) {
            warn!(HBD_EVENT = "link-local-down", HBD_LINK = %l.name, "link {} is not usable yet: {}", l.name,
                links.last_error(i).unwrap_or_default());
        }
    }
    let vip = Vip::new().map_err(|e| anyhow!("{e}"))?;
    // dbus may still be starting (or restarting): wait for it a while
    // rather than fail and burn systemd's start limit in a second.
    let systemd = Arc::new(Systemd::connect_within(BUS_WAIT).await.map_err(|e| anyhow!("{e}"))?);
    let alerts = Alerts::start(&cfg.alerts, systemd.clone(), gen);

    let mut d = Daemon {
        codec: Codec::new(&cfg.cluster.name, &keys),
        replay: cfg.links.iter().map(|_| ReplayGuard::new()).collect(),
        links,
        vip,
        systemd,
        me: name.clone(),
        generation: gen,
        t0: Instant::now(),
        node: None,
        done_tx: mpsc::channel(256).0,
        watches: HashMap::new(),
        owned_vips: HashSet::new(),
        held: Held::default(),
        ping_tx: mpsc::channel(8).0,
        ping_task: None,
        respawns: HashMap::new(),
        checks: HashMap::new(),
        replies: HashMap::new(),
        next_cmd: 1,
        bad_frames: HashMap::new(),
        status_tx: None,
        events_tx: broadcast::channel(64).0,
        last_status: String::new(),
        status_woke: None,
        published: None,
        reload_timeouts: Vec::new(),
        unit_turns: HashMap::new(),
        opts: opts.clone(),
        node_names: cfg.nodes.iter().map(|n| n.name.clone()).collect(),
        send_failed: None,
        counters: Arc::default(),
        alerts,
        cfg: cfg.clone(),
    };
    let (done_tx, mut done_rx) = mpsc::channel::<Done>(256);
    d.done_tx = done_tx;

    // Adopt what already runs (hbd restarted under a healthy group) before
    // the core says anything, so peers never see us drop it.
    let mut node = Node::new(cfg.clone(), &name, gen, d.now()).map_err(|e| anyhow!(e))?;
    for input in d.unit_timeouts(&cfg).await {
        let acts = node.handle(d.now(), input);
        d.pending(acts);
    }
    let mut adopt = Vec::new();
    for g in &cfg.groups {
        for (ri, r) in g.resources.iter().enumerate() {
            // Anything of a unit that may run counts: a unit left
            // `activating` or `deactivating` by an hbd that died is taken
            // on and then either finishes its start or is stopped.
            let state = match r {
                Resource::Vip { addr, interface, .. } => {
                    d.vip.present(*addr, interface).await.unwrap_or(false).then(|| "present".to_string())
                }
                Resource::Unit { name, .. } => {
                    d.systemd.active_state(name).await.ok().filter(|s| s != "inactive" && s != "failed")
                }
            };
            if let Some(state) = state {
                info!(HBD_EVENT = "adopt", HBD_GROUP = %g.name, "{} of group {} is already {state}; adopting it", r.name(), g.name);
                adopt.push((g.name.clone(), ri, r.clone()));
            }
            if let Resource::Unit { name, .. } = r {
                if d.systemd.is_enabled(name).await.unwrap_or(false) {
                    warn!(HBD_EVENT = "unit-enabled", HBD_GROUP = %g.name, HBD_UNIT = %name,
                        "{name} belongs to group {} but is also enabled in systemd, so it starts at boot on every node; run: systemctl disable {name}", g.name);
                }
            }
        }
    }
    for (g, ri, r) in adopt {
        let acts = node.handle(d.now(), Input::Adopt { group: g.clone(), resource: ri });
        d.track_started(&g, ri, &r);
        d.pending(acts);
    }
    d.node = Some(node);

    // The API.
    let (status_tx, status_rx) = watch::channel(d.node().status());
    d.status_tx = Some(status_tx);
    // Off by default; a port that cannot be had costs the metrics, not the cluster.
    let _metrics = match &cfg.metrics {
        Some(m) => {
            let src = metrics::Source {
                status: status_rx.clone(),
                links: d.links.counters(),
                link_names: cfg.links.iter().map(|l| l.name.clone()).collect(),
                counters: d.counters.clone(),
            };
            match metrics::serve(&m.listen, src).await {
                Ok(task) => Some(AbortOnDrop(task)),
                Err(e) => {
                    error!(HBD_EVENT = "metrics-failed", "{e}; serving no metrics");
                    None
                }
            }
        }
        None => None,
    };
    let (api_tx, mut api_rx) = mpsc::channel::<ApiRequest>(64);
    if opts.dbus {
        let api = ApiHandle { status: status_rx, requests: api_tx.clone(), events: d.events_tx.clone() };
        let conn = super::api::start(api.clone()).await.context("cannot serve org.hbd1 on the system bus")?;
        tokio::spawn(super::api::keep(conn, api));
    }

    // Ping hosts.
    let (ping_tx, mut ping_rx) = mpsc::channel::<u32>(8);
    d.ping_tx = ping_tx;
    d.start_ping(&cfg.ping).map_err(|e| anyhow!("{e}"))?;

    // Addresses that vanish under us.
    let (addr_tx, mut addr_rx) = mpsc::channel::<(IpAddr, u32)>(32);
    match AddrWatcher::new().await {
        Ok(mut w) => {
            tokio::spawn(async move {
                while let Some(ev) = w.next().await {
                    if let AddrEvent::Removed { addr, ifindex, .. } = ev {
                        if addr_tx.send((addr, ifindex)).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
        Err(e) => warn!("cannot watch addresses, a VIP removed by something else will not be re-added: {e}"),
    }

    // Respawn units run on every node while hbd runs.
    for r in &cfg.respawn {
        d.respawn(&r.unit);
    }

    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let wd = notify::watchdog_interval().unwrap_or(Duration::from_secs(3600));
    let mut watchdog = tokio::time::interval(wd);
    let mut link_rx = link_rx;

    let now = d.now();
    let first = d.node_mut().handle(now, Input::Tick);
    d.dispatch(first);
    notify::ready();
    d.publish();
    let mut leaving = false;
    let mut stopping_announced = false;

    loop {
        let deadline = d.t0 + d.node().next_deadline();
        let input = tokio::select! {
            ev = link_rx.recv() => match ev {
                Some(LinkEvent::Frame(r)) => d.frame(r.link, &r.frame),
                Some(LinkEvent::Status(s)) => {
                    if s.up {
                        info!(HBD_EVENT = "link-local-up", HBD_LINK = %d.cfg.links[s.link].name, "{}", s.reason);
                    } else {
                        warn!(HBD_EVENT = "link-local-down", HBD_LINK = %d.cfg.links[s.link].name, "{}", s.reason);
                    }
                    None
                }
                None => bail!("all heartbeat link tasks ended"),
            },
            Some(done) = done_rx.recv() => match done {
                Done::Op { group, resource, op, result } => {
                    if op == Op::Stop && result.is_ok() {
                        d.unwatch(&group, resource);
                    }
                    d.alert_op(&group, resource, op, &result);
                    Some(Input::ResourceDone { group, resource, op, result })
                }
                Done::Failed { group, resource, reason } => Some(Input::ResourceFailed { group, resource, reason }),
                Done::Unit { group, resource, state } => Some(Input::UnitState { group, resource, state }),
                Done::Fence { node, ok } => Some(Input::FenceDone { node, ok }),
                Done::Check { target, session, outcome } => Some(Input::CheckResult {
                    target,
                    session,
                    ok: outcome.ok,
                    detail: outcome.detail,
                    latency: outcome.latency,
                }),
                Done::Respawn { unit } => {
                    if d.cfg.respawn.iter().any(|r| r.unit == unit) {
                        d.respawn(&unit);
                    }
                    None
                }
            },
            Some(n) = ping_rx.recv() => {
                info!(HBD_EVENT = "ping", "{n} of {} ping hosts reachable", d.cfg.ping.hosts.len());
                Some(Input::Ping { reachable: n })
            }
            Some((addr, _)) = addr_rx.recv() => { d.vip_vanished(addr); None }
            Some(req) = api_rx.recv() => d.api(req).await,
            _ = hup.recv() => d.reload().await.err().map(|e| {
                warn!(HBD_EVENT = "reload-failed", "{e}");
                None
            }).unwrap_or_else(|| d.take_reload()),
            _ = term.recv(), if !leaving => { leaving = true; Some(Input::Shutdown) }
            _ = int.recv(), if !leaving => { leaving = true; Some(Input::Shutdown) }
            _ = watchdog.tick() => { notify::watchdog(); None }
            _ = tokio::time::sleep_until(deadline.into()) => Some(Input::Tick),
        };
        if leaving && !stopping_announced {
            stopping_announced = true;
            notify::stopping();
            info!(HBD_EVENT = "stopping", "stopping: handing groups over to peers");
        }
        let Some(input) = input else { continue };
        let reloaded = matches!(input, Input::Reload(_));
        let now = d.now();
        let mut acts = d.node_mut().handle(now, input);
        if reloaded {
            for t in std::mem::take(&mut d.reload_timeouts) {
                acts.extend(d.node_mut().handle(now, t));
            }
        }
        if d.dispatch(acts) {
            break;
        }
        let mut exit = false;
        // Bounded: the core reports the failure once and sends nothing more
        // at the same instant.
        for _ in 0..3 {
            let Some(reason) = d.send_failed.take() else { break };
            let acts = d.node_mut().handle(now, Input::SendFailed { reason });
            exit |= d.dispatch(acts);
        }
        if exit {
            break;
        }
        d.publish();
    }
    // The respawn units of the running configuration (a reload already
    // stopped the ones it dropped).
    let respawn_units: Vec<String> = d.respawns.keys().cloned().collect();
    for unit in &respawn_units {
        let _ = d.systemd.stop(unit).await;
    }
    // The alerts of the leave (groups stopped here) still go out; the
    // watchdog is fed meanwhile, as the loop no longer does.
    let finish = d.alerts.finish(Duration::from_secs(10));
    tokio::pin!(finish);
    let mut feed = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = &mut finish => break,
            _ = feed.tick() => notify::watchdog(),
        }
    }
    info!(HBD_EVENT = "exit", "hbd stopped");
    Ok(())
}

struct Daemon {
    opts: Options,
    cfg: Config,
    codec: Codec,
    /// One window per link: every frame travels on every link.
    replay: Vec<ReplayGuard>,
    links: Links,
    vip: Vip,
    systemd: Arc<Systemd>,
    me: String,
    generation: u64,
    t0: Instant,
    node: Option<Node>,
    done_tx: mpsc::Sender<Done>,
    /// Unit watches of owned resources, by (group, resource).
    watches: HashMap<(String, usize), JoinHandle<()>>,
    owned_vips: HashSet<(IpAddr, u8, String, String)>,
    held: Held,
    ping_tx: mpsc::Sender<u32>,
    ping_task: Option<JoinHandle<()>>,
    /// The follower of each respawn unit.
    respawns: HashMap<String, JoinHandle<()>>,
    /// The running health checks.
    checks: HashMap<CheckTarget, JoinHandle<()>>,
    replies: HashMap<u64, ReplyTo>,
    next_cmd: u64,
    /// (claimed sender, error kind) -> (last logged, suppressed since).
    bad_frames: HashMap<(String, String), (Instant, u64)>,
    status_tx: Option<watch::Sender<crate::core::node::Status>>,
    events_tx: broadcast::Sender<ApiEvent>,
    last_status: String,
    /// When the status watch last woke its receivers.
    status_woke: Option<Instant>,
    /// The core's status serial and the time of the last snapshot built.
    published: Option<(u64, Instant)>,
    /// Unit timeouts read for a reload, fed to the core after it.
    reload_timeouts: Vec<Input>,
    /// Per unit, what its next job waits for (see [`Daemon::turn`]).
    unit_turns: HashMap<String, oneshot::Receiver<()>>,
    /// The configured node names, in file order (beats refer to them by index).
    node_names: Vec<String>,
    /// A message could not be sealed; the core is told after the dispatch.
    send_failed: Option<String>,
    /// What the metrics count beyond the status snapshot.
    counters: Arc<metrics::Counters>,
    alerts: Alerts,
}

/// A task that ends with its owner.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type ReplyTo = oneshot::Sender<Result<(), CommandError>>;

impl Daemon {
    fn now(&self) -> Duration {
        self.t0.elapsed()
    }
    fn node(&self) -> &Node {
        self.node.as_ref().expect("node")
    }
    fn node_mut(&mut self) -> &mut Node {
        self.node.as_mut().expect("node")
    }

    /// Actions produced before the loop runs (adoption).
    /// Actions of the inputs fed before the main loop (timeouts, adoption):
    /// their events are logged and their checks begin; what they send is
    /// sent again by the first tick.
    fn pending(&mut self, acts: Vec<Action>) {
        for a in acts {
            match a {
                Action::Event(e) => log_event(&e),
                a @ (Action::StartCheck { .. } | Action::StopCheck { .. }) => {
                    self.dispatch(vec![a]);
                }
                _ => {}
            }
        }
    }

    /// Open, check and decode one frame; None when it must be dropped.
    fn frame(&mut self, link: usize, bytes: &[u8]) -> Option<Input> {
        let (h, body) = match self.codec.open(bytes) {
            Ok(x) => x,
            Err(e) => {
                // The claimed sender is unauthenticated: rate-limit per
                // configured node, and all other names together, or random
                // names would each get a log line and a map entry.
                let claimed = wire::peek_sender(bytes);
                let who = match &claimed {
                    Some(n) if self.cfg.node_index(n).is_some() => n.clone(),
                    _ => "?".to_string(),
                };
                self.counters.reject(Reject::of(&e));
                let kind = format!("{:?}", std::mem::discriminant(&e));
                let hint = match e {
                    wire::WireError::BadTag { .. } | wire::WireError::UnknownKey { .. } => {
                        "; the auth key files of the nodes differ (compare /etc/hbd/authkey)"
                    }
                    _ => "",
                };
                let stranger = match &claimed {
                    Some(n) if who == "?" => format!(" (claimed sender {n:?} is not a node of this cluster)"),
                    _ => String::new(),
                };
                self.bad_frame(&who, link, &kind, &format!("{e}{hint}{stranger}"));
                let keyed = matches!(e, wire::WireError::BadTag { .. } | wire::WireError::UnknownKey { .. });
                if keyed && who != self.me && self.cfg.node_index(&who).is_some() {
                    return Some(Input::Unverified { from: who });
                }
                return None;
            }
        };
        if h.sender == self.me {
            return None;
        }
        if self.cfg.node_index(&h.sender).is_none() {
            self.counters.reject(Reject::UnknownNode);
            self.bad_frame(&h.sender, link, "unknown-node", "authenticated frame from a node not in the configuration");
            return None;
        }
        if let Err(e) = self.replay[link].check(&h.sender, h.generation, h.seq) {
            self.counters.reject(Reject::Replay);
            self.bad_frame(
                &h.sender,
                link,
                "replay",
                &format!("{e} (generation {}, sequence {})", h.generation, h.seq),
            );
            return None;
        }
        match wire::decode_message(h.msg_type, &body, &self.node_names) {
            // A message type this release does not know: skipped.
            Ok(None) => None,
            Ok(Some(msg)) => Some(Input::Frame { from: h.sender, link, generation: h.generation, seq: h.seq, msg }),
            Err(e) => {
                self.counters.reject(Reject::Body);
                self.bad_frame(&h.sender, link, "body", &e.to_string());
                None
            }
        }
    }

    /// Log rejected frames at most once per 10 s per sender and kind.
    fn bad_frame(&mut self, who: &str, link: usize, kind: &str, msg: &str) {
        let key = (who.to_string(), kind.to_string());
        let now = Instant::now();
        let link = self.cfg.links.get(link).map_or("?", |l| l.name.as_str()).to_string();
        match self.bad_frames.get_mut(&key) {
            Some((last, suppressed)) if now.duration_since(*last) < Duration::from_secs(10) => *suppressed += 1,
            Some((last, suppressed)) => {
                warn!(HBD_EVENT = "bad-frame", HBD_PEER = %who, HBD_LINK = %link,
                    "rejected frame on link {link} claiming to be from {who}: {msg} ({} more rejected in the last {}s)",
                    suppressed, now.duration_since(*last).as_secs());
                *last = now;
                *suppressed = 0;
            }
            None => {
                warn!(HBD_EVENT = "bad-frame", HBD_PEER = %who, HBD_LINK = %link,
                    "rejected frame on link {link} claiming to be from {who}: {msg}");
                self.bad_frames.insert(key, (now, 0));
            }
        }
    }

    async fn api(&mut self, req: ApiRequest) -> Option<Input> {
        match req {
            ApiRequest::Command { cmd, reply } => {
                let id = self.next_cmd;
                self.next_cmd += 1;
                self.replies.insert(id, reply);
                Some(Input::Command { id, cmd })
            }
            ApiRequest::Reload { reply } => {
                let r = self.reload().await;
                if let Err(e) = &r {
                    warn!(HBD_EVENT = "reload-failed", "{e}");
                }
                let input = if r.is_ok() { self.take_reload() } else { None };
                let _ = reply.send(r.map_err(|e| e.to_string()));
                input
            }
        }
    }

    /// Validate the file again; the new config waits in `self.cfg` until
    /// `take_reload` hands it to the core.
    async fn reload(&mut self) -> anyhow::Result<()> {
        let new = config::load(&self.opts.config)
            .map_err(|e| anyhow!("reload refused, keeping the running configuration: {e}"))?;
        if new.nodes != self.cfg.nodes || new.links != self.cfg.links || new.cluster.name != self.cfg.cluster.name {
            bail!("reload refused, keeping the running configuration: nodes, links or the cluster name changed in {}; restart hbd to apply those", self.opts.config.display());
        }
        let keys = config::load_auth_keys(&new.cluster.auth_key)
            .map_err(|e| anyhow!("reload refused, keeping the running configuration: {e}"))?;
        if new.ping != self.cfg.ping {
            self.start_ping(&new.ping)
                .map_err(|e| anyhow!("reload refused, keeping the running configuration: {e}"))?;
        }
        self.codec = Codec::new(&new.cluster.name, &keys);
        // Respawn units follow the file at once: new ones start, dropped
        // ones stop.
        for r in &new.respawn {
            if !self.respawns.contains_key(&r.unit) {
                self.respawn(&r.unit);
            }
        }
        let dropped: Vec<String> =
            self.respawns.keys().filter(|u| !new.respawn.iter().any(|r| &r.unit == *u)).cloned().collect();
        for unit in dropped {
            if let Some(h) = self.respawns.remove(&unit) {
                h.abort();
            }
            info!(HBD_EVENT = "respawn", HBD_UNIT = %unit, "{unit} is no longer a respawn unit; stopping it");
            let sd = self.systemd.clone();
            tokio::spawn(async move {
                if let Err(e) = sd.stop(&unit).await {
                    warn!(HBD_UNIT = %unit, "{e}");
                }
            });
        }
        self.reload_timeouts = self.unit_timeouts(&new).await;
        self.alerts.configure(&new.alerts);
        if new.metrics != self.cfg.metrics {
            warn!(
                HBD_EVENT = "reload",
                "[metrics] changed in {}; it takes effect when hbd restarts",
                self.opts.config.display()
            );
        }
        info!(
            HBD_EVENT = "reload",
            "configuration reloaded from {}; signing with key {}",
            self.opts.config.display(),
            self.codec.sign_key_id()
        );
        self.cfg = new;
        Ok(())
    }

    fn take_reload(&mut self) -> Option<Input> {
        Some(Input::Reload(Box::new(self.cfg.clone())))
    }

    /// What systemd says each group unit's job timeouts are, as inputs.
    async fn unit_timeouts(&self, cfg: &Config) -> Vec<Input> {
        let mut out = Vec::new();
        for g in &cfg.groups {
            for (ri, r) in g.resources.iter().enumerate() {
                let Resource::Unit { name, timeout: None, .. } = r else { continue };
                match self.systemd.timeouts(name).await {
                    Ok(Some(timeouts)) => {
                        out.push(Input::UnitTimeouts { group: g.name.clone(), resource: ri, timeouts })
                    }
                    Ok(None) => {}
                    Err(e) => warn!(HBD_UNIT = %name, HBD_GROUP = %g.name, "cannot read the timeouts of {name}: {e}"),
                }
            }
        }
        out
    }

    /// (Re)start the ping monitor for these settings (none: stop it).
    fn start_ping(&mut self, ping: &config::Ping) -> Result<(), super::ping::PingError> {
        if let Some(t) = self.ping_task.take() {
            t.abort();
        }
        if ping.hosts.is_empty() {
            return Ok(());
        }
        let mut mon = super::ping::PingMonitor::start(ping)?;
        let tx = self.ping_tx.clone();
        self.ping_task = Some(tokio::spawn(async move {
            while let Some(n) = mon.changed().await {
                if tx.send(n as u32).await.is_err() {
                    break;
                }
            }
        }));
        Ok(())
    }

    /// Carry out the core's actions. Returns true when the daemon must exit.
    fn dispatch(&mut self, acts: Vec<Action>) -> bool {
        let mut exit = false;
        for a in acts {
            match a {
                Action::Send { seq, msg, serial } => {
                    // The core says what goes where: UDP links take every
                    // message, serial links the beats marked for them, in
                    // their liveness-only form.
                    for serial_link in [false, true] {
                        let on = |i: usize| matches!(self.cfg.links[i].kind, LinkKind::Serial { .. }) == serial_link;
                        if !(0..self.cfg.links.len()).any(on) {
                            continue;
                        }
                        let Some(m) = msg.for_link(serial_link, serial) else { continue };
                        let (msg_type, body) = wire::encode_message(&m, &self.node_names);
                        let h = Header { sender: self.me.clone(), generation: self.generation, seq, msg_type };
                        match self.codec.seal(&h, &body) {
                            Ok(frame) => {
                                self.links.send_where(&frame, on);
                            }
                            Err(e) => {
                                // Never a quiet warning while peers declare
                                // us dead: the core gives its groups up.
                                error!(HBD_EVENT = "send-failed", "cannot seal a frame for the peers: {e}");
                                self.send_failed.get_or_insert_with(|| e.to_string());
                            }
                        }
                    }
                }
                Action::Start { group, resource, what } => self.start(group, resource, what),
                Action::Stop { group, resource, what } => self.stop(group, resource, what),
                Action::Fence { node } => {
                    let sd = self.systemd.clone();
                    let tx = self.done_tx.clone();
                    tokio::spawn(async move {
                        let unit = format!("hbd-fence@{node}.service");
                        let r = sd.fence(&unit).await;
                        // The core logs the failure itself (fence-failed); this is the detail.
                        if let Err(e) = &r {
                            info!(HBD_PEER = %node, "fence unit: {e}");
                        }
                        let _ = tx.send(Done::Fence { node, ok: r.is_ok() }).await;
                    });
                }
                Action::Announce { group } => self.reannounce(&group),
                Action::StartCheck { target, session, check } => self.start_check(target, session, check),
                Action::StopCheck { target } => {
                    if let Some(h) = self.checks.remove(&target) {
                        h.abort();
                    }
                }
                Action::ResetFailed { unit } => {
                    let sd = self.systemd.clone();
                    tokio::spawn(async move {
                        match sd.reset_failed(&unit).await {
                            Ok(()) => info!(HBD_UNIT = %unit, "reset systemd's failed state and start limit of {unit}"),
                            Err(e) => warn!(HBD_UNIT = %unit, "{e}"),
                        }
                    });
                }
                Action::Reply { id, result } => {
                    if let Some(tx) = self.replies.remove(&id) {
                        let _ = tx.send(result);
                    }
                }
                Action::Event(e) => {
                    log_event(&e);
                    self.counters.event(&e, Instant::now());
                    self.alert_event(&e);
                    if let Event::GroupMoved { group, from, to, reason } = &e {
                        let _ = self.events_tx.send(ApiEvent::GroupMoved {
                            group: group.clone(),
                            from: from.clone(),
                            to: to.clone(),
                            reason: reason.as_str().to_string(),
                        });
                    }
                }
                Action::Exit => exit = true,
            }
        }
        exit
    }

    /// The alert, if any, for an event of the core.
    fn alert_event(&mut self, e: &Event) {
        let ev = match e {
            Event::PeerUp { peer, .. } | Event::PeerRestarted { peer, .. } => AlertEvent::node(peer, true),
            Event::PeerDead { peer } | Event::PeerLeft { peer } => AlertEvent::node(peer, false),
            Event::ResourceFailed { group, resource, .. } => {
                AlertEvent::resource(&self.me, group, resource, "monitor", Err((7, "not running")))
            }
            Event::Fenced { peer } => AlertEvent::fencing(peer, &self.me, true),
            Event::FenceFailed { peer } => AlertEvent::fencing(peer, &self.me, false),
            _ => return,
        };
        self.alerts.send(ev);
    }

    /// A resource operation finished: its alert.
    fn alert_op(&mut self, group: &str, resource: usize, op: Op, result: &Result<(), OpError>) {
        let Some(r) = self.cfg.groups.iter().find(|g| g.name == group).and_then(|g| g.resources.get(resource)) else {
            return;
        };
        let task = match op {
            Op::Start => "start",
            Op::Stop => "stop",
        };
        let result = result.as_ref().map(|_| ()).map_err(|_| (1, "error"));
        self.alerts.send(AlertEvent::resource(&self.me, group, &r.name(), task, result));
    }

    fn track_started(&mut self, group: &str, resource: usize, what: &Resource) {
        match what {
            Resource::Vip { addr, prefix, interface } => {
                self.owned_vips.insert((*addr, *prefix, interface.clone(), group.to_string()));
                self.hold(*addr, true);
            }
            Resource::Unit { name, .. } => {
                self.watch_unit(group, resource, name);
            }
        }
    }

    fn start(&mut self, group: String, resource: usize, what: Resource) {
        let tx = self.done_tx.clone();
        match what.clone() {
            Resource::Vip { addr, prefix, interface } => {
                let vip = self.vip.clone();
                let garp = self.cfg.garp.clone();
                let cfgpath = self.cfg.path.clone();
                self.owned_vips.insert((addr, prefix, interface.clone(), group.clone()));
                self.hold(addr, true);
                let held = self.held.clone();
                tokio::spawn(async move {
                    let r = vip
                        .add(addr, prefix, &interface)
                        .await
                        .map_err(|e| OpError(e.with_group(&group, &cfgpath).to_string()));
                    if r.is_ok() {
                        info!(HBD_EVENT = "vip-added", HBD_GROUP = %group, "{addr}/{prefix} added on {interface}");
                        announce(interface, addr, garp, held);
                    }
                    let _ = tx.send(Done::Op { group, resource, op: Op::Start, result: r }).await;
                });
            }
            Resource::Unit { name, .. } => {
                let sd = self.systemd.clone();
                // The watch exists before the start job: a unit that dies
                // at once is seen dying, not found dead later or never.
                let watching = self.watch_unit(&group, resource, &name);
                let turn = self.turn(&name);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(super::systemd::BUS_CALL_TIMEOUT, watching).await;
                    let r = sd.start_in_turn(&name, turn).await.map_err(|e| OpError(e.to_string()));
                    let _ = tx.send(Done::Op { group, resource, op: Op::Start, result: r }).await;
                });
            }
        }
    }

    fn stop(&mut self, group: String, resource: usize, what: Resource) {
        let tx = self.done_tx.clone();
        // The unit stays watched until its stop is over: the core sees it
        // go down, and a stop that fails leaves it watched.
        match what {
            Resource::Vip { addr, prefix, interface } => {
                self.owned_vips.retain(|v| !(v.0 == addr && v.3 == group));
                self.hold(addr, false);
                let vip = self.vip.clone();
                tokio::spawn(async move {
                    let r = vip.remove(addr, prefix, &interface).await.map_err(|e| OpError(e.to_string()));
                    let _ = tx.send(Done::Op { group, resource, op: Op::Stop, result: r }).await;
                });
            }
            Resource::Unit { name, .. } => {
                let sd = self.systemd.clone();
                let turn = self.turn(&name);
                tokio::spawn(async move {
                    let r = sd.stop_in_turn(&name, turn).await.map_err(|e| OpError(e.to_string()));
                    let _ = tx.send(Done::Op { group, resource, op: Op::Stop, result: r }).await;
                });
            }
        }
    }

    /// Follow a group unit by signals from before hbd starts it until hbd
    /// has stopped it: every state change goes to the core, which decides
    /// what is a failure. The receiver resolves once the watch is in place.
    fn watch_unit(&mut self, group: &str, resource: usize, unit: &str) -> oneshot::Receiver<()> {
        let (ready_tx, ready) = oneshot::channel();
        let key = (group.to_string(), resource);
        if self.watches.get(&key).is_some_and(|h| !h.is_finished()) {
            let _ = ready_tx.send(());
            return ready;
        }
        let sd = self.systemd.clone();
        let tx = self.done_tx.clone();
        let (group, unit) = (group.to_string(), unit.to_string());
        let h = tokio::spawn(async move {
            let mut ready_tx = Some(ready_tx);
            loop {
                let mut w = match sd.watch(&unit).await {
                    Ok(w) => w,
                    // The bus is away (dbus restarting): follow it again
                    // once it is back.
                    Err(_) if !sd.bus_up() => {
                        sd.bus_back().await;
                        continue;
                    }
                    Err(e) => {
                        warn!(HBD_UNIT = %unit, "cannot follow {unit}: {e}");
                        return;
                    }
                };
                if let Some(r) = ready_tx.take() {
                    let _ = r.send(());
                }
                while let Some(ev) = w.next().await {
                    let input = match &ev {
                        super::systemd::UnitEvent::State { .. } => {
                            Done::Unit { group: group.clone(), resource, state: w.unit_state() }
                        }
                        // A restart systemd made per Restart= without passing
                        // through `failed`: the state alone does not show it.
                        super::systemd::UnitEvent::Restarted { n_restarts, result, new_failure: true } => {
                            Done::Failed {
                                group: group.clone(),
                                resource,
                                reason: format!(
                                    "it exited ({result}) and systemd restarted it ({n_restarts} restarts)"
                                ),
                            }
                        }
                        _ => continue,
                    };
                    if tx.send(input).await.is_err() {
                        return;
                    }
                }
                // The connection closed under the watch: what the unit did
                // meanwhile is the first state of the next watch.
                sd.bus_back().await;
            }
        });
        self.watches.insert(key, h);
        ready
    }

    /// The next job of `unit` comes after the one asked for before it: the
    /// core may stop a unit whose start task has not reached systemd yet.
    /// Probe a check every interval until the core stops it. Each check is
    /// a task of its own: a slow probe delays nothing but itself.
    fn start_check(&mut self, target: CheckTarget, session: u64, check: config::Check) {
        let sd = self.systemd.clone();
        let tx = self.done_tx.clone();
        let key = target.clone();
        let h = tokio::spawn(async move {
            let mut tick = tokio::time::interval(check.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let outcome = super::check::probe(&check, &sd).await;
                if tx.send(Done::Check { target: target.clone(), session, outcome }).await.is_err() {
                    return;
                }
            }
        });
        if let Some(old) = self.checks.insert(key, h) {
            old.abort();
        }
    }

    fn turn(&mut self, unit: &str) -> super::systemd::Turn {
        let (queued, next) = oneshot::channel();
        let after = self.unit_turns.insert(unit.to_string(), next);
        super::systemd::Turn { after, queued: Some(queued) }
    }

    fn unwatch(&mut self, group: &str, resource: usize) {
        if let Some(w) = self.watches.remove(&(group.to_string(), resource)) {
            w.abort();
        }
    }

    /// Something removed a VIP we hold: put it back.
    fn vip_vanished(&mut self, addr: IpAddr) {
        let Some((addr, prefix, iface, group)) = self.owned_vips.iter().find(|v| v.0 == addr).cloned() else { return };
        warn!(HBD_EVENT = "vip-removed", HBD_GROUP = %group, "{addr}/{prefix} of group {group} was removed from {iface} by something else; adding it back");
        let vip = self.vip.clone();
        let tx = self.done_tx.clone();
        let garp = self.cfg.garp.clone();
        let held = self.held.clone();
        let resource = self
            .cfg
            .groups
            .iter()
            .find(|g| g.name == group)
            .and_then(|g| g.resources.iter().position(|r| matches!(r, Resource::Vip { addr: a, .. } if *a == addr)))
            .unwrap_or(0);
        tokio::spawn(async move {
            if let Err(e) = vip.add(addr, prefix, &iface).await {
                let _ =
                    tx.send(Done::Failed { group, resource, reason: format!("VIP could not be re-added: {e}") }).await;
            } else {
                announce(iface, addr, garp, held);
            }
        });
    }

    /// Announce a group's VIPs again (the core asks after a partition heals).
    fn reannounce(&self, group: &str) {
        for (addr, _, iface, g) in &self.owned_vips {
            if g == group {
                announce(iface.clone(), *addr, self.cfg.garp.clone(), self.held.clone());
            }
        }
    }

    fn hold(&self, addr: IpAddr, on: bool) {
        if let Ok(mut h) = self.held.lock() {
            if on {
                h.insert(addr);
            } else {
                h.remove(&addr);
            }
        }
    }

    fn respawn(&mut self, unit: &str) {
        let sd = self.systemd.clone();
        let tx = self.done_tx.clone();
        let key = unit.to_string();
        let unit = unit.to_string();
        let h = tokio::spawn(async move {
            let mut w = match sd.watch(&unit).await {
                Ok(w) => w,
                Err(_) if !sd.bus_up() => {
                    sd.bus_back().await;
                    let _ = tx.send(Done::Respawn { unit }).await;
                    return;
                }
                Err(e) => {
                    warn!(HBD_UNIT = %unit, "cannot follow respawn unit {unit}: {e}");
                    return;
                }
            };
            if let Err(e) = sd.start(&unit).await {
                warn!(HBD_EVENT = "respawn-failed", HBD_UNIT = %unit, "respawn unit {e}");
            }
            while let Some(ev) = w.next().await {
                let dead = match &ev {
                    super::systemd::UnitEvent::State { active_state, .. } => {
                        active_state == "failed" || active_state == "inactive"
                    }
                    e => e.is_failure(),
                };
                if dead {
                    warn!(HBD_EVENT = "respawn", HBD_UNIT = %unit, "respawn unit {unit} died; starting it again in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = tx.send(Done::Respawn { unit }).await;
                    return;
                }
            }
            // The bus went away: follow the unit again (and start it if it
            // died meanwhile) once it is back.
            sd.bus_back().await;
            let _ = tx.send(Done::Respawn { unit }).await;
        });
        self.respawns.insert(key, h);
    }

    /// Publish the snapshot for the API and systemd's status line.
    fn publish(&mut self) {
        // Most inputs are frames that change nothing but a link's age:
        // building the whole snapshot for each of them was a tenth of hbd's
        // idle CPU. Ages are refreshed once a keepalive, the pace they move at.
        let serial = self.node().status_serial();
        let now = Instant::now();
        let keepalive = self.cfg.cluster.keepalive;
        if self.published.is_some_and(|(s, t)| s == serial && now.duration_since(t) < keepalive) {
            return;
        }
        self.published = Some((serial, now));
        let st = self.node().status();
        let line = status_line(&st);
        if line != self.last_status {
            notify::status(&line);
            self.last_status = line;
        }
        let Some(tx) = &self.status_tx else { return };
        let woke = tx.send_if_modified(|old| {
            if *old == st {
                return false;
            }
            // Readers see the newest snapshot; the D-Bus follower is woken
            // for link ages alone at most once per signal interval, or it
            // would wake with every heartbeat.
            let ages_only = same_but_link_ages(old, &st);
            *old = st;
            !ages_only || self.status_woke.is_none_or(|t| now.duration_since(t) >= LINK_AGE_SIGNAL_INTERVAL)
        });
        if woke {
            self.status_woke = Some(now);
        }
    }
}

fn same_but_link_ages(a: &crate::core::node::Status, b: &crate::core::node::Status) -> bool {
    let same_links = |x: &[(String, String, i64)], y: &[(String, String, i64)]| {
        x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.0 == q.0 && p.1 == q.1)
    };
    let same_node = |x: &crate::core::node::NodeStatus, y: &crate::core::node::NodeStatus| {
        x.name == y.name
            && x.state == y.state
            && x.local == y.local
            && x.generation == y.generation
            && x.ping == y.ping
            && same_links(&x.links, &y.links)
    };
    a.cluster == b.cluster
        && a.local == b.local
        && a.generation == b.generation
        && a.quorate == b.quorate
        && a.groups == b.groups
        && a.nodes.len() == b.nodes.len()
        && a.nodes.iter().zip(&b.nodes).all(|(x, y)| same_node(x, y))
}

/// VIPs this node holds now; announcements stop the moment one is released,
/// or a late packet would pull the LAN back from the new owner.
type Held = Arc<std::sync::Mutex<HashSet<IpAddr>>>;

/// Gratuitous ARP / unsolicited NA: a burst now and, if configured, again later.
fn announce(iface: String, addr: IpAddr, garp: config::Garp, held: Held) {
    tokio::spawn(async move {
        let holds = || held.lock().map(|h| h.contains(&addr)).unwrap_or(false);
        for burst in 0..2 {
            if burst == 1 {
                if garp.repeat_after.is_zero() {
                    return;
                }
                tokio::time::sleep(garp.repeat_after).await;
            }
            for i in 0..garp.count {
                if !holds() {
                    return;
                }
                if i > 0 {
                    tokio::time::sleep(garp.interval).await;
                }
                if let Err(e) = garp::announce(&iface, addr, 1, Duration::ZERO).await {
                    warn!(HBD_EVENT = "garp-failed", "{e}");
                    return;
                }
            }
        }
    });
}
