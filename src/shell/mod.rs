//! The tokio shell: sockets, netlink, systemd, the journal.
