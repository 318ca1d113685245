//! Unit tests of `hbd::core::Node` alone, without the simulator: the test
//! plays the shell (timer, resource operations) and, where needed, a peer
//! whose heartbeats it writes by hand.

use std::path::Path;
use std::time::Duration;

use hbd::config::{self, Config};
use hbd::core::msg::Ack;
use hbd::core::node::{CheckState, GroupNote, NodeState, PeerState};
use hbd::core::{
    Action, Beat, Command, Event, GroupReport, GroupState, Input, Message, Node, Op, OpError, State, Time,
};
use hbd::wire;

const KEEPALIVE: Duration = Duration::from_millis(200);
const DEADTIME: Duration = Duration::from_secs(2);
const INITDEAD: Duration = Duration::from_secs(4);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Two nodes, two links, group g1 (a VIP then a unit) preferred on `preferred`.
fn cfg(preferred: &str) -> Config {
    config::parse(&cfg_text(preferred), Path::new("/etc/hbd/hbd.toml")).expect("test config")
}

/// The file behind [`cfg`].
fn cfg_text(preferred: &str) -> String {
    format!(
        r#"[cluster]
name = "t"
keepalive = "200ms"
warntime = "800ms"
deadtime = "2s"
initdead = "4s"
auto_failback = true

[[node]]
name = "n1"
[[node]]
name = "n2"

[[link]]
name = "l0"
type = "bcast"
interface = "eth0"
[[link]]
name = "l1"
type = "bcast"
interface = "eth1"

[[group]]
name = "g1"
preferred = "{preferred}"
resources = [
  {{ vip = "10.0.0.60/24", interface = "eth0" }},
  {{ unit = "svc.service" }},
]
"#
    )
}

/// The test as n1's shell: it feeds inputs, checks what every call returns
/// and keeps the actions for inspection.
struct Shell {
    node: Node,
    now: Time,
    actions: Vec<(Time, Action)>,
    last_send: Option<Time>,
    /// Operations asked for and not answered yet.
    pending: Vec<(String, usize, Op)>,
}

impl Shell {
    fn new(cfg: Config, generation: u64) -> Shell {
        let node = Node::new(cfg, "n1", generation, Duration::ZERO).expect("n1");
        let mut s = Shell { node, now: Duration::ZERO, actions: Vec::new(), last_send: None, pending: Vec::new() };
        s.feed(Duration::ZERO, Input::Tick);
        s
    }

    fn feed(&mut self, at: Time, input: Input) -> Vec<Action> {
        assert!(at >= self.now, "the test went back in time");
        self.now = at;
        let out = self.node.handle(at, input);
        for a in &out {
            match a {
                Action::Send { .. } => self.last_send = Some(at),
                Action::Start { group, resource, .. } => self.pending.push((group.clone(), *resource, Op::Start)),
                Action::Stop { group, resource, .. } => self.pending.push((group.clone(), *resource, Op::Stop)),
                _ => {}
            }
            self.actions.push((at, a.clone()));
        }
        // The deadline is never in the past, and never later than the next
        // keepalive is due.
        let d = self.node.next_deadline();
        assert!(d > at, "next_deadline {d:?} is not after now {at:?}");
        if let Some(sent) = self.last_send {
            assert!(
                d <= sent + KEEPALIVE,
                "next_deadline {d:?} is later than the next keepalive {:?}",
                sent + KEEPALIVE
            );
        }
        out
    }

    /// Answer every pending operation with `result`.
    fn answer(&mut self, result: Result<(), OpError>) {
        while !self.pending.is_empty() {
            let (group, resource, op) = self.pending.remove(0);
            let at = self.now + ms(5);
            self.feed(at, Input::ResourceDone { group, resource, op, result: result.clone() });
        }
    }

    /// Tick at each deadline up to `until` and at `until`, as a shell's
    /// timer does, answering nothing.
    fn tick_until(&mut self, until: Time) {
        while self.node.next_deadline() < until {
            let d = self.node.next_deadline();
            self.feed(d, Input::Tick);
        }
        self.feed(until, Input::Tick);
    }

    /// Tick at each deadline until `until`, answering operations with success.
    fn run_until(&mut self, until: Time) {
        loop {
            self.answer(Ok(()));
            let d = self.node.next_deadline();
            if d > until {
                break;
            }
            self.feed(d, Input::Tick);
        }
        self.now = self.now.max(until);
    }

    /// n1 restarted (generation 2) and its shell found `resources` of g1
    /// already active.
    fn adopting(c: &Config, resources: &[usize]) -> Shell {
        let node = Node::new(c.clone(), "n1", 2, Duration::ZERO).expect("n1");
        let mut s = Shell { node, now: Duration::ZERO, actions: Vec::new(), last_send: None, pending: Vec::new() };
        for &r in resources {
            s.feed(Duration::ZERO, Input::Adopt { group: "g1".into(), resource: r, state: None });
        }
        s.feed(Duration::ZERO, Input::Tick);
        s
    }

    /// Resources started (or stopped) so far, in order.
    fn ops(&self, op: Op) -> Vec<usize> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match (a, op) {
                (Action::Start { resource, .. }, Op::Start) | (Action::Stop { resource, .. }, Op::Stop) => {
                    Some(*resource)
                }
                _ => None,
            })
            .collect()
    }

    fn state(&self) -> Option<GroupState> {
        self.node.group_state("g1")
    }

    fn starts_since(&self, t: Time) -> usize {
        self.actions.iter().filter(|(at, a)| *at >= t && matches!(a, Action::Start { .. })).count()
    }

    fn events_since(&self, t: Time) -> Vec<Event> {
        self.actions
            .iter()
            .filter(|(at, _)| *at >= t)
            .filter_map(|(_, a)| if let Action::Event(e) = a { Some(e.clone()) } else { None })
            .collect()
    }

    /// The version of n1's state its newest beat announced.
    fn last_version(&self) -> u64 {
        self.actions
            .iter()
            .rev()
            .find_map(|(_, a)| match a {
                Action::Send { msg: Message::Beat(b), .. } => Some(b.state_version),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// The states n1 sent, in order (each fits one chunk here).
    fn sent_states(&self) -> Vec<State> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Send { msg: Message::Chunk(c), .. } => {
                    assert_eq!(c.count, 1);
                    Some(wire::decode_state(&c.data).unwrap())
                }
                _ => None,
            })
            .collect()
    }

    fn feed_all(&mut self, at: Time, inputs: Vec<Input>) {
        for i in inputs {
            self.feed(at, i);
        }
    }
}

