//! One node's decisions: membership, replicated operator intents, placement
//! of groups and the start/stop sequence of their resources.
//!
//! Every node computes the same placement from the state peers report in
//! their heartbeats, and acts only for itself: it stops what it should not
//! hold and claims what it should. A claim becomes a start only after every
//! live peer has acknowledged seeing it and none of them holds the group —
//! that, plus stopping before the new owner starts, is what keeps a group
//! from running twice while nodes can talk.
//!
//! This file holds the node's state and the step that runs after every
//! input; each role lives in a file of its own beside it: `membership`
//! (beats, peers, lease, quorum, ping), `intents` (operator commands and
//! reloads), `placement` (who should run a group), `handoff` (claims,
//! acknowledgements, fencing), `sequencer` (starting and stopping a
//! group's resources, failures), `health` (checks) and `report` (the beat,
//! the state chunks and the status).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::msg::{
    Ack, Beat, Chunk, GroupReport, GroupState, Intent, IntentKind, Message, ResourceState, Serial, State,
};
use super::{
    Action, Command, CommandError, Event, Input, MoveReason, Op, OpError, Resource, Time, UnitState, UnitTimeouts,
};
use crate::config::{Config, Fencing};
use crate::wire;

mod handoff;
mod health;
mod index;
mod intents;
mod membership;
mod placement;
mod report;
mod sequencer;
mod status;
use health::CheckTrack;
pub use health::{CheckState, CheckStatus};
pub(super) use index::{ConfigAt, GroupIdx, IdxVec, NodeIdx};
pub use status::{GroupNote, GroupStatus, NodeState, NodeStatus, Status, Volatile};

/// How long adding or removing an address may take.
const VIP_OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Added to that for each address change queued before it on this node
/// (a failback of 500 VIPs took longer than 10 s for the last ones).
const VIP_OP_QUEUED: Duration = Duration::from_millis(50);
/// Added to a unit's own job timeout: the bus round trips and the kill
/// systemd sends when its own timeout runs out.
const UNIT_OP_MARGIN: Duration = Duration::from_secs(5);
/// systemd's `DefaultTimeoutStartSec=`/`DefaultTimeoutStopSec=`, used until
/// the shell has read the unit's own.
const SYSTEMD_DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// Not heard since we started; initdead has not passed.
    Unknown,
    Up,
    Dead,
    /// Said goodbye (graceful leave).
    Left,
}

#[derive(Clone, Debug)]
struct PeerLink {
    last: Option<Time>,
    up: bool,
}

#[derive(Clone, Debug)]
struct Peer {
    name: String,
    state: PeerState,
    generation: u64,
    /// Sequence number of the newest full beat applied.
    last_seq: u64,
    last_heard: Option<Time>,
    links: Vec<PeerLink>,
    late_reported: bool,
    /// Newest full beat applied (this generation).
    beat: Option<Beat>,
    /// Newest complete state applied. Kept after death: a dead peer's last
    /// word on a blocked group still counts.
    view: Option<PeerView>,
    /// Chunks of a newer state being collected.
    asm: Option<wire::Assembly>,
    /// A state completed before the beat that announces its generation.
    pending: Option<(u64, u64, State)>,
    /// Fenced since it was last heard (fencing = "required").
    fenced: bool,
    fence_in_flight: bool,
    fence_retry_at: Option<Time>,
    mismatch_warned: bool,
    stale_warned: u64,
    /// Last frame that named this peer but failed authentication.
    unverified_at: Option<Time>,
}

/// A peer's state as applied here: one version, complete, its groups found
/// by our configuration's positions (placement asks for every group of every
/// peer on each step; by name, hashing and comparing the names was most of a
/// 32-node step).
#[derive(Clone, Debug)]
struct PeerView {
    version: u64,
    reports: Vec<GroupReport>,
    /// Our group → its report in `reports`, if the peer's state has one.
    at: IdxVec<GroupIdx, Option<usize>>,
}

