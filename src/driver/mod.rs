//! The code that acts on the core's decisions, shared by the daemon and the
//! simulator: the simulator proves what runs on real machines, not a copy
//! of it.
//!
//! The core decides what a node does; the driver turns its actions into
//! platform operations and keeps what acting needs to remember: which VIPs
//! this node holds (to put back one something else removed, and to
//! announce them again after a heal), which units are followed (from before
//! their start until their stop is over), which respawn units run, what a
//! reload may change while running, and when the status snapshot is worth
//! rebuilding. The [`Platform`] only carries out.

mod platform;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use tracing::{error, info, warn};

pub use platform::{Platform, Vip};

use crate::config::{AuthKeys, Config, LinkKind, Resource};
use crate::core::{Action, Input, Node, Op, OpError, Time, UnitState, UnitTimeouts};

/// How long a respawn unit that died waits before it is started again.
pub const RESPAWN_DELAY: Duration = Duration::from_secs(1);
/// At most one status snapshot per this long while changes come in a
/// burst; the first change after a quiet spell is published at once.
pub const PUBLISH_GAP: Duration = Duration::from_millis(20);

/// What the platform found before the core starts: the job timeouts
/// systemd gives the group units (where the resource sets none), and what
/// each group resource is now, as the platform read it. The driver decides
/// what is adopted (see [`adopted`]), so the simulator proves that policy.
#[derive(Clone, Debug, Default)]
pub struct Found {
    pub timeouts: Vec<(String, usize, UnitTimeouts)>,
    pub resources: Vec<(String, usize, Present)>,
}

/// A group resource as found at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Present {
    /// A unit's state (`ActiveState`, `SubState`), and whether it is
    /// enabled in systemd.
    Unit { state: UnitState, enabled: bool },
    /// Whether the VIP is on its interface.
    Vip(bool),
    /// The platform could not tell (the question failed).
    Unknown,
}

/// Whether a resource found at start is taken on as this node's: hbd
/// restarted under a healthy group must not stop it. A unit left
/// `activating`, `reloading` or `deactivating` by an hbd that died counts
/// too: it is followed from the first moment and then either finishes its
/// start or is stopped. Down units (`inactive`, `failed`) run nothing and are
/// not adopted (a failed one is started afresh when the group is placed
/// here). A resource whose state could not be read is not adopted: adopting
/// claims the group, and a phantom claim restarts a group a peer may run.
/// It is stopped instead (see [`Driver::new`]).
pub fn adopted(present: &Present) -> bool {
    match present {
        Present::Unit { state, .. } => !state.is_down(),
        Present::Vip(on) => *on,
        Present::Unknown => false,
    }
}

/// (group, resource index, unit) of every unit of every group.
fn group_units(cfg: &Config) -> Vec<(String, usize, String)> {
    cfg.groups
        .iter()
        .flat_map(|g| {
            g.resources.iter().enumerate().filter_map(|(ri, r)| match r {
                Resource::Unit { name, .. } => Some((g.name.clone(), ri, name.clone())),
                _ => None,
            })
        })
        .collect()
}

/// A VIP this node holds, and whose it is.
#[derive(Clone, Debug)]
struct HeldVip {
    group: String,
    resource: usize,
    vip: Vip,
}

pub struct Driver<P: Platform> {
    pub platform: P,
    node: Node,
    cfg: Config,
    held: Vec<HeldVip>,
    /// Respawn units followed now.
    respawns: BTreeSet<String>,
    /// A message could not be sealed; the core is told after the dispatch.
    send_failed: Option<String>,
    /// The core's status serial and when the last snapshot was published.
    published: Option<(u64, Time)>,
    /// When the last snapshot's link ages and check counts were refreshed.
    refreshed: Time,
    /// A change not yet published waits until then (see [`PUBLISH_GAP`]).
    publish_due: Option<Time>,
    exit: bool,
}