/// What n2 says: a beat acknowledging n1's state up to version `ack`
/// (generation `n1_gen`) and hearing n1, and its state reporting g1 in `state`.
fn from_n2(cfg: &Config, state: GroupState, n1_gen: u64, ack: u64) -> (Beat, State) {
    let beat = Beat {
        config_hash: cfg.digest(),
        standby: false,
        leaving: false,
        idle: state == GroupState::Stopped,
        settled: true,
        ping: None,
        state_version: 0,
        acks: vec![Ack { node: "n1".into(), generation: n1_gen, version: ack }],
        up: vec!["n1".into()],
        full: true,
    };
    let state = State {
        groups: vec![GroupReport {
            name: "g1".into(),
            state,
            failed: false,
            failcount: 0,
            held_down: false,
            resources: Vec::new(),
        }],
        intents: Vec::new(),
    };
    (beat, state)
}

/// n2's frames numbered `seq`: its state as version `seq`, in chunks, then
/// the beat that announces that version.
fn hb(generation: u64, seq: u64, (mut beat, state): (Beat, State)) -> Vec<Input> {
    beat.state_version = seq;
    let frame = |msg| Input::Frame { from: "n2".into(), link: 0, generation, seq, msg };
    let mut out: Vec<Input> = wire::split_state(seq, &wire::encode_state(&state))
        .unwrap()
        .into_iter()
        .map(|c| frame(Message::Chunk(c)))
        .collect();
    out.push(frame(Message::Beat(beat)));
    out
}

// ------------------------------------------------------------- deadlines

#[test]
fn deadline_is_never_past_and_keepalives_keep_their_interval() {
    let c = cfg("n1");
    let mut s = Shell::new(c.clone(), 1);
    // Alone first (through initdead: n2 is declared dead, n1 takes g1), then
    // n2 appears with irregular frames, then falls silent again. `feed`
    // checks the deadline after every call.
    s.run_until(INITDEAD + ms(500));
    assert_eq!(s.state(), Some(GroupState::Started));
    let mut t = s.now;
    for (i, gap) in [7u64, 190, 3, 250, 120, 1, 60, 199, 201, 90].iter().cycle().take(60).enumerate() {
        t += ms(*gap);
        s.run_until(t);
        let ack = s.last_version();
        s.feed_all(t, hb(1, i as u64 + 1, from_n2(&c, GroupState::Stopped, 1, ack)));
    }
    s.run_until(t + DEADTIME + ms(500));
    assert_eq!(s.node.peer_state("n2"), Some(PeerState::Dead));
    // Driven only by its deadlines, the node sent a frame at least every
    // keepalive the whole time.
    let sends: Vec<Time> =
        s.actions.iter().filter(|(_, a)| matches!(a, Action::Send { .. })).map(|(t, _)| *t).collect();
    assert!(sends.len() > 30);
    for w in sends.windows(2) {
        assert!(w[1] - w[0] <= KEEPALIVE, "frames at {:?} and {:?}", w[0], w[1]);
    }
}

// ------------------------------------------------------------ generations

/// n1 itself was held back (descheduled, SIGSTOPped, a stalled disk) for
/// longer than deadtime, and its timer fires before it has read what
/// waited in its sockets: that is not n2's silence. n2 is judged a
/// keepalive later, and is dead then only if nothing came in.
#[test]
fn a_stall_of_this_node_is_not_taken_as_the_peers_silence() {
    let c = cfg("n2");
    for frames_waited in [true, false] {
        let mut s = Shell::new(c.clone(), 1);
        let mut t = ms(10);
        for seq in 1..=5 {
            s.run_until(t);
            s.feed_all(t, hb(1, seq, from_n2(&c, GroupState::Started, 1, 0)));
            t += KEEPALIVE;
        }
        assert_eq!(s.node.peer_state("n2"), Some(PeerState::Up));
        // The stall: nothing runs for deadtime + 1 s after the last frame.
        let woke = t + DEADTIME + ms(1000);
        s.feed(woke, Input::Tick);
        assert_eq!(s.node.peer_state("n2"), Some(PeerState::Up), "a stall of n1's own declared n2 dead");
        assert!(!s.events_since(woke).iter().any(|e| matches!(e, Event::PeerDead { .. })));
        assert!(s.node.next_deadline() <= woke + KEEPALIVE, "n2 is judged again within a keepalive");
        if frames_waited {
            s.feed_all(woke, hb(1, 6, from_n2(&c, GroupState::Started, 1, 0)));
            s.run_until(woke + KEEPALIVE + ms(10));
            assert_eq!(s.node.peer_state("n2"), Some(PeerState::Up));
            assert_eq!(s.starts_since(woke), 0, "n1 took over a group n2 runs");
        } else {
            s.run_until(woke + KEEPALIVE);
            assert_eq!(s.node.peer_state("n2"), Some(PeerState::Dead), "n2 is dead a keepalive after the stall");
            assert!(s.events_since(woke).contains(&Event::PeerDead { peer: "n2".into() }));
        }
    }
}

/// The shell's timer wakes a little late at every deadline (the runtime
/// rounds up to a millisecond, the thread takes time to be scheduled): the
/// beats still keep to a grid of keepalives. Counted from each send, the
/// lateness added up, and with deadtime = 4 keepalives the fourth beat
/// after one heard came after the peer's deadline: three lost beats in a
/// row, not four, were enough to be declared dead.
#[test]
fn beats_keep_to_the_keepalive_grid_when_the_timer_wakes_late() {
    let mut s = Shell::new(cfg("n1"), 1);
    let mut beats = Vec::new();
    // (before initdead: no change of state sends a beat of its own)
    while beats.len() < 15 {
        let at = s.node.next_deadline() + ms(1);
        let sent = s.feed(at, Input::Tick);
        if sent.iter().any(|a| matches!(a, Action::Send { msg: Message::Beat(_), .. })) {
            beats.push(at);
        }
    }
    for (n, t) in beats.iter().enumerate() {
        let grid = beats[0] + KEEPALIVE * n as u32;
        assert!(*t <= grid + ms(1), "beat {n} left at {t:?}, {:?} after its place on the grid", *t - grid);
    }
}