impl PeerView {
    fn new(version: u64, reports: Vec<GroupReport>, names: &Names, groups: usize) -> PeerView {
        let mut v = PeerView { version, reports, at: IdxVec::default() };
        v.reindex(names, groups);
        v
    }
    /// Positions change with the configuration: a reload re-keys.
    fn reindex(&mut self, names: &Names, groups: usize) {
        self.at = std::iter::repeat_n(None, groups).collect();
        for (i, r) in self.reports.iter().enumerate() {
            if let Some(&gi) = names.groups.get(&r.name) {
                self.at[gi] = Some(i);
            }
        }
    }
    fn report(&self, gi: GroupIdx) -> Option<&GroupReport> {
        self.at.get(gi).copied().flatten().map(|i| &self.reports[i])
    }
    fn report_mut(&mut self, gi: GroupIdx) -> Option<&mut GroupReport> {
        self.at.get(gi).copied().flatten().map(|i| &mut self.reports[i])
    }
}

impl Peer {
    fn is_member(&self) -> bool {
        self.state == PeerState::Up
    }
    fn group(&self, gi: GroupIdx) -> Option<&GroupReport> {
        self.view.as_ref()?.report(gi)
    }
    fn leaving(&self) -> bool {
        self.beat.as_ref().is_some_and(|b| b.leaving)
    }
    fn ping(&self) -> Option<u32> {
        self.beat.as_ref().and_then(|b| b.ping)
    }
    /// Forget what the peer ran (it restarted, or was fenced).
    fn forget(&mut self) {
        self.beat = None;
        self.view = None;
        self.asm = None;
        self.pending = None;
    }
    fn group_state(&self, gi: GroupIdx) -> GroupState {
        self.group(gi).map_or(GroupState::Stopped, |g| g.state)
    }
    /// A live peer relays that the group is blocked on a node it cannot hear.
    fn holds_down(&self, gi: GroupIdx) -> bool {
        self.is_member() && self.group(gi).is_some_and(|g| g.held_down)
    }
}

#[derive(Clone, Debug)]
struct LocalGroup {
    name: String,
    state: GroupState,
    /// Resources 0..running may be active here.
    running: usize,
    /// An operation is in flight for this resource.
    busy: Option<(usize, Op)>,
    /// When the operation in flight is taken as failed (None: no deadline).
    busy_until: Option<Time>,
    /// Each resource's state as systemd last reported it (units only).
    observed: Vec<Option<UnitState>>,
    /// Resources this node last knew to be up here (adopted or started,
    /// and not failed or stopped since): what status shows where systemd
    /// has not reported a state.
    up: Vec<bool>,
    /// Each unit's own job timeouts, once the shell has read them.
    timeouts: Vec<Option<UnitTimeouts>>,
    /// When a resource of this group last failed here (for failure_timeout).
    last_failure: Option<Time>,
    /// A stop was decided while a start was in flight.
    stop_after_op: bool,
    /// A VIP of this group was added here since it last stopped (which
    /// announces it). A group that reaches started with its VIPs found up
    /// (adopted, or left up by a stop that failed) announces them itself:
    /// the LAN may have been told of another node meanwhile.
    vip_added: bool,
    /// Adopted at start: resources found active before we decided anything.
    adopted: Vec<bool>,
    /// Adoption left a start to finish once the cluster has settled.
    resume_start: bool,
    failcount: u32,
    failed: bool,
    cleanup_applied: u64,
    /// First version of our state that shows the claim.
    claim_version: u64,
    claim_reason: MoveReason,
    release_reason: MoveReason,
    /// The node last seen running this group (for GroupMoved).
    owner_seen: Option<String>,
    /// Resources that failed while the group ran and are to be started
    /// again once no other operation is in flight.
    restart: Vec<usize>,
    /// Resources whose check failed: still running but sick, to be stopped
    /// and started again.
    bounce: Vec<usize>,
    /// The resource whose bounce's stop is in flight.
    bouncing: Option<usize>,
    /// Units found up here outside hbd while the group is stopped here, to
    /// be stopped (see `on_unit_state`).
    strays: Vec<usize>,
    /// The stray whose stop is in flight.
    stray_stop: Option<usize>,
    /// Units that went down here, while up, with a job of systemd's (not
    /// hbd's) still on them (see `on_unit_state`).
    outside_jobs: Vec<OutsideJob>,
    /// A unit that went down while hbd's own start job on it was in flight,
    /// and why: the job's end decides (a failed job is a start failure; a
    /// job that succeeded anyway leaves a unit that died, judged then).
    died_starting: Option<(usize, String)>,
    /// Strays found since `strays_since` (see `STRAY_WINDOW`).
    strays_seen: u32,
    strays_since: Time,
    /// Each resource's health check here.
    checks: Vec<CheckTrack>,
}

