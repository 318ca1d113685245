//! The supervision contract, scripted over the simulator's model of
//! systemd: units stopped behind hbd's back, non-zero exits on SIGTERM,
//! jobs that never finish, fail counts that expire. Each script asserts
//! what an operator sees: where the group runs, what status says of the
//! unit, what the node logged.
//!
//! Scripted cluster: n1, n2; group g1 preferred on n1 = a VIP, then unit
//! svc0-1.service (the simulated systemd gives its jobs 2 s; hbd adds a
//! 5 s margin); migration_threshold 3; failure_timeout 30 s.

use std::time::Duration;

use hbd::core::{Command, Op};
use hbd::sim::{Sim, SimOptions};

const INITDEAD: Duration = Duration::from_secs(4);
const STEP: Duration = Duration::from_millis(10);
/// The unit's own 2 s job timeout plus hbd's margin.
const JOB_DEADLINE: Duration = Duration::from_secs(7);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn advance(sim: &mut Sim, d: Duration) {
    let end = sim.now() + d;
    while sim.now() < end {
        if let Err(e) = sim.advance(STEP.min(end - sim.now())) {
            panic!("{e}");
        }
        let r = sim.runners("g1");
        assert!(r.len() <= 1, "g1 runs on {r:?} at t={:?}", sim.now());
    }
}

fn wait_for(sim: &mut Sim, timeout: Duration, cond: impl Fn(&Sim) -> bool) -> bool {
    let end = sim.now() + timeout;
    while !cond(sim) {
        if sim.now() >= end {
            return false;
        }
        advance(sim, STEP);
    }
    true
}

fn owner_is(name: &'static str) -> impl Fn(&Sim) -> bool {
    move |s: &Sim| s.owner("g1").as_deref() == Some(name)
}

fn two_nodes() -> Sim {
    let mut sim = Sim::new(SimOptions::scripted(2));
    sim.start_all();
    assert!(wait_for(&mut sim, INITDEAD + secs(1), owner_is("n1")), "g1 not on n1 after start");
    advance(&mut sim, secs(1));
    sim
}

/// (group state, unit state) as `hactl status` on `node` shows them.
fn shown(sim: &Sim, node: &str) -> (String, String) {
    let g = sim.shown(node).unwrap().groups.remove(0);
    (g.state, g.resources[1].2.clone())
}

fn events(sim: &Sim, node: &str) -> Vec<String> {
    sim.log[sim.node_names().iter().position(|n| n == node).unwrap()].clone()
}

fn logged(sim: &Sim, node: &str, needle: &str) -> bool {
    events(sim, node).iter().any(|l| l.contains(needle))
}

#[test]
fn a_unit_that_ends_on_its_own_is_restarted_and_the_journal_says_how_it_ended() {
    let mut sim = two_nodes();
    sim.unit_ends("n1", "g1", 1, 0);
    assert!(
        logged(&sim, "n1", "its main process exited with status 0 (it ended on its own, or it was stopped"),
        "{:?}",
        events(&sim, "n1")
    );
    let back = |s: &Sim| shown(s, "n1") == ("started".into(), "active (running)".into());
    assert!(wait_for(&mut sim, secs(1), back), "not restarted: {:?}", shown(&sim, "n1"));
    sim.unit_ends("n1", "g1", 1, -1);
    assert!(logged(&sim, "n1", "its main process was killed by SIGHUP"), "{:?}", events(&sim, "n1"));
    assert!(wait_for(&mut sim, secs(1), back), "not restarted: {:?}", shown(&sim, "n1"));
    // systemctl stop: SIGTERM, said as before.
    sim.stop_unit_outside("n1", "g1", 1);
    assert!(
        logged(&sim, "n1", "it was stopped outside hbd (by systemctl or a dependency)"),
        "{:?}",
        events(&sim, "n1")
    );
}

