//! The tokio shell: sockets, netlink, systemd, the journal.

pub mod generation;
pub mod log;
pub mod notify;
pub mod systemd;