impl LocalGroup {
    /// This node runs the group (or is starting or stopping it): status
    /// names it the owner. A claim not yet granted is not running it.
    fn runs_here(&self) -> bool {
        self.state.holds() && self.state != GroupState::Claiming
    }

    /// A resource of this group here: what systemd says where hbd
    /// follows the unit, else hbd's own bookkeeping.
    fn resource_state(&self, ri: usize) -> ResourceState {
        match &self.observed[ri] {
            Some(u) => ResourceState::Unit(u.clone()),
            None => self.booked(ri),
        }
    }

    /// [`LocalGroup::resource_state`] `== rs`, without building it (this
    /// runs for every resource on every step).
    fn resource_state_is(&self, ri: usize, rs: &ResourceState) -> bool {
        match (&self.observed[ri], rs) {
            (Some(u), ResourceState::Unit(v)) => u == v,
            (Some(_), _) => false,
            (None, rs) => self.booked(ri) == *rs,
        }
    }

    fn booked(&self, ri: usize) -> ResourceState {
        match self.busy {
            Some((b, Op::Start)) if b == ri => ResourceState::Starting,
            Some((b, Op::Stop)) if b == ri => ResourceState::Stopping,
            _ if ri < self.running && self.up[ri] => ResourceState::Started,
            _ => ResourceState::Stopped,
        }
    }

    /// What peers are told of the resources: their states where the group
    /// runs here, nothing elsewhere.
    fn reported_resources(&self) -> Vec<ResourceState> {
        if self.runs_here() {
            (0..self.observed.len()).map(|ri| self.resource_state(ri)).collect()
        } else {
            Vec::new()
        }
    }

    fn reports_resources(&self, rs: &[ResourceState]) -> bool {
        if self.runs_here() {
            rs.len() == self.observed.len() && rs.iter().enumerate().all(|(ri, r)| self.resource_state_is(ri, r))
        } else {
            rs.is_empty()
        }
    }
}

/// Key under which intents replace each other (last writer wins).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum IntentKey {
    Standby(String),
    Location(String),
    Cleanup(String),
}

fn intent_key(k: &IntentKind) -> IntentKey {
    match k {
        IntentKind::Standby { node, .. } => IntentKey::Standby(node.clone()),
        IntentKind::Location { group, .. } => IntentKey::Location(group.clone()),
        IntentKind::Cleanup { group } => IntentKey::Cleanup(group.clone()),
    }
}

