//! Heartbeat's classic cases, each as a short script over the deterministic
//! simulator. The simulator checks its own safety invariants after every
//! step (`advance` returns an error on a violation); the scripts assert what
//! an operator would look at: who owns the group, where it runs, and what
//! the nodes logged.
//!
//! Scripted cluster: nodes n1…nN, links l0 and l1, group g1 preferred on n1
//! (a VIP then a unit), keepalive 200 ms, warntime 800 ms, deadtime 2 s,
//! initdead 4 s, migration_threshold 3.

use std::time::Duration;

use hbd::sim::{Profile, Sim, SimOptions};

const KEEPALIVE: Duration = Duration::from_millis(200);
const DEADTIME: Duration = Duration::from_secs(2);
const INITDEAD: Duration = Duration::from_secs(4);
/// Sampling step for "at no point" checks.
const STEP: Duration = Duration::from_millis(10);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Advance the clock, failing the test with the simulator's trace if a
/// safety invariant broke.
fn advance(sim: &mut Sim, d: Duration) {
    if let Err(e) = sim.advance(d) {
        panic!("{e}");
    }
}

/// Advance in small steps for `d`, asserting after each that g1 never runs
/// on two nodes at once.
fn advance_single_runner(sim: &mut Sim, d: Duration) {
    let end = sim.now() + d;
    while sim.now() < end {
        advance(sim, STEP.min(end - sim.now()));
        let r = sim.runners("g1");
        assert!(r.len() <= 1, "g1 runs on {r:?} at t={:?}", sim.now());
    }
}

/// Advance in small steps until `cond` holds or `timeout` passes; returns
/// how long it took. With `single`, also asserts g1 never has two runners.
fn wait_for(sim: &mut Sim, timeout: Duration, single: bool, cond: impl Fn(&Sim) -> bool) -> Option<Duration> {
    let start = sim.now();
    loop {
        if cond(sim) {
            return Some(sim.now() - start);
        }
        if sim.now() - start >= timeout {
            return None;
        }
        advance(sim, STEP);
        if single {
            let r = sim.runners("g1");
            assert!(r.len() <= 1, "g1 runs on {r:?} at t={:?}", sim.now());
        }
    }
}

fn owner_is(name: &'static str) -> impl Fn(&Sim) -> bool {
    move |s: &Sim| s.owner("g1").as_deref() == Some(name)
}

/// A cluster of `opts.nodes` nodes, all booted at t=0, with g1 settled on
/// n1 (the preferred node).
fn settled(opts: SimOptions) -> Sim {
    let mut sim = Sim::new(opts);
    sim.start_all();
    let took = wait_for(&mut sim, INITDEAD + secs(1), true, owner_is("n1"));
    assert!(took.is_some(), "g1 not on n1 after start: owner {:?}", sim.owner("g1"));
    // Let the first heartbeats after the start go round.
    advance_single_runner(&mut sim, secs(1));
    assert_eq!(sim.owner("g1").as_deref(), Some("n1"));
    sim
}

fn two_nodes() -> Sim {
    settled(SimOptions::scripted(2))
}

fn events(sim: &Sim, node: &str) -> Vec<String> {
    sim.log[sim.node_names().iter().position(|n| n == node).expect("node")].clone()
}

// ------------------------------------------------------------- 1. start

#[test]
fn start_preferred_node_owns_group() {
    let mut sim = Sim::new(SimOptions::scripted(2));
    sim.start_all();
    // Within initdead + 1 s the preferred node runs g1, and only it.
    let took = wait_for(&mut sim, INITDEAD + secs(1), true, owner_is("n1"));
    assert!(took.is_some(), "n1 does not own g1 after initdead + 1 s; events: {:?}", events(&sim, "n1"));
    assert_eq!(sim.runners("g1"), vec!["n1".to_string()]);
    // And it stays so.
    advance_single_runner(&mut sim, secs(5));
    assert_eq!(sim.owner("g1").as_deref(), Some("n1"));
    assert_eq!(sim.runners("g1"), vec!["n1".to_string()]);
    assert!(sim.logged("n1", "group-started"));
    assert!(!sim.logged("n2", "group-started"));
}

// ---------------------------------------------------------- 2. failover

