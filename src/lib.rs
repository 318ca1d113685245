//! hbd: a systemd-native high-availability manager.
//!
//! `core` decides (pure, sans-IO); `driver` acts on its decisions over a
//! platform; `shell` is the real platform and the daemon's loop; `sim`
//! drives many drivers over a simulated platform and network to check that
//! a group never has two owners.

pub mod config;
pub mod core;
#[cfg(feature = "daemon")]
pub mod dbus;
#[cfg(feature = "daemon")]
pub mod driver;
#[cfg(feature = "daemon")]
pub mod hactl;
#[cfg(feature = "daemon")]
pub mod shell;
#[cfg(feature = "daemon")]
pub mod sim;
pub mod wire;
