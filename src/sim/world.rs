//! The simulated world: nodes, a virtual network, the resources that really
//! run on each node, a fault schedule and the checkers.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::platform::{SimOp, SimPlatform};
use super::Rng;
use crate::config::{
    AuthKeys, Check, Cluster, Config, Fencing, Garp, Group, Link, LinkKind, NodeCheck, NodeConf, Ping, Probe, Respawn,
};
use crate::core::{
    CheckTarget, Command, GroupState, Input, Message, Node, Op, OpError, Resource, Time, UnitState, UnitTimeouts,
};
use crate::driver::{Driver, Found, Present};

/// What the run may assume, and so which safety property it checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Any faults. Checked: no group runs on two nodes that have been able
    /// to hear each other for longer than the heal grace.
    Plain,
    /// ≥ 3 nodes, symmetric faults, stops that succeed. Checked: never two
    /// runners at all.
    Quorum,
    /// fencing = "required". Checked: never two runners at all.
    Fencing,
    /// 2 nodes with a ping host; partitions cut a node off from its peer and
    /// the ping host alike. Checked: never two runners at all.
    PingTieBreak,
}

impl Profile {
    fn strict(self) -> bool {
        self != Profile::Plain
    }
}

#[derive(Clone, Debug)]
pub struct SimOptions {
    pub seed: u64,
    pub nodes: usize,
    pub links: usize,
    pub groups: usize,
    pub resources: usize,
    pub profile: Profile,
    pub auto_failback: bool,
    /// Faults are injected during this time after start.
    pub chaos: Duration,
    /// Then everything heals, and groups must settle within the bound.
    pub calm: Duration,
    /// Inject faults at all (scenario tests script their own).
    pub faults: bool,
    /// Units have health checks (and the faults include sick services).
    pub checks: bool,
    /// Every node has a node check (and the faults include sick nodes).
    pub node_check: bool,
    /// Compare a node's whole status with what it said before every this
    /// many of its steps (1: every step). A step whose serial moved or that
    /// published is always checked; the rest are sampled because a status
    /// of 32 nodes or 1,000 groups after each of millions of steps was most
    /// of a big run's time.
    pub status_every: u32,
}

impl SimOptions {
    /// Options drawn from the seed for an `nodes`-node cluster.
    pub fn from_seed(seed: u64, nodes: usize) -> SimOptions {
        let mut r = Rng::new(seed.wrapping_mul(31).wrapping_add(7));
        let profile = match (nodes, r.range(0, 9)) {
            (_, 0..=1) => Profile::Fencing,
            (2, 2..=4) => Profile::PingTieBreak,
            (n, 2..=6) if n >= 3 => Profile::Quorum,
            _ => Profile::Plain,
        };
        SimOptions {
            seed,
            nodes,
            links: r.range(1, 2) as usize,
            groups: r.range(1, 3) as usize,
            resources: r.range(1, 3) as usize,
            profile,
            auto_failback: r.chance(0.5),
            chaos: Duration::from_secs(r.range(40, 100)),
            calm: Duration::from_secs(30),
            faults: true,
            // Apart from the draws above: seeds keep the clusters they had.
            checks: seed % 3 == 0,
            node_check: seed % 5 == 1,
            status_every: 1,
        }
    }

    pub fn scripted(nodes: usize) -> SimOptions {
        SimOptions {
            seed: 1,
            nodes,
            links: 2,
            groups: 1,
            resources: 2,
            profile: Profile::Plain,
            auto_failback: true,
            chaos: Duration::ZERO,
            calm: Duration::ZERO,
            faults: false,
            checks: false,
            node_check: false,
            status_every: 1,
        }
    }
}

#[derive(Debug)]
pub struct SimError {
    pub seed: u64,
    pub at: Time,
    pub message: String,
    pub trace: Vec<String>,
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {} failed at t={:.3}s: {}", self.seed, self.at.as_secs_f64(), self.message)?;
        writeln!(f, "replay with: HBD_SEED={} cargo test --test sim -- --nocapture", self.seed)?;
        writeln!(f, "last events:")?;
        for l in &self.trace {
            writeln!(f, "  {l}")?;
        }
        Ok(())
    }
}

// Timing of the simulated cluster and its environment.
const KEEPALIVE: Duration = Duration::from_millis(200);
const WARNTIME: Duration = Duration::from_millis(800);
const DEADTIME: Duration = Duration::from_millis(2000);
const INITDEAD: Duration = Duration::from_millis(4000);
const MAX_OP_MS: u64 = 60;
/// The job timeouts the simulated systemd gives units without their own.
const UNIT_TIMEOUT: Duration = Duration::from_secs(2);
/// The `timeout` some simulated resources set themselves.
const RESOURCE_TIMEOUT: Duration = Duration::from_secs(3);
/// By when the core has given up on any job hung during the chaos: the
/// longest deadline (a unit's own timeout and the core's margin).
const HANG_DEADLINE: Duration = Duration::from_secs(8);
const MAX_DELAY_MS: u64 = 8;

#[derive(Debug)]
enum Ev {
    Deliver {
        to: usize,
        inc: u64,
        from: usize,
        link: usize,
        gen: u64,
        seq: u64,
        msg: Box<Message>,
    },
    OpDone {
        node: usize,
        inc: u64,
        group: usize,
        res: usize,
        op: Op,
        ok: bool,
        job: u64,
    },
    /// A unit job that never finishes (systemd stuck, an ExecStop= that
    /// hangs): nothing answers, the core's deadline must.
    OpHangs {
        node: usize,
        inc: u64,
        group: usize,
        res: usize,
        op: Op,
        job: u64,
    },
    FenceDone {
        node: usize,
        inc: u64,
        target: usize,
        ok: bool,
    },
    /// The platform starts the respawn unit it was told to follow.
    RespawnStart {
        node: usize,
        inc: u64,
    },
    /// A start job of hbd's begins to run: systemd says the unit, down
    /// until then, is `activating`.
    StartRuns {
        node: usize,
        inc: u64,
        group: usize,
        res: usize,
        job: u64,
    },
    /// The start half of a `systemctl restart` outside hbd (`job`: the
    /// restart's), which succeeds or not.
    RestartUp {
        node: usize,
        inc: u64,
        group: usize,
        res: usize,
        job: u64,
        ok: bool,
    },
    /// A VIP something else removed is added back (or cannot be).
    Readded {
        node: usize,
        inc: u64,
        group: usize,
        res: usize,
        ok: bool,
        job: u64,
    },
    Ping {
        node: usize,
        inc: u64,
    },
    Tick {
        node: usize,
        inc: u64,
    },
    Restart {
        node: usize,
    },
    /// A probe of a check the core started ends.
    CheckProbe {
        node: usize,
        inc: u64,
        target: CheckTarget,
        session: u64,
    },
    Fault,
    Heal,
    HealCommands,
}

struct Scheduled {
    at: Time,
    id: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.id == o.id
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> Ordering {
        // Min-heap on (time, insertion order).
        (o.at, o.id).cmp(&(self.at, self.id))
    }
}

struct SimNode {
    /// The daemon's driver (and its core) over the simulated platform.
    driver: Option<Driver<SimPlatform>>,
    /// Units the driver follows: (group, resource).
    watched: HashSet<(usize, usize)>,
    /// Bumped on crash and restart: events for an older incarnation are void.
    inc: u64,
    /// Persisted generation ("the state directory").
    generation: u64,
    next_tick: Option<Time>,
    ping_reach: bool,
    /// Resources that really run here: [group][resource].
    running: Vec<Vec<bool>>,
    /// The newest job asked for each resource: [group][resource].
    job: Vec<Vec<u64>>,
    /// A stop job of that resource hangs: [group][resource].
    stop_hangs: Vec<Vec<bool>>,
    /// The job in flight for each resource, if any: [group][resource].
    pending: Vec<Vec<Option<Op>>>,
    /// A stop of the group failed here since it last ran nothing of it.
    stop_failed: Vec<bool>,
    /// When a unit was started here outside hbd, while it runs:
    /// [group][resource].
    stray_since: Vec<Vec<Option<Time>>>,
    /// The checks the core runs here, and their sessions.
    checks: HashMap<CheckTarget, u64>,
    /// Until when a service is sick here: [group][resource].
    sick_until: Vec<Vec<Time>>,
    /// Services that answer every other probe: [group][resource].
    flapping: Vec<Vec<bool>>,
    flip: bool,
    /// Until when this node's own check fails.
    node_sick_until: Time,
    /// The node runs the reloaded variant of the configuration.
    reloaded: bool,
    /// The respawn unit runs here; the driver follows it.
    respawn_runs: bool,
    respawn_followed: bool,
}

pub struct Sim {
    pub opts: SimOptions,
    rng: Rng,
    now: Time,
    cfg: Config,
    nodes: Vec<SimNode>,
    /// cut[link][from][to]
    cut: Vec<Vec<Vec<bool>>>,
    loss: Vec<Vec<Vec<f64>>>,
    /// When each pair last became able to hear each other (None: cannot).
    connected_since: Vec<Vec<Option<Time>>>,
    /// Per group: the node whose announcement of the group's VIP (the
    /// gratuitous ARP of an add, or an announcement again) reached the LAN
    /// last, which is where clients' ARP caches send them.
    lan: Vec<Option<usize>>,
    queue: BinaryHeap<Scheduled>,
    next_id: u64,
    trace: VecDeque<String>,
    /// Events each node logged, for scenario assertions.
    pub log: Vec<Vec<String>>,
    next_cmd: u64,
    replies: Vec<(u64, Result<(), crate::core::CommandError>)>,
    stop_failures: bool,
    /// Scripted start failures: (node, group, resource) whose next start fails.
    fail_starts: Vec<(usize, usize, usize)>,
    /// Scripted stop failures, likewise.
    fail_stops: Vec<(usize, usize, usize)>,
    /// Scripted jobs that never finish.
    hang_starts: Vec<(usize, usize, usize)>,
    hang_stops: Vec<(usize, usize, usize)>,
    /// Scripted: the platform cannot read these resources at the node's next boot.
    unreadable: Vec<(usize, usize, usize)>,
    /// Scripted units that exit with status 143 on their next stop.
    exit_143: Vec<(usize, usize, usize)>,
    /// Per node: the core's status serial and its status (link ages zeroed)
    /// after the last input, to check that the serial moves with the status.
    last_status: Vec<Option<(u64, crate::core::node::Status)>>,
    status_violation: Option<String>,
    /// Steps taken, for [`SimOptions::status_every`].
    steps: u64,
}

