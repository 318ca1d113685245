//! What hactl prints: the human status (short, crm_mon-like), its JSON
//! form, the links table.
//!
//! `hactl status --json` is a versioned document: its schema is
//! `docs/hactl-status.schema.json` (described in `docs/json-schema.md`),
//! and [`SCHEMA`] is its number. Adding a field keeps the number; removing
//! or changing the meaning of one bumps it.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::config::Config;
use crate::dbus::{CheckStatus, GroupStatus, NodeStatus, Status};

/// "120ms", "3.4s", "2m05s", "never".
pub fn age(ms: i64) -> String {
    match ms {
        ..0 => "never".to_string(),
        0..1000 => format!("{ms}ms"),
        1000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        _ => {
            let s = ms / 1000;
            if s < 3600 {
                format!("{}m{:02}s", s / 60, s % 60)
            } else {
                format!("{}h{:02}m", s / 3600, s % 3600 / 60)
            }
        }
    }
}

fn node_line(n: &NodeStatus) -> String {
    let mut line = format!("node {}", n.name);
    if n.local {
        line.push_str(" (local)");
    }
    let _ = write!(line, ": {}, generation {}", n.state, n.generation);
    if !n.links.is_empty() {
        let links: Vec<String> = n
            .links
            .iter()
            .map(
                |(name, state, ms)| {
                    if *ms < 0 {
                        format!("{name} {state}")
                    } else {
                        format!("{name} {state} {}", age(*ms))
                    }
                },
            )
            .collect();
        let _ = write!(line, ", links: {}", links.join(", "));
    }
    let _ = write!(line, ", ping hosts: {}", n.ping.unwrap_or(0));
    line
}

/// "started on n1 (preferred)", "stopped (preferred: n1)".
fn whereabouts(g: &GroupStatus) -> String {
    let mut s = g.state.clone();
    if !g.owner.is_empty() {
        let _ = write!(s, " on {}", g.owner);
    }
    if g.owner == g.preferred {
        s.push_str(" (preferred)");
    } else {
        let _ = write!(s, " (preferred: {})", g.preferred);
    }
    s
}

/// Where a group is: "web: started on n1 (preferred)".
pub fn placement(g: &GroupStatus) -> String {
    let mut line = format!("{}: {}", g.name, whereabouts(g));
    if !g.note.is_empty() {
        let _ = write!(line, "; {}", g.note);
    }
    line
}

fn group_line(g: &GroupStatus) -> String {
    let mut line = format!("group {}: {}", g.name, whereabouts(g));
    let _ = write!(line, ", fail count {}", g.failcount);
    if !g.resources.is_empty() {
        let res: Vec<String> = g.resources.iter().map(|(k, n, s)| format!("{k} {n} {s}")).collect();
        let _ = write!(line, ": {}", res.join(", "));
    }
    line
}

/// "check nginx.service (http://127.0.0.1/health): sick, 3 failures in a row, last 2ms: HTTP 500 from …".
fn check_line(c: &CheckStatus) -> String {
    let mut line = format!("check {} ({}): {}", c.name, c.probe, c.state);
    let run = |n: u32, one: &str, many: &str| format!("{n} {} in a row", if n == 1 { one } else { many });
    if c.failures > 0 {
        let _ = write!(line, ", {}", run(c.failures, "failure", "failures"));
    } else if c.passes > 0 {
        let _ = write!(line, ", {}", run(c.passes, "pass", "passes"));
    }
    if c.latency_ms >= 0 {
        let _ = write!(line, ", last {}", age(c.latency_ms));
    }
    if c.failures > 0 && !c.error.is_empty() {
        let _ = write!(line, ": {}", c.error);
    }
    line
}

fn check_json(c: &CheckStatus) -> Value {
    json!({
        "name": c.name,
        "probe": c.probe,
        "state": c.state,
        "passes": c.passes,
        "failures": c.failures,
        "latency_ms": if c.latency_ms < 0 { Value::Null } else { json!(c.latency_ms) },
        "error": c.error,
    })
}

/// The human status: a header, a line per node, a line per group (and
/// its note, if any), a line per check.
pub fn human(st: &Status) -> String {
    let mut out = format!(
        "cluster {}: local node {}, {}, generation {}\n",
        st.cluster,
        st.local,
        if st.quorate { "quorate" } else { "NO QUORUM" },
        st.generation
    );
    for n in &st.nodes {
        out.push_str(&node_line(n));
        out.push('\n');
        for c in &n.checks {
            let _ = writeln!(out, "  {}", check_line(c));
        }
    }
    for g in &st.groups {
        out.push_str(&group_line(g));
        out.push('\n');
        if !g.note.is_empty() {
            let _ = writeln!(out, "  note: {}", g.note);
        }
        for c in &g.checks {
            let _ = writeln!(out, "  {}", check_line(c));
        }
    }
    out
}

