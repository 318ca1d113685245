//! The real platform: systemd over D-Bus, rtnetlink, packet sockets. Every
//! operation is a task of its own that reports back into the daemon's loop
//! through one channel ([`Done`]); nothing here decides what to do.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::alerts::{AlertEvent, Alerts};
use super::journal::{log_event, status_line};
use super::links::Links;
use super::metrics;
use super::systemd::{Systemd, Turn, UnitEvent};
use super::vip::Vip as Netlink;
use super::{garp, notify};
use crate::config::{self, AuthKeys, Config, LinkKind};
use crate::core::node::{Status as CoreStatus, Volatile};
use crate::core::{CheckTarget, CommandError, Event, Message, Op, OpError, UnitState};
use crate::dbus::{status_text, ApiEvent, NodeStatus, Status, LINK_AGE_SIGNAL_INTERVAL};
use crate::driver::{Platform, Vip};
use crate::wire::{self, Codec, Header};

/// What the platform's tasks report to the daemon's loop.
#[derive(Clone, Debug)]
pub enum Done {
    Op {
        group: String,
        resource: usize,
        op: Op,
        result: Result<(), OpError>,
    },
    Failed {
        group: String,
        resource: usize,
        reason: String,
    },
    Unit {
        group: String,
        resource: usize,
        state: UnitState,
        /// systemd has a job on the unit.
        job: bool,
    },
    Fence {
        node: String,
        ok: bool,
    },
    /// A respawn unit went down (`died`) or the bus went away under it.
    Respawn {
        unit: String,
        died: bool,
    },
    /// systemd queued a stop of hbd's own unit (a shutdown, or `systemctl
    /// stop hbd`): leave now, as on SIGTERM.
    StopQueued,
    Check {
        target: CheckTarget,
        session: u64,
        outcome: super::check::Outcome,
    },
}

/// VIPs this node holds now; announcements stop the moment one is released,
/// or a late packet would pull the LAN back from the new owner.
type Held = Arc<std::sync::Mutex<HashSet<IpAddr>>>;

type ReplyTo = oneshot::Sender<Result<(), CommandError>>;

pub struct RealPlatform {
    pub me: String,
    pub generation: u64,
    pub codec: Codec,
    pub links: Links,
    /// The configured node names, in file order (beats refer to them by index).
    pub node_names: Vec<String>,
    link_serial: Vec<bool>,
    garp: config::Garp,
    cfg_path: std::path::PathBuf,
    pub netlink: Netlink,
    pub systemd: Arc<Systemd>,
    /// The service hbd runs as, if it runs as one.
    pub(super) own_service: Option<String>,
    done_tx: mpsc::Sender<Done>,
    /// Unit watches of owned resources, by (group, resource), and the
    /// receiver that resolves once a new watch is in place.
    watches: HashMap<(String, usize), JoinHandle<()>>,
    watch_ready: HashMap<(String, usize), oneshot::Receiver<()>>,
    /// Per unit, what its next job waits for (see [`RealPlatform::turn`]).
    unit_turns: HashMap<String, oneshot::Receiver<()>>,
    held: Held,
    ping_tx: mpsc::Sender<u32>,
    ping_task: Option<JoinHandle<()>>,
    respawns: HashMap<String, JoinHandle<()>>,
    /// Stops of respawn units in flight; the process waits for them.
    respawn_stops: Vec<JoinHandle<()>>,
    checks: HashMap<CheckTarget, JoinHandle<()>>,
    pub replies: HashMap<u64, ReplyTo>,
    pub counters: Arc<metrics::Counters>,
    pub alerts: Alerts,
    pub events_tx: broadcast::Sender<ApiEvent>,
    status_tx: Option<watch::Sender<Status>>,
    last_status: String,
    /// When the status watch last woke its receivers.
    status_woke: Option<Instant>,
}

pub struct Parts {
    pub me: String,
    pub generation: u64,
    pub codec: Codec,
    pub links: Links,
    pub netlink: Netlink,
    pub systemd: Arc<Systemd>,
    pub alerts: Alerts,
    pub done_tx: mpsc::Sender<Done>,
    pub ping_tx: mpsc::Sender<u32>,
    /// The service hbd runs as, if it runs as one ([`Systemd::own_service`]).
    pub own_service: Option<String>,
}