impl Sim {
    pub fn new(opts: SimOptions) -> Sim {
        let cfg = sim_config(&opts);
        let n = opts.nodes;
        let l = opts.links;
        let stop_failures = matches!(opts.profile, Profile::Plain | Profile::Fencing);
        let mut sim = Sim {
            rng: Rng::new(opts.seed),
            now: Duration::ZERO,
            nodes: (0..n)
                .map(|_| SimNode {
                    driver: None,
                    watched: HashSet::new(),
                    inc: 0,
                    generation: 0,
                    next_tick: None,
                    ping_reach: true,
                    running: cfg.groups.iter().map(|g| vec![false; g.resources.len()]).collect(),
                    job: cfg.groups.iter().map(|g| vec![0; g.resources.len()]).collect(),
                    stop_hangs: cfg.groups.iter().map(|g| vec![false; g.resources.len()]).collect(),
                    pending: cfg.groups.iter().map(|g| vec![None; g.resources.len()]).collect(),
                    stop_failed: vec![false; cfg.groups.len()],
                    stray_since: cfg.groups.iter().map(|g| vec![None; g.resources.len()]).collect(),
                    checks: HashMap::new(),
                    sick_until: cfg.groups.iter().map(|g| vec![Duration::ZERO; g.resources.len()]).collect(),
                    flapping: cfg.groups.iter().map(|g| vec![false; g.resources.len()]).collect(),
                    flip: false,
                    node_sick_until: Duration::ZERO,
                    reloaded: false,
                    respawn_runs: false,
                    respawn_followed: false,
                })
                .collect(),
            cut: vec![vec![vec![false; n]; n]; l],
            loss: vec![vec![vec![0.0; n]; n]; l],
            connected_since: vec![vec![None; n]; n],
            lan: vec![None; cfg.groups.len()],
            queue: BinaryHeap::new(),
            next_id: 0,
            trace: VecDeque::new(),
            log: vec![Vec::new(); n],
            next_cmd: 1,
            replies: Vec::new(),
            stop_failures,
            fail_starts: Vec::new(),
            fail_stops: Vec::new(),
            hang_starts: Vec::new(),
            hang_stops: Vec::new(),
            unreadable: Vec::new(),
            exit_143: Vec::new(),
            last_status: vec![None; n],
            steps: 0,
            status_violation: None,
            cfg,
            opts,
        };
        sim.recompute_connectivity();
        sim
    }