/// n2 lost n1 for a while (one direction of a partition: n1 heard n2 all
/// along) and took g1 over, its gratuitous ARP pulling the LAN's caches to
/// it; on hearing n1 again it let g1 go. n1 kept g1 throughout: it
/// announces g1's VIP again once n2 has stopped it, or clients stay with
/// n2 until their ARP caches expire (8 s in the lab's frontier soak).
#[test]
fn a_peer_that_let_go_of_a_group_this_node_keeps_gets_its_vips_announced() {
    let c = cfg("n1");
    let mut s = Shell::new(c.clone(), 1);
    let announced = |s: &Shell, since: Time| {
        s.actions
            .iter()
            .filter(|(at, a)| *at >= since && matches!(a, Action::Announce { group } if group == "g1"))
            .count()
    };
    let mut t = ms(10);
    let mut seq = 0;
    let mut beat = |s: &mut Shell, t: Time, hears_n1: bool, g1: GroupState| {
        seq += 1;
        let ack = s.last_version();
        let (mut b, st) = from_n2(&c, g1, 1, ack);
        if !hears_n1 {
            b.up.clear();
        }
        s.feed_all(t, hb(1, seq, (b, st)));
    };
    while t < INITDEAD + ms(1000) {
        s.run_until(t);
        beat(&mut s, t, true, GroupState::Stopped);
        t += KEEPALIVE;
    }
    assert_eq!(s.state(), Some(GroupState::Started), "n1 runs g1");
    let t0 = t;
    // n2 lets nothing go that it held: nothing to announce again.
    for _ in 0..5 {
        s.run_until(t);
        beat(&mut s, t, true, GroupState::Stopped);
        t += KEEPALIVE;
    }
    assert_eq!(announced(&s, t0), 0);
    // n2 loses n1 and takes g1 over; hears n1 again and stops g1.
    for (hears, g1, want) in [
        (false, GroupState::Starting, 0),
        (false, GroupState::Started, 0),
        (true, GroupState::Stopping, 0),
        (true, GroupState::Stopped, 1),
        (true, GroupState::Stopped, 1),
    ] {
        s.run_until(t);
        beat(&mut s, t, hears, g1);
        assert_eq!(announced(&s, t0), want, "at {t:?} (n2 hears n1: {hears}, runs g1: {g1:?})");
        t += KEEPALIVE;
    }
    assert_eq!(s.state(), Some(GroupState::Started), "n1 keeps g1");
    assert_eq!(s.node.peer_state("n2"), Some(PeerState::Up));
}

/// A chunk of n2's state that arrives just before n2's deadline is a sign
/// of life: n1 applies it and acknowledges it in its next beat, so it must
/// not declare n2 dead a moment later (n2 may start a group on that
/// acknowledgement, while n1 takes the same group over from a "dead" n2).
#[test]
fn a_chunk_from_a_peer_is_a_sign_of_life() {
    let c = cfg("n1");
    let mut s = Shell::new(c.clone(), 1);
    let mut t = ms(10);
    for seq in 1..=5 {
        s.run_until(t);
        s.feed_all(t, hb(1, seq, from_n2(&c, GroupState::Stopped, 1, 0)));
        t += KEEPALIVE;
    }
    let last_beat = t - KEEPALIVE;
    assert_eq!(s.node.peer_state("n2"), Some(PeerState::Up));
    // n2's beats are lost; a chunk of its next state gets through.
    let chunk_at = last_beat + DEADTIME - ms(1);
    s.run_until(chunk_at);
    let mut frames = hb(1, 6, from_n2(&c, GroupState::Stopped, 1, 0));
    frames.pop();
    s.feed_all(chunk_at, frames);
    s.run_until(last_beat + DEADTIME + ms(100));
    assert_eq!(s.node.peer_state("n2"), Some(PeerState::Up), "n2 declared dead right after its chunk");
    // Heard of no more, it is dead deadtime after the chunk.
    s.run_until(chunk_at + DEADTIME + ms(10));
    assert_eq!(s.node.peer_state("n2"), Some(PeerState::Dead));
}

#[test]
fn lower_generation_frames_are_ignored_and_reported_once() {
    let c = cfg("n2");
    let mut s = Shell::new(c.clone(), 1);
    // n2 (generation 5) runs g1.
    s.feed_all(ms(10), hb(5, 1, from_n2(&c, GroupState::Started, 1, 0)));
    assert_eq!(s.node.status().groups[0].owner, "n2");
    let t0 = ms(20);
    // Frames of an older n2 (generation 4) say g1 stopped, again and again.
    let mut t = t0;
    for seq in 100..120 {
        t += ms(50);
        s.feed_all(t, hb(4, seq, from_n2(&c, GroupState::Stopped, 1, 0)));
        // They change nothing…
        assert_eq!(s.node.status().groups[0].owner, "n2");
        assert_eq!(s.node.status().groups[0].state, GroupState::Started);
    }
    // …and are reported once, not per frame.
    let stale: Vec<Event> =
        s.events_since(t0).into_iter().filter(|e| matches!(e, Event::StaleGeneration { .. })).collect();
    assert_eq!(stale, vec![Event::StaleGeneration { peer: "n2".into(), generation: 4, known: 5 }]);
    // Nor do they keep n2 alive: after deadtime of only stale frames it is dead.
    while t < ms(10) + DEADTIME + ms(100) {
        t += ms(50);
        s.run_until(t);
        s.feed_all(t, hb(4, 200, from_n2(&c, GroupState::Stopped, 1, 0)));
    }
    assert_eq!(s.node.peer_state("n2"), Some(PeerState::Dead));
}