impl RealPlatform {
    pub fn new(p: Parts, cfg: &Config) -> RealPlatform {
        RealPlatform {
            me: p.me,
            generation: p.generation,
            codec: p.codec,
            links: p.links,
            node_names: cfg.nodes.iter().map(|n| n.name.clone()).collect(),
            link_serial: cfg.links.iter().map(|l| matches!(l.kind, LinkKind::Serial { .. })).collect(),
            garp: cfg.garp.clone(),
            cfg_path: cfg.path.clone(),
            netlink: p.netlink,
            systemd: p.systemd,
            own_service: p.own_service,
            done_tx: p.done_tx,
            watches: HashMap::new(),
            watch_ready: HashMap::new(),
            unit_turns: HashMap::new(),
            held: Held::default(),
            ping_tx: p.ping_tx,
            ping_task: None,
            respawns: HashMap::new(),
            respawn_stops: Vec::new(),
            checks: HashMap::new(),
            replies: HashMap::new(),
            counters: Arc::default(),
            alerts: p.alerts,
            events_tx: broadcast::channel(api_event_queue(cfg.groups.len())).0,
            status_tx: None,
            last_status: String::new(),
            status_woke: None,
        }
    }

    /// What must end before the process does, once the leave is complete:
    /// the stops of respawn units the driver asked for, then the alerts
    /// of the leave (given `alerts_within` to run).
    pub async fn finish(self, alerts_within: Duration) {
        for stop in self.respawn_stops {
            let _ = stop.await;
        }
        self.alerts.finish(alerts_within).await;
    }

    /// The snapshot readers (the bus API, metrics) follow; set up by the
    /// first `publish`.
    pub fn status(&self) -> Option<watch::Receiver<Status>> {
        self.status_tx.as_ref().map(|t| t.subscribe())
    }

    /// The next job of `unit` comes after the one asked for before it: the
    /// core may stop a unit whose start task has not reached systemd yet.
    fn turn(&mut self, unit: &str) -> Turn {
        let (queued, next) = oneshot::channel();
        let after = self.unit_turns.insert(unit.to_string(), next);
        Turn { after, queued: Some(queued) }
    }

    fn unit_job(&mut self, group: &str, resource: usize, unit: &str, op: Op) {
        let sd = self.systemd.clone();
        let tx = self.done_tx.clone();
        let watching = match op {
            Op::Start => self.watch_ready.remove(&(group.to_string(), resource)),
            Op::Stop => None,
        };
        let turn = self.turn(unit);
        let (group, unit) = (group.to_string(), unit.to_string());
        tokio::spawn(async move {
            if let Some(w) = watching {
                let _ = tokio::time::timeout(super::systemd::BUS_CALL_TIMEOUT, w).await;
            }
            let r = match op {
                Op::Start => sd.start_in_turn(&unit, turn).await,
                Op::Stop => sd.stop_in_turn(&unit, turn).await,
            };
            let result = r.map_err(|e| OpError(e.to_string()));
            let _ = tx.send(Done::Op { group, resource, op, result }).await;
        });
    }

    fn announce_task(&self, vip: &Vip) {
        announce(vip.interface.clone(), vip.addr, self.garp.clone(), self.held.clone());
    }
}

impl Platform for RealPlatform {
    fn send(&mut self, serial_links: bool, seq: u64, msg: &Message) -> Result<(), String> {
        let (msg_type, body) = wire::encode_message(msg, &self.node_names);
        let h = Header { sender: self.me.clone(), generation: self.generation, seq, msg_type };
        let frame = self.codec.seal(&h, &body).map_err(|e| e.to_string())?;
        let kinds = &self.link_serial;
        self.links.send_where(&frame, |i| kinds.get(i) == Some(&serial_links));
        Ok(())
    }

    /// Follow a group unit by signals from before hbd starts it until hbd
    /// has stopped it: every state change goes to the core, which decides
    /// what is a failure.
    fn watch_unit(&mut self, group: &str, resource: usize, unit: &str) {
        let key = (group.to_string(), resource);
        if self.watches.get(&key).is_some_and(|h| !h.is_finished()) {
            return;
        }
        let (ready_tx, ready) = oneshot::channel();
        self.watch_ready.insert(key.clone(), ready);
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
                        UnitEvent::State { .. } => {
                            Done::Unit { group: group.clone(), resource, state: w.unit_state(), job: w.has_job() }
                        }
                        // A restart systemd made per Restart= without passing
                        // through `failed`: the state alone does not show it.
                        UnitEvent::Restarted { n_restarts, result, new_failure: true } => Done::Failed {
                            group: group.clone(),
                            resource,
                            reason: format!("it exited ({result}) and systemd restarted it ({n_restarts} restarts)"),
                        },
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
    }

