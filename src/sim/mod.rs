//! A deterministic simulator: many nodes, each running the daemon's driver
//! (and core) over a simulated platform, on a virtual network with a
//! virtual clock and a seeded PRNG. It injects faults (loss, delay,
//! duplication, reordering, partitions, crashes, restarts, unit failures,
//! operator commands) and checks after every step that no group runs on two
//! nodes that can hear each other — and with quorum, fencing or a ping
//! tie-break, on two nodes at all — and that once the faults stop every
//! group runs on exactly one node within a stated bound.
//!
//! A failure names its seed; `HBD_SEED=<n>` replays it exactly.

mod platform;
mod rng;
mod world;

pub use rng::Rng;
pub use world::{Profile, Sim, SimError, SimOptions};