#[test]
fn higher_generation_is_a_restart() {
    let c = cfg("n2");
    let mut s = Shell::new(c.clone(), 1);
    s.feed_all(ms(10), hb(1, 7, from_n2(&c, GroupState::Started, 1, 0)));
    // n2 restarted: new generation, sequence starts again at 1.
    s.feed_all(ms(20), hb(2, 1, from_n2(&c, GroupState::Stopped, 1, 0)));
    assert!(s.events_since(ms(20)).contains(&Event::PeerRestarted { peer: "n2".into(), generation: 2 }));
    assert_eq!(s.node.status().groups[0].owner, "", "the restarted peer's new report was not applied");
    let n2 = s.node.status().nodes.into_iter().find(|n| n.name == "n2").unwrap();
    assert_eq!(n2.generation, 2);
}

// ------------------------------------------------------ sequence numbers

#[test]
fn old_and_duplicate_sequence_numbers_do_not_change_state() {
    // g1 prefers n2, so n1 only watches what n2 reports.
    let c = cfg("n2");
    let mut s = Shell::new(c.clone(), 1);
    let owner = |s: &Shell| {
        let g = &s.node.status().groups[0];
        (g.owner.clone(), g.state)
    };
    s.feed_all(ms(10), hb(1, 5, from_n2(&c, GroupState::Started, 1, 0)));
    assert_eq!(owner(&s), ("n2".into(), GroupState::Started));
    // An old frame (replayed or reordered) says stopped: ignored.
    s.feed_all(ms(20), hb(1, 3, from_n2(&c, GroupState::Stopped, 1, 0)));
    assert_eq!(owner(&s), ("n2".into(), GroupState::Started));
    // A duplicate of the newest sequence number with other content: ignored.
    s.feed_all(ms(30), hb(1, 5, from_n2(&c, GroupState::Stopped, 1, 0)));
    assert_eq!(owner(&s), ("n2".into(), GroupState::Started));
    // The next frame is applied.
    s.feed_all(ms(40), hb(1, 6, from_n2(&c, GroupState::Stopping, 1, 0)));
    assert_eq!(owner(&s), ("n2".into(), GroupState::Stopping));
    // And an exact duplicate of an applied frame changes nothing either.
    let before = s.node.status();
    s.feed_all(ms(50), hb(1, 6, from_n2(&c, GroupState::Stopping, 1, 0)));
    let after = s.node.status();
    assert_eq!(before.groups, after.groups);
}

// ---------------------------------------------------------------- adopt

#[test]
fn adopting_all_resources_starts_nothing() {
    // hbd restarted on the node that runs g1: the shell finds the VIP and
    // the unit active and reports them before anything else.
    let c = cfg("n1");
    let mut s = Shell::adopting(&c, &[0, 1]);
    assert_eq!(s.state(), Some(GroupState::Started));
    // Every frame it sends says it holds the group (so no peer claims it),
    // and the last one says started.
    let frames = s.sent_states();
    assert!(!frames.is_empty());
    assert!(frames.iter().all(|f| f.groups[0].state.holds()), "{frames:?}");
    assert_eq!(frames.last().unwrap().groups[0].state, GroupState::Started);
    // Through initdead, with a peer that comes up, and well after: no
    // start and no stop — a restart of hbd must not flap a healthy group.
    let mut t = Duration::ZERO;
    for seq in 1..60 {
        t += KEEPALIVE;
        s.run_until(t);
        let ack = s.last_version();
        s.feed_all(t, hb(1, seq, from_n2(&c, GroupState::Stopped, 2, ack)));
    }
    s.run_until(t + INITDEAD);
    let ops: Vec<&Action> =
        s.actions.iter().map(|(_, a)| a).filter(|a| matches!(a, Action::Start { .. } | Action::Stop { .. })).collect();
    assert!(ops.is_empty(), "adopted group was touched: {ops:?}");
    assert_eq!(s.state(), Some(GroupState::Started));
}

#[test]
fn adopting_part_of_a_group_starts_only_the_rest() {
    // Only the VIP was found up.
    let mut s = Shell::adopting(&cfg("n1"), &[0]);
    assert!(s.state().is_some_and(|st| st.holds()));
    s.run_until(INITDEAD + DEADTIME);
    assert_eq!(s.ops(Op::Start), vec![1], "only the unit should be started");
    assert!(s.ops(Op::Stop).is_empty());
    assert_eq!(s.state(), Some(GroupState::Started));
}

#[test]
fn adopting_a_later_resource_alone_fills_the_gap_first() {
    // Only the unit was found active (a group left behind half-stopped):
    // the VIP before it is started, nothing else, and the unit is not touched.
    let mut s = Shell::adopting(&cfg("n1"), &[1]);
    assert!(s.state().is_some_and(|st| st.holds()));
    s.run_until(INITDEAD + DEADTIME);
    assert_eq!(s.ops(Op::Start), vec![0], "only the VIP should be started");
    assert_eq!(s.state(), Some(GroupState::Started));
}

#[test]
fn releasing_a_group_adopted_with_a_gap_stops_what_runs() {
    // g1 belongs on n2. n1 restarts and finds only g1's unit active (the VIP
    // is gone): when it hands the group to n2 it must stop that unit, not
    // report the group stopped while the unit still runs.
    let c = cfg("n2");
    let mut s = Shell::adopting(&c, &[1]);
    let mut t = Duration::ZERO;
    let mut stopped_reported_at = None;
    for seq in 1..30 {
        t += KEEPALIVE;
        s.run_until(t);
        let ack = s.last_version();
        s.feed_all(t, hb(1, seq, from_n2(&c, GroupState::Stopped, 2, ack)));
        if stopped_reported_at.is_none() && s.state() == Some(GroupState::Stopped) {
            stopped_reported_at = Some(t);
        }
    }
    let stops = s.ops(Op::Stop);
    assert!(stopped_reported_at.is_some(), "n1 never gave g1 up");
    assert_eq!(stops.first(), Some(&1), "the active unit was not stopped: stops {stops:?}");
    assert!(s.ops(Op::Start).is_empty(), "n1 started part of g1");
}