impl<P: Platform> Driver<P> {
    /// A core for this node, told what the platform found before it says
    /// anything: adopted resources are followed (units) and held (VIPs)
    /// from the first moment, so peers never see this node drop them.
    pub fn new(
        platform: P,
        cfg: Config,
        me: &str,
        generation: u64,
        now: Time,
        found: Found,
    ) -> Result<Driver<P>, String> {
        let node = Node::new(cfg.clone(), me, generation, now)?;
        let mut d = Driver {
            platform,
            node,
            cfg,
            held: Vec::new(),
            respawns: BTreeSet::new(),
            send_failed: None,
            published: None,
            refreshed: Time::ZERO,
            publish_due: None,
            exit: false,
        };
        for (group, resource, timeouts) in found.timeouts {
            d.handle(now, Input::UnitTimeouts { group, resource, timeouts });
        }
        let mut unknown = Vec::new();
        for (group, resource, present) in found.resources {
            let Some(r) = d.resource(&group, resource).cloned() else { continue };
            if let (Resource::Unit { name, .. }, Present::Unit { enabled: true, .. }) = (&r, &present) {
                warn!(HBD_EVENT = "unit-enabled", HBD_GROUP = %group, HBD_UNIT = %name,
                    "{name} belongs to group {group} but is also enabled in systemd, so it starts at boot on every node; run: systemctl disable {name}");
            }
            if present == Present::Unknown {
                unknown.push((group, resource, r.name()));
                continue;
            }
            if !adopted(&present) {
                continue;
            }
            let state = match present {
                Present::Unit { state, .. } => Some(state),
                _ => None,
            };
            let found_as = state.as_ref().map_or_else(|| "present".to_string(), |s| s.to_string());
            info!(HBD_EVENT = "adopt", HBD_GROUP = %group, "{} of group {group} is already {found_as}; adopting it", r.name());
            d.handle(now, Input::Adopt { group: group.clone(), resource, state });
            match r {
                Resource::Vip { addr, prefix, interface } => {
                    d.hold(group, resource, Vip { addr, prefix, interface });
                }
                Resource::Unit { name, .. } => d.platform.watch_unit(&group, resource, &name),
            }
        }
        // After the adoptions: a group with a resource in an unknown state
        // is stopped whole, adopted parts included.
        for (group, resource, name) in unknown {
            // It may still run here (an hbd that exited left the group
            // blocked) while a peer runs the group: stopped, which changes
            // nothing where it does not run, rather than left to run twice.
            // It starts again if the group is placed here.
            warn!(HBD_EVENT = "stop-unknown", HBD_GROUP = %group,
                "{name} of group {group}: its state could not be read; stopping the group here so that it cannot run on two nodes");
            d.handle(now, Input::Leftover { group, resource });
        }
        d.watch_units();
        Ok(d)
    }

    /// Every unit of every group, on every node, for as long as it is in
    /// the configuration: where the group runs, the core sees a unit go
    /// down behind hbd's back; where it does not, one come up (a stray, that
    /// the core stops).
    fn watch_units(&mut self) {
        for (group, resource, unit) in group_units(&self.cfg) {
            self.platform.watch_unit(&group, resource, &unit);
        }
    }