    /// The last lines of the world's trace (what a failure prints).
    pub fn trace(&self) -> Vec<String> {
        self.trace.iter().cloned().collect()
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn now(&self) -> Time {
        self.now
    }

    pub fn node_names(&self) -> Vec<String> {
        self.cfg.nodes.iter().map(|n| n.name.clone()).collect()
    }

    fn idx(&self, name: &str) -> usize {
        self.cfg.node_index(name).unwrap_or_else(|| panic!("no node {name}"))
    }

    /// The whole randomized run: start, chaos, heal, settle, check.
    pub fn run(&mut self) -> Result<(), SimError> {
        for i in 0..self.nodes.len() {
            // Nodes boot within a second of each other.
            let at = Duration::from_millis(self.rng.range(0, 1000));
            self.schedule(at, Ev::Restart { node: i });
        }
        if self.opts.faults {
            self.schedule_fault();
            self.schedule(self.opts.chaos, Ev::Heal);
        }
        let end = self.opts.chaos + self.opts.calm;
        self.run_until(end)?;
        self.check_liveness()
    }

    /// How long after the faults stop every group must run on one node.
    pub fn liveness_bound(&self) -> Duration {
        let start = Duration::from_millis(MAX_OP_MS * self.opts.resources as u64 * 2);
        // The heal itself, a fence of a node still thought dead and its
        // reboot, initdead, then detection and a start.
        Duration::from_secs(1)
            + HANG_DEADLINE
            + Duration::from_secs(3)
            + INITDEAD
            + 2 * DEADTIME
            + start
            + Duration::from_secs(2)
    }

    fn schedule(&mut self, at: Time, ev: Ev) {
        self.next_id += 1;
        self.queue.push(Scheduled { at, id: self.next_id, ev });
    }

    fn say(&mut self, line: String) {
        if self.trace.len() == 400 {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("t={:.3} {line}", self.now.as_secs_f64()));
    }

    fn fail(&self, message: String) -> SimError {
        SimError { seed: self.opts.seed, at: self.now, message, trace: self.trace.iter().cloned().collect() }
    }

    /// Advance the clock to `until`, processing everything due.
    pub fn run_until(&mut self, until: Time) -> Result<(), SimError> {
        while let Some(top) = self.queue.peek() {
            if top.at > until {
                break;
            }
            let s = self.queue.pop().expect("peeked");
            self.now = s.at;
            self.process(s.ev)?;
            self.check_safety()?;
        }
        self.now = until;
        Ok(())
    }

    pub fn advance(&mut self, d: Duration) -> Result<(), SimError> {
        self.run_until(self.now + d)
    }

    fn process(&mut self, ev: Ev) -> Result<(), SimError> {
        match ev {
            Ev::Deliver { to, inc, from, link, gen, seq, msg } => {
                if self.nodes[to].inc != inc || self.nodes[to].driver.is_none() {
                    return Ok(());
                }
                let name = self.cfg.nodes[from].name.clone();
                self.feed(to, Input::Frame { from: name, link, generation: gen, seq, msg: *msg });
            }
            Ev::OpDone { node, inc, group, res, op, ok, job } => {
                if self.nodes[node].inc != inc || self.nodes[node].driver.is_none() {
                    return Ok(());
                }
                if self.nodes[node].job[group][res] == job {
                    self.nodes[node].pending[group][res] = None;
                }
                if self.nodes[node].job[group][res] != job {
                    // A later job replaced this one (a stop cancels a start
                    // job): systemd reports it `canceled`, nothing changed.
                    let g = self.cfg.groups[group].name.clone();
                    let result = Err(OpError("job canceled".into()));
                    self.step(node, |d, now| d.op_done(now, g, res, op, result));
                    return Ok(());
                }
                if (op, ok) == (Op::Start, true) && self.cfg.groups[group].resources[res].is_vip() {
                    self.lan[group] = Some(node);
                }
                match (op, ok) {
                    (Op::Start, false) => self.nodes[node].running[group][res] = false,
                    (Op::Stop, true) => {
                        self.nodes[node].running[group][res] = false;
                        self.nodes[node].stray_since[group][res] = None;
                    }
                    (Op::Stop, false) => self.nodes[node].stop_failed[group] = true,
                    _ => {}
                }
                if self.nodes[node].running[group].iter().all(|r| !*r) {
                    self.nodes[node].stop_failed[group] = false;
                }
                // systemd reports the unit's new state before the job's end.
                let state = match (op, ok) {
                    (Op::Start, true) => Some(unit_state("active", "running", "success", Some(0))),
                    (Op::Start, false) => Some(unit_state("failed", "failed", "exit-code", Some(1))),
                    // A JVM exits 143 on SIGTERM: failed, yet stopped.
                    (Op::Stop, true)
                        if take_scripted(&mut self.exit_143, (node, group, res))
                            || (self.opts.faults && self.rng.chance(0.3)) =>
                    {
                        Some(unit_state("failed", "failed", "exit-code", Some(143)))
                    }
                    // A plain service dies of the stop's SIGTERM.
                    (Op::Stop, true) => Some(unit_state("inactive", "dead", "success", Some(-15))),
                    (Op::Stop, false) => None,
                };
                let g = self.cfg.groups[group].name.clone();
                // Only a followed unit's changes are reported.
                let watched = self.nodes[node].watched.contains(&(group, res));
                let reported = state.filter(|_| self.is_unit(group, res) && watched);
                if let Some(state) = &reported {
                    self.report(node, &g, res, state.clone(), true);
                }
                let result = if ok { Ok(()) } else { Err(OpError(format!("simulated {op:?} failure"))) };
                self.step(node, |d, now| d.op_done(now, g.clone(), res, op, result));
                // Then once the job has ended: a unit that is down is
                // reported again, without the job.
                if let Some(state) = reported.filter(UnitState::is_down) {
                    self.report(node, &g, res, state, false);
                }
            }
            Ev::OpHangs { node, inc, group, res, op, job } => {
                // The job is stuck: a start leaves the unit activating, a
                // stop leaves its processes behind.
                if self.nodes[node].inc == inc
                    && self.nodes[node].driver.is_some()
                    && self.nodes[node].job[group][res] == job
                    && self.is_unit(group, res)
                {
                    let state = match op {
                        Op::Start => unit_state("activating", "start", "success", None),
                        Op::Stop => unit_state("deactivating", "stop-sigterm", "success", None),
                    };
                    let g = self.cfg.groups[group].name.clone();
                    self.report(node, &g, res, state, true);
                }
            }
            Ev::StartRuns { node, inc, group, res, job } => {
                if self.nodes[node].inc == inc
                    && self.nodes[node].driver.is_some()
                    && self.nodes[node].job[group][res] == job
                    && self.nodes[node].watched.contains(&(group, res))
                {
                    let g = self.cfg.groups[group].name.clone();
                    self.report(node, &g, res, unit_state("activating", "start", "success", None), true);
                }
            }
            Ev::RestartUp { node, inc, group, res, job, ok } => {
                // The start half of a restart outside hbd, unless a job of
                // hbd's replaced it meanwhile.
                if self.nodes[node].inc != inc
                    || self.nodes[node].driver.is_none()
                    || self.nodes[node].job[group][res] != job
                {
                    return Ok(());
                }
                let g = self.cfg.groups[group].name.clone();
                self.say(format!(
                    "{} unit {g}[{res}] {} its restart outside hbd",
                    self.cfg.nodes[node].name,
                    if ok { "comes back from" } else { "fails the start of" }
                ));
                let watched = self.nodes[node].watched.contains(&(group, res));
                if ok {
                    self.nodes[node].running[group][res] = true;
                    if watched {
                        self.report(node, &g, res, unit_state("activating", "start", "success", None), true);
                        self.report(node, &g, res, unit_state("active", "running", "success", None), true);
                        self.report(node, &g, res, unit_state("active", "running", "success", None), false);
                    }
                } else if watched {
                    let failed = unit_state("failed", "failed", "exit-code", Some(1));
                    self.report(node, &g, res, unit_state("activating", "start-pre", "success", None), true);
                    self.report(node, &g, res, failed.clone(), true);
                    self.report(node, &g, res, failed, false);
                }
            }
            Ev::FenceDone { node, inc, target, ok } => {
                if ok {
                    // A PDU's "reboot": power off, then on again.
                    self.say(format!(
                        "{} fences {}: power cut",
                        self.cfg.nodes[node].name, self.cfg.nodes[target].name
                    ));
                    self.crash(target);
                    let d = Duration::from_millis(self.rng.range(1000, 3000));
                    self.schedule(self.now + d, Ev::Restart { node: target });
                }
                if self.nodes[node].inc != inc || self.nodes[node].driver.is_none() {
                    return Ok(());
                }
                let t = self.cfg.nodes[target].name.clone();
                self.feed(node, Input::FenceDone { node: t, ok });
            }
            Ev::Readded { node, inc, group, res, ok, job } => {
                // A start or stop of it asked for since takes precedence.
                if self.nodes[node].inc != inc
                    || self.nodes[node].driver.is_none()
                    || self.nodes[node].job[group][res] != job
                {
                    return Ok(());
                }
                if ok {
                    self.nodes[node].running[group][res] = true;
                    self.lan[group] = Some(node);
                } else {
                    let g = self.cfg.groups[group].name.clone();
                    let reason = "VIP could not be re-added: simulated".to_string();
                    self.feed(node, Input::ResourceFailed { group: g, resource: res, reason });
                }
            }
            Ev::RespawnStart { node, inc } => {
                if self.nodes[node].inc == inc && self.nodes[node].respawn_followed {
                    self.nodes[node].respawn_runs = true;
                }
            }
            Ev::Ping { node, inc } => {
                if self.nodes[node].inc != inc || self.nodes[node].driver.is_none() {
                    return Ok(());
                }
                let reachable = u32::from(self.nodes[node].ping_reach);
                self.say(format!("{} ping probe: {reachable} reachable", self.cfg.nodes[node].name));
                self.step(node, |d, now| d.ping(now, reachable));
            }
            Ev::Tick { node, inc } => {
                if self.nodes[node].inc != inc || self.nodes[node].driver.is_none() {
                    return Ok(());
                }
                if self.nodes[node].next_tick.is_some_and(|t| t <= self.now) {
                    self.nodes[node].next_tick = None;
                    self.feed(node, Input::Tick);
                }
            }
            Ev::Restart { node } => self.boot(node),
            Ev::Fault => {
                if self.now < self.opts.chaos {
                    self.inject_fault();
                    self.schedule_fault();
                }
            }
            Ev::CheckProbe { node, inc, target, session } => self.check_probe(node, inc, target, session),
            Ev::Heal => self.heal_all(),
            Ev::HealCommands => self.heal_commands(),
        }
        Ok(())
    }

    /// A probe ends: a service passes where it runs and is not sick; a
    /// node check passes unless the node is made sick.
    fn check_probe(&mut self, n: usize, inc: u64, target: CheckTarget, session: u64) {
        if self.nodes[n].inc != inc || self.nodes[n].checks.get(&target) != Some(&session) {
            return;
        }
        let now = self.now;
        let (ok, interval) = match &target {
            CheckTarget::Resource { group, resource } => {
                let gi = self.idx_group(group);
                let node = &mut self.nodes[n];
                node.flip = !node.flip;
                let flap = node.flapping[gi][*resource] && node.flip;
                let ok = node.running[gi][*resource] && node.sick_until[gi][*resource] <= now && !flap;
                (ok, self.cfg.groups[gi].resources[*resource].check().map(|c| c.interval))
            }
            CheckTarget::Node { name } => {
                let ok = self.nodes[n].node_sick_until <= now;
                (ok, self.cfg.node_checks.iter().find(|c| &c.name == name).map(|c| c.check.interval))
            }
        };
        let Some(interval) = interval else { return };
        let detail = if ok { String::new() } else { "simulated: HTTP 500".to_string() };
        let latency = Duration::from_millis(self.rng.range(1, 30));
        self.feed(n, Input::CheckResult { target: target.clone(), session, ok, detail, latency });
        let inc = self.nodes[n].inc;
        self.schedule(self.now + interval, Ev::CheckProbe { node: n, inc, target, session });
    }

    fn idx_group(&self, name: &str) -> usize {
        self.cfg.group_index(name).expect("group")
    }

    fn feed(&mut self, n: usize, input: Input) {
        self.step(n, |d, now| d.handle(now, input));
    }

    /// Run one call of node `n`'s driver, check what its core now says, and
    /// carry out what the driver asked of the platform.
    fn step(&mut self, n: usize, call: impl FnOnce(&mut Driver<SimPlatform>, Time) -> bool) {
        let now = self.now;
        let Some(driver) = self.nodes[n].driver.as_mut() else { return };
        let exit = call(driver, now);
        let ops = std::mem::take(&mut driver.platform.ops);
        let refreshed = std::mem::take(&mut driver.platform.refreshed);
        let deadline = driver.next_deadline();
        let pending = driver.publish_pending();
        let core = driver.node();
        // The shell rebuilds the status only when the serial moves (and for
        // link ages once a keepalive): it must move whenever the rest does.
        let serial = core.status_serial();
        let moved = self.last_status[n].as_ref().is_none_or(|(s, _)| *s != serial);
        self.steps += 1;
        let sampled = self.steps % u64::from(self.opts.status_every.max(1)) == 0;
        if !moved && !sampled && driver.platform.published.is_none() {
            self.apply(n, ops);
            self.after_step(n, exit, deadline, now);
            return;
        }
        let mut st = core.status();
        // Right after a refresh, what readers see is the core's status
        // exactly, link ages and check counts included.
        if refreshed && !pending && self.status_violation.is_none() {
            let now_worded = crate::dbus::status_text::worded(&st);
            if driver.platform.shown.as_ref() != Some(&now_worded) {
                self.status_violation = Some(format!(
                    "{}: the refreshed status is not the core's: {:?} vs {now_worded:?}",
                    self.cfg.nodes[n].name, driver.platform.shown
                ));
            }
        }
        st.nodes.iter_mut().flat_map(|n| n.links.iter_mut()).for_each(|l| l.2 = 0);
        // Passes in a row and latencies move with every probe and are
        // refreshed at the pace of link ages.
        let calm = |c: &mut crate::core::node::CheckStatus| {
            c.latency_ms = 0;
            c.passes = 0;
        };
        st.nodes.iter_mut().flat_map(|n| n.checks.iter_mut()).for_each(calm);
        st.groups.iter_mut().flat_map(|g| g.checks.iter_mut()).for_each(calm);
        // What the driver publishes (what hactl and the bus show) is never
        // behind the core, but for link ages and probe counts: a step that
        // moved the serial publishes, and publishes what the core says.
        let moved = moved && self.last_status[n].is_some();
        match driver.platform.published.take() {
            // (one that a change still waiting to be published replaces)
            Some(_) if pending => {}
            Some(mut shown) => {
                shown.nodes.iter_mut().flat_map(|n| n.links.iter_mut()).for_each(|l| l.2 = 0);
                shown.nodes.iter_mut().flat_map(|n| n.checks.iter_mut()).for_each(calm);
                shown.groups.iter_mut().flat_map(|g| g.checks.iter_mut()).for_each(calm);
                if shown != st && self.status_violation.is_none() {
                    self.status_violation = Some(format!(
                        "{}: the published status is not the core's: {shown:?} vs {st:?}",
                        self.cfg.nodes[n].name
                    ));
                }
            }
            None if moved && !pending && self.status_violation.is_none() => {
                self.status_violation =
                    Some(format!("{}: the status changed and nothing was published", self.cfg.nodes[n].name));
            }
            None => {}
        }
        if let Some((old_serial, old)) = &self.last_status[n] {
            if *old_serial == serial && *old != st && self.status_violation.is_none() {
                self.status_violation = Some(format!(
                    "{}: status changed without its serial moving: {old:?} -> {st:?}",
                    self.cfg.nodes[n].name
                ));
            }
        }
        if self.status_violation.is_none() {
            self.status_violation = self.untruth(n, &st);
        }
        self.last_status[n] = Some((serial, st));
        self.apply(n, ops);
        self.after_step(n, exit, deadline, now);
    }

    /// What node `n`'s status `st` says that is not so, if anything. What
    /// it says runs, runs: a unit it shows active or started has processes,
    /// on this node or on the peer it shows running the group. A peer's
    /// resources are shown as that peer reports them, once this node holds
    /// the peer's newest state. Read in the words hactl shows.
    fn untruth(&self, n: usize, st: &crate::core::node::Status) -> Option<String> {
        let me = &self.cfg.nodes[n].name;
        let core = self.nodes[n].driver.as_ref()?.node();
        for (gi, g) in st.groups.iter().enumerate() {
            if g.owner.is_empty() {
                continue;
            }
            let x = self.idx(&g.owner);
            if x != n {
                let owner = self.nodes[x].driver.as_ref().map(|d| d.node());
                let told = owner.and_then(|o| Some((o.generation(), o.told()?)));
                let Some((generation, (version, told))) = told else { continue };
                if core.applied(&g.owner) != Some((generation, version)) {
                    continue;
                }
                let reported = told.groups.get(gi).filter(|r| r.name == g.name).map(|r| &r.resources);
                let shown: Vec<_> = g.resources.iter().map(|(_, _, s)| s.clone()).collect();
                if reported.is_some_and(|r| *r != shown) {
                    return Some(format!(
                        "{me}: status shows the resources of {} as {shown:?}, but {} reports {reported:?}",
                        g.name, g.owner
                    ));
                }
            }
            for (ri, (kind, name, state)) in g.resources.iter().enumerate() {
                let state = crate::dbus::status_text::resource_state(state);
                let claims_up = state == "started" || state.starts_with("active");
                if kind == "unit" && claims_up && !self.nodes[x].running[gi][ri] {
                    return Some(format!(
                        "{me}: status says {name} of {} is {state:?} on {}, but it does not run there",
                        g.name, g.owner
                    ));
                }
            }
        }
        None
    }

    /// What a step's end does: exit after a graceful leave, or wake the
    /// node at its next deadline.
    fn after_step(&mut self, n: usize, exit: bool, deadline: Time, now: Time) {
        if exit {
            self.exit(n);
            return;
        }
        if self.nodes[n].driver.is_some() && self.nodes[n].next_tick.is_none_or(|t| deadline < t || t <= now) {
            self.nodes[n].next_tick = Some(deadline);
            let inc = self.nodes[n].inc;
            self.schedule(deadline, Ev::Tick { node: n, inc });
        }
    }

    /// The graceful leave is complete: hbd exits (what it could not stop
    /// still runs).
    fn exit(&mut self, n: usize) {
        if self.nodes[n].driver.take().is_none() {
            return;
        }
        self.say(format!("{} exits (graceful leave)", self.cfg.nodes[n].name));
        self.nodes[n].inc += 1;
        self.nodes[n].next_tick = None;
        self.nodes[n].watched.clear();
        // The driver stops the respawn units it ran as the leave completes.
        if self.nodes[n].respawn_runs && self.status_violation.is_none() {
            self.status_violation =
                Some(format!("{} left gracefully with its respawn unit still running", self.cfg.nodes[n].name));
        }
        self.nodes[n].respawn_followed = false;
        self.recompute_connectivity();
        // A leave still in flight when the faults ended: the operator starts
        // hbd again, as for every node at the end of the faults (what the
        // leave could not stop still runs, and is adopted).
        if self.opts.faults && self.now >= self.opts.chaos {
            self.schedule(self.now + Duration::from_secs(1), Ev::Restart { node: n });
        }
    }

    /// Carry out what the driver asked of the platform, as systemd, the
    /// kernel and the network would.
    fn apply(&mut self, n: usize, ops: Vec<SimOp>) {
        let name = self.cfg.nodes[n].name.clone();
        // All of them, even once a nested step has seen the node exit: the
        // daemon carries out every action of a dispatch before it exits
        // (its goodbye among them).
        for op in ops {
            match op {
                SimOp::Send { serial_links, seq, msg } => self.send(n, seq, msg, serial_links),
                SimOp::Watch { group, resource } => {
                    // A new watch reports the unit's state at once.
                    let gi = self.idx_group(&group);
                    if self.nodes[n].watched.insert((gi, resource)) {
                        let state = match (self.nodes[n].running[gi][resource], self.nodes[n].pending[gi][resource]) {
                            (true, None) if self.rng.chance(0.3) => unit_state("activating", "start", "success", None),
                            (true, None) => unit_state("active", "running", "success", None),
                            (true, Some(Op::Start)) => unit_state("activating", "start", "success", None),
                            (true, Some(Op::Stop)) => unit_state("deactivating", "stop-sigterm", "success", None),
                            (false, _) => unit_state("inactive", "dead", "success", None),
                        };
                        // (The shell reads no job at the start of a watch.)
                        self.feed(n, Input::UnitState { group, resource, state, job: false });
                    }
                }
                SimOp::Unwatch { group, resource } => {
                    let gi = self.idx_group(&group);
                    self.nodes[n].watched.remove(&(gi, resource));
                }
                SimOp::Start { group, resource } => {
                    let gi = self.idx_group(&group);
                    let was_running = self.nodes[n].running[gi][resource];
                    // Counted as running from the moment it is asked for.
                    self.nodes[n].running[gi][resource] = true;
                    // hbd's now, if it was a stray.
                    self.nodes[n].stray_since[gi][resource] = None;
                    let chaos = self.opts.faults && self.now < self.opts.chaos;
                    let random_failure = chaos && self.rng.chance(0.03);
                    let scripted = take_scripted(&mut self.fail_starts, (n, gi, resource));
                    let hangs = take_scripted(&mut self.hang_starts, (n, gi, resource))
                        || (chaos && self.is_unit(gi, resource) && self.rng.chance(0.01));
                    let ok = !random_failure && !scripted;
                    // A service slow to come up (a Java server, a database
                    // in recovery): it fails its check for a while after
                    // systemd has started it, within its start deadline.
                    let has_check = self.cfg.groups[gi].resources[resource].check().is_some();
                    if chaos && has_check && !was_running && self.rng.chance(0.1) {
                        let slow = Duration::from_millis(self.rng.range(500, 2500));
                        let until = &mut self.nodes[n].sick_until[gi][resource];
                        *until = (*until).max(self.now + slow);
                        self.say(format!("{name} {group}[{resource}] comes up in {} ms", slow.as_millis()));
                    }
                    let d = Duration::from_millis(self.rng.range(1, MAX_OP_MS));
                    let inc = self.nodes[n].inc;
                    let job = self.new_job(n, gi, resource);
                    self.nodes[n].pending[gi][resource] = Some(Op::Start);
                    if hangs {
                        self.say(format!("{name} start {group}[{resource}] (hangs)"));
                        self.schedule(
                            self.now + d,
                            Ev::OpHangs { node: n, inc, group: gi, res: resource, op: Op::Start, job },
                        );
                    } else {
                        self.say(format!("{name} start {group}[{resource}]{}", if ok { "" } else { " (will fail)" }));
                        self.schedule(
                            self.now + d,
                            Ev::OpDone { node: n, inc, group: gi, res: resource, op: Op::Start, ok, job },
                        );
                        // systemd says a unit that was down is `activating`
                        // once its start job runs, and then, at the job's
                        // end, `active` or `failed`.
                        if !was_running && self.is_unit(gi, resource) {
                            self.schedule(
                                self.now + d / 2,
                                Ev::StartRuns { node: n, inc, group: gi, res: resource, job },
                            );
                        }
                    }
                }
                SimOp::Stop { group, resource } => {
                    let gi = self.idx_group(&group);
                    let scripted = take_scripted(&mut self.fail_stops, (n, gi, resource));
                    let chaos = self.stop_failures && self.opts.faults && self.now < self.opts.chaos;
                    let random_failure = chaos && self.rng.chance(0.01);
                    let hangs = take_scripted(&mut self.hang_stops, (n, gi, resource))
                        || (chaos && self.is_unit(gi, resource) && self.rng.chance(0.005));
                    let ok = !random_failure && !scripted;
                    let d = Duration::from_millis(self.rng.range(1, MAX_OP_MS));
                    let inc = self.nodes[n].inc;
                    let job = self.new_job(n, gi, resource);
                    self.nodes[n].pending[gi][resource] = Some(Op::Stop);
                    if hangs {
                        self.say(format!("{name} stop {group}[{resource}] (hangs)"));
                        self.nodes[n].stop_hangs[gi][resource] = true;
                        self.schedule(
                            self.now + d,
                            Ev::OpHangs { node: n, inc, group: gi, res: resource, op: Op::Stop, job },
                        );
                    } else {
                        self.say(format!("{name} stop {group}[{resource}]{}", if ok { "" } else { " (will fail)" }));
                        self.schedule(
                            self.now + d,
                            Ev::OpDone { node: n, inc, group: gi, res: resource, op: Op::Stop, ok, job },
                        );
                    }
                }
                SimOp::Readd { group, resource } => {
                    // netlink answers within milliseconds; now and then the
                    // address cannot be had (the interface went away).
                    let gi = self.idx_group(&group);
                    let ok = self.rng.chance(0.8);
                    let d = Duration::from_millis(self.rng.range(1, 10));
                    let inc = self.nodes[n].inc;
                    let job = self.nodes[n].job[gi][resource];
                    self.say(format!("{name} re-adds {group}[{resource}]{}", if ok { "" } else { " (will fail)" }));
                    self.schedule(self.now + d, Ev::Readded { node: n, inc, group: gi, res: resource, ok, job });
                }
                SimOp::Announce { addr } => {
                    let group =
                        self.cfg.groups.iter().find(|g| {
                            g.resources.iter().any(|r| matches!(r, Resource::Vip { addr: a, .. } if *a == addr))
                        });
                    if let Some(gi) = group.and_then(|g| self.cfg.group_index(&g.name)) {
                        self.lan[gi] = Some(n);
                    }
                    let group = group.map_or("?".to_string(), |g| g.name.clone());
                    self.say(format!("{name} announces {addr} of {group}"));
                    self.log[n].push(format!("announce {group}"));
                }
                SimOp::Fence { node } => {
                    let target = self.idx(&node);
                    let ok = self.rng.chance(0.9);
                    self.say(format!("{name} fence {node} ({})", if ok { "will work" } else { "will fail" }));
                    let d = Duration::from_millis(self.rng.range(50, 500));
                    let inc = self.nodes[n].inc;
                    self.schedule(self.now + d, Ev::FenceDone { node: n, inc, target, ok });
                }
                SimOp::Reply { id, result } => self.replies.push((id, result)),
                SimOp::StartCheck { target, session } => {
                    self.nodes[n].checks.insert(target.clone(), session);
                    let inc = self.nodes[n].inc;
                    // The first probe at once (the shell's interval ticks at once).
                    let d = Duration::from_millis(self.rng.range(1, 20));
                    self.schedule(self.now + d, Ev::CheckProbe { node: n, inc, target, session });
                }
                SimOp::StopCheck { target } => {
                    self.nodes[n].checks.remove(&target);
                }
                SimOp::FollowRespawn { unit, delay } => {
                    self.say(format!("{name} follows respawn unit {unit}, starting it in {} ms", delay.as_millis()));
                    self.nodes[n].respawn_followed = true;
                    let inc = self.nodes[n].inc;
                    let d = delay + Duration::from_millis(self.rng.range(1, MAX_OP_MS));
                    self.schedule(self.now + d, Ev::RespawnStart { node: n, inc });
                }
                SimOp::StopRespawn { unit, stop_unit } => {
                    self.say(format!("{name} stops following respawn unit {unit} (stopping it: {stop_unit})"));
                    self.nodes[n].respawn_followed = false;
                    if stop_unit {
                        self.nodes[n].respawn_runs = false;
                    }
                }
                SimOp::SetPing { hosts } => {
                    self.log[n].push(format!("ping monitor for {hosts} hosts"));
                    if hosts > 0 {
                        let inc = self.nodes[n].inc;
                        let d = Duration::from_millis(self.rng.range(10, 300));
                        self.schedule(self.now + d, Ev::Ping { node: n, inc });
                    }
                }
                SimOp::Event(e) => {
                    let line = format!("{} {:?}", e.event(), e);
                    self.say(format!("{name} {line}"));
                    self.log[n].push(line);
                }
            }
        }
    }

    fn send(&mut self, from: usize, seq: u64, msg: Message, serial_links: bool) {
        let gen = self.nodes[from].generation;
        // What the shell would seal: every message must fit one frame.
        let names: Vec<&str> = self.cfg.nodes.iter().map(|n| n.name.as_str()).collect();
        let (_, body) = crate::wire::encode_message(&msg, &names);
        let max = crate::wire::MAX_FRAME - crate::wire::FRAME_OVERHEAD - names[from].len();
        if body.len() > max && self.status_violation.is_none() {
            self.status_violation =
                Some(format!("{}: a {}-byte message does not fit one frame ({max})", names[from], body.len()));
        }
        for link in 0..self.opts.links {
            if matches!(self.cfg.links[link].kind, LinkKind::Serial { .. }) != serial_links {
                continue;
            }
            for to in 0..self.nodes.len() {
                if to == from || self.cut[link][from][to] || self.nodes[to].driver.is_none() {
                    continue;
                }
                if self.rng.chance(self.loss[link][from][to]) {
                    continue;
                }
                let copies = if self.opts.faults && self.rng.chance(0.01) { 2 } else { 1 };
                for _ in 0..copies {
                    let d = Duration::from_micros(self.rng.range(100, MAX_DELAY_MS * 1000));
                    let inc = self.nodes[to].inc;
                    let ev = Ev::Deliver { to, inc, from, link, gen, seq, msg: Box::new(msg.clone()) };
                    self.schedule(self.now + d, ev);
                }
            }
        }
    }

    // ---------------------------------------------------------- node life

    fn boot(&mut self, n: usize) {
        if self.nodes[n].driver.is_some() {
            return;
        }
        self.nodes[n].generation += 1;
        self.nodes[n].inc += 1;
        self.nodes[n].next_tick = None;
        self.nodes[n].watched.clear();
        self.nodes[n].reloaded = false;
        let name = self.cfg.nodes[n].name.clone();
        self.last_status[n] = None;
        self.say(format!("{name} boots, generation {}", self.nodes[n].generation));
        // What the platform finds: each unit's own job timeouts (where the
        // resource sets none), and what already runs (after a graceful exit
        // that left a blocked group, or a hung job) — a unit may be found
        // still `activating`.
        let mut found = Found::default();
        for (gi, g) in self.cfg.groups.iter().enumerate() {
            for (ri, r) in g.resources.iter().enumerate() {
                if matches!(r, Resource::Unit { timeout: None, .. }) {
                    let timeouts = UnitTimeouts { start: Some(UNIT_TIMEOUT), stop: Some(UNIT_TIMEOUT) };
                    found.timeouts.push((g.name.clone(), ri, timeouts));
                }
                // As the platform reads it: systemd's ActiveState (a unit
                // left mid-job by the hbd that exited is found so), or
                // whether the VIP is on the interface.
                let running = self.nodes[n].running[gi][ri];
                let present = match r {
                    // The question failed (a bus or netlink error).
                    _ if take_scripted(&mut self.unreadable, (n, gi, ri)) || self.rng.chance(0.03) => Present::Unknown,
                    Resource::Vip { .. } => Present::Vip(running),
                    Resource::Unit { .. } => {
                        let state = match (running, self.nodes[n].pending[gi][ri]) {
                            (true, Some(Op::Start)) => unit_state("activating", "start", "success", None),
                            (true, Some(Op::Stop)) => unit_state("deactivating", "stop-sigterm", "success", None),
                            (true, None) => unit_state("active", "running", "success", None),
                            (false, _) if self.rng.chance(0.2) => unit_state("failed", "failed", "exit-code", Some(1)),
                            (false, _) => unit_state("inactive", "dead", "success", None),
                        };
                        Present::Unit { state, enabled: false }
                    }
                };
                found.resources.push((g.name.clone(), ri, present));
            }
        }
        let generation = self.nodes[n].generation;
        let driver = Driver::new(SimPlatform::default(), self.cfg.clone(), &name, generation, self.now, found)
            .expect("node in config");
        self.nodes[n].driver = Some(driver);
        self.recompute_connectivity();
        self.step(n, |_, _| false);
        self.step(n, |d, now| d.start(now).expect("the simulated platform refuses nothing"));
    }

    /// Power cut: the node and everything it ran are gone at once.
    fn crash(&mut self, n: usize) {
        // A machine whose hbd has exited still runs what it left behind.
        let running = self.nodes[n].running.iter().flatten().any(|r| *r);
        if self.nodes[n].driver.is_none() && !running {
            return;
        }
        self.say(format!("{} crashes", self.cfg.nodes[n].name));
        self.nodes[n].driver = None;
        self.nodes[n].watched.clear();
        self.nodes[n].respawn_runs = false;
        self.nodes[n].respawn_followed = false;
        self.nodes[n].inc += 1;
        self.nodes[n].next_tick = None;
        for g in self.nodes[n].running.iter_mut() {
            g.iter_mut().for_each(|r| *r = false);
        }
        for g in self.nodes[n].stop_hangs.iter_mut() {
            g.iter_mut().for_each(|r| *r = false);
        }
        for g in self.nodes[n].pending.iter_mut() {
            g.iter_mut().for_each(|r| *r = None);
        }
        self.nodes[n].stop_failed.iter_mut().for_each(|f| *f = false);
        self.nodes[n].checks.clear();
        self.recompute_connectivity();
    }

    // ------------------------------------------------------------- faults

    fn schedule_fault(&mut self) {
        let d = Duration::from_millis(self.rng.range(200, 4000));
        self.schedule(self.now + d, Ev::Fault);
    }

    fn inject_fault(&mut self) {
        let n = self.nodes.len();
        let up: Vec<usize> = (0..n).filter(|&i| self.nodes[i].driver.is_some()).collect();
        let down: Vec<usize> = (0..n).filter(|&i| self.nodes[i].driver.is_none()).collect();
        let kind = self.rng.range(0, 15);
        match kind {
            0 | 1 => {
                // Crash, and boot again a little later.
                if let Some(&v) = up.get(self.rng.range(0, up.len().max(1) as u64 - 1) as usize) {
                    self.crash(v);
                    let d = Duration::from_millis(self.rng.range(500, 12_000));
                    self.schedule(self.now + d, Ev::Restart { node: v });
                }
            }
            2 => {
                if let Some(&v) = down.first() {
                    self.boot(v);
                }
            }
            3 | 4 => self.random_partition(),
            5 => self.heal_network(),
            6 => {
                // Cut or restore one link between two nodes (both ways).
                let l = self.rng.range(0, self.opts.links as u64 - 1) as usize;
                let a = self.rng.range(0, n as u64 - 1) as usize;
                let b = self.rng.range(0, n as u64 - 1) as usize;
                let v = !self.cut[l][a][b];
                if a != b && (!v || self.profile_allows_link_cut(l, a, b)) {
                    self.cut[l][a][b] = v;
                    self.cut[l][b][a] = v;
                    self.say(format!(
                        "link {l} {}<->{} {}",
                        self.cfg.nodes[a].name,
                        self.cfg.nodes[b].name,
                        if v { "cut" } else { "restored" }
                    ));
                    self.recompute_connectivity();
                }
            }
            7 => {
                let l = self.rng.range(0, self.opts.links as u64 - 1) as usize;
                let p = *self.rng.pick(&[0.0, 0.05, 0.2, 0.3]);
                for a in 0..n {
                    for b in 0..n {
                        self.loss[l][a][b] = p;
                    }
                }
                self.say(format!("link {l} loss {p}"));
            }
            8 if self.rng.chance(0.2) => self.start_stray(&up),
            8 => {
                // A unit dies on its own where it runs.
                let mut cands = Vec::new();
                for &v in &up {
                    for (gi, g) in self.nodes[v].running.iter().enumerate() {
                        for (ri, r) in g.iter().enumerate() {
                            // (one whose stop hangs stays as it is)
                            if *r && !self.nodes[v].stop_hangs[gi][ri] {
                                cands.push((v, gi, ri));
                            }
                        }
                    }
                }
                if !cands.is_empty() {
                    let (v, gi, ri) = *self.rng.pick(&cands);
                    let g = self.cfg.groups[gi].name.clone();
                    let who = self.cfg.nodes[v].name.clone();
                    let kind = if self.is_unit(gi, ri) { self.rng.range(0, 2) } else { 3 };
                    match kind {
                        // `systemctl restart` (an operator's, after a change
                        // of the service's configuration), where hbd has no
                        // job on it.
                        0 if self.is_unit(gi, ri)
                            && self.nodes[v].pending[gi][ri].is_none()
                            && self.nodes[v].stray_since[gi][ri].is_none()
                            && self.rng.chance(0.4) =>
                        {
                            let ok = self.rng.chance(0.9);
                            self.restart_outside(v, gi, ri, ok);
                        }
                        // `systemctl stop`, or a unit it depends on stopped.
                        0 if self.is_unit(gi, ri) => {
                            // Its stop job replaces any start job of hbd's.
                            self.goes_down(v, gi, ri);
                            self.say(format!("{who} unit {g}[{ri}] stopped outside hbd"));
                            // As systemd reports it: killed by the stop's
                            // SIGTERM, or (a service that handles it) exited 0.
                            let status = if self.rng.chance(0.5) { -15 } else { 0 };
                            self.stopped_outside(v, gi, ri, status);
                        }
                        // It exits with an error and stays failed.
                        1 if self.is_unit(gi, ri) => {
                            self.goes_down(v, gi, ri);
                            self.say(format!("{who} unit {g}[{ri}] exits 1"));
                            let state = unit_state("failed", "failed", "exit-code", Some(1));
                            self.report(v, &g, ri, state, false);
                        }
                        // It crashes and systemd's Restart= brings it back at
                        // once (a restart loop if it keeps doing so).
                        // systemd 252 passes it through failed, then
                        // auto-restart, dead, start: one failure.
                        2 if self.is_unit(gi, ri) && self.rng.chance(0.5) => {
                            self.say(format!("{who} unit {g}[{ri}] crashes, systemd restarts it"));
                            // The restart job systemd queues itself is on
                            // the unit from the end of auto-restart.
                            for (a, sub, result, job) in [
                                ("failed", "failed", "signal", false),
                                ("activating", "auto-restart", "signal", false),
                                ("inactive", "dead", "signal", true),
                                ("activating", "start", "success", true),
                                ("active", "running", "success", true),
                                ("active", "running", "success", false),
                            ] {
                                self.report(v, &g, ri, unit_state(a, sub, result, None), job);
                            }
                        }
                        // Restart=always after a clean exit: no failed
                        // state, only systemd's restart counter shows it.
                        2 if self.is_unit(gi, ri) => {
                            self.say(format!("{who} unit {g}[{ri}] exits 0, systemd restarts it"));
                            let reason = "it exited (success) and systemd restarted it".to_string();
                            self.feed(v, Input::ResourceFailed { group: g, resource: ri, reason });
                        }
                        // Something else removes a VIP (an operator's `ip
                        // addr del`, a network manager): the driver puts it back.
                        _ => self.remove_vip_outside(&who, &g, ri),
                    }
                }
            }
            9 if !self.cfg.ping.hosts.is_empty() && self.opts.profile != Profile::PingTieBreak => {
                let v = self.rng.range(0, n as u64 - 1) as usize;
                self.set_ping(v, !self.nodes[v].ping_reach);
            }
            10..=12 => self.random_command(),
            13 => {
                if let Some(&v) = up.get(self.rng.range(0, up.len().max(1) as u64 - 1) as usize) {
                    self.say(format!("{} graceful shutdown", self.cfg.nodes[v].name));
                    self.feed(v, Input::Shutdown);
                    let d = Duration::from_millis(self.rng.range(2000, 10_000));
                    self.schedule(self.now + d, Ev::Restart { node: v });
                }
            }
            14 if self.opts.checks || self.opts.node_check => self.check_fault(&up),
            // `systemctl reload hbd` with the file edited: settings that
            // apply at once, and checks that restart.
            15 if self.rng.chance(0.5) => {
                // The respawn unit dies: the driver starts it again.
                if let Some(&v) = up.get(self.rng.range(0, up.len().max(1) as u64 - 1) as usize) {
                    if self.nodes[v].respawn_runs {
                        self.nodes[v].respawn_runs = false;
                        self.say(format!("{} respawn unit dies", self.cfg.nodes[v].name));
                        let unit = self.cfg.respawn[0].unit.clone();
                        self.step(v, |d, _| {
                            d.respawn_down(&unit, true);
                            false
                        });
                    }
                }
            }
            15 => {
                if let Some(&v) = up.get(self.rng.range(0, up.len().max(1) as u64 - 1) as usize) {
                    let variant = !self.nodes[v].reloaded;
                    self.nodes[v].reloaded = variant;
                    let cfg = reload_variant(&self.cfg, variant);
                    self.say(format!(
                        "{} reloads ({})",
                        self.cfg.nodes[v].name,
                        if variant { "variant" } else { "base" }
                    ));
                    let r = self.reload(v, cfg);
                    assert!(r.is_ok(), "the variant changes nothing a reload refuses: {r:?}");
                }
            }
            _ => {}
        }
    }

    /// A service turns sick where it runs (for a while, or flapping), or a
    /// node's own check fails for a while.
    fn check_fault(&mut self, up: &[usize]) {
        let mut cands = Vec::new();
        for &v in up {
            for (gi, g) in self.nodes[v].running.iter().enumerate() {
                for (ri, r) in g.iter().enumerate() {
                    if *r && self.cfg.groups[gi].resources[ri].check().is_some() {
                        cands.push((v, gi, ri));
                    }
                }
            }
        }
        let node_fault = self.opts.node_check && (cands.is_empty() || self.rng.chance(0.3));
        if node_fault {
            let Some(&v) = up.get(self.rng.range(0, up.len().max(1) as u64 - 1) as usize) else { return };
            let d = Duration::from_millis(self.rng.range(1000, 8000));
            self.nodes[v].node_sick_until = self.now + d;
            self.say(format!("{} node check fails for {} ms", self.cfg.nodes[v].name, d.as_millis()));
            return;
        }
        if cands.is_empty() {
            return;
        }
        let (v, gi, ri) = *self.rng.pick(&cands);
        let who = self.cfg.nodes[v].name.clone();
        let g = self.cfg.groups[gi].name.clone();
        if self.rng.chance(0.25) {
            let on = !self.nodes[v].flapping[gi][ri];
            self.nodes[v].flapping[gi][ri] = on;
            self.say(format!("{who} service {g}[{ri}] {}", if on { "flaps" } else { "stops flapping" }));
        } else {
            let d = Duration::from_millis(self.rng.range(500, 6000));
            self.nodes[v].sick_until[gi][ri] = self.now + d;
            self.say(format!("{who} service {g}[{ri}] sick for {} ms", d.as_millis()));
        }
    }

    /// May link `l` between `a` and `b` be cut?
    fn profile_allows_link_cut(&self, l: usize, a: usize, b: usize) -> bool {
        // In the ping tie-break profile a cut must isolate a node from the
        // ping host too; cutting the last link between two nodes that both
        // reach the ping host is a split brain nothing but fencing can solve.
        self.opts.profile != Profile::PingTieBreak
            || (0..self.opts.links).any(|o| o != l && !self.cut[o][a][b] && !self.cut[o][b][a])
    }

    fn random_partition(&mut self) {
        let n = self.nodes.len();
        match self.opts.profile {
            Profile::PingTieBreak => {
                let v = self.rng.range(0, n as u64 - 1) as usize;
                self.isolate(v);
            }
            _ => {
                let mut side = vec![false; n];
                for s in side.iter_mut() {
                    *s = self.rng.chance(0.5);
                }
                for l in 0..self.opts.links {
                    for a in 0..n {
                        for b in 0..n {
                            if side[a] != side[b] {
                                self.cut[l][a][b] = true;
                            }
                        }
                    }
                }
                let names: Vec<&str> = (0..n).filter(|&i| side[i]).map(|i| self.cfg.nodes[i].name.as_str()).collect();
                self.say(format!("partition {names:?} | rest"));
                self.recompute_connectivity();
            }
        }
    }

    /// Cut node `v` off from every peer on every link, and from the ping host.
    pub fn isolate(&mut self, v: usize) {
        for l in 0..self.opts.links {
            for o in 0..self.nodes.len() {
                self.cut[l][v][o] = true;
                self.cut[l][o][v] = true;
            }
        }
        self.say(format!("{} isolated", self.cfg.nodes[v].name));
        if !self.cfg.ping.hosts.is_empty() {
            self.set_ping(v, false);
        }
        self.recompute_connectivity();
    }

    fn set_ping(&mut self, v: usize, reach: bool) {
        if self.nodes[v].ping_reach == reach {
            return;
        }
        self.nodes[v].ping_reach = reach;
        self.say(format!("{} ping host {}", self.cfg.nodes[v].name, if reach { "reachable" } else { "unreachable" }));
        // The shell notices within a probe interval.
        let d = Duration::from_millis(self.rng.range(20, KEEPALIVE.as_millis() as u64));
        let inc = self.nodes[v].inc;
        self.schedule(self.now + d, Ev::Ping { node: v, inc });
    }

    fn heal_network(&mut self) {
        for l in 0..self.opts.links {
            for a in 0..self.nodes.len() {
                for b in 0..self.nodes.len() {
                    self.cut[l][a][b] = false;
                    self.loss[l][a][b] = 0.0;
                }
            }
        }
        for v in 0..self.nodes.len() {
            self.set_ping(v, true);
        }
        self.say("network healed".into());
        self.recompute_connectivity();
    }

    fn random_command(&mut self) {
        let up: Vec<usize> = (0..self.nodes.len()).filter(|&i| self.nodes[i].driver.is_some()).collect();
        if up.is_empty() {
            return;
        }
        let at = *self.rng.pick(&up);
        let node = self.cfg.nodes[self.rng.range(0, self.nodes.len() as u64 - 1) as usize].name.clone();
        let group = self.cfg.groups[self.rng.range(0, self.cfg.groups.len() as u64 - 1) as usize].name.clone();
        let cmd = match self.rng.range(0, 5) {
            0 => Command::Standby { node },
            1 | 2 => Command::Unstandby { node },
            3 => Command::Move { group, node },
            4 => Command::Takeover { node },
            _ => Command::Cleanup { group },
        };
        let at_name = self.cfg.nodes[at].name.clone();
        self.command(&at_name, cmd);
    }

    /// Faults end: network whole, every node up, no standby, failures cleared.
    fn heal_all(&mut self) {
        self.say("faults end".into());
        self.heal_network();
        let now = self.now;
        for node in self.nodes.iter_mut() {
            node.node_sick_until = node.node_sick_until.min(now);
            node.sick_until.iter_mut().flatten().for_each(|t| *t = (*t).min(now));
            node.flapping.iter_mut().flatten().for_each(|f| *f = false);
        }
        for v in 0..self.nodes.len() {
            self.boot(v);
        }
        // Once the nodes have heard each other, so that the operator's
        // commands are the newest everywhere; and again once every job
        // still hanging from the chaos has met its deadline (a stop that
        // hung blocks its group until cleaned up).
        self.schedule(self.now + Duration::from_secs(1), Ev::HealCommands);
        self.schedule(self.now + Duration::from_secs(1) + HANG_DEADLINE, Ev::HealCommands);
    }

    fn heal_commands(&mut self) {
        let Some(first) = (0..self.nodes.len()).find(|&v| self.nodes[v].driver.is_some()) else { return };
        let first = self.cfg.nodes[first].name.clone();
        for node in self.node_names() {
            self.command(&first, Command::Unstandby { node });
        }
        for g in self.cfg.groups.iter().map(|g| g.name.clone()).collect::<Vec<_>>() {
            self.command(&first, Command::Cleanup { group: g });
        }
    }

    // --------------------------------------------------- scripting helpers

    /// Boot every node now.
    pub fn start_all(&mut self) {
        for v in 0..self.nodes.len() {
            self.boot(v);
        }
    }

    pub fn boot_node(&mut self, name: &str) {
        let v = self.idx(name);
        self.boot(v);
    }

    pub fn power_cut(&mut self, name: &str) {
        let v = self.idx(name);
        self.crash(v);
    }

    pub fn shutdown(&mut self, name: &str) {
        let v = self.idx(name);
        self.feed(v, Input::Shutdown);
    }

    pub fn isolate_node(&mut self, name: &str) {
        let v = self.idx(name);
        self.isolate(v);
    }

    /// Cut every link between nodes in `a` and nodes outside it.
    pub fn partition(&mut self, a: &[&str]) {
        let side: Vec<bool> = self.cfg.nodes.iter().map(|n| a.contains(&n.name.as_str())).collect();
        for l in 0..self.opts.links {
            for x in 0..self.nodes.len() {
                for y in 0..self.nodes.len() {
                    if side[x] != side[y] {
                        self.cut[l][x][y] = true;
                    }
                }
            }
        }
        self.say(format!("partition {a:?} | rest"));
        self.recompute_connectivity();
    }

    pub fn heal(&mut self) {
        self.heal_network();
    }

    /// Cut (or restore) link `link` between two nodes, both ways.
    pub fn set_link(&mut self, a: &str, b: &str, link: usize, up: bool) {
        let (a, b) = (self.idx(a), self.idx(b));
        self.cut[link][a][b] = !up;
        self.cut[link][b][a] = !up;
        self.recompute_connectivity();
    }

    pub fn set_ping_reach(&mut self, name: &str, reach: bool) {
        let v = self.idx(name);
        self.set_ping(v, reach);
    }

    /// `systemctl stop` of a group's unit on node `name`, behind hbd's back:
    /// its main process killed by SIGTERM, as systemd reports it.
    pub fn stop_unit_outside(&mut self, name: &str, group: &str, resource: usize) {
        let (v, gi) = (self.idx(name), self.idx_group(group));
        self.goes_down(v, gi, resource);
        self.stopped_outside(v, gi, resource, -15);
    }

    /// What systemd reports of a unit its stop job took down: down with
    /// the job still on it, then down without (the job ended).
    fn stopped_outside(&mut self, v: usize, gi: usize, ri: usize, status: i32) {
        let g = self.cfg.groups[gi].name.clone();
        self.down_within_job(v, &g, ri, status);
        self.report(v, &g, ri, unit_state("inactive", "dead", "success", Some(status)), false);
    }

    /// The stop half of a job of systemd's (a stop's or a restart's): the
    /// unit reported down with the job still on it.
    fn down_within_job(&mut self, v: usize, g: &str, ri: usize, status: i32) {
        self.report(v, g, ri, unit_state("deactivating", "stop-sigterm", "success", None), true);
        self.report(v, g, ri, unit_state("inactive", "dead", "success", Some(status)), true);
    }

    /// `systemctl restart` of a group's unit on node `name`, behind hbd's
    /// back; its start half succeeds or not (`ok`).
    pub fn restart_unit_outside(&mut self, name: &str, group: &str, resource: usize, ok: bool) {
        let (v, gi) = (self.idx(name), self.idx_group(group));
        self.restart_outside(v, gi, resource, ok);
    }

    /// One restart job does both halves: the stop (the unit is reported
    /// down with the job on it) and, a little later, the start, unless a
    /// job of hbd's replaces it first.
    fn restart_outside(&mut self, v: usize, gi: usize, ri: usize, ok: bool) {
        let (who, g) = (self.cfg.nodes[v].name.clone(), self.cfg.groups[gi].name.clone());
        self.say(format!("{who} unit {g}[{ri}] restarted outside hbd"));
        self.nodes[v].running[gi][ri] = false;
        let job = self.new_job(v, gi, ri);
        self.nodes[v].pending[gi][ri] = None;
        if self.nodes[v].watched.contains(&(gi, ri)) {
            self.down_within_job(v, &g, ri, -15);
        }
        let inc = self.nodes[v].inc;
        let d = Duration::from_millis(self.rng.range(1, MAX_OP_MS));
        self.schedule(self.now + d, Ev::RestartUp { node: v, inc, group: gi, res: ri, job, ok });
    }

    /// systemd's report of a unit's state (and whether a job is on it).
    fn report(&mut self, v: usize, group: &str, resource: usize, state: UnitState, job: bool) {
        self.feed(v, Input::UnitState { group: group.to_string(), resource, state, job });
    }

    /// A group's unit on node `name` goes down cleanly without hbd: its main
    /// process exits with `status` (negative: killed by that signal).
    pub fn unit_ends(&mut self, name: &str, group: &str, resource: usize, status: i32) {
        let v = self.idx(name);
        let gi = self.cfg.group_index(group).expect("group");
        self.goes_down(v, gi, resource);
        // Nobody asked: no job on it.
        let state = unit_state("inactive", "dead", "success", Some(status));
        self.report(v, group, resource, state, false);
    }

    /// Make the next start (or stop) of a resource on `node` hang forever.
    pub fn hang_next(&mut self, node: &str, group: &str, resource: usize, op: Op) {
        let key = (self.idx(node), self.cfg.group_index(group).expect("group"), resource);
        match op {
            Op::Start => self.hang_starts.push(key),
            Op::Stop => self.hang_stops.push(key),
        }
    }

    /// Make the unit exit with status 143 on its next stop (as a JVM does
    /// on SIGTERM): systemd marks it failed, yet it has stopped.
    pub fn exit_143_on_next_stop(&mut self, node: &str, group: &str, resource: usize) {
        let key = (self.idx(node), self.cfg.group_index(group).expect("group"), resource);
        self.exit_143.push(key);
    }

    /// Whether `resource` of `group` runs on node `name` (as systemd sees it).
    /// The service `resource` of `group` on `name` fails its check for `d`
    /// (its unit keeps running).
    pub fn make_sick(&mut self, name: &str, group: &str, resource: usize, d: Duration) {
        let (v, gi) = (self.idx(name), self.idx_group(group));
        self.nodes[v].sick_until[gi][resource] = self.now + d;
    }

    /// The service answers every other probe (or stops doing so).
    pub fn set_flapping(&mut self, name: &str, group: &str, resource: usize, on: bool) {
        let (v, gi) = (self.idx(name), self.idx_group(group));
        self.nodes[v].flapping[gi][resource] = on;
    }

    /// `name`'s node check fails for `d`.
    pub fn make_node_sick(&mut self, name: &str, d: Duration) {
        let v = self.idx(name);
        self.nodes[v].node_sick_until = self.now + d;
    }

    pub fn is_running(&self, name: &str, group: &str, resource: usize) -> bool {
        self.nodes[self.idx(name)].running[self.cfg.group_index(group).expect("group")][resource]
    }

    /// The unit goes down on its own: a start job in flight is replaced
    /// (reported canceled); a stop job in flight simply completes.
    fn goes_down(&mut self, n: usize, gi: usize, ri: usize) {
        self.nodes[n].running[gi][ri] = false;
        self.nodes[n].stray_since[gi][ri] = None;
        if self.nodes[n].pending[gi][ri] != Some(Op::Stop) {
            self.new_job(n, gi, ri);
            self.nodes[n].pending[gi][ri] = None;
        }
    }

    fn new_job(&mut self, n: usize, gi: usize, ri: usize) -> u64 {
        self.nodes[n].stop_hangs[gi][ri] = false;
        self.next_id += 1;
        self.nodes[n].job[gi][ri] = self.next_id;
        self.next_id
    }

    /// `systemctl start` of a group's unit on a node that does not run it
    /// (or a dependency, or a socket, starting it there): hbd must stop it.
    fn start_stray(&mut self, up: &[usize]) {
        let mut cands = Vec::new();
        for &v in up {
            for (gi, g) in self.nodes[v].running.iter().enumerate() {
                for (ri, r) in g.iter().enumerate() {
                    if !*r && self.is_unit(gi, ri) && self.nodes[v].pending[gi][ri].is_none() {
                        cands.push((v, gi, ri));
                    }
                }
            }
        }
        if cands.is_empty() {
            return;
        }
        let (v, gi, ri) = *self.rng.pick(&cands);
        let (who, g) = (self.cfg.nodes[v].name.clone(), self.cfg.groups[gi].name.clone());
        self.start_unit_outside_at(v, gi, ri);
        self.say(format!("{who} unit {g}[{ri}] started outside hbd"));
    }

    fn start_unit_outside_at(&mut self, v: usize, gi: usize, ri: usize) {
        self.nodes[v].running[gi][ri] = true;
        self.nodes[v].stray_since[gi][ri] = Some(self.now);
        if self.nodes[v].watched.contains(&(gi, ri)) {
            let g = self.cfg.groups[gi].name.clone();
            for (a, sub) in [("activating", "start"), ("active", "running")] {
                self.report(v, &g, ri, unit_state(a, sub, "success", None), true);
            }
        }
    }

    /// `systemctl start` of a group's unit on node `name`, behind hbd's back.
    pub fn start_unit_outside(&mut self, name: &str, group: &str, resource: usize) {
        let v = self.idx(name);
        let gi = self.cfg.group_index(group).expect("group");
        self.start_unit_outside_at(v, gi, resource);
    }

    fn is_unit(&self, gi: usize, ri: usize) -> bool {
        matches!(self.cfg.groups[gi].resources[ri], Resource::Unit { .. })
    }

    /// `systemctl reload hbd` on node `v` with this file: the driver applies
    /// it whole or refuses it whole. The platform reads the units' own job
    /// timeouts, as the daemon does.
    fn reload(&mut self, v: usize, cfg: Config) -> Result<(), String> {
        let mut timeouts = Vec::new();
        for g in &cfg.groups {
            for (ri, r) in g.resources.iter().enumerate() {
                if matches!(r, Resource::Unit { timeout: None, .. }) {
                    let t = UnitTimeouts { start: Some(UNIT_TIMEOUT), stop: Some(UNIT_TIMEOUT) };
                    timeouts.push(Input::UnitTimeouts { group: g.name.clone(), resource: ri, timeouts: t });
                }
            }
        }
        let mut result = Ok(());
        // Frames are not sealed here: any keys do.
        let keys = AuthKeys { keys: vec![(1, b"sim".to_vec())] };
        self.step(v, |d, now| match d.reload(now, cfg, keys, timeouts) {
            Ok(exit) => exit,
            Err(e) => {
                result = Err(e);
                false
            }
        });
        result
    }

    /// Reload node `name` with `cfg` (scenarios).
    pub fn reload_node(&mut self, name: &str, cfg: Config) -> Result<(), String> {
        let v = self.idx(name);
        self.say(format!("{name} reloads"));
        self.reload(v, cfg)
    }

    /// How often node `name`'s driver asked the platform to measure ping
    /// hosts (scenarios: a reload adding `[ping]`).
    pub fn ping_probes(&self, name: &str) -> usize {
        self.log[self.idx(name)].iter().filter(|l| l.starts_with("ping monitor")).count()
    }

    /// Something else removes VIP `resource` of `group` on node `name`
    /// (`ip addr del`): the driver, which holds it, puts it back.
    pub fn remove_vip_outside(&mut self, name: &str, group: &str, resource: usize) {
        let v = self.idx(name);
        let gi = self.idx_group(group);
        let Resource::Vip { addr, .. } = self.cfg.groups[gi].resources[resource] else { panic!("not a VIP") };
        self.nodes[v].running[gi][resource] = false;
        self.say(format!("{name} VIP {group}[{resource}] removed by something else"));
        self.step(v, |d, _| {
            d.addr_removed(addr);
            false
        });
    }

    /// A group's unit crashes on node `name` and stays failed.
    pub fn fail_unit(&mut self, name: &str, group: &str, resource: usize) {
        let v = self.idx(name);
        let gi = self.cfg.group_index(group).expect("group");
        self.goes_down(v, gi, resource);
        let state = unit_state("failed", "failed", "signal", None);
        self.report(v, group, resource, state, false);
    }

    /// Issue an operator command at node `at`; returns its reply.
    pub fn command(&mut self, at: &str, cmd: Command) -> Option<Result<(), crate::core::CommandError>> {
        let v = self.idx(at);
        let id = self.next_cmd;
        self.next_cmd += 1;
        self.say(format!("{at} command {cmd:?}"));
        self.feed(v, Input::Command { id, cmd });
        self.replies.iter().find(|(i, _)| *i == id).map(|(_, r)| r.clone())
    }

    /// Nodes where any resource of `group` runs.
    pub fn runners(&self, group: &str) -> Vec<String> {
        let gi = self.cfg.group_index(group).expect("group");
        (0..self.nodes.len())
            .filter(|&v| self.nodes[v].running[gi].iter().any(|r| *r))
            .map(|v| self.cfg.nodes[v].name.clone())
            .collect()
    }

    /// The node where `group` fully runs and its core says started.
    pub fn owner(&self, group: &str) -> Option<String> {
        let gi = self.cfg.group_index(group).expect("group");
        (0..self.nodes.len())
            .find(|&v| {
                self.nodes[v].running[gi].iter().all(|r| *r)
                    && self.nodes[v].driver.as_ref().and_then(|d| d.node().group_state(group))
                        == Some(GroupState::Started)
            })
            .map(|v| self.cfg.nodes[v].name.clone())
    }

    pub fn core(&self, name: &str) -> Option<&Node> {
        self.nodes[self.idx(name)].driver.as_ref().map(|d| d.node())
    }

    /// The node's status in the words `hactl status` there shows.
    pub fn shown(&self, name: &str) -> Option<crate::dbus::Status> {
        self.core(name).map(|c| crate::dbus::status_text::worded(&c.status()))
    }

    pub fn logged(&self, name: &str, needle: &str) -> bool {
        self.log[self.idx(name)].iter().any(|l| l.contains(needle))
    }

    // ----------------------------------------------------------- checkers

    fn recompute_connectivity(&mut self) {
        let n = self.nodes.len();
        for a in 0..n {
            for b in 0..n {
                let up = self.nodes[a].driver.is_some() && self.nodes[b].driver.is_some();
                let linked = (0..self.opts.links).any(|l| !self.cut[l][a][b] && !self.cut[l][b][a]);
                if up && linked {
                    if self.connected_since[a][b].is_none() {
                        self.connected_since[a][b] = Some(self.now);
                    }
                } else {
                    self.connected_since[a][b] = None;
                }
            }
        }
    }

    /// How long two nodes that meet again may both run a group: they hear
    /// each other within a few heartbeats, and the loser stops.
    fn heal_grace(&self) -> Duration {
        DEADTIME + Duration::from_millis(MAX_OP_MS * self.opts.resources as u64 + 4 * MAX_DELAY_MS)
    }

    fn check_safety(&self) -> Result<(), SimError> {
        if let Some(v) = &self.status_violation {
            return Err(self.fail(v.clone()));
        }
        for (gi, g) in self.cfg.groups.iter().enumerate() {
            let runners: Vec<usize> =
                (0..self.nodes.len()).filter(|&v| self.nodes[v].running[gi].iter().any(|r| *r)).collect();
            // A unit started outside hbd runs where the group does not
            // until hbd has stopped it: at most a stop behind an operation
            // in flight, once the core has heard of it (at once, or at its
            // next step if it was stopping the group). One whose stop hangs
            // or failed (blocked) runs on: a double fault.
            let stray_grace = Duration::from_millis(3 * MAX_OP_MS + 4 * MAX_DELAY_MS) + 2 * KEEPALIVE;
            let stray = |v: usize| {
                let node = &self.nodes[v];
                node.stray_since[gi].iter().enumerate().any(|(ri, t)| {
                    t.is_some_and(|t| self.now < t + stray_grace || node.stop_failed[gi] || node.stop_hangs[gi][ri])
                })
            };
            let runners: Vec<usize> = runners.into_iter().filter(|&v| !stray(v)).collect();
            if runners.len() < 2 {
                continue;
            }
            let names: Vec<&str> = runners.iter().map(|&v| self.cfg.nodes[v].name.as_str()).collect();
            if self.opts.profile.strict() {
                return Err(self.fail(format!(
                    "group {} runs on {:?} at once ({:?} profile allows never two)",
                    g.name, names, self.opts.profile
                )));
            }
            // A node whose stop failed runs the group and says so (blocked,
            // until an operator cleans up, then retrying the stop): two of
            // them is a double fault no rule can undo, not a wrong decision.
            let blocked = |v: usize| {
                self.nodes[v].driver.as_ref().and_then(|d| d.node().group_state(&g.name)) == Some(GroupState::Blocked)
                    || self.nodes[v].stop_failed[gi]
            };
            // A node whose stop hangs cannot stop sooner than the stop's
            // deadline: the double run lasts until then (then the stop has
            // failed and the group is blocked there). That holds for the
            // stop of a release and for the stop of a bounce (a sick unit
            // stopped to be started again) that a release found in flight.
            let stop_hangs = |v: usize| self.nodes[v].stop_hangs[gi].iter().any(|h| *h);
            for (i, &a) in runners.iter().enumerate() {
                for &b in &runners[i + 1..] {
                    if (blocked(a) && blocked(b)) || stop_hangs(a) || stop_hangs(b) {
                        continue;
                    }
                    if let Some(since) = self.connected_since[a][b] {
                        if self.now >= since + self.heal_grace() {
                            return Err(self.fail(format!(
                                "group {} runs on {} and {}, which have heard each other since t={:.3}s",
                                g.name,
                                self.cfg.nodes[a].name,
                                self.cfg.nodes[b].name,
                                since.as_secs_f64()
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn check_liveness(&self) -> Result<(), SimError> {
        if self.opts.calm < self.liveness_bound() {
            return Ok(());
        }
        for (v, node) in self.nodes.iter().enumerate() {
            if node.driver.is_some() && !self.cfg.respawn.is_empty() && !node.respawn_runs {
                return Err(self.fail(format!(
                    "liveness: {:.1}s after the faults ended the respawn unit does not run on {}",
                    (self.now - self.opts.chaos).as_secs_f64(),
                    self.cfg.nodes[v].name
                )));
            }
        }
        for (gi, g) in self.cfg.groups.iter().enumerate() {
            let runners = self.runners(&g.name);
            let owner = self.owner(&g.name);
            if runners.len() != 1 || owner.is_none() {
                return Err(self.fail(format!(
                    "liveness: {:.1}s after the faults ended group {} runs on {:?} (fully started on: {:?}); bound is {:.1}s",
                    (self.now - self.opts.chaos).as_secs_f64(),
                    g.name,
                    runners,
                    owner,
                    self.liveness_bound().as_secs_f64()
                )));
            }
            // Clients go where the LAN was told last: the node that runs the
            // VIP must have been the last to announce it.
            let holder = (0..self.nodes.len()).find(|&v| self.nodes[v].running[gi].iter().any(|r| *r));
            if g.resources.iter().any(Resource::is_vip) && self.lan[gi] != holder {
                let name = |v: Option<usize>| v.map_or("nobody".to_string(), |v| self.cfg.nodes[v].name.clone());
                return Err(self.fail(format!(
                    "liveness: {:.1}s after the faults ended group {} runs on {}, but the last announcement of its VIP came from {}: clients are sent there",
                    (self.now - self.opts.chaos).as_secs_f64(),
                    g.name,
                    name(holder),
                    name(self.lan[gi]),
                )));
            }
        }
        Ok(())
    }

    /// Make the next start of `resource` of `group` on node `node` fail
    /// (for scripted scenarios; the random run never sets this).
    pub fn fail_next_start(&mut self, node: &str, group: &str, resource: usize) {
        let v = self.idx(node);
        let gi = self.cfg.group_index(group).expect("group");
        self.fail_starts.push((v, gi, resource));
    }

    /// At `node`'s next boot, the platform cannot read the state of
    /// `resource` of `group` (a bus or netlink error).
    pub fn unreadable_at_next_boot(&mut self, node: &str, group: &str, resource: usize) {
        let v = self.idx(node);
        let gi = self.cfg.group_index(group).expect("group");
        self.unreadable.push((v, gi, resource));
    }

    /// Make the next stop of `resource` of `group` on node `node` fail: the
    /// resource keeps running there.
    pub fn fail_next_stop(&mut self, node: &str, group: &str, resource: usize) {
        let v = self.idx(node);
        let gi = self.cfg.group_index(group).expect("group");
        self.fail_stops.push((v, gi, resource));
    }
}

fn unit_state(active: &str, sub: &str, result: &str, exit_status: Option<i32>) -> UnitState {
    UnitState { active: active.into(), sub: sub.into(), result: result.into(), exit_status }
}

/// Removes one scripted failure of (node, group, resource); whether there was one.
fn take_scripted(list: &mut Vec<(usize, usize, usize)>, key: (usize, usize, usize)) -> bool {
    match list.iter().position(|&f| f == key) {
        Some(i) => {
            list.remove(i);
            true
        }
        None => false,
    }
}

/// The cluster the simulator runs: node names n1…, links, groups g1…
fn sim_config(o: &SimOptions) -> Config {
    let nodes: Vec<NodeConf> = (1..=o.nodes).map(|i| NodeConf { name: format!("n{i}") }).collect();
    let links = (0..o.links)
        .map(|l| Link { name: format!("l{l}"), kind: LinkKind::Bcast { interface: format!("eth{l}"), port: 694 } })
        .collect();
    let groups = (0..o.groups)
        .map(|g| Group {
            name: format!("g{}", g + 1),
            preferred: nodes[g % o.nodes].name.clone(),
            resources: (0..o.resources)
                .map(|r| {
                    if r == 0 {
                        Resource::Vip {
                            addr: std::net::IpAddr::from([10, 77, (g / 100) as u8, 60 + (g % 100) as u8]),
                            prefix: 24,
                            interface: "eth0".into(),
                        }
                    } else {
                        let timeout = (r % 2 == 0).then_some(RESOURCE_TIMEOUT);
                        let check = o.checks.then(|| Check {
                            probe: Probe::Http {
                                url: format!("http://127.0.0.1:{}/health", 8000 + r),
                                host: "127.0.0.1".into(),
                                port: 8000 + r as u16,
                                path: "/health".into(),
                                expect: 200,
                            },
                            interval: Duration::from_millis(300),
                            timeout: Duration::from_millis(100),
                            rise: 2,
                            fall: 3,
                        });
                        Resource::Unit { name: format!("svc{g}-{r}.service"), timeout, check }
                    }
                })
                .collect(),
        })
        .collect();
    let ping_hosts =
        if o.profile == Profile::PingTieBreak { vec![std::net::IpAddr::from([10, 77, 0, 1])] } else { Vec::new() };
    Config {
        path: PathBuf::from("sim.toml"),
        cluster: Cluster {
            name: "sim".into(),
            keepalive: KEEPALIVE,
            warntime: WARNTIME,
            deadtime: DEADTIME,
            initdead: INITDEAD,
            port: 694,
            auto_failback: o.auto_failback,
            auth_key: PathBuf::from("/dev/null"),
            migration_threshold: 3,
            failure_timeout: Duration::from_secs(30),
            fencing: if o.profile == Profile::Fencing { Fencing::Required } else { Fencing::Off },
        },
        nodes,
        links,
        ping: Ping { hosts: ping_hosts, interval: Duration::from_secs(1), timeout: Duration::from_secs(1) },
        garp: Garp { count: 5, interval: Duration::from_millis(200), repeat_after: Duration::from_secs(5) },
        groups,
        respawn: vec![Respawn { unit: "agent.service".into() }],
        node_checks: if o.node_check {
            vec![NodeCheck {
                name: "uplink".into(),
                check: Check {
                    probe: Probe::Tcp { addr: "10.77.0.1:53".into() },
                    interval: Duration::from_millis(400),
                    timeout: Duration::from_millis(200),
                    rise: 2,
                    fall: 2,
                },
            }]
        } else {
            Vec::new()
        },
        metrics: None,
        alerts: Vec::new(),
    }
}

/// The configuration a reload fault switches to (`variant`) or back from:
/// the same nodes and links, another migration threshold and failure
/// timeout, slower checks (which restart them).
fn reload_variant(base: &Config, variant: bool) -> Config {
    let mut cfg = base.clone();
    if !variant {
        return cfg;
    }
    cfg.cluster.migration_threshold = 2;
    cfg.cluster.failure_timeout = Duration::from_secs(20);
    for c in cfg.groups.iter_mut().flat_map(|g| g.resources.iter_mut()).filter_map(|r| match r {
        Resource::Unit { check: Some(c), .. } => Some(c),
        _ => None,
    }) {
        c.interval = Duration::from_millis(400);
    }
    for nc in cfg.node_checks.iter_mut() {
        nc.check.interval = Duration::from_millis(500);
    }
    cfg
}