/// The number of the JSON schema `hactl status --json` follows.
pub const SCHEMA: u32 = 1;

/// The JSON form of the status; `daemon_version` is the answering hbd's
/// (None: one too old to say).
pub fn json(st: &Status, daemon_version: Option<&str>) -> Value {
    json!({
        "schema": SCHEMA,
        "hbd_version": daemon_version,
        "hactl_version": env!("CARGO_PKG_VERSION"),
        "cluster": st.cluster,
        "local": st.local,
        "quorate": st.quorate,
        "generation": st.generation,
        "nodes": st.nodes.iter().map(|n| json!({
            "name": n.name,
            "state": n.state,
            "local": n.local,
            "generation": n.generation,
            "ping_hosts": n.ping.unwrap_or(0),
            "standby": n.standby,
            "links": n.links.iter().map(|(name, state, ms)| json!({
                "name": name,
                "state": state,
                "age_ms": if *ms < 0 { Value::Null } else { json!(ms) },
            })).collect::<Vec<_>>(),
            "checks": n.checks.iter().map(check_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "groups": st.groups.iter().map(|g| json!({
            "name": g.name,
            "state": g.state,
            "owner": if g.owner.is_empty() { Value::Null } else { json!(g.owner) },
            "preferred": g.preferred,
            "failcount": g.failcount,
            "resources": g.resources.iter().map(|(kind, name, state)| json!({
                "kind": kind, "name": name, "state": state,
            })).collect::<Vec<_>>(),
            "note": g.note,
            "pinned": if g.pinned.is_empty() { Value::Null } else { json!(g.pinned) },
            "checks": g.checks.iter().map(check_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// The links table: per peer and link, state and last-heard age.
pub fn links(st: &Status) -> String {
    let rows: Vec<[String; 4]> = st
        .nodes
        .iter()
        .filter(|n| !n.local)
        .flat_map(|n| {
            n.links.iter().map(move |(link, state, ms)| {
                let heard = if *ms < 0 { "never".to_string() } else { format!("{} ago", age(*ms)) };
                [n.name.clone(), link.clone(), state.clone(), heard]
            })
        })
        .collect();
    if rows.is_empty() {
        return "no peers\n".to_string();
    }
    let header = ["PEER".to_string(), "LINK".to_string(), "STATE".to_string(), "LAST HEARD".to_string()];
    let mut w = [0usize; 4];
    for r in std::iter::once(&header).chain(&rows) {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let _ = writeln!(out, "{:<w0$}  {:<w1$}  {:<w2$}  {}", r[0], r[1], r[2], r[3], w0 = w[0], w1 = w[1], w2 = w[2]);
    }
    out
}

/// A GroupMoved signal, for humans.
pub fn moved(group: &str, from: &str, to: &str, reason: &str) -> String {
    match (from.is_empty(), to.is_empty()) {
        (true, false) => format!("{group}: started on {to} ({reason})"),
        (false, true) => format!("{group}: stopped on {from} ({reason})"),
        _ => format!("{group}: moved from {from} to {to} ({reason})"),
    }
}

/// "cluster demo: 2 nodes, 2 links, 1 group, 1 ping host, 1 respawn unit".
pub fn config_summary(cfg: &Config) -> String {
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut parts =
        vec![plural(cfg.nodes.len(), "node"), plural(cfg.links.len(), "link"), plural(cfg.groups.len(), "group")];
    if !cfg.ping.hosts.is_empty() {
        parts.push(plural(cfg.ping.hosts.len(), "ping host"));
    }
    if !cfg.respawn.is_empty() {
        parts.push(plural(cfg.respawn.len(), "respawn unit"));
    }
    if let Some(m) = &cfg.metrics {
        parts.push(format!("metrics on {}", m.listen));
    }
    if !cfg.alerts.is_empty() {
        parts.push(plural(cfg.alerts.len(), "alert agent"));
    }
    format!("cluster {}: {}", cfg.cluster.name, parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(age(-1), "never");
        assert_eq!(age(0), "0ms");
        assert_eq!(age(999), "999ms");
        assert_eq!(age(3400), "3.4s");
        assert_eq!(age(125_000), "2m05s");
        assert_eq!(age(7_300_000), "2h01m");
    }
}
