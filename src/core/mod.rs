//! The cluster core: pure, sans-IO. The shell feeds it [`Input`]s with the
//! time passed in and carries out the [`Action`]s it returns; nothing here
//! reads a clock, touches a socket or draws a random number.

pub mod msg;
pub mod node;

use std::time::Duration;

pub use msg::{Ack, Beat, Chunk, GroupReport, GroupState, Intent, IntentKind, Message, ResourceState, Serial, State};
pub use node::Node;

/// Monotonic time since an epoch the driver picks (its own start).
pub type Time = Duration;

pub use crate::config::Resource;

/// A unit's state as systemd reports it: `ActiveState`, `SubState`, the
/// unit's `Result` and, for services, the main process' exit status
/// (negative: the number of the signal that killed it).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnitState {
    pub active: String,
    pub sub: String,
    pub result: String,
    pub exit_status: Option<i32>,
}

impl UnitState {
    /// `inactive` or `failed`: nothing of the unit runs.
    pub fn is_down(&self) -> bool {
        self.active == "inactive" || self.active == "failed"
    }
    /// Up, or on its way up: not down, and not waiting for systemd's
    /// `Restart=` (`activating (auto-restart)` follows a death).
    pub fn is_up(&self) -> bool {
        !self.is_down() && self.sub != "auto-restart"
    }
    /// Started, or being started: up and not on its way down
    /// (`deactivating` is the end of a stop, not a start).
    pub fn came_up(&self) -> bool {
        self.is_up() && self.active != "deactivating"
    }
}

/// A signal's name as `kill -l` gives it (Linux's numbers), or its number.
pub(crate) fn signal_name(n: i32) -> String {
    let name = match n {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return format!("signal {n}"),
    };
    name.to_string()
}

impl std::fmt::Display for UnitState {
    /// As `systemctl status` puts it: `active (running)`, `inactive (dead)`,
    /// `failed (exit-code 143)`, `failed (signal SIGKILL)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.active == "failed" {
            match self.exit_status {
                // Only the main process' own exit status: a unit whose
                // ExecStartPre= (or another of its processes) failed keeps
                // that of its last main process.
                Some(n) if self.result == "exit-code" && n > 0 => write!(f, "failed (exit-code {n})"),
                Some(n) if n < 0 && matches!(self.result.as_str(), "signal" | "core-dump") => {
                    write!(f, "failed ({} {})", self.result, signal_name(-n))
                }
                _ => write!(f, "failed ({})", self.result),
            }
        } else if self.sub.is_empty() {
            f.write_str(&self.active)
        } else {
            write!(f, "{} ({})", self.active, self.sub)
        }
    }
}

/// The deadlines systemd itself gives a unit's jobs (`TimeoutStartUSec`,
/// `TimeoutStopUSec`); `None` is `infinity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitTimeouts {
    pub start: Option<Duration>,
    pub stop: Option<Duration>,
}

/// Why a resource operation did not succeed (systemd's job results and our own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Start,
    Stop,
}

/// An operator command, as `hactl` and the D-Bus API issue it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Standby {
        node: String,
    },
    Unstandby {
        node: String,
    },
    /// `node` claims all groups.
    Takeover {
        node: String,
    },
    Move {
        group: String,
        node: String,
    },
    /// Remove an operator's placement of `group` (`hactl move --clear`):
    /// it follows `preferred` and `auto_failback` again.
    ClearMove {
        group: String,
    },
    Cleanup {
        group: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no node named {0:?} in the cluster configuration")]
    NoSuchNode(String),
    #[error("no group named {0:?} in the cluster configuration")]
    NoSuchGroup(String),
    #[error("this node's partition has no quorum; commands that move groups need a majority of nodes")]
    NoQuorum,
    #[error("{0}")]
    Invalid(String),
}

/// What a health check probes the health of.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CheckTarget {
    /// Resource `resource` of `group`, while it runs here.
    Resource { group: String, resource: usize },
    /// This node (`[[node_check]]` named `name`).
    Node { name: String },
}