#[test]
fn a_unit_restarted_outside_hbd_is_no_failure_unless_its_start_fails() {
    let mut sim = two_nodes();
    let back = |s: &Sim| shown(s, "n1") == ("started".into(), "active (running)".into());
    let failcount = |s: &Sim| s.core("n1").unwrap().status().groups[0].failcount;
    // More restarts than migration_threshold (3): an operator's `systemctl
    // restart` after a change of the service's configuration.
    for n in 1..=4 {
        sim.restart_unit_outside("n1", "g1", 1, true);
        // Status says the truth: the unit is down, within systemd's job,
        // and the group not fully started.
        assert_eq!(shown(&sim, "n1"), ("starting".into(), "inactive (dead)".into()), "restart {n}");
        assert_eq!(
            sim.shown("n1").unwrap().groups[0].note,
            "svc0-1.service went down within a job of systemd's (systemctl restart?); waiting for the job to bring it back"
        );
        assert!(wait_for(&mut sim, secs(1), back), "not back after restart {n}: {:?}", shown(&sim, "n1"));
        assert_eq!(failcount(&sim), 0, "restart {n} counted as a failure: {:?}", events(&sim, "n1"));
        assert_eq!(sim.owner("g1").as_deref(), Some("n1"));
    }
    assert_eq!(events(&sim, "n1").iter().filter(|e| e.starts_with("unit-restarted")).count(), 4);
    assert_eq!(sim.shown("n1").unwrap().groups[0].note, "", "the note outlived the restart");
    assert!(!logged(&sim, "n1", "unit-failure"), "{:?}", events(&sim, "n1"));
    // A restart whose start fails is a failure: hbd starts the unit again.
    sim.restart_unit_outside("n1", "g1", 1, false);
    assert!(wait_for(&mut sim, secs(1), |s| failcount(s) == 1), "{:?}", events(&sim, "n1"));
    assert!(
        logged(&sim, "n1", "it was restarted outside hbd, and the restart left it failed (exit-code 1)"),
        "{:?}",
        events(&sim, "n1")
    );
    assert!(wait_for(&mut sim, secs(1), back), "not restarted by hbd: {:?}", shown(&sim, "n1"));
    // And a plain `systemctl stop`, reported down with its job on the unit
    // and then again without, is one failure, as before.
    sim.stop_unit_outside("n1", "g1", 1);
    assert!(wait_for(&mut sim, secs(1), |s| failcount(s) == 2), "{:?}", events(&sim, "n1"));
    assert_eq!(events(&sim, "n1").iter().filter(|e| e.contains("stopped outside hbd")).count(), 1);
}

#[test]
fn unit_stopped_outside_hbd_is_restarted_then_moves_at_the_threshold() {
    let mut sim = two_nodes();
    assert_eq!(shown(&sim, "n1"), ("started".into(), "active (running)".into()));
    for n in 1..=2u32 {
        sim.stop_unit_outside("n1", "g1", 1);
        // Status says the truth at once: the unit is down, the group is
        // being brought back.
        let (group, unit) = shown(&sim, "n1");
        assert_eq!(unit, "inactive (dead)");
        assert_eq!(group, "starting");
        assert!(logged(&sim, "n1", "stopped outside hbd"), "{:?}", events(&sim, "n1"));
        let back = |s: &Sim| shown(s, "n1") == ("started".into(), "active (running)".into());
        assert!(wait_for(&mut sim, secs(1), back), "not restarted after stop {n}: {:?}", shown(&sim, "n1"));
        assert!(sim.is_running("n1", "g1", 1));
        assert_eq!(sim.core("n1").unwrap().status().groups[0].failcount, n);
    }
    // The third reaches migration_threshold: the group moves to n2.
    sim.stop_unit_outside("n1", "g1", 1);
    assert!(wait_for(&mut sim, secs(3), owner_is("n2")), "g1 did not move: {:?}", events(&sim, "n1"));
    assert!(!sim.is_running("n1", "g1", 1));
}