#[test]
fn power_cut_of_primary_fails_over_after_deadtime() {
    let mut sim = two_nodes();
    sim.power_cut("n1");
    assert!(sim.runners("g1").is_empty());
    // n2 must not act on silence shorter than deadtime (minus the keepalive
    // n1 may have been into its interval when it died)…
    advance_single_runner(&mut sim, DEADTIME - KEEPALIVE - STEP);
    assert!(sim.runners("g1").is_empty(), "n2 took over before deadtime");
    // …and must have taken over by deadtime + 1 s.
    let took = wait_for(&mut sim, secs(2), true, owner_is("n2"));
    assert!(took.is_some(), "n2 does not own g1 by deadtime + 1 s; events: {:?}", events(&sim, "n2"));
    assert!(sim.logged("n2", "peer-dead"));
    assert!(sim.logged("n2", "failover GroupMoved"), "no failover event on n2: {:?}", events(&sim, "n2"));
    assert!(sim.logged("n2", "reason: Failover"));
}

/// Where each node's event log stands now, to look only at what follows.
fn mark(sim: &Sim) -> Vec<usize> {
    sim.log.iter().map(|l| l.len()).collect()
}

/// Whether `node` logged a line containing `needle` after `mark`.
fn logged_since(sim: &Sim, mark: &[usize], node: &str, needle: &str) -> bool {
    let i = sim.node_names().iter().position(|n| n == node).expect("node");
    sim.log[i][mark[i]..].iter().any(|l| l.contains(needle))
}

// ---------------------------------------------------------- 3. failback

/// n1 dies, n2 takes over; then n1 boots again.
fn failed_over(auto_failback: bool) -> Sim {
    let mut sim = settled(SimOptions { auto_failback, ..SimOptions::scripted(2) });
    sim.power_cut("n1");
    assert!(wait_for(&mut sim, DEADTIME + secs(1), true, owner_is("n2")).is_some());
    advance_single_runner(&mut sim, secs(1));
    sim.boot_node("n1");
    sim
}