/// Everything the core reacts to.
#[derive(Clone, Debug)]
pub enum Input {
    /// A verified, not replayed message from `from`, received on link
    /// `link` (index into the configured links) in a frame numbered
    /// (`generation`, `seq`).
    Frame {
        from: String,
        link: usize,
        generation: u64,
        seq: u64,
        msg: Message,
    },
    /// The shell could not seal a message into a frame (it would exceed the
    /// frame size): peers may stop hearing this node, so it gives up its
    /// groups and claims none until restarted or reloaded.
    SendFailed {
        reason: String,
    },
    /// A frame named configured peer `from` but failed authentication (bad
    /// tag, unknown key). Before that peer has ever been heard properly, it
    /// is taken as present with a different key: this node then takes no
    /// group, rather than start a second copy of what the peer runs.
    Unverified {
        from: String,
    },
    /// The shell's probe found a resource of a group already active at start
    /// (VIP present, unit active): adopt it instead of flapping it. A unit
    /// comes with its state as found (what status shows until its watch
    /// reports; `unknown` where it could not be read).
    Adopt {
        group: String,
        resource: usize,
        state: Option<UnitState>,
    },
    /// At start, the shell could not read a group resource's state (the
    /// bus or netlink failed): it may still run here, left by an hbd that
    /// exited with the group blocked. The group is stopped here, and
    /// reported stopping until it is, so no peer starts it meanwhile.
    Leftover {
        group: String,
        resource: usize,
    },
    /// The shell finished an operation the core asked for.
    ResourceDone {
        group: String,
        resource: usize,
        op: Op,
        result: Result<(), OpError>,
    },
    /// A resource of an owned group failed on its own (unit entered
    /// `failed`, VIP vanished and could not be re-added, ...).
    ResourceFailed {
        group: String,
        resource: usize,
        reason: String,
    },
    /// A unit of a group changed state (the first report of a watch is its
    /// state when the watch began). From before hbd starts a unit until it
    /// has stopped it, every report reaches the core, which decides what is
    /// a failure: a unit going down that hbd did not stop is one.
    UnitState {
        group: String,
        resource: usize,
        state: UnitState,
        /// systemd has a job on the unit (its `Job` property). A unit that
        /// goes down with a job still on it is either between the stop and
        /// the start of a `systemctl restart` or at the end of a stop whose
        /// job has not ended: the next report tells which.
        job: bool,
    },
    /// systemd's own job timeouts of a group's unit, read at start and
    /// reload: the core's deadlines for that unit's jobs follow them.
    UnitTimeouts {
        group: String,
        resource: usize,
        timeouts: UnitTimeouts,
    },
    /// A probe of a health check ended. `session` is the one of the
    /// `StartCheck` that began the check: results of a check stopped since
    /// are ignored. A probe that timed out is `ok: false`.
    CheckResult {
        target: CheckTarget,
        session: u64,
        ok: bool,
        /// Why it failed ("HTTP 500 from …", "connect timeout after 500ms").
        detail: String,
        latency: Duration,
    },
    /// How many ping hosts this node reaches now.
    Ping {
        reachable: u32,
    },
    /// Result of starting hbd-fence@NODE.service.
    FenceDone {
        node: String,
        ok: bool,
    },
    Command {
        id: u64,
        cmd: Command,
    },
    /// Graceful leave: hand groups over, then ask to exit.
    Shutdown,
    /// A new, validated configuration (SIGHUP or Reload()).
    Reload(Box<crate::config::Config>),
    /// Nothing happened but time passed (a deadline was reached).
    Tick,
}

/// Why a group changed hands, as the API's `GroupMoved` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveReason {
    Failover,
    Failback,
    Standby,
    Move,
    Ping,
    Quorum,
    UnitFailure,
    SplitBrain,
    Leave,
    Start,
}

