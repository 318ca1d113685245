//! Errors of the D-Bus layer: what callers of `org.hbd1` get back
//! ([`ApiError`], with D-Bus error names), and what can go wrong while
//! setting the service up ([`DbusError`]).

use zbus::message::{Header, Message};
use zbus::names::ErrorName;
use zbus::DBusError as _;

use crate::core::CommandError;

/// The `org.hbd1.Error.*` errors.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.hbd1.Error")]
pub enum HbdError {
    /// A transport or protocol error inside zbus.
    #[zbus(error)]
    ZBus(zbus::Error),
    /// No node or group of that name in the running configuration.
    NotFound(String),
    /// The call makes no sense as asked (e.g. moving a group to a node in standby).
    InvalidArgument(String),
    /// This node's partition has no quorum; moving groups needs a majority.
    NoQuorum(String),
    /// hbd's main loop did not answer in time (or is shutting down).
    Busy(String),
    /// `Reload()` refused the configuration file; the running one stays.
    InvalidConfig(String),
}

/// The error of every `org.hbd1` method: an `org.hbd1.Error.*` or
/// `org.freedesktop.DBus.Error.AccessDenied`.
#[derive(Debug)]
pub enum ApiError {
    Hbd(HbdError),
    AccessDenied(String),
}

/// The message of AccessDenied for callers that may not change the cluster.
pub const ACCESS_DENIED_MESSAGE: &str =
    "permission denied: changing the cluster needs root or membership of group haclient";

/// Name of the `org.hbd1.Error.*` errors, for clients that match on them.
pub mod names {
    pub const NOT_FOUND: &str = "org.hbd1.Error.NotFound";
    pub const INVALID_ARGUMENT: &str = "org.hbd1.Error.InvalidArgument";
    pub const NO_QUORUM: &str = "org.hbd1.Error.NoQuorum";
    pub const BUSY: &str = "org.hbd1.Error.Busy";
    pub const INVALID_CONFIG: &str = "org.hbd1.Error.InvalidConfig";
    pub const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
}

impl ApiError {
    pub fn access_denied() -> ApiError {
        ApiError::AccessDenied(ACCESS_DENIED_MESSAGE.to_string())
    }
    pub fn busy(message: impl Into<String>) -> ApiError {
        ApiError::Hbd(HbdError::Busy(message.into()))
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> ApiError {
        let message = e.to_string();
        ApiError::Hbd(match e {
            CommandError::NoSuchNode(_) | CommandError::NoSuchGroup(_) => HbdError::NotFound(message),
            CommandError::NoQuorum => HbdError::NoQuorum(message),
            CommandError::Invalid(_) => HbdError::InvalidArgument(message),
        })
    }
}

impl From<HbdError> for ApiError {
    fn from(e: HbdError) -> ApiError {
        ApiError::Hbd(e)
    }
}

impl From<zbus::Error> for ApiError {
    fn from(e: zbus::Error) -> ApiError {
        ApiError::Hbd(HbdError::ZBus(e))
    }
}

impl zbus::DBusError for ApiError {
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<Message> {
        match self {
            ApiError::Hbd(e) => e.create_reply(call),
            ApiError::AccessDenied(m) => zbus::fdo::Error::AccessDenied(m.clone()).create_reply(call),
        }
    }

    fn name(&self) -> ErrorName<'_> {
        match self {
            ApiError::Hbd(e) => e.name(),
            ApiError::AccessDenied(_) => ErrorName::from_static_str_unchecked(names::ACCESS_DENIED),
        }
    }

    fn description(&self) -> Option<&str> {
        match self {
            ApiError::Hbd(e) => e.description(),
            ApiError::AccessDenied(m) => Some(m),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name(), self.description().unwrap_or(""))
    }
}

impl std::error::Error for ApiError {}

/// Setting up the `org.hbd1` service failed.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    #[error("cannot register the D-Bus object {path}: {source}")]
    Register {
        path: String,
        #[source]
        source: zbus::Error,
    },
    #[error(
        "cannot own the D-Bus name org.hbd1: {0}; is the bus policy dbus-interfaces/org.hbd1.conf installed in /usr/share/dbus-1/system.d/?"
    )]
    RequestName(#[source] zbus::Error),
    #[error("the D-Bus name org.hbd1 is already owned (is another hbd running on this node?)")]
    NameTaken,
}