#[test]
fn a_node_that_does_not_run_the_group_shows_the_owners_unit_as_its_systemd_reports_it() {
    let mut sim = two_nodes();
    assert_eq!(shown(&sim, "n2"), ("started".into(), "active (running) on n1".into()));
    let vip = |s: &Sim| s.shown("n2").unwrap().groups.remove(0).resources[0].2.clone();
    assert_eq!(vip(&sim), "started on n1");
    sim.stop_unit_outside("n1", "g1", 1);
    // n2 hears of it with n1's next state, within milliseconds, and never
    // says "active" while n1's unit is down (the simulator checks that on
    // every step). n1 restarts it at once: a restart that takes a few
    // milliseconds may be over before n2 could have heard of it.
    let (mut n1_down, mut n2_saw) = (Duration::ZERO, false);
    let ms = Duration::from_millis(1);
    for _ in 0..100 {
        sim.advance(ms).unwrap();
        n1_down += if shown(&sim, "n1").1 == "inactive (dead)" { ms } else { Duration::ZERO };
        n2_saw |= shown(&sim, "n2").1 == "inactive (dead) on n1";
    }
    assert!(n2_saw || n1_down <= Duration::from_millis(5), "n1 was down {n1_down:?}, n2 never said so");
    let back = |s: &Sim| shown(s, "n2").1 == "active (running) on n1";
    assert!(wait_for(&mut sim, secs(1), back), "{:?}", shown(&sim, "n2"));
    assert!(sim.is_running("n1", "g1", 1) && !sim.is_running("n2", "g1", 1));
}

#[test]
fn unit_exiting_143_on_sigterm_has_stopped_and_the_move_goes_on() {
    let mut sim = two_nodes();
    sim.exit_143_on_next_stop("n1", "g1", 1);
    assert_eq!(sim.command("n1", Command::Move { group: "g1".into(), node: "n2".into() }), Some(Ok(())));
    assert!(wait_for(&mut sim, secs(3), owner_is("n2")), "g1 did not move: {:?}", events(&sim, "n1"));
    assert!(!logged(&sim, "n1", "stop-failed"), "{:?}", events(&sim, "n1"));
    let g = sim.shown("n2").unwrap().groups.remove(0);
    assert_eq!((g.owner.as_str(), g.state.as_str()), ("n2", "started"));
    assert!(!g.note.contains("cleanup") && !g.note.contains("stop failed"), "{}", g.note);
}

#[test]
fn a_start_that_hangs_is_a_start_failure_at_its_deadline() {
    let mut sim = two_nodes();
    sim.hang_next("n2", "g1", 1, Op::Start);
    assert_eq!(sim.command("n1", Command::Move { group: "g1".into(), node: "n2".into() }), Some(Ok(())));
    advance(&mut sim, secs(2));
    assert_eq!(shown(&sim, "n2"), ("starting".into(), "activating (start)".into()));
    // At the deadline n2 gives the start up, stops the unit and releases
    // the group, which goes back to n1.
    assert!(
        wait_for(&mut sim, JOB_DEADLINE, |s| logged(s, "n2", "did not finish within 7 s")),
        "{:?}",
        events(&sim, "n2")
    );
    assert!(wait_for(&mut sim, secs(3), owner_is("n1")), "g1 not back on n1: {:?}", events(&sim, "n2"));
    assert!(!sim.is_running("n2", "g1", 1));
}

/// systemd says `activating`, then `failed` just before it ends a start
/// job that failed: one start failure, said once, and not also "restarting
/// it" as if the unit had failed while running.
#[test]
fn a_start_that_fails_is_one_start_failure() {
    let mut sim = two_nodes();
    sim.fail_next_start("n2", "g1", 1);
    assert_eq!(sim.command("n1", Command::Move { group: "g1".into(), node: "n2".into() }), Some(Ok(())));
    assert!(wait_for(&mut sim, secs(3), |s| logged(s, "n2", "start-failed")), "{:?}", events(&sim, "n2"));
    assert!(wait_for(&mut sim, secs(3), owner_is("n1")), "g1 not back on n1: {:?}", events(&sim, "n2"));
    assert!(!logged(&sim, "n2", "unit-failure"), "{:?}", events(&sim, "n2"));
    assert_eq!(events(&sim, "n2").iter().filter(|e| e.starts_with("start-failed")).count(), 1);
}

