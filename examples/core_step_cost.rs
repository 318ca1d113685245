//! What one step of the core costs as the number of groups grows: every
//! frame and tick runs one step, so this is the CPU floor of heartbeats per
//! node, apart from I/O. A probe that passed after passes takes no step
//! unless something is due; its figure here is that path.
//!
//!     cargo run --release --example core_step_cost [-- GROUPS...]
//!
//! Prints `groups,ns_per_tick,ns_per_passing_check` (median of 5 rounds of
//! 20,000 inputs each), for a node of a 2-node cluster (the simulator's
//! configuration: every group a VIP, a unit with an HTTP check) that runs
//! its groups after its peer was never heard.

use std::time::{Duration, Instant};

use hbd::core::{Action, CheckTarget, Input, Node, Op};
use hbd::sim::{Sim, SimOptions};

const INPUTS: u32 = 20_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    v[v.len() / 2]
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![1, 100, 1000] } else { sizes };
    println!("groups,ns_per_tick,ns_per_passing_check");
    for groups in sizes {
        let mut o = SimOptions::scripted(2);
        o.groups = groups;
        o.checks = true;
        let cfg = Sim::new(o).config().clone();
        let mut node = Node::new(cfg.clone(), "n1", 1, Duration::ZERO).expect("n1 is in the config");
        // Past initdead and deadtime: the node has decided what it runs.
        let mut now = Duration::ZERO;
        let target = CheckTarget::Resource { group: cfg.groups[0].name.clone(), resource: 1 };
        let mut session = None;
        // Every start and stop succeeds at the next tick.
        let mut done = Vec::new();
        for _ in 0..200 {
            now += Duration::from_millis(50);
            let mut acts = node.handle(now, Input::Tick);
            for (group, resource, op) in std::mem::take(&mut done) {
                acts.extend(node.handle(now, Input::ResourceDone { group, resource, op, result: Ok(()) }));
            }
            for a in acts {
                match a {
                    Action::StartCheck { target: t, session: s, .. } => {
                        session = session.or((t == target).then_some(s));
                    }
                    Action::Start { group, resource, .. } => done.push((group, resource, Op::Start)),
                    Action::Stop { group, resource, .. } => done.push((group, resource, Op::Stop)),
                    _ => {}
                }
            }
        }
        let session = session.expect("the first group's check runs");
        let mut ticks = Vec::new();
        let mut checks = Vec::new();
        for _ in 0..5 {
            let t0 = Instant::now();
            for _ in 0..INPUTS {
                std::hint::black_box(node.handle(now, Input::Tick));
            }
            ticks.push(t0.elapsed().as_nanos() as f64 / f64::from(INPUTS));
            let t0 = Instant::now();
            for _ in 0..INPUTS {
                let input = Input::CheckResult {
                    target: target.clone(),
                    session,
                    ok: true,
                    detail: String::new(),
                    latency: Duration::from_micros(300),
                };
                std::hint::black_box(node.handle(now, input));
            }
            checks.push(t0.elapsed().as_nanos() as f64 / f64::from(INPUTS));
        }
        println!("{groups},{:.0},{:.0}", median(ticks), median(checks));
    }
}
