//! Frames in: open and authenticate, refuse replays and strangers, decode.
//! What is refused is counted and logged at most once per 10 s per sender
//! and kind, so a flood of bad frames cannot flood the journal.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::warn;

use super::metrics::Reject;
use super::platform::RealPlatform;
use crate::config::Config;
use crate::core::Input;
use crate::wire::{self, ReplayGuard};

pub struct Inbox {
    /// One window per link: every frame travels on every link.
    replay: Vec<ReplayGuard>,
    /// (claimed sender, error kind) -> (last logged, suppressed since).
    bad_frames: HashMap<(String, String), (Instant, u64)>,
}

impl Inbox {
    pub fn new(cfg: &Config) -> Inbox {
        Inbox { replay: cfg.links.iter().map(|_| ReplayGuard::new()).collect(), bad_frames: HashMap::new() }
    }

    /// Open, check and decode one frame; None when it must be dropped.
    pub fn frame(&mut self, p: &RealPlatform, cfg: &Config, link: usize, bytes: &[u8]) -> Option<Input> {
        let (h, body) = match p.codec.open(bytes) {
            Ok(x) => x,
            Err(e) => {
                // The claimed sender is unauthenticated: rate-limit per
                // configured node, and all other names together, or random
                // names would each get a log line and a map entry.
                let claimed = wire::peek_sender(bytes);
                let who = match &claimed {
                    Some(n) if cfg.node_index(n).is_some() => n.clone(),
                    _ => "?".to_string(),
                };
                p.counters.reject(Reject::of(&e));
                let kind = format!("{:?}", std::mem::discriminant(&e));
                let hint = match e {
                    wire::WireError::BadTag { .. } | wire::WireError::UnknownKey { .. } => {
                        "; the auth key files of the nodes differ (compare /etc/hbd/authkey)"
                    }
                    _ => "",
                };
                let stranger = match &claimed {
                    Some(n) if who == "?" => format!(" (claimed sender {n:?} is not a node of this cluster)"),
                    _ => String::new(),
                };
                self.bad_frame(cfg, &who, link, &kind, &format!("{e}{hint}{stranger}"));
                let keyed = matches!(e, wire::WireError::BadTag { .. } | wire::WireError::UnknownKey { .. });
                if keyed && who != p.me && cfg.node_index(&who).is_some() {
                    return Some(Input::Unverified { from: who });
                }
                return None;
            }
        };
        if h.sender == p.me {
            return None;
        }
        if cfg.node_index(&h.sender).is_none() {
            p.counters.reject(Reject::UnknownNode);
            self.bad_frame(
                cfg,
                &h.sender,
                link,
                "unknown-node",
                "authenticated frame from a node not in the configuration",
            );
            return None;
        }
        if let Err(e) = self.replay[link].check(&h.sender, h.generation, h.seq) {
            p.counters.reject(Reject::Replay);
            self.bad_frame(
                cfg,
                &h.sender,
                link,
                "replay",
                &format!("{e} (generation {}, sequence {})", h.generation, h.seq),
            );
            return None;
        }
        match wire::decode_message(h.msg_type, &body, &p.node_names) {
            // A message type this release does not know: skipped.
            Ok(None) => None,
            Ok(Some(msg)) => Some(Input::Frame { from: h.sender, link, generation: h.generation, seq: h.seq, msg }),
            Err(e) => {
                p.counters.reject(Reject::Body);
                self.bad_frame(cfg, &h.sender, link, "body", &e.to_string());
                None
            }
        }
    }

    /// Log rejected frames at most once per 10 s per sender and kind.
    fn bad_frame(&mut self, cfg: &Config, who: &str, link: usize, kind: &str, msg: &str) {
        let key = (who.to_string(), kind.to_string());
        let now = Instant::now();
        let link = cfg.links.get(link).map_or("?", |l| l.name.as_str()).to_string();
        match self.bad_frames.get_mut(&key) {
            Some((last, suppressed)) if now.duration_since(*last) < Duration::from_secs(10) => *suppressed += 1,
            Some((last, suppressed)) => {
                warn!(HBD_EVENT = "bad-frame", HBD_PEER = %who, HBD_LINK = %link,
                    "rejected frame on link {link} claiming to be from {who}: {msg} ({} more rejected in the last {}s)",
                    suppressed, now.duration_since(*last).as_secs());
                *last = now;
                *suppressed = 0;
            }
            None => {
                warn!(HBD_EVENT = "bad-frame", HBD_PEER = %who, HBD_LINK = %link,
                    "rejected frame on link {link} claiming to be from {who}: {msg}");
                self.bad_frames.insert(key, (now, 0));
            }
        }
    }
}
