//! Scaling figures from the simulator and the wire encoder (issue 14's
//! benchmark, simulator part): for 16 and 32 nodes × 1,000 groups,
//!
//! * the bytes each node sends per keepalive while nothing changes: one
//!   beat per link (the state travels only when it changes or a peer lacks
//!   it), sealed as the shell seals it (header, sender name, body, HMAC tag),
//!   for the beat the core sends in a settled cluster (every peer
//!   acknowledged and heard); with the bound the format guarantees;
//! * the size of a node's state after the start (its groups, no intents) and
//!   the worst case with every intent, in bytes and chunks;
//! * in the deterministic simulator (no faults but the one scripted, two
//!   broadcast links, every group a VIP, preferred round-robin): the time
//!   until every group runs once after a cold start, and after a power cut of
//!   n1 the time until every group n1 ran runs once elsewhere, with the
//!   deadtime for comparison.
//!
//!     cargo run --release --example scale_figures [-- [--wire-only] NODES...]
//!
//! `--wire-only` leaves the simulator out (its columns empty): the
//! simulator checks its safety invariants after every event, so its cost
//! grows with nodes³ × groups (4 nodes × 1,000 groups: ~30 s here).
//!
//! Prints one CSV line per cluster size:
//! `nodes,groups,beat_frame_bytes,beat_bound_frame_bytes,links,bytes_per_keepalive_per_node,
//!  state_bytes,state_chunks,state_bound_bytes,state_bound_chunks,deadtime_ms,start_ms,
//!  crash_groups,crash_first_ms,crash_all_ms,wall_s`

use std::time::{Duration, Instant};

use hbd::config::AuthKeys;
use hbd::core::{Ack, Beat, GroupReport, GroupState, ResourceState, State};
use hbd::sim::{Sim, SimOptions};
use hbd::wire::{self, Codec, Header};

const GROUPS: usize = 1000;

fn sealed_len(codec: &Codec, sender: &str, msg_type: u8, body: &[u8]) -> usize {
    let h = Header { generation: 1, seq: 1_000_000, sender: sender.to_string(), msg_type };
    codec.seal(&h, body).expect("a body within the bounds seals").len()
}

fn main() {
    let wire_only = std::env::args().any(|a| a == "--wire-only");
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![16, 32] } else { sizes };
    println!("nodes,groups,beat_frame_bytes,beat_bound_frame_bytes,links,bytes_per_keepalive_per_node,state_bytes,state_chunks,state_bound_bytes,state_bound_chunks,deadtime_ms,start_ms,crash_groups,crash_first_ms,crash_all_ms,wall_s");
    for n in sizes {
        let wall = Instant::now();
        let mut o = SimOptions::scripted(n);
        o.groups = GROUPS;
        o.resources = 1;
        // As tests/sim_scale.rs: the whole-status comparison is sampled on
        // steps that neither moved the serial nor published (every other
        // check still runs after every step).
        o.status_every = 16;
        let mut sim = Sim::new(o);
        let cfg = sim.config().clone();
        let names: Vec<String> = cfg.nodes.iter().map(|x| x.name.clone()).collect();
        let groups: Vec<String> = cfg.groups.iter().map(|g| g.name.clone()).collect();
        let keys = AuthKeys { keys: vec![(1, vec![7u8; 32])] };
        let codec = Codec::new(&cfg.cluster.name, &keys);

        // The settled beat of n1: every peer heard and acknowledged.
        let me = &names[0];
        let beat = Beat {
            config_hash: 0x1234_5678_9abc_def0,
            standby: false,
            leaving: false,
            idle: false,
            settled: true,
            ping: None,
            state_version: 3,
            acks: names[1..].iter().map(|p| Ack { node: p.clone(), generation: 1, version: 3 }).collect(),
            up: names[1..].to_vec(),
            full: true,
        };
        let body = wire::encode_beat(&beat, &names);
        let beat_frame = sealed_len(&codec, me, wire::MSG_BEAT, &body);
        let bound_frame = wire::FRAME_OVERHEAD + me.len() + wire::beat_bound(n);
        let links = cfg.links.len();
        // broadcast links: one datagram per link per keepalive
        let per_keepalive = beat_frame * links;

        // n1's state after the start: its share of the groups, started.
        let mine: Vec<GroupReport> = cfg
            .groups
            .iter()
            .filter(|g| &g.preferred == me)
            .map(|g| GroupReport {
                name: g.name.clone(),
                state: GroupState::Started,
                failed: false,
                failcount: 0,
                held_down: false,
                resources: vec![ResourceState::Started; g.resources.len()],
            })
            .collect();
        let st = wire::encode_state(&State { groups: mine, intents: vec![] });
        let chunks = st.len().div_ceil(wire::CHUNK_DATA);
        let bound = wire::state_bound(
            names.iter().map(|s| s.as_str()),
            cfg.groups.iter().map(|g| (g.name.as_str(), g.resources.len())),
        );
        let bound_chunks = bound.div_ceil(wire::CHUNK_DATA);

        if wire_only {
            println!(
                "{n},{GROUPS},{beat_frame},{bound_frame},{links},{per_keepalive},{},{chunks},{bound},{bound_chunks},{},,,,,{:.1}",
                st.len(),
                cfg.cluster.deadtime.as_millis(),
                wall.elapsed().as_secs_f64()
            );
            continue;
        }
        // Cold start: until every group runs exactly once.
        sim.start_all();
        let t0 = sim.now();
        let all_once = |s: &Sim| groups.iter().all(|g| s.owner(g).is_some() && s.runners(g).len() == 1);
        let limit = Duration::from_secs(120);
        while !all_once(&sim) {
            assert!(sim.now() - t0 < limit, "{n} nodes: groups not all started within {limit:?}");
            sim.advance(Duration::from_millis(10)).unwrap_or_else(|e| panic!("{e}"));
        }
        let start_ms = (sim.now() - t0).as_millis();
        sim.advance(Duration::from_secs(1)).unwrap_or_else(|e| panic!("{e}"));

        // Power cut of n1: its groups, until each runs once elsewhere.
        let victims: Vec<String> = groups.iter().filter(|g| sim.owner(g).as_deref() == Some("n1")).cloned().collect();
        sim.power_cut("n1");
        let t1 = sim.now();
        let moved = |s: &Sim, g: &String| {
            let r = s.runners(g);
            r.len() == 1 && r[0] != "n1"
        };
        let mut first = None;
        while !victims.iter().all(|g| moved(&sim, g)) {
            assert!(sim.now() - t1 < limit, "{n} nodes: n1's groups not moved within {limit:?}");
            sim.advance(Duration::from_millis(10)).unwrap_or_else(|e| panic!("{e}"));
            if first.is_none() && victims.iter().any(|g| moved(&sim, g)) {
                first = Some((sim.now() - t1).as_millis());
            }
        }
        let all_ms = (sim.now() - t1).as_millis();
        println!(
            "{n},{GROUPS},{beat_frame},{bound_frame},{links},{per_keepalive},{},{chunks},{bound},{bound_chunks},{},{start_ms},{},{},{all_ms},{:.1}",
            st.len(),
            cfg.cluster.deadtime.as_millis(),
            victims.len(),
            first.unwrap_or(all_ms),
            wall.elapsed().as_secs_f64()
        );
    }
}