pub struct Node {
    cfg: Config,
    me: NodeIdx,
    generation: u64,
    started_at: Time,
    now: Time,
    /// No peer or link is declared dead before this: this node was itself
    /// held back (descheduled, stopped, busy) longer than two keepalives,
    /// and what it did not hear meanwhile may still be waiting in its
    /// sockets. See [`Node::handle`].
    judge_after: Time,
    peers: IdxVec<NodeIdx, Option<Peer>>,
    groups: IdxVec<GroupIdx, LocalGroup>,
    intents: BTreeMap<IntentKey, Intent>,
    lamport: u64,
    seq: u64,
    next_send: Time,
    send_now: bool,
    /// Version of our state, from 1 within this generation.
    state_version: u64,
    /// The state of `state_version`, and its chunks.
    last_state: Option<State>,
    chunks: Vec<Chunk>,
    /// The current version has not been sent yet.
    state_dirty: bool,
    last_state_send: Option<Time>,
    /// Send the state now whatever the interval (the goodbye).
    flush_state: bool,
    /// No beat went to the serial links before this time.
    next_serial: Time,
    names: Names,
    /// The last beat went whole on the serial links (and so do chunks).
    serial_whole: bool,
    /// Why this node cannot send (a message did not fit a frame): it gives
    /// its groups up and claims none.
    mute: Option<String>,
    ping_raw: Option<u32>,
    ping_eff: Option<u32>,
    ping_raw_since: Time,
    /// The ping monitor has reported at least once since the ping hosts
    /// were set: until then the node claims nothing. A first count applies
    /// at once (it is news, not a change): with the hysteresis, the node
    /// whose first answer came first would take a group and then yield it
    /// to a peer whose count arrived later.
    ping_measured: bool,
    leaving: bool,
    exited: bool,
    quorate: bool,
    digest: u64,
    /// Coming out of isolation the node knows nothing current about its
    /// peers (it still thinks them dead): like a fresh start, it claims
    /// nothing until then unless it has heard them all.
    claim_hold_until: Time,
    was_isolated: bool,
    /// (group, peer) pairs both running a group, already reported.
    split_seen: std::collections::BTreeSet<(GroupIdx, NodeIdx)>,
    /// See [`Node::status_serial`].
    status_serial: u64,
    /// When the shell must call next ([`Node::next_deadline`]), as of the
    /// last step: before it, nothing is due by the clock alone. An input
    /// that takes no step changes nothing it is computed from.
    due: Time,
    /// Something `status()` shows changed in this step: a frame went out
    /// because of it (not a plain keepalive), or time alone changed it.
    status_moved: bool,
    /// See [`Node::pending_reload`].
    pending_reload: Option<Box<Config>>,
    /// A peer came up in this step (see `announce_after_heal`).
    peer_came_up: bool,
    /// The last check session handed out.
    check_session: u64,
    /// This node's `[[node_check]]`s, by name.
    node_checks: Vec<(String, CheckTrack)>,
    out: Vec<Action>,
}

