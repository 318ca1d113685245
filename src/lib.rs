//! hbd: a systemd-native high-availability manager.
//!
//! `core` decides (pure, sans-IO); `shell` does the I/O; `sim` drives many
//! cores over a virtual network to check that a group never has two owners.

pub mod config;
pub mod core;
pub mod dbus;
pub mod hactl;
pub mod shell;
pub mod sim;
pub mod wire;