    fn unwatch_unit(&mut self, group: &str, resource: usize) {
        let key = (group.to_string(), resource);
        if let Some(w) = self.watches.remove(&key) {
            w.abort();
        }
        self.watch_ready.remove(&key);
    }

    fn start_unit(&mut self, group: &str, resource: usize, unit: &str) {
        self.unit_job(group, resource, unit, Op::Start);
    }

    fn stop_unit(&mut self, group: &str, resource: usize, unit: &str) {
        self.unit_job(group, resource, unit, Op::Stop);
    }

    fn reset_failed(&mut self, unit: &str) {
        let sd = self.systemd.clone();
        let unit = unit.to_string();
        tokio::spawn(async move {
            match sd.reset_failed(&unit).await {
                Ok(()) => info!(HBD_UNIT = %unit, "reset systemd's failed state and start limit of {unit}"),
                Err(e) => warn!(HBD_UNIT = %unit, "{e}"),
            }
        });
    }

    fn add_vip(&mut self, group: &str, resource: usize, vip: &Vip) {
        let (netlink, tx, garp, held) =
            (self.netlink.clone(), self.done_tx.clone(), self.garp.clone(), self.held.clone());
        let cfgpath = self.cfg_path.clone();
        let (group, vip) = (group.to_string(), vip.clone());
        tokio::spawn(async move {
            let Vip { addr, prefix, interface } = vip;
            let result = netlink
                .add(addr, prefix, &interface)
                .await
                .map_err(|e| OpError(e.with_group(&group, &cfgpath).to_string()));
            if result.is_ok() {
                info!(HBD_EVENT = "vip-added", HBD_GROUP = %group, "{addr}/{prefix} added on {interface}");
                announce(interface, addr, garp, held);
            }
            let _ = tx.send(Done::Op { group, resource, op: Op::Start, result }).await;
        });
    }

    fn remove_vip(&mut self, group: &str, resource: usize, vip: &Vip) {
        let (netlink, tx) = (self.netlink.clone(), self.done_tx.clone());
        let (group, vip) = (group.to_string(), vip.clone());
        tokio::spawn(async move {
            let result = netlink.remove(vip.addr, vip.prefix, &vip.interface).await.map_err(|e| OpError(e.to_string()));
            let _ = tx.send(Done::Op { group, resource, op: Op::Stop, result }).await;
        });
    }

    fn readd_vip(&mut self, group: &str, resource: usize, vip: &Vip) {
        let (netlink, tx, garp, held) =
            (self.netlink.clone(), self.done_tx.clone(), self.garp.clone(), self.held.clone());
        let (group, vip) = (group.to_string(), vip.clone());
        tokio::spawn(async move {
            if let Err(e) = netlink.add(vip.addr, vip.prefix, &vip.interface).await {
                let reason = format!("VIP could not be re-added: {e}");
                let _ = tx.send(Done::Failed { group, resource, reason }).await;
            } else {
                announce(vip.interface, vip.addr, garp, held);
            }
        });
    }

    fn hold_vip(&mut self, addr: IpAddr, on: bool) {
        if let Ok(mut h) = self.held.lock() {
            if on {
                h.insert(addr);
            } else {
                h.remove(&addr);
            }
        }
    }

    fn announce(&mut self, vip: &Vip) {
        self.announce_task(vip);
    }