impl Node {
    /// A node named `name` (must be in `cfg`) starting at `now` with the
    /// generation the shell persisted for this run.
    pub fn new(cfg: Config, name: &str, generation: u64, now: Time) -> Result<Node, String> {
        let me = cfg.node_idx(name).ok_or_else(|| format!("node {name:?} is not in {}", cfg.path.display()))?;
        let peers = cfg
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (NodeIdx(i) != me).then(|| Peer {
                    name: n.name.clone(),
                    state: PeerState::Unknown,
                    generation: 0,
                    last_seq: 0,
                    last_heard: None,
                    links: vec![PeerLink { last: None, up: false }; cfg.links.len()],
                    late_reported: false,
                    beat: None,
                    view: None,
                    asm: None,
                    pending: None,
                    fenced: false,
                    fence_in_flight: false,
                    fence_retry_at: None,
                    mismatch_warned: false,
                    stale_warned: 0,
                    unverified_at: None,
                })
            })
            .collect();
        let groups = cfg.groups.iter().map(|g| new_group(&g.name, g.resources.len())).collect();
        let digest = cfg.digest();
        let ping_raw = if cfg.ping.hosts.is_empty() { None } else { Some(0) };
        let mut node = Node {
            me,
            generation,
            started_at: now,
            now,
            judge_after: now,
            peers,
            groups,
            intents: BTreeMap::new(),
            // The Lamport clock must not go back when the node restarts:
            // a restarted node that reused its old serials would issue
            // intents equal in (serial, origin) to ones its peers already
            // hold, with other content, and nodes would disagree forever.
            // Starting above anything the earlier incarnations could have
            // issued keeps it monotonic without persisting it.
            lamport: generation.min(u64::from(u32::MAX)) << 32,
            seq: 0,
            next_send: now,
            send_now: true,
            state_version: 0,
            last_state: None,
            chunks: Vec::new(),
            state_dirty: false,
            last_state_send: None,
            flush_state: false,
            next_serial: now,
            mute: None,
            serial_whole: false,
            names: Names::of(&cfg),
            ping_raw,
            // Until the first probe answers, assume the worst: a node that
            // reaches nothing does not take groups from one that does.
            ping_eff: ping_raw,
            ping_raw_since: now,
            ping_measured: cfg.ping.hosts.is_empty(),
            leaving: false,
            exited: false,
            quorate: false,
            digest,
            claim_hold_until: now,
            was_isolated: false,
            split_seen: Default::default(),
            status_serial: 0,
            due: Time::ZERO,
            status_moved: false,
            pending_reload: None,
            peer_came_up: false,
            check_session: 0,
            node_checks: cfg.node_checks.iter().map(|c| (c.name.clone(), CheckTrack::default())).collect(),
            out: Vec::new(),
            cfg,
        };
        node.due = node.deadline();
        Ok(node)
    }

    pub fn name(&self) -> &str {
        &self.cfg.node_at(self.me).name
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Feed one input at time `now`; returns what the shell must do.
    pub fn handle(&mut self, now: Time, input: Input) -> Vec<Action> {
        // The shell calls at least once a keepalive (`next_deadline`). A
        // longer gap means this node was not running: a frame it reads late
        // is not a peer's silence, so peers are judged a keepalive later,
        // once what waited in the sockets has come in.
        let keepalive = self.cfg.cluster.keepalive;
        let stalled = now.saturating_sub(self.now) > keepalive * 2;
        if stalled {
            self.judge_after = now + keepalive;
        }
        self.now = now.max(self.now);
        // A probe that passed moves nothing but counts and a latency, which
        // status refreshes at its own pace (like link ages).
        let routine = matches!(input, Input::Frame { .. } | Input::Tick | Input::CheckResult { ok: true, .. });
        // Whether anything a step looks at may have changed.
        let mut needs_step = true;
        match input {
            Input::Frame { from, link, generation, seq, msg: Message::Beat(b) } => {
                self.on_beat(&from, link, generation, seq, b)
            }
            Input::Frame { from, link, generation, msg: Message::Chunk(c), .. } => {
                self.on_chunk(&from, link, generation, c)
            }
            Input::SendFailed { reason } => self.go_mute(reason),
            Input::Unverified { from } => {
                let now = self.now;
                if let Some(p) = self.cfg.node_idx(&from).and_then(|i| self.peers[i].as_mut()) {
                    p.unverified_at = Some(now);
                }
            }
            Input::Adopt { group, resource, state } => self.on_adopt(&group, resource, state),
            Input::Leftover { group, resource } => self.on_leftover(&group, resource),
            Input::ResourceDone { group, resource, op, result } => self.on_resource_done(&group, resource, op, result),
            Input::ResourceFailed { group, resource, reason } => self.on_resource_failed(&group, resource, reason),
            Input::UnitState { group, resource, state, job } => self.on_unit_state(&group, resource, state, job),
            Input::UnitTimeouts { group, resource, timeouts } => {
                if let Some(g) = self.groups.iter_mut().find(|g| g.name == group) {
                    if let Some(t) = g.timeouts.get_mut(resource) {
                        *t = Some(timeouts);
                    }
                }
            }
            Input::CheckResult { target, session, ok, detail, latency } => {
                needs_step = self.on_check_result(target, session, ok, detail, latency);
            }
            Input::Ping { reachable } => self.on_ping(reachable),
            Input::FenceDone { node, ok } => self.on_fence_done(&node, ok),
            Input::Command { id, cmd } => {
                let result = self.on_command(cmd);
                self.out.push(Action::Reply { id, result });
            }
            Input::Shutdown => {
                self.leaving = true;
                self.send_now = true;
            }
            Input::Reload(cfg) => self.on_reload(*cfg),
            Input::Tick => {}
        }
        // An input that moved nothing needs no step unless the clock made
        // something due (a step costs a pass over every group).
        if needs_step || stalled || now >= self.due {
            self.step();
            self.due = self.deadline();
        }
        // Whatever changes state either tells the peers at once or emits
        // an action other than a keepalive: a frame or tick that did
        // neither changed nothing `status()` shows but link ages.
        if !routine || self.status_moved || self.out.iter().any(|a| !matches!(a, Action::Send { .. })) {
            self.status_serial += 1;
        }
        self.status_moved = false;
        std::mem::take(&mut self.out)
    }

    /// Changes whenever something [`Node::status`] shows may have changed,
    /// other than the ages of the links (the time since each peer's last
    /// frame). A reader that rebuilds the status only when this changes, and
    /// about once per keepalive for the ages, misses nothing else.
    pub fn status_serial(&self) -> u64 {
        self.status_serial
    }

    /// When the shell must call `handle(…, Input::Tick)` at the latest.
    pub fn next_deadline(&self) -> Time {
        self.due
    }

    /// [`Node::next_deadline`] computed afresh: a pass over the peers and
    /// the groups, once per step rather than once per call.
    fn deadline(&self) -> Time {
        let c = &self.cfg.cluster;
        let mut d = self.next_send;
        let mut consider = |t: Time| {
            if t > self.now && t < d {
                d = t;
            }
        };
        consider(self.started_at + c.initdead);
        consider(self.judge_after);
        for p in self.peers.iter().flatten() {
            if let Some(h) = p.last_heard {
                if p.state == PeerState::Up {
                    consider(h + c.warntime);
                    consider(h + c.deadtime);
                    consider(h + self.lease());
                }
            }
            for l in &p.links {
                if let (Some(t), true) = (l.last, l.up) {
                    consider(t + c.deadtime);
                }
            }
            if let Some(t) = p.fence_retry_at {
                consider(t);
            }
            if let Some(t) = p.unverified_at {
                consider(t + c.deadtime);
            }
        }
        consider(self.claim_hold_until);
        for g in &self.groups {
            if let Some(t) = g.busy_until {
                consider(t);
            }
            for j in &g.outside_jobs {
                if let Some(t) = j.deadline {
                    consider(t);
                }
            }
            if let Some(t) = self.failures_expire_at(g) {
                consider(t);
            }
        }
        for t in self.rise_deadlines() {
            consider(t);
        }
        if self.state_dirty {
            if let Some(t) = self.last_state_send {
                consider(t + self.state_interval());
            }
        }
        if self.ping_raw != self.ping_eff {
            consider(self.ping_raw_since + self.ping_hold());
        }
        if d <= self.now {
            self.now + Duration::from_millis(1)
        } else {
            d
        }
    }

    fn step(&mut self) {
        if self.exited {
            return;
        }
        if let Some(cfg) = self.pending_reload.clone() {
            self.on_reload(*cfg);
        }
        self.start_node_checks();
        self.update_membership();
        self.update_ping();
        self.expire_ops();
        self.expire_rising();
        self.expire_outside_jobs();
        self.expire_failures();
        self.update_quorum();
        let isolated = self.isolated();
        if self.was_isolated && !isolated {
            self.claim_hold_until = self.now + self.cfg.cluster.deadtime;
        }
        self.status_moved |= self.was_isolated != isolated;
        self.was_isolated = isolated;
        self.plan();
        // A claim that needs nobody's acknowledgement (no live peer left)
        // becomes a start now, not at the next tick a keepalive later.
        self.plan();
        self.drive_resources();
        self.observe_owners();
        self.announce_after_heal();
        self.maybe_send();
        if self.leaving
            && self
                .groups
                .iter()
                .all(|g| matches!(g.state, GroupState::Stopped | GroupState::Blocked) && g.busy.is_none())
        {
            // Say goodbye with the final state, then let the shell exit.
            self.send_now = true;
            self.flush_state = true;
            self.maybe_send();
            self.exited = true;
            self.out.push(Action::Exit);
        }
    }
}

