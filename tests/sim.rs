//! The simulator over many seeds: 2-, 3- and 5-node clusters with faults.
//! `HBD_SEED=<n>` replays one seed (with its node count from HBD_NODES, default
//! from the seed's range); `HBD_SEEDS=<n>` sets how many per size and
//! `HBD_SEED_FROM=<k>` where a sweep starts (seeds base+k..base+k+n), so a
//! sweep beyond CI's range needs no code change.

use hbd::sim::{Sim, SimOptions};

fn seeds_per_size() -> u64 {
    std::env::var("HBD_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(700)
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

fn run_range(nodes: usize, base: u64) {
    if let Ok(seed) = std::env::var("HBD_SEED") {
        let seed: u64 = seed.parse().expect("HBD_SEED must be a number");
        let n = std::env::var("HBD_NODES").ok().and_then(|s| s.parse().ok()).unwrap_or((seed / 1_000_000) as usize);
        if n != nodes {
            return;
        }
        let mut sim = Sim::new(SimOptions::from_seed(seed, n));
        if let Err(e) = sim.run() {
            panic!("{e}");
        }
        eprintln!("seed {seed} passed ({:?})", sim.opts);
        return;
    }
    let mut failures = Vec::new();
    let from = env_u64("HBD_SEED_FROM").unwrap_or(0);
    let max_failures = env_u64("HBD_MAX_FAILURES").unwrap_or(3) as usize;
    for i in from..from + seeds_per_size() {
        // The seed encodes the node count, so a printed seed replays alone.
        let seed = base + i;
        let opts = SimOptions::from_seed(seed, nodes);
        let mut sim = Sim::new(opts);
        if let Err(e) = sim.run() {
            eprintln!("{e}");
            failures.push(seed);
            if failures.len() >= max_failures {
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "failing seeds: {failures:?} (replay: HBD_SEED=<seed> cargo test --release --test sim)"
    );
}

#[test]
fn two_nodes() {
    run_range(2, 2_000_000);
}

#[test]
fn three_nodes() {
    run_range(3, 3_000_000);
}

#[test]
fn five_nodes() {
    run_range(5, 5_000_000);
}
