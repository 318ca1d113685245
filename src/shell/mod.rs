//! The tokio shell: sockets, netlink, systemd, the journal.

pub mod alerts;
pub mod api;
pub mod check;
pub mod daemon;
pub mod found;
pub mod garp;
pub mod generation;
pub mod journal;
pub mod journald;
pub mod links;
pub mod log;
pub mod metrics;
pub mod netif;
pub mod notify;
pub mod ping;
pub mod platform;
pub mod realtime;
pub mod receive;
pub mod systemd;
mod unit_signals;
pub mod vip;