#[test]
fn a_stop_that_hangs_blocks_the_group_until_cleanup() {
    let mut sim = two_nodes();
    sim.hang_next("n1", "g1", 1, Op::Stop);
    assert_eq!(sim.command("n1", Command::Move { group: "g1".into(), node: "n2".into() }), Some(Ok(())));
    assert!(wait_for(&mut sim, JOB_DEADLINE + secs(1), |s| logged(s, "n1", "stop-failed")), "{:?}", events(&sim, "n1"));
    advance(&mut sim, secs(3));
    // Never started elsewhere while its processes may still run on n1.
    assert_eq!(sim.runners("g1"), vec!["n1".to_string()]);
    let g = sim.shown("n2").unwrap().groups.remove(0);
    assert_eq!(g.state, "blocked");
    assert!(g.note.contains("hactl cleanup g1"), "{}", g.note);
    // The operator cleans up: the stop is retried and the move completes.
    assert_eq!(sim.command("n2", Command::Cleanup { group: "g1".into() }), Some(Ok(())));
    assert!(wait_for(&mut sim, secs(3), owner_is("n2")), "{:?}", events(&sim, "n1"));
}

#[test]
fn a_group_left_blocked_and_unreadable_at_the_next_start_is_stopped_before_a_peer_starts_it() {
    let mut sim = two_nodes();
    // n1 leaves, and the stop of g1's unit fails: g1 is blocked, unit and
    // VIP still up on n1 once hbd has gone.
    sim.fail_next_stop("n1", "g1", 1);
    sim.shutdown("n1");
    assert!(wait_for(&mut sim, secs(5), |s| s.core("n1").is_none()), "n1 did not leave: {:?}", events(&sim, "n1"));
    assert!(logged(&sim, "n1", "stop-failed"), "{:?}", events(&sim, "n1"));
    advance(&mut sim, secs(2));
    assert_eq!(sim.runners("g1"), vec!["n1".to_string()]);
    // hbd comes back on n1, finds the VIP (adopted) and cannot read the
    // unit's state; the unit's stop then hangs. The peers must not take
    // n1's new start for a clean one while that stop is in flight
    // (`advance` asserts g1 never runs on both nodes).
    sim.unreadable_at_next_boot("n1", "g1", 1);
    sim.hang_next("n1", "g1", 1, Op::Stop);
    sim.boot_node("n1");
    advance(&mut sim, secs(1));
    assert_eq!(sim.shown("n2").unwrap().groups[0].state, "stopping", "{:?}", events(&sim, "n2"));
    // The stop is given up at its deadline: blocked, as any stop that
    // fails, and the group stays down until the operator cleans up.
    let stop_failed = |s: &Sim| events(s, "n1").iter().filter(|e| e.contains("stop-failed")).count();
    assert!(wait_for(&mut sim, JOB_DEADLINE + secs(1), |s| stop_failed(s) == 2), "{:?}", events(&sim, "n1"));
    advance(&mut sim, secs(2));
    assert_eq!(sim.runners("g1"), vec!["n1".to_string()]);
    assert_eq!(sim.shown("n2").unwrap().groups[0].state, "blocked");
    assert_eq!(sim.command("n2", Command::Cleanup { group: "g1".into() }), Some(Ok(())));
    assert!(wait_for(&mut sim, secs(5), owner_is("n1")), "{:?}", events(&sim, "n1"));
}