impl MoveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            MoveReason::Failover => "failover",
            MoveReason::Failback => "failback",
            MoveReason::Standby => "standby",
            MoveReason::Move => "move",
            MoveReason::Ping => "ping",
            MoveReason::Quorum => "quorum",
            MoveReason::UnitFailure => "unit-failure",
            MoveReason::SplitBrain => "split-brain",
            MoveReason::Leave => "leave",
            MoveReason::Start => "start",
        }
    }
}

/// State changes worth a journal line (and a D-Bus signal or property change).
/// `event()` gives the stable `HBD_EVENT` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    LinkUp {
        peer: String,
        link: String,
    },
    LinkDown {
        peer: String,
        link: String,
    },
    PeerUp {
        peer: String,
        generation: u64,
    },
    PeerLate {
        peer: String,
        silent_ms: u64,
    },
    PeerDead {
        peer: String,
    },
    PeerRestarted {
        peer: String,
        generation: u64,
    },
    PeerLeft {
        peer: String,
    },
    /// A stale frame: lower generation than known.
    StaleGeneration {
        peer: String,
        generation: u64,
        known: u64,
    },
    /// Both sides held a group when they met again.
    SplitBrain {
        group: String,
        peer: String,
    },
    ConfigMismatch {
        peer: String,
    },
    QuorumLost,
    QuorumRegained,
    /// This node begins to take a group.
    Takeover {
        group: String,
        reason: MoveReason,
    },
    /// This node begins to give a group up.
    Release {
        group: String,
        reason: MoveReason,
    },
    GroupStarted {
        group: String,
    },
    GroupStopped {
        group: String,
    },
    /// A group came to run on `to` after running on `from` (empty: nowhere).
    GroupMoved {
        group: String,
        from: String,
        to: String,
        reason: MoveReason,
    },
    ResourceFailed {
        group: String,
        resource: String,
        reason: String,
        failcount: u32,
        /// `migration_threshold`: at this count the group moves.
        threshold: u32,
    },
    /// Fail counts of a group on this node expired (`failure_timeout`).
    FailuresExpired {
        group: String,
    },
    StartFailed {
        group: String,
        resource: String,
        reason: String,
    },
    StopFailed {
        group: String,
        resource: String,
        reason: String,
    },
    /// A unit of a group this node does not run came up here outside hbd
    /// (`systemctl start`, a dependency, socket activation): hbd stops it.
    /// `owner` is the node that runs the group, if any.
    UnitStray {
        group: String,
        resource: String,
        owner: Option<String>,
        /// Non-zero: the number of strays of this group within a minute,
        /// said once; the next ones of that minute are stopped unsaid.
        again: u32,
    },
    FenceStarted {
        peer: String,
    },
    FenceFailed {
        peer: String,
    },
    Fenced {
        peer: String,
    },
    StandbyChanged {
        node: String,
        on: bool,
    },
    /// A message could not be sealed into a frame; the node stopped
    /// claiming and gives its groups up.
    SendFailed {
        reason: String,
    },
    /// A health check failed `fall` times in a row. `group` is empty for a
    /// node check.
    CheckFailed {
        check: String,
        group: String,
        reason: String,
        fall: u32,
    },
    /// A check that had failed passed `rise` times in a row.
    CheckRecovered {
        check: String,
        group: String,
    },
    /// A unit of a group this node runs went down and came back up within
    /// one systemd job: `systemctl restart`, or a restart a dependency
    /// propagated. Not a failure.
    UnitRestarted {
        group: String,
        resource: String,
    },
}