    /// Begin: ping hosts measured, respawn units started, the first tick.
    /// Returns true when the node must exit.
    pub fn start(&mut self, now: Time) -> Result<bool, String> {
        self.platform.set_ping(&self.cfg.ping)?;
        for unit in self.cfg.respawn.iter().map(|r| r.unit.clone()).collect::<Vec<_>>() {
            self.respawns.insert(unit.clone());
            self.platform.follow_respawn(&unit, Duration::ZERO);
        }
        Ok(self.handle(now, Input::Tick))
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// When the driver must be fed `Input::Tick` at the latest.
    pub fn next_deadline(&self) -> Time {
        let core = self.node.next_deadline();
        self.publish_due.map_or(core, |t| t.min(core))
    }

    /// A change of the status waits to be published (within [`PUBLISH_GAP`]).
    pub fn publish_pending(&self) -> bool {
        self.publish_due.is_some()
    }

    /// `reachable` of the ping hosts answer now (reported on every change).
    pub fn ping(&mut self, now: Time, reachable: u32) -> bool {
        info!(HBD_EVENT = "ping", "{reachable} of {} ping hosts reachable", self.cfg.ping.hosts.len());
        self.handle(now, Input::Ping { reachable })
    }

    /// Feed one input to the core and carry out what it asks. Returns true
    /// once the node must exit (its graceful leave is complete).
    pub fn handle(&mut self, now: Time, input: Input) -> bool {
        let acts = self.node.handle(now, input);
        self.dispatch(acts);
        // Bounded: the core reports the failure once and sends nothing more
        // at the same instant.
        for _ in 0..3 {
            let Some(reason) = self.send_failed.take() else { break };
            let acts = self.node.handle(now, Input::SendFailed { reason });
            self.dispatch(acts);
        }
        self.publish(now);
        self.exit
    }

    /// A start or stop job the core asked for finished.
    pub fn op_done(&mut self, now: Time, group: String, resource: usize, op: Op, result: Result<(), OpError>) -> bool {
        if let Some(r) = self.resource(&group, resource) {
            let name = r.name();
            self.platform.op_finished(&group, &name, op, &result);
        }
        self.handle(now, Input::ResourceDone { group, resource, op, result })
    }

    /// Something else removed an address: if it is a VIP this node holds,
    /// put it back (a failure to do so is a failure of the resource).
    pub fn addr_removed(&mut self, addr: IpAddr) {
        let Some(h) = self.held.iter().find(|h| h.vip.addr == addr).cloned() else { return };
        let (group, vip) = (&h.group, &h.vip);
        warn!(HBD_EVENT = "vip-removed", HBD_GROUP = %group,
            "{addr}/{} of group {group} was removed from {} by something else; adding it back", vip.prefix, vip.interface);
        self.platform.readd_vip(group, h.resource, vip);
    }

    /// A respawn unit went down (`died`) or could no longer be followed
    /// (the bus went away): follow it again — after a pause if it died —
    /// while the configuration still names it.
    pub fn respawn_down(&mut self, unit: &str, died: bool) {
        if !self.respawns.contains(unit) {
            return;
        }
        let delay = if died {
            warn!(HBD_EVENT = "respawn", HBD_UNIT = %unit,
                "respawn unit {unit} died; starting it again in {} s", RESPAWN_DELAY.as_secs());
            RESPAWN_DELAY
        } else {
            Duration::ZERO
        };
        self.platform.follow_respawn(unit, delay);
    }

    /// Apply a configuration the shell has loaded and validated, or refuse
    /// it whole, changing nothing: what cannot change while running is
    /// named. `keys`: the auth keys the new file names, signing from now on;
    /// `timeouts`: the job timeouts of its group units
    /// (`Input::UnitTimeouts`), read by the platform. Ok(true): exit.
    pub fn reload(&mut self, now: Time, new: Config, keys: AuthKeys, timeouts: Vec<Input>) -> Result<bool, String> {
        let refused = "reload refused, keeping the running configuration";
        if new.nodes != self.cfg.nodes || new.links != self.cfg.links || new.cluster.name != self.cfg.cluster.name {
            return Err(format!(
                "{refused}: nodes, links or the cluster name changed in {}; restart hbd to apply those",
                new.path.display()
            ));
        }
        if new.ping != self.cfg.ping {
            self.platform.set_ping(&new.ping).map_err(|e| format!("{refused}: {e}"))?;
        }
        // Respawn units follow the file at once: new ones start, dropped
        // ones stop.
        for r in &new.respawn {
            if self.respawns.insert(r.unit.clone()) {
                self.platform.follow_respawn(&r.unit, Duration::ZERO);
            }
        }
        let dropped: Vec<String> =
            self.respawns.iter().filter(|u| !new.respawn.iter().any(|r| &r.unit == *u)).cloned().collect();
        for unit in dropped {
            self.respawns.remove(&unit);
            info!(HBD_EVENT = "respawn", HBD_UNIT = %unit, "{unit} is no longer a respawn unit; stopping it");
            self.platform.stop_respawn(&unit, true);
        }
        if new.metrics != self.cfg.metrics {
            warn!(
                HBD_EVENT = "reload",
                "[metrics] changed in {}; it takes effect when hbd restarts",
                new.path.display()
            );
        }
        self.platform.reconfigure(&new, &keys);
        // A unit no longer at its place in the file is no longer followed
        // there; the new ones are.
        let now_units = group_units(&new);
        for (group, resource, unit) in group_units(&self.cfg) {
            if !now_units.iter().any(|(g, r, u)| *g == group && *r == resource && *u == unit) {
                self.platform.unwatch_unit(&group, resource);
            }
        }
        self.cfg = new.clone();
        self.watch_units();
        let mut exit = self.handle(now, Input::Reload(Box::new(new)));
        for t in timeouts {
            exit |= self.handle(now, t);
        }
        Ok(exit)
    }

    fn resource(&self, group: &str, resource: usize) -> Option<&Resource> {
        self.cfg.groups.iter().find(|g| g.name == group).and_then(|g| g.resources.get(resource))
    }

    fn hold(&mut self, group: String, resource: usize, vip: Vip) {
        self.platform.hold_vip(vip.addr, true);
        self.held.retain(|h| !(h.vip.addr == vip.addr && h.group == group));
        self.held.push(HeldVip { group, resource, vip });
    }

    /// Stop a resource here: a VIP is no longer announced, then removed.
    fn stop(&mut self, group: &str, resource: usize, what: Resource) {
        match what {
            Resource::Vip { addr, prefix, interface } => {
                self.release(group, addr);
                self.platform.remove_vip(group, resource, &Vip { addr, prefix, interface });
            }
            Resource::Unit { name, .. } => self.platform.stop_unit(group, resource, &name),
        }
    }

    fn release(&mut self, group: &str, addr: IpAddr) {
        self.held.retain(|h| !(h.vip.addr == addr && h.group == group));
        self.platform.hold_vip(addr, false);
    }

    fn dispatch(&mut self, acts: Vec<Action>) {
        for a in acts {
            match a {
                Action::Send { seq, msg, serial } => {
                    // The core says what goes where: UDP links take every
                    // message, serial links the beats marked for them, in
                    // their liveness-only form.
                    for serial_link in [false, true] {
                        let on = |kind: &LinkKind| matches!(kind, LinkKind::Serial { .. }) == serial_link;
                        if !self.cfg.links.iter().any(|l| on(&l.kind)) {
                            continue;
                        }
                        let Some(m) = msg.for_link(serial_link, serial) else { continue };
                        if let Err(e) = self.platform.send(serial_link, seq, &m) {
                            // Never a quiet warning while peers declare us
                            // dead: the core gives its groups up.
                            error!(HBD_EVENT = "send-failed", "cannot seal a frame for the peers: {e}");
                            self.send_failed.get_or_insert(e);
                        }
                    }
                }
                Action::Start { group, resource, what } => match what {
                    Resource::Vip { addr, prefix, interface } => {
                        let vip = Vip { addr, prefix, interface };
                        self.hold(group.clone(), resource, vip.clone());
                        self.platform.add_vip(&group, resource, &vip);
                    }
                    Resource::Unit { name, .. } => {
                        // The watch exists before the start job: a unit that
                        // dies at once is seen dying, not found dead later.
                        self.platform.watch_unit(&group, resource, &name);
                        self.platform.start_unit(&group, resource, &name);
                    }
                },
                Action::Stop { group, resource, what } => self.stop(&group, resource, what),
                Action::ResetFailed { unit } => self.platform.reset_failed(&unit),
                Action::Announce { group } => {
                    for h in self.held.iter().filter(|h| h.group == group) {
                        self.platform.announce(&h.vip);
                    }
                }
                Action::StartCheck { target, session, check } => self.platform.start_check(&target, session, &check),
                Action::StopCheck { target } => self.platform.stop_check(&target),
                Action::Fence { node } => self.platform.fence(&node),
                Action::Reply { id, result } => self.platform.reply(id, result),
                Action::Event(e) => self.platform.event(&e),
                Action::Exit => {
                    // The leave is complete: the respawn units this node
                    // ran stop with it (the platform waits for those stops
                    // before the process ends).
                    for unit in std::mem::take(&mut self.respawns) {
                        info!(HBD_EVENT = "respawn", HBD_UNIT = %unit, "stopping respawn unit {unit} as hbd leaves");
                        self.platform.stop_respawn(&unit, true);
                    }
                    self.exit = true;
                }
            }
        }
    }

    /// Most inputs are frames that change nothing but a link's age: a
    /// whole snapshot is built only when the status serial moved; link
    /// ages and check counts are refreshed in place once a keepalive, the
    /// pace they move at (rebuilding the snapshot for them cost idle CPU in
    /// proportion to the groups: 3.5 % of a core with 1,000). Changes in a
    /// burst (a failover of a thousand groups: two job completions per
    /// group) are published at most once per [`PUBLISH_GAP`].
    fn publish(&mut self, now: Time) {
        let serial = self.node.status_serial();
        let keepalive = self.cfg.cluster.keepalive;
        match self.published {
            Some((s, _)) if s == serial => {
                if now.saturating_sub(self.refreshed) >= keepalive {
                    self.refreshed = now;
                    self.platform.refresh(&self.node.volatile());
                }
                return;
            }
            Some((_, t)) if now.saturating_sub(t) < PUBLISH_GAP => {
                self.publish_due.get_or_insert(t + PUBLISH_GAP);
                return;
            }
            _ => {}
        }
        self.published = Some((serial, now));
        self.refreshed = now;
        self.publish_due = None;
        let st = self.node.status();
        self.platform.publish(&st);
    }
}