#[test]
fn a_resource_unreadable_at_start_where_a_peer_runs_the_group_moves_nothing() {
    let mut sim = two_nodes();
    assert_eq!(sim.command("n1", Command::Move { group: "g1".into(), node: "n2".into() }), Some(Ok(())));
    assert!(wait_for(&mut sim, secs(3), owner_is("n2")), "{:?}", events(&sim, "n1"));
    sim.power_cut("n1");
    advance(&mut sim, secs(2));
    let before = events(&sim, "n2").len();
    // n1 comes back and cannot read its unit of g1: it stops it (a no-op
    // there), and n2 keeps the group throughout.
    sim.unreadable_at_next_boot("n1", "g1", 1);
    sim.boot_node("n1");
    for _ in 0..500 {
        advance(&mut sim, STEP);
        assert_eq!(sim.owner("g1").as_deref(), Some("n2"), "{:?}", events(&sim, "n2"));
    }
    let after = &events(&sim, "n2")[before..];
    assert!(!after.iter().any(|e| e.contains("release") || e.contains("stopped")), "{after:?}");
    assert_eq!(sim.shown("n1").unwrap().groups[0].state, "started");
}

#[test]
fn fail_counts_expire_after_failure_timeout() {
    let mut sim = two_nodes();
    for _ in 0..3 {
        sim.fail_unit("n1", "g1", 1);
        advance(&mut sim, secs(1));
    }
    assert!(wait_for(&mut sim, secs(3), owner_is("n2")), "g1 did not move at the threshold");
    // n1 is failed for g1 for failure_timeout (30 s) after its last
    // failure; then the preferred node takes it back (auto_failback).
    advance(&mut sim, secs(20));
    assert_eq!(sim.owner("g1").as_deref(), Some("n2"));
    assert!(wait_for(&mut sim, secs(15), owner_is("n1")), "{:?}", events(&sim, "n1"));
    assert!(logged(&sim, "n1", "failures-expired"));
    assert_eq!(sim.core("n1").unwrap().status().groups[0].failcount, 0);
}

#[test]
fn after_a_split_brain_heals_only_the_keeper_announces_the_vip() {
    let mut sim = two_nodes();
    sim.partition(&["n1"]);
    advance_any(&mut sim, secs(3));
    let mut both = sim.runners("g1");
    both.sort();
    assert_eq!(both, vec!["n1".to_string(), "n2".to_string()], "no split brain to heal");
    let before: Vec<usize> = ["n1", "n2"].iter().map(|n| announces(&sim, n)).collect();
    sim.heal();
    advance_any(&mut sim, secs(4));
    let keeper = sim.owner("g1").expect("one owner after the heal");
    let loser = if keeper == "n1" { "n2" } else { "n1" };
    let after: Vec<usize> = ["n1", "n2"].iter().map(|n| announces(&sim, n)).collect();
    let (k, l) = if keeper == "n1" { (0, 1) } else { (1, 0) };
    assert!(after[k] > before[k], "the keeper {keeper} did not announce the VIP again");
    assert_eq!(after[l], before[l], "{loser}, which gave g1 up, announced it: {:?}", events(&sim, loser));
}

fn announces(sim: &Sim, node: &str) -> usize {
    events(sim, node).iter().filter(|l| l.as_str() == "announce g1").count()
}

/// Advance without the single-runner assertion (a split brain is the point).
fn advance_any(sim: &mut Sim, d: Duration) {
    if let Err(e) = sim.advance(d) {
        panic!("{e}");
    }
}

// ------------------------------------------------------------ health checks

fn two_nodes_checked(node_check: bool) -> Sim {
    let mut sim = Sim::new(SimOptions { checks: true, node_check, ..SimOptions::scripted(2) });
    sim.start_all();
    assert!(wait_for(&mut sim, INITDEAD + secs(2), owner_is("n1")), "g1 not on n1 after start");
    advance(&mut sim, secs(2));
    sim
}