#[test]
fn unit_dying_during_its_start_job_is_started_again() {
    let c = cfg("n1");
    let mut s = Shell::new(c.clone(), 1);
    // Alone: after initdead n1 starts g1; the VIP comes up.
    let mut t = INITDEAD + ms(10);
    s.tick_until(t);
    assert_eq!(s.pending, vec![("g1".to_string(), 0, Op::Start)]);
    let vip_done = Input::ResourceDone { group: "g1".into(), resource: 0, op: Op::Start, result: Ok(()) };
    s.pending.clear();
    s.feed(t + ms(5), vip_done);
    assert_eq!(s.pending, vec![("g1".to_string(), 1, Op::Start)]);
    // The unit dies while its start job is still running; then the job
    // reports success, which is already out of date.
    t = s.now + ms(1);
    s.feed(t, Input::ResourceFailed { group: "g1".into(), resource: 1, reason: "exited".into() });
    s.answer(Ok(()));
    assert!(
        s.events_since(t).iter().any(|e| matches!(e, Event::ResourceFailed { failcount: 1, .. })),
        "{:?}",
        s.events_since(t)
    );
    let unit_starts =
        s.actions.iter().filter(|(at, a)| *at >= t && matches!(a, Action::Start { resource: 1, .. })).count();
    assert_eq!(unit_starts, 1, "the unit was not started again");
    s.run_until(s.now + DEADTIME);
    assert_eq!(s.state(), Some(GroupState::Started));
    assert_eq!(s.node.status().groups[0].failcount, 1);
}

// ------------------------------------------------------------ stop failure

#[test]
fn stop_failure_blocks_group_until_cleanup() {
    let c = cfg("n1");
    let mut s = Shell::new(c.clone(), 1);
    // Alone: after initdead n1 declares n2 dead and starts g1.
    s.run_until(INITDEAD + ms(500));
    assert_eq!(s.state(), Some(GroupState::Started));

    // hactl standby: n1 stops g1 in reverse order; the unit's stop fails.
    s.feed(s.now + ms(10), Input::Command { id: 1, cmd: Command::Standby { node: "n1".into() } });
    assert_eq!(s.pending.len(), 1);
    assert_eq!(s.pending[0].1, 1, "stop begins with the last resource");
    let t0 = s.now;
    s.answer(Err(OpError("unit stop timed out".into())));
    assert_eq!(s.state(), Some(GroupState::Blocked));
    assert!(s.events_since(t0).iter().any(|e| matches!(e, Event::StopFailed { .. })));

    // Blocked: nothing is started again, whatever happens — unstandby, a
    // peer coming and going — until an operator cleans up.
    s.feed(s.now + ms(10), Input::Command { id: 2, cmd: Command::Unstandby { node: "n1".into() } });
    let mut t = s.now;
    for seq in 1..20 {
        t += KEEPALIVE;
        s.run_until(t);
        let ack = s.last_version();
        s.feed_all(t, hb(1, seq, from_n2(&c, GroupState::Stopped, 1, ack)));
    }
    s.run_until(t + DEADTIME * 3);
    assert_eq!(s.state(), Some(GroupState::Blocked));
    assert_eq!(s.starts_since(t0), 0, "a blocked group was started");
    assert!(s.pending.is_empty());
    assert_eq!(s.node.status().groups[0].state, GroupState::Blocked);
    let note = s.node.status().groups.remove(0).note;
    assert!(matches!(note, Some(GroupNote::StopFailed { .. } | GroupNote::StopFailedRelayed { .. })), "{note:?}");

    // hactl cleanup g1: the stop is retried first, then (preferred, not in
    // standby) the group is started again.
    let t1 = s.now + ms(10);
    s.feed(t1, Input::Command { id: 3, cmd: Command::Cleanup { group: "g1".into() } });
    let first_op = s
        .actions
        .iter()
        .filter(|(at, _)| *at >= t1)
        .find(|(_, a)| matches!(a, Action::Start { .. } | Action::Stop { .. }));
    assert!(
        matches!(first_op, Some((_, Action::Stop { resource: 1, .. }))),
        "cleanup should retry the failed stop first: {first_op:?}"
    );
    s.run_until(s.now + DEADTIME);
    assert!(s.starts_since(t1) > 0, "never restarted after cleanup");
    assert_eq!(s.state(), Some(GroupState::Started));
}

#[test]
fn peer_reporting_blocked_keeps_group_down_here() {
    // n2 reports g1 blocked (its stop failed): n1, though preferred, must
    // not start it — it may still run on n2.
    let c = cfg("n1");
    let mut s = Shell::new(c.clone(), 1);
    let mut t = Duration::ZERO;
    for seq in 1..40 {
        t += KEEPALIVE;
        s.run_until(t);
        let ack = s.last_version();
        s.feed_all(t, hb(1, seq, from_n2(&c, GroupState::Blocked, 1, ack)));
    }
    assert_eq!(s.starts_since(Duration::ZERO), 0);
    assert_eq!(s.state(), Some(GroupState::Stopped));
    // Even once n2 goes silent and is declared dead (unfenced, it may still
    // run the group).
    s.run_until(t + DEADTIME * 3);
    assert_eq!(s.node.peer_state("n2"), Some(PeerState::Dead));
    assert_eq!(s.starts_since(Duration::ZERO), 0);
}

#[test]
fn cleanup_resets_systemds_failed_state_of_the_groups_units() {
    let c = cfg("n1");
    let mut s = Shell::new(c, 1);
    s.run_until(INITDEAD + ms(500));
    let t = s.now + ms(10);
    s.feed(t, Input::Command { id: 1, cmd: Command::Cleanup { group: "g1".into() } });
    let resets: Vec<String> = s
        .actions
        .iter()
        .filter(|(at, _)| *at >= t)
        .filter_map(|(_, a)| if let Action::ResetFailed { unit } = a { Some(unit.clone()) } else { None })
        .collect();
    assert_eq!(resets, vec!["svc.service".to_string()]);
}