#[test]
fn returning_primary_takes_group_back_with_auto_failback() {
    let mut sim = failed_over(true);
    let m = mark(&sim);
    // The hand-off is two-phase: n2 stops, then n1 starts. Sampled every
    // 10 ms, the group never runs on both.
    let took = wait_for(&mut sim, secs(5), true, owner_is("n1"));
    assert!(took.is_some(), "n1 did not take g1 back; n1 events: {:?}", events(&sim, "n1"));
    advance_single_runner(&mut sim, secs(3));
    assert_eq!(sim.runners("g1"), vec!["n1".to_string()]);
    assert!(logged_since(&sim, &m, "n2", r#"release Release { group: "g1", reason: Failback }"#));
    assert!(
        logged_since(&sim, &m, "n2", r#"GroupMoved { group: "g1", from: "n2", to: "n1", reason: Failback }"#),
        "n2 events: {:?}",
        events(&sim, "n2")
    );
}

#[test]
fn returning_primary_logs_failback_from_previous_owner() {
    let mut sim = failed_over(true);
    let m = mark(&sim);
    assert!(wait_for(&mut sim, secs(5), true, owner_is("n1")).is_some());
    // The node that takes the group back should say where it came from and why.
    assert!(
        logged_since(&sim, &m, "n1", r#"GroupMoved { group: "g1", from: "n2", to: "n1", reason: Failback }"#),
        "n1 events: {:?}",
        events(&sim, "n1")
    );
}

#[test]
fn returning_primary_leaves_group_alone_without_auto_failback() {
    let mut sim = failed_over(false);
    // n1 rejoins (initdead passes, the nodes hear each other), but the
    // group stays where it runs.
    advance_single_runner(&mut sim, INITDEAD + secs(4));
    assert_eq!(sim.core("n2").unwrap().peer_state("n1"), Some(hbd::core::node::PeerState::Up));
    assert_eq!(sim.owner("g1").as_deref(), Some("n2"));
    assert_eq!(sim.runners("g1"), vec!["n2".to_string()]);
}

// ---------------------------------------------------------- 4. commands

#[test]
fn standby_unstandby_takeover_and_move() {
    use hbd::core::Command;
    let mut sim = two_nodes();

    // hactl standby (at n1, for n1): g1 goes to n2.
    let r = sim.command("n1", Command::Standby { node: "n1".into() });
    assert_eq!(r, Some(Ok(())));
    assert!(wait_for(&mut sim, secs(2), true, owner_is("n2")).is_some(), "standby did not move g1");
    assert!(sim.logged("n2", "reason: Standby"), "n2 events: {:?}", events(&sim, "n2"));
    assert_eq!(sim.shown("n1").unwrap().nodes[0].state, "standby");
    // A node in standby takes nothing, even when it is preferred.
    advance_single_runner(&mut sim, secs(3));
    assert_eq!(sim.owner("g1").as_deref(), Some("n2"));

    // hactl unstandby: with auto_failback the preferred node takes g1 back.
    let r = sim.command("n1", Command::Unstandby { node: "n1".into() });
    assert_eq!(r, Some(Ok(())));
    assert!(wait_for(&mut sim, secs(2), true, owner_is("n1")).is_some(), "unstandby did not return g1");

    // hactl takeover n2 (issued at n1): n2 claims all groups.
    let r = sim.command("n1", Command::Takeover { node: "n2".into() });
    assert_eq!(r, Some(Ok(())));
    assert!(wait_for(&mut sim, secs(2), true, owner_is("n2")).is_some(), "takeover did not move g1");
    advance_single_runner(&mut sim, secs(3));
    assert_eq!(sim.owner("g1").as_deref(), Some("n2"), "g1 did not stay with the node that took it over");

    // hactl move g1 n1 (issued at n2).
    let r = sim.command("n2", Command::Move { group: "g1".into(), node: "n1".into() });
    assert_eq!(r, Some(Ok(())));
    assert!(wait_for(&mut sim, secs(2), true, owner_is("n1")).is_some(), "move did not move g1");
    assert!(sim.logged("n1", "reason: Move"));
    advance_single_runner(&mut sim, secs(3));
    assert_eq!(sim.owner("g1").as_deref(), Some("n1"));
}

#[test]
fn commands_with_unknown_names_are_refused() {
    use hbd::core::{Command, CommandError};
    let mut sim = two_nodes();
    let before = mark(&sim);
    assert_eq!(
        sim.command("n1", Command::Move { group: "nope".into(), node: "n2".into() }),
        Some(Err(CommandError::NoSuchGroup("nope".into())))
    );
    assert_eq!(
        sim.command("n1", Command::Move { group: "g1".into(), node: "n9".into() }),
        Some(Err(CommandError::NoSuchNode("n9".into())))
    );
    assert_eq!(
        sim.command("n2", Command::Standby { node: "n9".into() }),
        Some(Err(CommandError::NoSuchNode("n9".into())))
    );
    assert_eq!(
        sim.command("n2", Command::Unstandby { node: "n9".into() }),
        Some(Err(CommandError::NoSuchNode("n9".into())))
    );
    assert_eq!(
        sim.command("n2", Command::Takeover { node: "n9".into() }),
        Some(Err(CommandError::NoSuchNode("n9".into())))
    );
    assert_eq!(
        sim.command("n1", Command::Cleanup { group: "nope".into() }),
        Some(Err(CommandError::NoSuchGroup("nope".into())))
    );
    // A refused command changes nothing.
    advance_single_runner(&mut sim, secs(3));
    assert_eq!(sim.owner("g1").as_deref(), Some("n1"));
    assert!(!logged_since(&sim, &before, "n1", "standby"));
    assert!(!logged_since(&sim, &before, "n2", "standby"));
}

// ------------------------------------------------------------ 5. links

#[test]
fn one_link_down_is_logged_but_no_failover() {
    let mut sim = two_nodes();
    let m = mark(&sim);
    // Cut l0 between n1 and n2; l1 still carries the heartbeats.
    sim.set_link("n1", "n2", 0, false);
    advance_single_runner(&mut sim, DEADTIME + secs(1));
    assert!(
        logged_since(&sim, &m, "n1", r#"link-down LinkDown { peer: "n2", link: "l0" }"#),
        "{:?}",
        events(&sim, "n1")
    );
    assert!(
        logged_since(&sim, &m, "n2", r#"link-down LinkDown { peer: "n1", link: "l0" }"#),
        "{:?}",
        events(&sim, "n2")
    );
    // Only that link: l1 stays up, the peer stays up, nothing moves.
    assert!(!logged_since(&sim, &m, "n1", "l1"));
    assert!(!logged_since(&sim, &m, "n2", "l1"));
    assert!(!logged_since(&sim, &m, "n1", "peer-dead"));
    assert!(!logged_since(&sim, &m, "n2", "peer-dead"));
    advance_single_runner(&mut sim, secs(5));
    assert_eq!(sim.owner("g1").as_deref(), Some("n1"));
    assert_eq!(sim.runners("g1"), vec!["n1".to_string()]);
    let links = &sim.shown("n2").unwrap().nodes[0].links;
    assert_eq!(links[0].1, "down", "{links:?}");
    assert_eq!(links[1].1, "up", "{links:?}");

    // Restore it: link-up on both sides, within a keepalive or two.
    let m = mark(&sim);
    sim.set_link("n1", "n2", 0, true);
    advance_single_runner(&mut sim, secs(1));
    assert!(logged_since(&sim, &m, "n1", r#"link-up LinkUp { peer: "n2", link: "l0" }"#), "{:?}", events(&sim, "n1"));
    assert!(logged_since(&sim, &m, "n2", r#"link-up LinkUp { peer: "n1", link: "l0" }"#), "{:?}", events(&sim, "n2"));
    assert_eq!(sim.owner("g1").as_deref(), Some("n1"));
}

// ------------------------------------------------------- 6. split brain

#[test]
fn split_brain_without_tie_break_heals_to_one_owner() {
    let mut sim = two_nodes();
    // Both links cut: each side thinks the other is dead. Without ping
    // nodes or fencing both run g1 — that is what a split brain is.
    sim.partition(&["n1"]);
    advance(&mut sim, DEADTIME + secs(1));
    let mut both = sim.runners("g1");
    both.sort();
    assert_eq!(both, vec!["n1".to_string(), "n2".to_string()]);

    // Heal: within deadtime + 1 s exactly one node runs it.
    let m = mark(&sim);
    sim.heal();
    let took = wait_for(&mut sim, DEADTIME + secs(1), false, |s| s.runners("g1").len() == 1 && s.owner("g1").is_some());
    assert!(took.is_some(), "after heal g1 runs on {:?}", sim.runners("g1"));
    advance_single_runner(&mut sim, secs(3));
    assert_eq!(sim.runners("g1").len(), 1);
    let moved = ["n1", "n2"]
        .iter()
        .any(|n| logged_since(&sim, &m, n, "split-brain") || logged_since(&sim, &m, n, "group-moved"));
    assert!(moved, "no split-brain or group-moved event: {:?} / {:?}", events(&sim, "n1"), events(&sim, "n2"));
}

#[test]
fn healed_split_brain_is_logged_as_such() {
    let mut sim = two_nodes();
    sim.partition(&["n1"]);
    advance(&mut sim, DEADTIME + secs(1));
    assert_eq!(sim.runners("g1").len(), 2);
    let m = mark(&sim);
    sim.heal();
    advance(&mut sim, DEADTIME + secs(1));
    assert!(
        logged_since(&sim, &m, "n1", "split-brain") || logged_since(&sim, &m, "n2", "split-brain"),
        "n1: {:?}\nn2: {:?}",
        events(&sim, "n1"),
        events(&sim, "n2")
    );
}

// ------------------------------------------------------------- 7. ping

fn ping_cluster() -> Sim {
    let mut sim = settled(SimOptions { profile: Profile::PingTieBreak, ..SimOptions::scripted(2) });
    // Let both nodes' first ping results pass the hysteresis.
    advance_single_runner(&mut sim, DEADTIME + secs(1));
    assert_eq!(sim.owner("g1").as_deref(), Some("n1"));
    assert_eq!(sim.core("n1").unwrap().status().nodes[0].ping, Some(1));
    sim
}

#[test]
fn owner_losing_the_ping_host_yields_to_peer_after_hysteresis() {
    let mut sim = ping_cluster();
    let m = mark(&sim);
    // n1 no longer reaches the ping host; n2 still does.
    sim.set_ping_reach("n1", false);
    // One lost echo must not move anything: the count has to hold about a
    // deadtime first.
    advance_single_runner(&mut sim, DEADTIME - STEP);
    assert_eq!(sim.owner("g1").as_deref(), Some("n1"), "moved before the ping hysteresis");
    let took = wait_for(&mut sim, secs(2), true, owner_is("n2"));
    assert!(took.is_some(), "g1 did not move to n2; n1 events: {:?}", events(&sim, "n1"));
    assert!(
        logged_since(&sim, &m, "n1", r#"release Release { group: "g1", reason: Ping }"#),
        "{:?}",
        events(&sim, "n1")
    );
    assert!(logged_since(&sim, &m, "n2", "reason: Ping"), "{:?}", events(&sim, "n2"));
    // n1 keeps away from it while it reaches less, preferred or not.
    advance_single_runner(&mut sim, secs(5));
    assert_eq!(sim.owner("g1").as_deref(), Some("n2"));

    // The ping host comes back for n1: with auto_failback g1 returns.
    sim.set_ping_reach("n1", true);
    assert!(wait_for(&mut sim, DEADTIME + secs(2), true, owner_is("n1")).is_some());
}

#[test]
fn isolated_owner_gives_group_up_before_peer_takes_it() {
    let mut sim = ping_cluster();
    let m = mark(&sim);
    // n1 is cut off from n2 and from the ping host alike.
    sim.isolate_node("n1");
    // n1 must have stopped g1 before n2 starts it: sampled every 10 ms,
    // never two runners (the PingTieBreak profile also checks every step).
    let released = wait_for(&mut sim, DEADTIME, true, |s| s.runners("g1").is_empty());
    assert!(released.is_some(), "isolated n1 still runs g1 after deadtime");
    assert!(logged_since(&sim, &m, "n1", "release Release"), "{:?}", events(&sim, "n1"));
    let took = wait_for(&mut sim, secs(2), true, owner_is("n2"));
    assert!(took.is_some(), "n2 did not take g1; n2 events: {:?}", events(&sim, "n2"));
    assert!(logged_since(&sim, &m, "n2", "failover GroupMoved"));
    // The isolated node stays out of it.
    advance_single_runner(&mut sim, secs(5));
    assert_eq!(sim.runners("g1"), vec!["n2".to_string()]);
}

#[test]
fn peer_that_left_and_returned_during_isolation_is_not_ignored() {
    let mut sim = ping_cluster();
    // n2 stops hbd cleanly: n1 knows it left and runs nothing.
    sim.shutdown("n2");
    advance_single_runner(&mut sim, secs(1));
    assert!(sim.logged("n1", "peer-left"), "{:?}", events(&sim, "n1"));
    // n1 is cut off and gives g1 up; meanwhile n2 boots, cannot hear n1,
    // and after initdead takes g1 (it reaches the ping host).
    sim.isolate_node("n1");
    advance_single_runner(&mut sim, DEADTIME);
    sim.boot_node("n2");
    let took = wait_for(&mut sim, INITDEAD + secs(2), true, owner_is("n2"));
    assert!(took.is_some(), "n2 did not take g1; n2 events: {:?}", events(&sim, "n2"));
    // n1 reaches the ping host again a little before it hears n2. The n2
    // it last knew had left; the one running g1 now is news to it, and it
    // must wait to hear before it claims anything.
    sim.set_ping_reach("n1", true);
    advance_single_runner(&mut sim, ms(500));
    sim.heal();
    // Never two runners; with auto_failback g1 comes back to n1 through a
    // hand-off.
    let back = wait_for(&mut sim, DEADTIME + secs(3), true, owner_is("n1"));
    assert!(back.is_some(), "g1 did not return to n1; n1 events: {:?}", events(&sim, "n1"));
}

// ------------------------------------------------------ 8. unit failure

fn failcount(sim: &Sim, node: &str) -> u32 {
    sim.core(node).unwrap().status().groups[0].failcount
}

#[test]
fn unit_failures_restart_in_place_then_migrate_at_threshold() {
    use hbd::core::Command;
    let mut sim = two_nodes();
    // Two failures (threshold is 3): the unit is restarted where it runs.
    for n in 1..=2 {
        let m = mark(&sim);
        sim.fail_unit("n1", "g1", 1);
        assert!(logged_since(&sim, &m, "n1", &format!("failcount: {n}")), "{:?}", events(&sim, "n1"));
        let back = wait_for(&mut sim, secs(1), true, owner_is("n1"));
        assert!(back.is_some(), "unit not restarted on n1 after failure {n}");
        assert_eq!(failcount(&sim, "n1"), n);
        advance_single_runner(&mut sim, secs(1));
        assert_eq!(sim.owner("g1").as_deref(), Some("n1"));
    }
    assert!(sim.logged("n1", "unit-failure"));

    // The third reaches migration_threshold: the group moves to n2.
    let m = mark(&sim);
    sim.fail_unit("n1", "g1", 1);
    assert_eq!(failcount(&sim, "n1"), 3);
    let moved = wait_for(&mut sim, secs(2), true, owner_is("n2"));
    assert!(moved.is_some(), "g1 did not move at the threshold; n1 events: {:?}", events(&sim, "n1"));
    assert!(logged_since(&sim, &m, "n2", "reason: UnitFailure"), "{:?}", events(&sim, "n2"));
    // n1 is marked failed for g1 and does not take it back, though preferred.
    advance_single_runner(&mut sim, secs(5));
    assert_eq!(sim.owner("g1").as_deref(), Some("n2"));

    // hactl cleanup g1: failures forgotten, so the preferred node may run
    // it again (auto_failback) and its failcount starts from zero.
    assert_eq!(sim.command("n2", Command::Cleanup { group: "g1".into() }), Some(Ok(())));
    assert!(wait_for(&mut sim, secs(3), true, owner_is("n1")).is_some(), "g1 did not return after cleanup");
    assert_eq!(failcount(&sim, "n1"), 0);
    assert_eq!(failcount(&sim, "n2"), 0);
}

// ----------------------------------------------------- 9. start failure

#[test]
fn start_failure_releases_group_to_other_node() {
    let mut sim = Sim::new(SimOptions::scripted(2));
    // The unit of g1 will fail to start on n1.
    sim.fail_next_start("n1", "g1", 1);
    sim.start_all();
    let took = wait_for(&mut sim, INITDEAD + secs(1), true, owner_is("n2"));
    assert!(took.is_some(), "g1 did not start on n2; n1 events: {:?}", events(&sim, "n1"));
    assert!(sim.logged("n1", "start-failed"), "{:?}", events(&sim, "n1"));
    // n1 stopped what it had started (the VIP) and is marked failed for g1:
    // it does not try again although it is preferred.
    advance_single_runner(&mut sim, secs(5));
    assert_eq!(sim.runners("g1"), vec!["n2".to_string()]);
    assert_eq!(sim.owner("g1").as_deref(), Some("n2"));
}

// ---------------------------------------------------- 10. graceful leave

#[test]
fn graceful_shutdown_hands_over_at_once() {
    let mut sim = two_nodes();
    // systemctl stop hbd on n1: it releases g1 and tells n2, which takes
    // over without waiting for deadtime.
    sim.shutdown("n1");
    let took = wait_for(&mut sim, ms(500), true, owner_is("n2"));
    assert!(took.is_some(), "n2 does not own g1 within 500 ms; n2 events: {:?}", events(&sim, "n2"));
    assert!(sim.core("n1").is_none(), "n1's hbd did not exit");
    assert!(sim.logged("n2", "peer-left"), "{:?}", events(&sim, "n2"));
    assert!(sim.logged("n2", "reason: Leave"), "{:?}", events(&sim, "n2"));
    assert!(!sim.logged("n2", "peer-dead"));
    advance_single_runner(&mut sim, DEADTIME + secs(1));
    assert_eq!(sim.owner("g1").as_deref(), Some("n2"));
}

// ---------------------------------------------------- 11. three nodes

fn three_nodes() -> Sim {
    settled(SimOptions { profile: Profile::Quorum, ..SimOptions::scripted(3) })
}

#[test]
fn three_nodes_owner_dies_exactly_one_takes_over() {
    let mut sim = three_nodes();
    sim.power_cut("n1");
    let took = wait_for(&mut sim, DEADTIME + secs(1), true, |s| s.owner("g1").is_some());
    assert!(took.is_some(), "nobody took g1 over");
    let owner = sim.owner("g1").unwrap();
    assert!(owner == "n2" || owner == "n3", "{owner}");
    advance_single_runner(&mut sim, secs(5));
    assert_eq!(sim.runners("g1"), vec![owner.clone()]);
    assert!(sim.logged(&owner, "failover GroupMoved"));
}

#[test]
fn failed_stop_keeps_group_down_also_on_a_node_that_booted_later() {
    let mut sim = three_nodes();
    // g1 is moved to n3, but n1's VIP will not go away: g1 is blocked on n1,
    // and n1 then stops hbd, leaving the address up.
    sim.fail_next_stop("n1", "g1", 0);
    let moved = sim.command("n2", hbd::core::Command::Move { group: "g1".into(), node: "n3".into() });
    assert_eq!(moved, Some(Ok(())));
    advance_single_runner(&mut sim, secs(1));
    assert!(sim.logged("n1", "stop-failed"), "{:?}", events(&sim, "n1"));
    sim.shutdown("n1");
    advance_single_runner(&mut sim, secs(1));
    assert_eq!(sim.runners("g1"), vec!["n1".to_string()]);
    // n3, where g1 is to go, reboots: it never hears n1's last word, only
    // n2, which did.
    sim.power_cut("n3");
    advance_single_runner(&mut sim, ms(500));
    sim.boot_node("n3");
    // Well past n3's initdead n1 is dead to it, but g1 must stay down: it
    // may still run on n1.
    advance_single_runner(&mut sim, INITDEAD + DEADTIME * 2);
    assert_eq!(sim.runners("g1"), vec!["n1".to_string()], "g1 started while blocked on n1");
    let g = &sim.shown("n3").unwrap().groups[0];
    assert_eq!(g.state, "blocked", "{g:?}");
    assert!(g.note.contains("n2 reports a failed stop") && g.note.contains("hactl cleanup g1"), "{g:?}");
}

#[test]
fn command_given_after_a_restart_is_newer_than_one_given_before() {
    use hbd::core::Command;
    let mut sim = two_nodes();
    // An operator on n2 pins g1 to n2; it moves there.
    let r = sim.command("n2", Command::Move { group: "g1".into(), node: "n2".into() });
    assert_eq!(r, Some(Ok(())));
    assert!(wait_for(&mut sim, secs(2), true, owner_is("n2")).is_some());
    // n2 reboots cut off from n1 and, alone, is told to pin g1 to n1.
    sim.power_cut("n2");
    sim.partition(&["n2"]);
    advance(&mut sim, ms(500));
    sim.boot_node("n2");
    advance(&mut sim, ms(500));
    let r = sim.command("n2", Command::Move { group: "g1".into(), node: "n1".into() });
    assert_eq!(r, Some(Ok(())));
    advance(&mut sim, INITDEAD);
    // Both ran g1 meanwhile. Once they talk again the later command holds
    // on both: g1 on n1 alone.
    assert_eq!(sim.runners("g1").len(), 2);
    sim.heal();
    let took = wait_for(&mut sim, DEADTIME + secs(3), false, |s| {
        s.owner("g1").as_deref() == Some("n1") && s.runners("g1").len() == 1
    });
    assert!(took.is_some(), "g1 not on n1; runners {:?}; n1 events: {:?}", sim.runners("g1"), events(&sim, "n1"));
    advance_single_runner(&mut sim, secs(5));
    assert_eq!(sim.runners("g1"), vec!["n1".to_string()]);
}

#[test]
fn three_nodes_minority_gives_up_and_majority_runs() {
    let mut sim = three_nodes();
    let m = mark(&sim);
    // n1 (the owner) ends up alone: it loses quorum and stops g1; the
    // majority n2+n3 takes it over. Never two runners on the way.
    sim.partition(&["n1"]);
    let took = wait_for(&mut sim, DEADTIME + secs(1), true, |s| s.owner("g1").is_some_and(|o| o == "n2" || o == "n3"));
    assert!(took.is_some(), "the majority did not take g1: runners {:?}", sim.runners("g1"));
    assert!(logged_since(&sim, &m, "n1", "quorum-lost"), "{:?}", events(&sim, "n1"));
    assert!(logged_since(&sim, &m, "n1", "reason: Quorum"), "{:?}", events(&sim, "n1"));
    assert!(!sim.core("n1").unwrap().is_quorate());
    // The minority refuses commands that would move groups.
    assert_eq!(
        sim.command("n1", hbd::core::Command::Move { group: "g1".into(), node: "n1".into() }),
        Some(Err(hbd::core::CommandError::NoQuorum))
    );
    assert!(sim.core("n2").unwrap().is_quorate());
    advance_single_runner(&mut sim, secs(5));
    assert_eq!(sim.runners("g1").len(), 1);
    assert_ne!(sim.runners("g1")[0], "n1");

    // Healed: n1 regains quorum and, preferred, takes g1 back cleanly.
    sim.heal();
    assert!(wait_for(&mut sim, DEADTIME + secs(2), true, owner_is("n1")).is_some());
    assert!(sim.logged("n1", "quorum-regained"));
}

// ------------------------------------------------------- 12. fencing

#[test]
fn fencing_survivor_fences_before_starting() {
    let mut sim = settled(SimOptions { profile: Profile::Fencing, ..SimOptions::scripted(2) });
    let m = mark(&sim);
    // The owner is cut off (both links). n2 must not start g1 on its say-so:
    // it fences n1 first (the profile checks never two runners).
    sim.partition(&["n1"]);
    let took = wait_for(&mut sim, DEADTIME + secs(3), true, owner_is("n2"));
    assert!(took.is_some(), "n2 did not take g1; n2 events: {:?}", events(&sim, "n2"));
    let i = sim.node_names().iter().position(|n| n == "n2").unwrap();
    let since = &sim.log[i][m[i]..];
    let pos = |needle: &str| since.iter().position(|l| l.contains(needle));
    let fence_started = pos(r#"fence-started FenceStarted { peer: "n1" }"#).expect("fence-started logged");
    let fenced = pos(r#"fenced Fenced { peer: "n1" }"#).expect("fenced logged");
    let started = pos(r#"group-started GroupStarted { group: "g1" }"#).expect("group-started logged");
    assert!(fence_started < fenced && fenced < started, "order on n2: {since:?}");
    // The fenced node was power-cycled: it runs nothing.
    sim.heal();
    advance_single_runner(&mut sim, INITDEAD + secs(4));
    assert_eq!(sim.core("n1").map(|c| c.generation()), Some(2), "n1 did not reboot after fencing");
    assert_eq!(sim.runners("g1").len(), 1);
    assert!(sim.owner("g1").is_some());
}

// ----------------------------------------------------- 13. generation

#[test]
fn rebooted_node_has_higher_generation_and_peers_log_restart() {
    let mut sim = two_nodes();
    let before = sim.core("n1").unwrap().generation();
    let m = mark(&sim);
    sim.power_cut("n1");
    advance_single_runner(&mut sim, secs(1));
    sim.boot_node("n1");
    let after = sim.core("n1").unwrap().generation();
    assert!(after > before, "generation {before} -> {after}");
    advance_single_runner(&mut sim, secs(2));
    assert!(
        logged_since(&sim, &m, "n2", &format!(r#"peer-restarted PeerRestarted {{ peer: "n1", generation: {after} }}"#)),
        "{:?}",
        events(&sim, "n2")
    );
    let n1 = sim.core("n2").unwrap().status().nodes.into_iter().find(|n| n.name == "n1").unwrap();
    assert_eq!(n1.generation, after);
    // And the cluster settles back on n1 (auto_failback).
    assert!(wait_for(&mut sim, INITDEAD + secs(2), true, owner_is("n1")).is_some());
}

#[test]
fn a_move_to_a_node_in_standby_is_refused_and_changes_nothing() {
    use hbd::core::{Command, CommandError};
    let mut sim = two_nodes();
    assert_eq!(sim.command("n1", Command::Standby { node: "n2".into() }), Some(Ok(())));
    advance(&mut sim, ms(500));
    let r = sim.command("n1", Command::Move { group: "g1".into(), node: "n2".into() });
    let Some(Err(CommandError::Invalid(msg))) = r else { panic!("move to a standby node accepted: {r:?}") };
    assert!(msg.contains("n2 is in standby") && msg.contains("hactl unstandby n2"), "{msg}");
    let g = sim.shown("n1").unwrap().groups[0].clone();
    assert!(!g.note.contains("pinned"), "the refused move pinned g1: {g:?}");
    advance(&mut sim, secs(2));
    assert_eq!(sim.owner("g1").as_deref(), Some("n1"));
}