#[test]
fn a_sick_service_is_restarted_then_moved() {
    let mut sim = two_nodes_checked(false);
    assert_eq!(shown(&sim, "n1").0, "started", "healthy after rise");
    // Sick for good on n1: fall 3 probes (300 ms apart), a restart in
    // place, which does not rise by its start deadline (the unit's 2 s and
    // the core's margin), then the move.
    sim.make_sick("n1", "g1", 1, secs(600));
    assert!(wait_for(&mut sim, secs(15), owner_is("n2")), "g1 did not move off its sick service");
    assert!(sim.logged("n1", "check-failed"));
    assert!(sim.logged("n1", "failcount: 1"));
    assert!(sim.logged("n1", "did not pass 2 times in a row"), "{:?}", events(&sim, "n1"));
    assert!(!sim.is_running("n1", "g1", 1), "the sick unit was stopped on n1");
    // n2's service is healthy: the group is started there, not starting.
    assert!(wait_for(&mut sim, secs(2), |s| shown(s, "n2").0 == "started"));
}

/// A service that fails its check for 4 s after systemd started it (more
/// than fall × interval, less than its start deadline) is coming up, not
/// sick: nothing restarted, nothing moved.
#[test]
fn a_service_slow_to_come_up_is_neither_restarted_nor_moved() {
    let mut sim = Sim::new(SimOptions { checks: true, ..SimOptions::scripted(2) });
    // (Both nodes boot together: g1 starts on n1 within milliseconds.)
    sim.make_sick("n1", "g1", 1, secs(4));
    sim.start_all();
    assert!(wait_for(&mut sim, secs(1), owner_is("n1")), "g1 not on n1 after start");
    assert_eq!(shown(&sim, "n1").0, "starting", "not risen yet");
    let ok = wait_for(&mut sim, secs(6), |s| shown(s, "n1").0 == "started");
    assert!(ok, "{:?}\n{:?}\n{}", events(&sim, "n1"), sim.shown("n1"), sim.trace().join("\n"));
    assert_eq!(sim.owner("g1").as_deref(), Some("n1"));
    assert!(!sim.logged("n1", "check-failed"), "{:?}", events(&sim, "n1"));
    assert!(!sim.logged("n1", "failcount"), "{:?}", events(&sim, "n1"));
}

#[test]
fn a_flapping_check_moves_nothing() {
    let mut sim = two_nodes_checked(false);
    sim.set_flapping("n1", "g1", 1, true);
    advance(&mut sim, secs(20));
    assert_eq!(sim.owner("g1").as_deref(), Some("n1"));
    assert!(!sim.logged("n1", "check-failed"), "rise 2 / fall 3 never reached by alternate answers");
}

#[test]
fn a_sick_node_gives_its_groups_away_and_takes_them_back() {
    let mut sim = two_nodes_checked(true);
    sim.make_node_sick("n1", secs(8));
    assert!(wait_for(&mut sim, secs(4), owner_is("n2")), "g1 did not leave the sick node");
    assert!(sim.logged("n1", "check-failed"));
    // The check passes again after 8 s; auto_failback brings g1 home.
    assert!(wait_for(&mut sim, secs(12), owner_is("n1")), "g1 did not come back to n1");
}

/// Ping nodes configured, both nodes booted together: their first ping
/// counts arrive at different moments, and the group must not move for it
/// (it used to: the first node to have its count took the group over from
/// the other, then handed it back by failback).
#[test]
fn ping_nodes_move_nothing_at_start() {
    for seed in 1..=30 {
        let mut sim =
            Sim::new(SimOptions { seed, profile: hbd::sim::Profile::PingTieBreak, ..SimOptions::scripted(2) });
        sim.start_all();
        advance(&mut sim, secs(12));
        assert_eq!(sim.owner("g1").as_deref(), Some("n1"), "seed {seed}");
        for n in ["n1", "n2"] {
            assert!(
                !sim.logged(n, "reason: Ping"),
                "seed {seed}: {n} moved g1 for a ping count at start:\n{}",
                sim.trace().join("\n")
            );
        }
    }
}

#[test]
fn a_vip_removed_by_something_else_is_put_back_where_it_runs() {
    let mut sim = two_nodes();
    sim.remove_vip_outside("n1", "g1", 0);
    assert!(!sim.is_running("n1", "g1", 0));
    // netlink answers within milliseconds (or, one time in five in the
    // model, cannot add it: then the resource fails and is restarted).
    assert!(wait_for(&mut sim, secs(5), |s| s.is_running("n1", "g1", 0) && s.owner("g1").is_some()));
    assert_eq!(sim.owner("g1").as_deref(), Some("n1"), "{:?}", events(&sim, "n1"));
}