/// A reload that changes a running group is applied whole, once the group
/// has stopped: never the timings now and the groups never.
#[test]
fn reload_changing_a_running_group_applies_whole_once_it_stopped() {
    let c = cfg("n1");
    let mut s = Shell::new(c.clone(), 1);
    s.run_until(INITDEAD + ms(500));
    assert_eq!(s.state(), Some(GroupState::Started));
    let mut new = c.clone();
    new.groups[0].resources[1] = hbd::config::Resource::unit("other.service");
    new.cluster.migration_threshold = 7;
    s.feed(s.now + ms(10), Input::Reload(Box::new(new.clone())));
    assert!(s.node.pending_reload(), "the changed group still runs: the file waits");
    // The old definition is stopped (svc.service, the VIP) ...
    s.run_until(s.now + ms(500));
    assert!(!s.node.pending_reload(), "not applied once the group stopped");
    assert_eq!(s.node.config().groups, new.groups);
    assert_eq!(s.node.config().cluster.migration_threshold, 7);
    // ... and what runs from now on is the new one.
    s.run_until(s.now + DEADTIME * 3);
    let started_other = s.actions.iter().any(|(_, a)| {
        matches!(a, Action::Start { what: hbd::config::Resource::Unit { name, .. }, .. } if name == "other.service")
    });
    let stopped_svc = s.actions.iter().any(|(_, a)| {
        matches!(a, Action::Stop { what: hbd::config::Resource::Unit { name, .. }, .. } if name == "svc.service")
    });
    assert!(stopped_svc, "the old unit was not stopped");
    assert!(started_other, "the new unit was not started");
    assert_eq!(s.state(), Some(GroupState::Started));
}

// ------------------------------------------------------------ health checks

/// `cfg` with an HTTP check on svc.service (rise 2, fall 3) and, if asked,
/// a node check.
fn cfg_checked(node_check: bool) -> Config {
    let mut text = cfg_text("n1").replace(
        "{ unit = \"svc.service\" }",
        "{ unit = \"svc.service\", check = { http = \"http://127.0.0.1/health\", interval = \"1s\", timeout = \"500ms\", rise = 2, fall = 3 } }",
    );
    if node_check {
        text.push_str("\n[[node_check]]\nname = \"uplink\"\ncheck = { tcp = \"10.0.0.1:53\", interval = \"1s\", timeout = \"500ms\", rise = 2, fall = 2 }\n");
    }
    config::parse(&text, Path::new("/etc/hbd/hbd.toml")).expect("test config")
}

/// `cfg` with svc.service's entry in g1 replaced by `resources` (TOML).
fn cfg_svc_as(resources: &str) -> Config {
    let text = cfg_text("n1").replace("{ unit = \"svc.service\" }", resources);
    config::parse(&text, Path::new("/etc/hbd/hbd.toml")).expect("test config")
}

impl Shell {
    /// The newest StartCheck for `target`: its session.
    fn check_session(&self, target: &hbd::core::CheckTarget) -> Option<u64> {
        self.actions.iter().rev().find_map(|(_, a)| match a {
            Action::StartCheck { target: t, session, .. } if t == target => Some(*session),
            _ => None,
        })
    }
    fn probe(&mut self, target: &hbd::core::CheckTarget, ok: bool) {
        let session = self.check_session(target).expect("a running check");
        let at = self.now + ms(1000);
        self.feed(
            at,
            Input::CheckResult {
                target: target.clone(),
                session,
                ok,
                detail: if ok { String::new() } else { "HTTP 500 from http://127.0.0.1/health".into() },
                latency: ms(3),
            },
        );
        self.answer(Ok(()));
    }
}

fn svc() -> hbd::core::CheckTarget {
    hbd::core::CheckTarget::Resource { group: "g1".into(), resource: 1 }
}

/// n1 alone after initdead: g1 started, its check passed `rise` (2) times.
fn healthy() -> Shell {
    let mut s = Shell::new(cfg_checked(false), 1);
    s.run_until(INITDEAD + ms(500));
    s.probe(&svc(), true);
    s.probe(&svc(), true);
    s
}

#[test]
fn a_check_runs_while_its_unit_is_up_and_gates_started() {
    let mut s = Shell::new(cfg_checked(false), 1);
    s.run_until(INITDEAD + ms(500));
    assert!(s.check_session(&svc()).is_some(), "the check begins once the unit has started");
    // Started by systemd, but not yet healthy: status says starting.
    assert_eq!(s.node.status().groups[0].state, GroupState::Starting);
    assert_eq!(s.node.status().groups[0].checks[0].state, CheckState::Rising);
    s.probe(&svc(), true);
    assert_eq!(s.node.status().groups[0].state, GroupState::Starting, "one pass of rise 2");
    s.probe(&svc(), true);
    assert_eq!(s.node.status().groups[0].state, GroupState::Started);
    assert_eq!(s.node.status().groups[0].checks[0].state, CheckState::Healthy);
}