    fn fence(&mut self, node: &str) {
        let sd = self.systemd.clone();
        let tx = self.done_tx.clone();
        let node = node.to_string();
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

    /// Each check is a task of its own: a slow probe delays nothing but itself.
    fn start_check(&mut self, target: &CheckTarget, session: u64, check: &config::Check) {
        let sd = self.systemd.clone();
        let tx = self.done_tx.clone();
        let (target, check) = (target.clone(), check.clone());
        let key = target.clone();
        let h = tokio::spawn(async move {
            // The first probe at once (a start waits on `rise` passes), then
            // each check at a phase of its own in the interval: checks
            // started together (a boot, a reload, a failover of many groups)
            // probed in one burst every interval, and a server with a short
            // listen backlog refused most of them.
            let phase = probe_phase(&target, check.interval);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, check.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut first = true;
            let mut names = super::check::Names::default();
            loop {
                if !std::mem::take(&mut first) {
                    tick.tick().await;
                }
                let outcome = super::check::probe(&check, &sd, &mut names).await;
                if tx.send(Done::Check { target: target.clone(), session, outcome }).await.is_err() {
                    return;
                }
            }
        });
        if let Some(old) = self.checks.insert(key, h) {
            old.abort();
        }
    }

    fn stop_check(&mut self, target: &CheckTarget) {
        if let Some(h) = self.checks.remove(target) {
            h.abort();
        }
    }

    fn follow_respawn(&mut self, unit: &str, delay: Duration) {
        let sd = self.systemd.clone();
        let tx = self.done_tx.clone();
        let unit = unit.to_string();
        let key = unit.clone();
        let h = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut w = match sd.watch(&unit).await {
                Ok(w) => w,
                Err(_) if !sd.bus_up() => {
                    sd.bus_back().await;
                    let _ = tx.send(Done::Respawn { unit, died: false }).await;
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
                    UnitEvent::State { active_state, .. } => active_state == "failed" || active_state == "inactive",
                    e => e.is_failure(),
                };
                if dead {
                    let _ = tx.send(Done::Respawn { unit, died: true }).await;
                    return;
                }
            }
            // The bus went away: follow the unit again (and start it if it
            // died meanwhile) once it is back.
            sd.bus_back().await;
            let _ = tx.send(Done::Respawn { unit, died: false }).await;
        });
        if let Some(old) = self.respawns.insert(key, h) {
            old.abort();
        }
    }

    fn stop_respawn(&mut self, unit: &str, stop_unit: bool) {
        if let Some(h) = self.respawns.remove(unit) {
            h.abort();
        }
        if stop_unit {
            let sd = self.systemd.clone();
            let unit = unit.to_string();
            self.respawn_stops.retain(|h| !h.is_finished());
            self.respawn_stops.push(tokio::spawn(async move {
                if let Err(e) = sd.stop(&unit).await {
                    warn!(HBD_UNIT = %unit, "{e}");
                }
            }));
        }
    }

    fn set_ping(&mut self, ping: &config::Ping) -> Result<(), String> {
        if ping.hosts.is_empty() {
            if let Some(t) = self.ping_task.take() {
                t.abort();
            }
            return Ok(());
        }
        // The old monitor runs on until the new one could start.
        let mut mon = super::ping::PingMonitor::start(ping).map_err(|e| e.to_string())?;
        if let Some(t) = self.ping_task.take() {
            t.abort();
        }
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

    fn reply(&mut self, id: u64, result: Result<(), CommandError>) {
        if let Some(tx) = self.replies.remove(&id) {
            let _ = tx.send(result);
        }
    }

    fn event(&mut self, e: &Event) {
        log_event(e);
        self.counters.event(e, Instant::now());
        let alert = match e {
            Event::PeerUp { peer, .. } | Event::PeerRestarted { peer, .. } => Some(AlertEvent::node(peer, true)),
            Event::PeerDead { peer } | Event::PeerLeft { peer } => Some(AlertEvent::node(peer, false)),
            Event::ResourceFailed { group, resource, .. } => {
                Some(AlertEvent::resource(&self.me, group, resource, "monitor", Err((7, "not running"))))
            }
            Event::Fenced { peer } => Some(AlertEvent::fencing(peer, &self.me, true)),
            Event::FenceFailed { peer } => Some(AlertEvent::fencing(peer, &self.me, false)),
            _ => None,
        };
        if let Some(a) = alert {
            self.alerts.send(a);
        }
        if let Event::GroupMoved { group, from, to, reason } = e {
            let _ = self.events_tx.send(ApiEvent::GroupMoved {
                group: group.clone(),
                from: from.clone(),
                to: to.clone(),
                reason: reason.as_str().to_string(),
            });
        }
    }

    fn op_finished(&mut self, group: &str, resource: &str, op: Op, result: &Result<(), OpError>) {
        let task = match op {
            Op::Start => "start",
            Op::Stop => "stop",
        };
        let result = result.as_ref().map(|_| ()).map_err(|_| (1, "error"));
        self.alerts.send(AlertEvent::resource(&self.me, group, resource, task, result));
    }

    fn publish(&mut self, core: &CoreStatus) {
        let st = &status_text::worded(core);
        let line = status_line(st);
        if line != self.last_status {
            notify::status(&line);
            self.last_status = line;
        }
        let Some(tx) = &self.status_tx else {
            self.status_tx = Some(watch::channel(st.clone()).0);
            return;
        };
        let now = Instant::now();
        let woke = tx.send_if_modified(|old| {
            if old == st {
                return false;
            }
            // Readers see the newest snapshot; the D-Bus follower is woken
            // for link ages alone at most once per signal interval, or it
            // would wake with every heartbeat.
            let ages_only = same_but_link_ages(old, st);
            *old = st.clone();
            !ages_only || self.status_woke.is_none_or(|t| now.duration_since(t) >= LINK_AGE_SIGNAL_INTERVAL)
        });
        if woke {
            self.status_woke = Some(now);
        }
    }

    fn refresh(&mut self, v: &Volatile) {
        let Some(tx) = &self.status_tx else { return };
        // Readers see the ages at once; the D-Bus follower is woken for
        // them at most once per signal interval.
        let now = Instant::now();
        let wake = self.status_woke.is_none_or(|t| now.duration_since(t) >= LINK_AGE_SIGNAL_INTERVAL);
        tx.send_if_modified(|st| {
            status_text::refresh(st, v);
            wake
        });
        if wake {
            self.status_woke = Some(now);
        }
    }

    fn reconfigure(&mut self, cfg: &Config, keys: &AuthKeys) {
        self.codec = Codec::new(&cfg.cluster.name, keys);
        self.garp = cfg.garp.clone();
        self.cfg_path = cfg.path.clone();
        self.alerts.configure(&cfg.alerts);
    }
}