#[test]
fn a_reload_that_adds_ping_hosts_starts_measuring_them() {
    let mut sim = two_nodes();
    let before = sim.ping_probes("n1");
    let mut cfg = sim.config().clone();
    cfg.ping.hosts = vec!["10.77.0.1".parse().unwrap()];
    sim.reload_node("n1", cfg).expect("a reload adding [ping] is accepted");
    assert_eq!(sim.ping_probes("n1"), before + 1, "the ping monitor was not started");
    // The core hears a count (the simulated host answers), so it is not
    // left believing itself isolated.
    assert!(wait_for(&mut sim, secs(2), |s| s
        .core("n1")
        .unwrap()
        .status()
        .nodes
        .iter()
        .any(|n| n.local && n.ping.is_some())));
}

#[test]
fn a_reload_that_changes_the_nodes_is_refused_whole() {
    let mut sim = two_nodes();
    let mut cfg = sim.config().clone();
    cfg.nodes.pop();
    cfg.cluster.migration_threshold = 1;
    let e = sim.reload_node("n1", cfg).expect_err("a reload changing the nodes is refused");
    assert!(e.contains("restart hbd"), "{e}");
    assert_eq!(sim.core("n1").unwrap().config().cluster.migration_threshold, 3, "part of a refused file applied");
}

/// [`wait_for`] where a unit started outside hbd runs beside the group's
/// own for a moment: the simulator's checker bounds how long.
fn wait_stray(sim: &mut Sim, timeout: Duration, cond: impl Fn(&Sim) -> bool) -> bool {
    let end = sim.now() + timeout;
    while !cond(sim) {
        if sim.now() >= end {
            return false;
        }
        sim.advance(STEP).unwrap();
    }
    true
}

#[test]
fn a_unit_started_outside_hbd_where_the_group_does_not_run_is_stopped() {
    let mut sim = two_nodes();
    // `systemctl start` of g1's unit on n2, while n1 runs g1.
    sim.start_unit_outside("n2", "g1", 1);
    assert!(sim.is_running("n2", "g1", 1));
    // While it runs there, n2's status says so (the unit's state it shows
    // is the owner's).
    let note = |s: &Sim| s.shown("n2").unwrap().groups[0].note.clone();
    assert_eq!(
        note(&sim),
        "svc0-1.service came up on this node outside hbd; stopping it here, so that it runs in one place only"
    );
    let stopped = |s: &Sim| !s.is_running("n2", "g1", 1);
    assert!(wait_stray(&mut sim, Duration::from_millis(200), stopped), "{:?}", events(&sim, "n2"));
    assert!(wait_stray(&mut sim, Duration::from_millis(50), |s| note(s).is_empty()), "{}", note(&sim));
    assert!(logged(&sim, "n2", "unit-stray"), "{:?}", events(&sim, "n2"));
    // Not a failure of the group: n1 keeps it, nothing moved, no fail count.
    assert!(sim.is_running("n1", "g1", 1));
    assert_eq!(shown(&sim, "n2"), ("started".into(), "active (running) on n1".into()));
    assert_eq!(sim.core("n1").unwrap().status().groups[0].failcount, 0);
    assert!(!logged(&sim, "n1", "unit-failure") && !logged(&sim, "n2", "unit-failure"));
    // Again later: stopped again.
    advance(&mut sim, secs(2));
    sim.start_unit_outside("n2", "g1", 1);
    assert!(wait_stray(&mut sim, Duration::from_millis(200), stopped), "{:?}", events(&sim, "n2"));
}