#[test]
fn fall_failures_restart_the_unit_in_place_and_a_restart_that_does_not_rise_moves() {
    let mut s = healthy();
    let t = s.now;
    let first = s.check_session(&svc()).unwrap();
    // Two failures are not enough (fall 3).
    s.probe(&svc(), false);
    s.probe(&svc(), false);
    assert!(s.events_since(t).iter().all(|e| !matches!(e, Event::CheckFailed { .. })));
    s.probe(&svc(), false);
    let ev = s.events_since(t);
    assert!(ev.iter().any(|e| matches!(e, Event::CheckFailed { fall: 3, .. })), "{ev:?}");
    assert!(ev.iter().any(|e| matches!(e, Event::ResourceFailed { failcount: 1, .. })), "{ev:?}");
    // The sick unit still runs: stopped, then started again, and checked anew.
    let since: Vec<_> = s
        .actions
        .iter()
        .filter(|(at, a)| *at >= t && matches!(a, Action::Start { .. } | Action::Stop { .. }))
        .map(|(_, a)| a.clone())
        .collect();
    assert!(
        matches!(since.as_slice(), [Action::Stop { resource: 1, .. }, Action::Start { resource: 1, .. }]),
        "{since:?}"
    );
    assert!(s.actions.iter().any(|(at, a)| *at >= t && matches!(a, Action::StopCheck { .. })));
    let second = s.check_session(&svc()).unwrap();
    assert_ne!(first, second, "a new session after the restart");
    // A late result of the old session counts for nothing.
    let at = s.now + ms(10);
    s.feed(at, Input::CheckResult { target: svc(), session: first, ok: false, detail: "late".into(), latency: ms(1) });
    assert_eq!(s.node.status().groups[0].checks[0].failures, 0);
    // Still sick once restarted: a service coming up is not sick yet, so
    // these count for nothing ...
    for _ in 0..6 {
        s.probe(&svc(), false);
    }
    assert_eq!(s.node.status().groups[0].failcount, 1);
    assert_eq!(s.node.status().groups[0].checks[0].state, CheckState::Rising);
    assert_eq!(s.node.status().groups[0].state, GroupState::Starting);
    assert_eq!(s.state(), Some(GroupState::Started), "not given up before the start's deadline");
    // ... but not risen by its start's deadline (systemd's default
    // TimeoutStartSec and a margin), the restart has failed: given up here.
    s.run_until(s.now + Duration::from_secs(100));
    let ev = s.events_since(t);
    assert!(
        ev.iter().any(|e| matches!(e, Event::StartFailed { reason, .. }
            if reason.contains("its check did not pass 2 times in a row within") && reason.contains("HTTP 500"))),
        "{ev:?}"
    );
    assert_eq!(s.state(), Some(GroupState::Stopped), "given up after the restart that did not rise");
    assert_eq!(s.node.status().groups[0].failcount, 2);
}

/// A service that refuses connections for a while after systemd says it
/// started (a Java server, a database in recovery) is coming up, not sick:
/// more than `fall` failures before its first rise restart nothing. Once
/// healthy, `fall` counts.
#[test]
fn failures_before_a_check_first_rises_restart_nothing() {
    let mut s = Shell::new(cfg_checked(false), 1);
    s.run_until(INITDEAD + ms(500));
    let t = s.now;
    for _ in 0..10 {
        s.probe(&svc(), false);
    }
    let ev = s.events_since(t);
    assert!(!ev.iter().any(|e| matches!(e, Event::CheckFailed { .. } | Event::ResourceFailed { .. })), "{ev:?}");
    assert!(!s.actions.iter().any(|(at, a)| *at >= t && matches!(a, Action::Stop { .. })), "nothing stopped");
    assert_eq!(s.node.status().groups[0].state, GroupState::Starting);
    assert_eq!(s.node.status().groups[0].checks[0].failures, 10, "status still shows the failures");
    s.probe(&svc(), true);
    s.probe(&svc(), true);
    assert_eq!(s.node.status().groups[0].state, GroupState::Started);
    assert_eq!(s.node.status().groups[0].failcount, 0);
    for _ in 0..3 {
        s.probe(&svc(), false);
    }
    assert!(s.events_since(t).iter().any(|e| matches!(e, Event::ResourceFailed { failcount: 1, .. })));
}

/// A unit found running when hbd starts again was up before it: no start
/// of hbd's to wait for, so its check's `fall` failures count from the first
/// probe (restarted in place), with no start deadline.
#[test]
fn an_adopted_units_check_counts_fall_from_the_first_probe() {
    let mut s = Shell::adopting(&cfg_checked(false), &[0, 1]);
    let t = s.now;
    assert!(s.check_session(&svc()).is_some(), "the adopted unit is checked");
    for _ in 0..3 {
        s.probe(&svc(), false);
    }
    let ev = s.events_since(t);
    assert!(ev.iter().any(|e| matches!(e, Event::ResourceFailed { failcount: 1, .. })), "{ev:?}");
    assert!(!ev.iter().any(|e| matches!(e, Event::StartFailed { .. })), "{ev:?}");
}

/// The next resource of a group starts once the one before it is up, and
/// a resource with a check is up once its check has risen: app.service
/// waits for svc.service to answer.
#[test]
fn the_next_resource_starts_once_the_checked_one_has_risen() {
    let c = cfg_svc_as(
        "{ unit = \"svc.service\", check = { tcp = \"127.0.0.1:5432\", interval = \"1s\", timeout = \"500ms\" } },\n  { unit = \"app.service\" }",
    );
    let mut s = Shell::new(c, 1);
    s.run_until(INITDEAD + ms(500));
    assert_eq!(s.ops(Op::Start), vec![0, 1], "app.service started before svc.service's check rose");
    s.probe(&svc(), false);
    s.probe(&svc(), true);
    assert_eq!(s.ops(Op::Start), vec![0, 1], "one pass of rise 2");
    s.probe(&svc(), true);
    s.run_until(s.now + ms(500));
    assert_eq!(s.ops(Op::Start), vec![0, 1, 2]);
    assert_eq!(s.state(), Some(GroupState::Started));
}

/// A check that never rises fails the start at the resource's deadline
/// (its own `timeout` here), and says what to set.
#[test]
fn a_check_that_never_rises_fails_the_start_at_its_deadline() {
    let c = cfg_svc_as(
        "{ unit = \"svc.service\", timeout = \"20s\", check = { tcp = \"127.0.0.1:5432\", interval = \"1s\", timeout = \"500ms\" } }",
    );
    let mut s = Shell::new(c, 1);
    s.run_until(INITDEAD + ms(500));
    let t = s.now;
    assert!(s.check_session(&svc()).is_some());
    s.run_until(t + Duration::from_secs(19));
    assert!(!s.events_since(t).iter().any(|e| matches!(e, Event::StartFailed { .. })), "failed before its deadline");
    s.run_until(t + Duration::from_secs(21));
    let ev = s.events_since(t);
    assert!(
        ev.iter().any(|e| matches!(e, Event::StartFailed { reason, .. }
            if reason.contains("did not pass 2 times in a row within 20 s of its start") && reason.contains("timeout = "))),
        "{ev:?}"
    );
    assert_eq!(s.state(), Some(GroupState::Stopped));
    assert_eq!(s.node.status().groups[0].failcount, 1);
}