fn same_but_link_ages(a: &Status, b: &Status) -> bool {
    let same_links = |x: &[(String, String, i64)], y: &[(String, String, i64)]| {
        x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.0 == q.0 && p.1 == q.1)
    };
    let same_node = |x: &NodeStatus, y: &NodeStatus| {
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

/// `GroupMoved` events the D-Bus API may have waiting. One input can move
/// every group (a power cut hands them all over in one step), and the API
/// sends the signals only after it: with 64 places a takeover of 1,000
/// groups dropped some. Two per group of the file at start, at least 64 (a
/// reload that adds groups keeps this size; what overflows is logged).
fn api_event_queue(groups: usize) -> usize {
    groups.saturating_mul(2).max(64)
}

/// Where in its interval a check probes: one of ten slots, by a hash of
/// what it checks (the same on every start, so a restarted check keeps its
/// place), never at the start of the interval, which the first probe takes.
/// Slots rather than a phase each: checks in one slot share the runtime's
/// wake-ups (a phase per check woke it for each probe's timer, connect, read
/// and result, and 100 checks cost about twice the CPU), while a burst is a
/// tenth of the checks instead of all of them.
const PROBE_SLOTS: u64 = 10;

fn probe_phase(target: &CheckTarget, interval: Duration) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    target.hash(&mut h);
    let slot = h.finish() % PROBE_SLOTS + 1;
    interval * slot as u32 / PROBE_SLOTS as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_probe_spread_over_their_interval() {
        let second = Duration::from_secs(1);
        let mut per_slot = [0u32; PROBE_SLOTS as usize];
        for i in 0..100 {
            let p = probe_phase(&CheckTarget::Node { name: format!("http-{i:03}") }, second);
            assert!(p > Duration::ZERO && p <= second, "{p:?}");
            assert_eq!(p.as_millis() % 100, 0, "{p:?} is not a slot's start");
            per_slot[(p.as_millis() / 100 - 1) as usize] += 1;
        }
        // One burst of 100 before; now no slot holds more than a fifth.
        assert!(per_slot.iter().all(|&n| (1..=20).contains(&n)), "{per_slot:?}");
        let g = CheckTarget::Resource { group: "web".into(), resource: 1 };
        assert_eq!(probe_phase(&g, second), probe_phase(&g.clone(), second), "a restarted check keeps its place");
    }
}