/// The same resources, whatever their checks: a reload that changes only a
/// check does not restart the group, it restarts the check.
fn same_resources(a: &[Resource], b: &[Resource]) -> bool {
    let bare = |r: &Resource| match r {
        Resource::Unit { name, timeout, .. } => Resource::Unit { name: name.clone(), timeout: *timeout, check: None },
        r => r.clone(),
    };
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| bare(x) == bare(y))
}

/// A unit that went down within a job of systemd's: a `systemctl stop`
/// whose job has not ended yet, or a `systemctl restart` between its stop
/// and its start; which one, systemd's next report of the unit tells.
#[derive(Clone, Copy, Debug)]
struct OutsideJob {
    resource: usize,
    /// Taken for a failure then, if nothing came of the job (a start that
    /// waits on a dependency that never comes).
    deadline: Option<Time>,
    /// The unit came up again within the job: the start of a restart.
    restarting: bool,
}

impl LocalGroup {
    /// Runs here and stays: what this node announces when the LAN may
    /// have been told of another node (not a group it has begun to give up).
    fn keeps(&self) -> bool {
        self.state == GroupState::Started && !self.stop_after_op
    }
}

fn new_group(name: &str, n: usize) -> LocalGroup {
    LocalGroup {
        name: name.to_string(),
        state: GroupState::Stopped,
        running: 0,
        busy: None,
        busy_until: None,
        observed: vec![None; n],
        up: vec![false; n],
        timeouts: vec![None; n],
        last_failure: None,
        stop_after_op: false,
        vip_added: false,
        adopted: vec![false; n],
        resume_start: false,
        failcount: 0,
        failed: false,
        cleanup_applied: 0,
        claim_version: 0,
        claim_reason: MoveReason::Start,
        release_reason: MoveReason::Move,
        owner_seen: None,
        restart: Vec::new(),
        bounce: Vec::new(),
        bouncing: None,
        strays: Vec::new(),
        stray_stop: None,
        outside_jobs: Vec::new(),
        died_starting: None,
        strays_seen: 0,
        strays_since: Time::ZERO,
        checks: vec![CheckTrack::default(); n],
    }
}

/// The configuration's node and group names, for lookups that must not be
/// linear in the number of groups (a state carries an intent per group).
#[derive(Default)]
struct Names {
    nodes: std::collections::HashSet<String>,
    /// Group name → index in the configuration.
    groups: HashMap<String, GroupIdx>,
}

impl Names {
    fn of(cfg: &Config) -> Names {
        Names {
            nodes: cfg.nodes.iter().map(|n| n.name.clone()).collect(),
            groups: cfg.groups.iter().enumerate().map(|(i, g)| (g.name.clone(), GroupIdx(i))).collect(),
        }
    }

    /// Whether an intent is about groups and nodes the configuration has.
    fn applies(&self, k: &IntentKind) -> bool {
        match k {
            IntentKind::Standby { node, .. } => self.nodes.contains(node),
            IntentKind::Location { group, node } => {
                self.groups.contains_key(group) && node.as_ref().is_none_or(|n| self.nodes.contains(n))
            }
            IntentKind::Cleanup { group } => self.groups.contains_key(group),
        }
    }
}