#[test]
fn a_unit_started_outside_hbd_while_the_group_is_stopping_there_is_stopped_too() {
    let mut sim = two_nodes();
    // n1 hands g1 over; its unit is started again behind hbd's back as soon
    // as hbd has stopped it, while the group's VIP is still being removed.
    sim.command("n1", Command::Move { group: "g1".into(), node: "n2".into() });
    while sim.is_running("n1", "g1", 1) {
        sim.advance(Duration::from_millis(1)).unwrap();
    }
    assert_eq!(shown(&sim, "n1").0, "stopping", "the VIP is still to be removed");
    sim.start_unit_outside("n1", "g1", 1);
    // n1 stops it again before it says the group is stopped: n2 starts g1
    // only then, so g1 never runs on both (`wait_for` checks each step).
    assert!(wait_for(&mut sim, secs(3), owner_is("n2")), "g1 did not move");
    assert!(wait_for(&mut sim, secs(1), |s| s.is_running("n2", "g1", 1)), "{:?}", events(&sim, "n2"));
    assert!(!sim.is_running("n1", "g1", 1), "{:?}", events(&sim, "n1"));
    assert!(logged(&sim, "n1", "unit-stray"), "{:?}", events(&sim, "n1"));
}

/// Found by seed 5025764 (five nodes): a unit started by hand on the node
/// that was starting the group, above the resource whose start then
/// failed, ran on there after that node had told its peers the group was
/// stopped, and beside the group on the node that took it over.
#[test]
fn a_unit_started_outside_hbd_during_a_start_that_fails_is_stopped_before_the_group_is_given_up() {
    let mut sim = two_nodes();
    // n2 takes g1 over; its VIP's start fails, and meanwhile the unit above
    // it is started by hand on n2.
    sim.fail_next_start("n2", "g1", 0);
    assert_eq!(sim.command("n1", Command::Move { group: "g1".into(), node: "n2".into() }), Some(Ok(())));
    let starting_on_n2 = |s: &Sim| shown(s, "n2").0 == "starting";
    assert!(wait_for(&mut sim, secs(3), starting_on_n2), "{:?}", events(&sim, "n2"));
    sim.start_unit_outside("n2", "g1", 1);
    // n2 gives the group up, and stops the unit before it says so: g1 goes
    // back to n1 and never runs on both (`advance` checks at every step).
    assert!(wait_for(&mut sim, secs(3), |s| logged(s, "n2", "start-failed")), "{:?}", events(&sim, "n2"));
    assert!(wait_for(&mut sim, secs(3), owner_is("n1")), "g1 not back on n1: {:?}", events(&sim, "n2"));
    assert!(wait_for(&mut sim, secs(1), |s| s.is_running("n1", "g1", 1)), "{:?}", events(&sim, "n1"));
    assert!(!sim.is_running("n2", "g1", 1), "{:?}", events(&sim, "n2"));
    assert!(logged(&sim, "n2", "unit-stray"), "{:?}", events(&sim, "n2"));
}

#[test]
fn a_stray_that_keeps_coming_back_is_stopped_each_time_and_said_four_times_a_minute() {
    let mut sim = two_nodes();
    let stopped = |s: &Sim| !s.is_running("n2", "g1", 1);
    let strays = |s: &Sim| events(s, "n2").iter().filter(|l| l.contains("unit-stray")).count();
    for i in 0..6 {
        sim.start_unit_outside("n2", "g1", 1);
        assert!(wait_stray(&mut sim, Duration::from_millis(200), stopped), "stray {i} still runs");
        advance(&mut sim, Duration::from_millis(500));
    }
    // Three said one by one, the fourth says they keep coming back, the
    // rest of the minute is quiet.
    assert_eq!(strays(&sim), 4, "{:?}", events(&sim, "n2"));
    assert!(logged(&sim, "n2", "again: 4"), "{:?}", events(&sim, "n2"));
    advance(&mut sim, secs(60));
    sim.start_unit_outside("n2", "g1", 1);
    assert!(wait_stray(&mut sim, Duration::from_millis(200), stopped));
    assert_eq!(strays(&sim), 5, "said again a minute later");
    assert!(sim.is_running("n1", "g1", 1));
}
