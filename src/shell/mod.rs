//! The tokio shell: sockets, netlink, systemd, the journal.

pub mod garp;
pub mod links;
pub mod netif;
pub mod ping;
pub mod vip;