/// A group released while one of its resources is being stopped to be
/// started again (a sick unit restarted in place) is stopping from that
/// moment: status says so, not "starting", and the unit is not started
/// again.
#[test]
fn a_release_during_a_restart_in_place_is_stopping_at_once() {
    let mut s = healthy();
    assert_eq!(s.state(), Some(GroupState::Started));
    s.probe(&svc(), false);
    s.probe(&svc(), false);
    let session = s.check_session(&svc()).unwrap();
    let t = s.now + ms(1000);
    let detail = "HTTP 500 from http://127.0.0.1/health".to_string();
    s.feed(t, Input::CheckResult { target: svc(), session, ok: false, detail, latency: ms(3) });
    assert_eq!(s.pending, vec![("g1".to_string(), 1, Op::Stop)], "the restart in place begins with a stop");
    s.feed(t + ms(10), Input::Command { id: 1, cmd: Command::Standby { node: "n1".into() } });
    assert_eq!(s.state(), Some(GroupState::Stopping), "released with the unit's stop in flight");
    assert_eq!(s.node.status().groups[0].state, GroupState::Stopping);
    s.run_until(s.now + ms(500));
    assert_eq!(s.state(), Some(GroupState::Stopped));
    assert_eq!(s.starts_since(t), 0, "the unit of a released group was started again");
    let stops: Vec<usize> = s
        .actions
        .iter()
        .filter(|(at, _)| *at >= t)
        .filter_map(|(_, a)| if let Action::Stop { resource, .. } = a { Some(*resource) } else { None })
        .collect();
    assert_eq!(stops, vec![1, 0], "each resource is stopped once, the unit first");
}

#[test]
fn a_failing_node_check_is_standby_and_a_passing_one_ends_it() {
    let mut s = Shell::new(cfg_checked(true), 1);
    let uplink = hbd::core::CheckTarget::Node { name: "uplink".into() };
    assert!(s.check_session(&uplink).is_some(), "node checks begin at once");
    s.run_until(INITDEAD + ms(500));
    s.probe(&svc(), true);
    s.probe(&svc(), true);
    assert_eq!(s.state(), Some(GroupState::Started));
    s.probe(&uplink, false);
    assert_eq!(s.node.status().nodes[0].state, NodeState::Up, "fall 2");
    s.probe(&uplink, false);
    assert_eq!(s.node.status().nodes[0].state, NodeState::Standby);
    s.run_until(s.now + ms(500));
    assert_eq!(s.state(), Some(GroupState::Stopped), "a node in standby runs nothing");
    let beat = s.actions.iter().rev().find_map(|(_, a)| match a {
        Action::Send { msg: Message::Beat(b), .. } => Some(b.clone()),
        _ => None,
    });
    assert!(beat.unwrap().standby, "peers learn it from the beat");
    s.probe(&uplink, true);
    s.probe(&uplink, true);
    assert_eq!(s.node.status().nodes[0].state, NodeState::Up);
    s.run_until(s.now + ms(500));
    assert!(matches!(s.state(), Some(GroupState::Started | GroupState::Starting)), "{:?}", s.state());
}

/// A pass after passes moves nothing but counts, and the node takes no
/// step for it (a step is a pass over every group: with a thousand groups a
/// pass cost 35 µs, now 34 ns; `examples/core_step_cost`). What the clock
/// made due meanwhile is still done at that call, not at the next tick.
#[test]
fn a_passing_probe_takes_no_step_but_what_is_due_is_done() {
    let c = cfg_checked(true);
    let mut s = Shell::new(c.clone(), 1);
    let uplink = hbd::core::CheckTarget::Node { name: "uplink".into() };
    let pass = |s: &mut Shell, at: Time| {
        let session = s.check_session(&uplink).expect("the node check runs");
        s.feed(
            at,
            Input::CheckResult { target: uplink.clone(), session, ok: true, detail: String::new(), latency: ms(1) },
        )
    };
    let mut t = ms(10);
    for seq in 1..=5 {
        s.run_until(t);
        let ack = s.last_version();
        s.feed_all(t, hb(1, seq, from_n2(&c, GroupState::Stopped, 1, ack)));
        t += KEEPALIVE;
    }
    let heard = t - KEEPALIVE;
    assert_eq!(s.node.peer_state("n2"), Some(PeerState::Up));
    pass(&mut s, heard + ms(1));
    pass(&mut s, heard + ms(2));
    let serial = s.node.status_serial();
    assert!(pass(&mut s, heard + ms(3)).is_empty(), "a routine pass acts");
    assert_eq!(s.node.status_serial(), serial, "a routine pass changed what status shows");
    // n2 falls silent; the next call after its deadline is a pass.
    s.run_until(heard + DEADTIME - ms(50));
    assert_eq!(s.node.peer_state("n2"), Some(PeerState::Up));
    let late = heard + DEADTIME + ms(10);
    pass(&mut s, late);
    assert_eq!(s.node.peer_state("n2"), Some(PeerState::Dead), "a pass delayed what was due");
    assert!(s.events_since(late).contains(&Event::PeerDead { peer: "n2".into() }));
}

#[test]
fn a_reload_that_changes_only_a_check_restarts_the_check_not_the_group() {
    let c = cfg_checked(false);
    let mut s = Shell::new(c.clone(), 1);
    s.run_until(INITDEAD + ms(500));
    s.probe(&svc(), true);
    s.probe(&svc(), true);
    let before = s.check_session(&svc()).unwrap();
    let t = s.now;
    let mut c2 = c.clone();
    if let hbd::config::Resource::Unit { check: Some(ch), .. } = &mut c2.groups[0].resources[1] {
        ch.fall = 5;
    }
    s.feed(t + ms(10), Input::Reload(Box::new(c2)));
    s.answer(Ok(()));
    assert_eq!(s.starts_since(t), 0, "the group keeps running");
    assert!(s.actions.iter().all(|(at, a)| *at < t || !matches!(a, Action::Stop { .. })));
    let after = s.check_session(&svc()).unwrap();
    assert_ne!(before, after, "the check began again with the new settings");
}
