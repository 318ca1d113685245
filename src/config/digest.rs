//! A stable fingerprint of the settings every node must agree on.

use ring::digest::{Context, SHA256};

use super::{Config, Fencing, Resource};

/// Length-prefixed, tagged encoding, so that no two different settings
/// feed the same bytes to the hash.
struct Enc(Context);

impl Enc {
    fn bytes(&mut self, b: &[u8]) {
        self.0.update(&(b.len() as u64).to_be_bytes());
        self.0.update(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.update(&v.to_be_bytes());
    }
    fn dur(&mut self, d: std::time::Duration) {
        self.0.update(&d.as_nanos().to_be_bytes());
    }
}

impl Config {
    /// A hash of what must be identical on every node: the cluster name and
    /// timings, the nodes, the groups (names, preferred nodes, resources in
    /// order), `auto_failback`, `fencing` and `migration_threshold`. Stable
    /// across processes, machines and hbd versions that keep this encoding
    /// (SHA-256, first 8 bytes big-endian); nodes compare it to warn about
    /// differing files. Links, ping, garp, respawn and paths are not
    /// included: they may legitimately differ.
    pub fn digest(&self) -> u64 {
        let mut e = Enc(Context::new(&SHA256));
        e.str("hbd-config-digest-v1");
        let c = &self.cluster;
        e.str(&c.name);
        e.dur(c.keepalive);
        e.dur(c.warntime);
        e.dur(c.deadtime);
        e.dur(c.initdead);
        e.u64(u64::from(c.auto_failback));
        e.u64(match c.fencing {
            Fencing::Off => 0,
            Fencing::Required => 1,
        });
        e.u64(u64::from(c.migration_threshold));
        e.u64(self.nodes.len() as u64);
        for n in &self.nodes {
            e.str(&n.name);
        }
        e.u64(self.groups.len() as u64);
        for g in &self.groups {
            e.str(&g.name);
            e.str(&g.preferred);
            e.u64(g.resources.len() as u64);
            for r in &g.resources {
                match r {
                    Resource::Vip { addr, prefix, interface } => {
                        e.str("vip");
                        e.str(&addr.to_string());
                        e.u64(u64::from(*prefix));
                        e.str(interface);
                    }
                    Resource::Unit { name, timeout, .. } => {
                        e.str("unit");
                        e.str(name);
                        if let Some(t) = timeout {
                            e.str("timeout");
                            e.dur(*t);
                        }
                    }
                }
            }
        }
        let d = e.0.finish();
        let mut first = [0u8; 8];
        first.copy_from_slice(&d.as_ref()[..8]);
        u64::from_be_bytes(first)
    }
}
