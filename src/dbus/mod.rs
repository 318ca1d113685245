//! The org.hbd1 D-Bus API: a thin layer that only talks to the daemon's
//! main loop through an [`ApiHandle`]. Properties read the [`Status`]
//! snapshot the loop publishes; methods send an [`ApiRequest`] and await
//! the loop's reply; signals come from [`ApiEvent`]s.
//!
//! The daemon calls [`serve`] once it is connected to the system bus;
//! `hactl` uses [`client`].

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::core::{Command, CommandError};

pub mod auth;
pub mod client;
mod error;
pub mod model;
mod paths;
mod service;
pub mod status_text;

pub use error::{names as error_names, ApiError, DbusError, HbdError, ACCESS_DENIED_MESSAGE};
pub use model::{CheckStatus, GroupStatus, NodeStatus, Status};
pub use paths::{
    escape_path_element, object_path_for, unescape_path_element, ObjectKind, BUS_NAME, GROUP_INTERFACE,
    MANAGER_INTERFACE, MANAGER_PATH, NODE_INTERFACE,
};
pub use service::{serve, GroupObject, Manager, NodeObject, LINK_AGE_SIGNAL_INTERVAL, LOOP_TIMEOUT};

/// What the API may ask of the main loop.
#[derive(Debug)]
pub enum ApiRequest {
    Command {
        cmd: Command,
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
    /// Re-read the configuration file; Err says why it was refused.
    Reload {
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// Signals the loop publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiEvent {
    GroupMoved { group: String, from: String, to: String, reason: String },
}

/// The API's view of the daemon.
#[derive(Clone)]
pub struct ApiHandle {
    pub status: watch::Receiver<Status>,
    pub requests: mpsc::Sender<ApiRequest>,
    pub events: broadcast::Sender<ApiEvent>,
}
