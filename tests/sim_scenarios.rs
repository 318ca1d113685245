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
