//! The cluster core: pure, sans-IO. The shell feeds it [`Input`]s with the
//! time passed in and carries out the [`Action`]s it returns; nothing here
//! reads a clock, touches a socket or draws a random number.

pub mod msg;
pub mod node;

use std::time::Duration;

pub use msg::{Ack, Beat, Chunk, GroupReport, GroupState, Intent, IntentKind, Message, Serial, State};
pub use node::Node;

/// Monotonic time since an epoch the driver picks (its own start).
pub type Time = Duration;

/// One resource of a group, in start order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// A floating address `addr/prefix` on `interface`.
    Vip { addr: std::net::IpAddr, prefix: u8, interface: String },
    /// A systemd unit, e.g. "nginx.service".
    Unit { name: String },
}

impl Resource {
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::Vip { .. } => "vip",
            Resource::Unit { .. } => "unit",
        }
    }
    pub fn name(&self) -> String {
        match self {
            Resource::Vip { addr, prefix, .. } => format!("{addr}/{prefix}"),
            Resource::Unit { name } => name.clone(),
        }
    }
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
    /// (VIP present, unit active): adopt it instead of flapping it.
    Adopt {
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
            Event::StartFailed { .. } => "start-failed",
            Event::StopFailed { .. } => "stop-failed",
            Event::FenceStarted { .. } => "fence-started",
            Event::FenceFailed { .. } => "fence-failed",
            Event::Fenced { .. } => "fenced",
            Event::StandbyChanged { .. } => "standby",
            Event::SendFailed { .. } => "send-failed",
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