impl Event {
    pub fn event(&self) -> &'static str {
        match self {
            Event::LinkUp { .. } => "link-up",
            Event::LinkDown { .. } => "link-down",
            Event::PeerUp { .. } => "peer-up",
            Event::PeerLate { .. } => "peer-late",
            Event::PeerDead { .. } => "peer-dead",
            Event::PeerRestarted { .. } => "peer-restarted",
            Event::PeerLeft { .. } => "peer-left",
            Event::StaleGeneration { .. } => "stale-generation",
            Event::SplitBrain { .. } => "split-brain",
            Event::ConfigMismatch { .. } => "config-mismatch",
            Event::QuorumLost => "quorum-lost",
            Event::QuorumRegained => "quorum-regained",
            Event::Takeover { .. } => "takeover",
            Event::Release { .. } => "release",
            Event::GroupStarted { .. } => "group-started",
            Event::GroupStopped { .. } => "group-stopped",
            Event::GroupMoved { reason, .. } => match reason {
                MoveReason::Failover => "failover",
                _ => "group-moved",
            },
            Event::ResourceFailed { .. } => "unit-failure",
            Event::FailuresExpired { .. } => "failures-expired",
            Event::StartFailed { .. } => "start-failed",
            Event::StopFailed { .. } => "stop-failed",
            Event::UnitStray { .. } => "unit-stray",
            Event::FenceStarted { .. } => "fence-started",
            Event::FenceFailed { .. } => "fence-failed",
            Event::Fenced { .. } => "fenced",
            Event::StandbyChanged { .. } => "standby",
            Event::SendFailed { .. } => "send-failed",
            Event::CheckFailed { .. } => "check-failed",
            Event::CheckRecovered { .. } => "check-recovered",
            Event::UnitRestarted { .. } => "unit-restarted",
        }
    }
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Send this message as one frame with this sequence number (the shell
    /// adds the generation) on every link that takes it:
    /// [`Message::for_link`] says which (`serial`: whether and how it also
    /// goes on serial links).
    Send {
        seq: u64,
        msg: Message,
        serial: Serial,
    },
    /// Start / stop resource `resource` of `group`; answer with `Input::ResourceDone`.
    Start {
        group: String,
        resource: usize,
        what: Resource,
    },
    Stop {
        group: String,
        resource: usize,
        what: Resource,
    },
    /// Clear systemd's failed state and start limit of a group's unit
    /// (`hactl cleanup`); nothing answers.
    ResetFailed {
        unit: String,
    },
    /// Announce the group's VIPs again (gratuitous ARP / unsolicited NA):
    /// a peer came back and this node keeps the group.
    Announce {
        group: String,
    },
    /// Probe `check` every `check.interval` until `StopCheck`, answering
    /// each probe with `Input::CheckResult` carrying `session`.
    StartCheck {
        target: CheckTarget,
        session: u64,
        check: crate::config::Check,
    },
    StopCheck {
        target: CheckTarget,
    },
    /// Start hbd-fence@NODE.service; answer with `Input::FenceDone`.
    Fence {
        node: String,
    },
    Reply {
        id: u64,
        result: Result<(), CommandError>,
    },
    Event(Event),
    /// The graceful leave is complete: the shell may exit.
    Exit,
}

#[cfg(test)]
mod tests {
    use super::UnitState;

    fn failed(result: &str, exit_status: Option<i32>) -> String {
        UnitState { active: "failed".into(), sub: "failed".into(), result: result.into(), exit_status }.to_string()
    }

    #[test]
    fn a_failed_unit_says_how_as_systemctl_status_would() {
        assert_eq!(failed("exit-code", Some(143)), "failed (exit-code 143)");
        assert_eq!(failed("signal", Some(-9)), "failed (signal SIGKILL)");
        assert_eq!(failed("core-dump", Some(-11)), "failed (core-dump SIGSEGV)");
        // From a peer of an older version: no signal's number.
        assert_eq!(failed("signal", Some(9)), "failed (signal)");
        assert_eq!(failed("timeout", None), "failed (timeout)");
        // An ExecStartPre= that failed: the main process' status (0, or the
        // signal that ended the last one) is not the failure's.
        assert_eq!(failed("exit-code", Some(0)), "failed (exit-code)");
        assert_eq!(failed("exit-code", Some(-15)), "failed (exit-code)");
    }
}
