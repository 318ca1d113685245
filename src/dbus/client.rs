//! The client side of `org.hbd1`, as `hactl` uses it: connect, read every
//! object's properties at once, call methods, follow signals.

use std::collections::HashMap;

use futures::stream::{self, StreamExt, TryStreamExt};
use zbus::zvariant::{OwnedObjectPath, OwnedValue};
use zbus::{Connection, MatchRule, MessageStream};

use super::error::names;
use super::paths::{BUS_NAME, GROUP_INTERFACE, MANAGER_INTERFACE, MANAGER_PATH, NODE_INTERFACE};
use super::{CheckStatus, GroupStatus, NodeStatus, Status};

/// Environment variable naming the bus to use instead of the system bus
/// (a D-Bus address such as `unix:path=/tmp/bus`); for tests and labs.
pub const BUS_ADDRESS_ENV: &str = "HBD_BUS_ADDRESS";

/// What a client call can meet.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No bus, or nobody owns `org.hbd1`.
    #[error("hbd is not running on this node (start it with: systemctl start hbd)")]
    NotRunning,
    /// The caller may not change the cluster.
    #[error("{0}")]
    AccessDenied(String),
    /// An error hbd answered (`org.hbd1.Error.*`), with its name.
    #[error("{message}")]
    Api { name: String, message: String },
    /// Anything else: a bus or protocol problem.
    #[error("D-Bus: {0}")]
    Bus(String),
}

impl ClientError {
    /// The D-Bus error name, if hbd answered one.
    pub fn error_name(&self) -> Option<&str> {
        match self {
            ClientError::Api { name, .. } => Some(name),
            ClientError::AccessDenied(_) => Some(names::ACCESS_DENIED),
            _ => None,
        }
    }
}

fn classify(name: &str, message: String) -> ClientError {
    match name {
        "org.freedesktop.DBus.Error.ServiceUnknown"
        | "org.freedesktop.DBus.Error.NameHasNoOwner"
        | "org.freedesktop.DBus.Error.Disconnected" => ClientError::NotRunning,
        names::ACCESS_DENIED => ClientError::AccessDenied(message),
        n if n.starts_with("org.hbd1.Error.") => ClientError::Api { name: n.to_string(), message },
        n => ClientError::Bus(format!("{n}: {message}")),
    }
}

impl From<zbus::Error> for ClientError {
    fn from(e: zbus::Error) -> ClientError {
        use zbus::DBusError as _;
        match e {
            zbus::Error::MethodError(name, desc, _) => classify(name.as_str(), desc.unwrap_or_default()),
            zbus::Error::FDO(fdo) => classify(fdo.name().as_str(), fdo.description().unwrap_or_default().to_string()),
            zbus::Error::InputOutput(_) | zbus::Error::Address(_) | zbus::Error::Handshake(_) => {
                ClientError::NotRunning
            }
            e => ClientError::Bus(e.to_string()),
        }
    }
}

impl From<zbus::fdo::Error> for ClientError {
    fn from(e: zbus::fdo::Error) -> ClientError {
        zbus::Error::FDO(Box::new(e)).into()
    }
}

/// Connect to the bus named by `$HBD_BUS_ADDRESS`, or the system bus.
/// A bus that is not there means hbd is not running.
pub async fn connect() -> Result<Connection, ClientError> {
    let result = match std::env::var(BUS_ADDRESS_ENV) {
        Ok(addr) if !addr.is_empty() => match zbus::connection::Builder::address(addr.as_str()) {
            Ok(b) => b.build().await,
            Err(e) => return Err(ClientError::Bus(format!("${BUS_ADDRESS_ENV}={addr}: {e}"))),
        },
        _ => Connection::system().await,
    };
    // Without a bus there is no hbd: it needs one to run.
    result.map_err(|_| ClientError::NotRunning)
}

/// Whether `org.hbd1` has an owner on `conn`'s bus.
pub async fn is_running(conn: &Connection) -> Result<bool, ClientError> {
    let dbus = zbus::fdo::DBusProxy::builder(conn).cache_properties(zbus::proxy::CacheProperties::No).build().await?;
    Ok(dbus.name_has_owner(BUS_NAME.try_into().expect("valid name")).await?)
}

type Props = HashMap<String, OwnedValue>;

async fn get_all(conn: &Connection, path: &str, interface: &str) -> Result<Props, ClientError> {
    let reply = conn
        .call_method(Some(BUS_NAME), path, Some("org.freedesktop.DBus.Properties"), "GetAll", &(interface,))
        .await?;
    Ok(reply.body().deserialize::<Props>()?)
}

fn prop<T>(props: &Props, path: &str, name: &str) -> Result<T, ClientError>
where
    T: TryFrom<OwnedValue>,
    T::Error: std::fmt::Display,
{
    let v = props.get(name).ok_or_else(|| ClientError::Bus(format!("{path} has no property {name}")))?;
    let v = v.try_clone().map_err(|e| ClientError::Bus(e.to_string()))?;
    T::try_from(v).map_err(|e| ClientError::Bus(format!("{path}: property {name}: {e}")))
}

async fn node_status(conn: &Connection, path: &str) -> Result<NodeStatus, ClientError> {
    let p = get_all(conn, path, NODE_INTERFACE).await?;
    let ping: u32 = prop(&p, path, "PingHosts")?;
    Ok(NodeStatus {
        name: prop(&p, path, "Name")?,
        state: prop(&p, path, "State")?,
        local: prop(&p, path, "Local")?,
        generation: prop(&p, path, "Generation")?,
        links: prop(&p, path, "Links")?,
        ping: Some(ping),
        checks: checks(&p, path)?,
        // Absent from an hbd older than this hactl (a rolling upgrade).
        standby: prop(&p, path, "Standby").unwrap_or(false),
    })
}

async fn group_status(conn: &Connection, path: &str) -> Result<GroupStatus, ClientError> {
    let p = get_all(conn, path, GROUP_INTERFACE).await?;
    Ok(GroupStatus {
        name: prop(&p, path, "Name")?,
        owner: prop(&p, path, "Owner")?,
        state: prop(&p, path, "State")?,
        preferred: prop(&p, path, "Preferred")?,
        resources: prop(&p, path, "Resources")?,
        failcount: prop(&p, path, "FailCount")?,
        note: prop(&p, path, "Note")?,
        checks: checks(&p, path)?,
        pinned: prop(&p, path, "Pinned").unwrap_or_default(),
    })
}

fn checks(p: &Props, path: &str) -> Result<Vec<CheckStatus>, ClientError> {
    let raw: Vec<(String, String, String, u32, u32, i64, String)> = prop(p, path, "Checks")?;
    Ok(raw
        .into_iter()
        .map(|(name, probe, state, passes, failures, latency_ms, error)| CheckStatus {
            name,
            probe,
            state,
            passes,
            failures,
            latency_ms,
            error,
        })
        .collect())
}

/// How many `GetAll` calls are in flight at once: the system bus refuses
/// more than 128 pending replies per connection (`max_replies_per_connection`),
/// and a cluster may have a thousand groups.
const IN_FLIGHT: usize = 32;

/// The cluster as hbd on this node sees it: one `GetAll` for the manager,
/// then one per node and group object, [`IN_FLIGHT`] at a time. `ping` of
/// every node is `Some` (the API reports 0 for "none").
pub async fn fetch_status(conn: &Connection) -> Result<Status, ClientError> {
    let m = get_all(conn, MANAGER_PATH, MANAGER_INTERFACE).await?;
    let node_paths: Vec<OwnedObjectPath> = prop(&m, MANAGER_PATH, "Nodes")?;
    let group_paths: Vec<OwnedObjectPath> = prop(&m, MANAGER_PATH, "Groups")?;
    let nodes: Vec<NodeStatus> = stream::iter(node_paths.iter().map(|p| node_status(conn, p.as_str())))
        .buffered(IN_FLIGHT)
        .try_collect()
        .await?;
    let groups: Vec<GroupStatus> = stream::iter(group_paths.iter().map(|p| group_status(conn, p.as_str())))
        .buffered(IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(Status {
        cluster: prop(&m, MANAGER_PATH, "ClusterName")?,
        local: prop(&m, MANAGER_PATH, "LocalNode")?,
        generation: prop(&m, MANAGER_PATH, "Generation")?,
        quorate: prop(&m, MANAGER_PATH, "Quorate")?,
        nodes,
        groups,
    })
}

/// The version of the hbd answering on `conn`; None for one older than the
/// `Version` property.
pub async fn daemon_version(conn: &Connection) -> Result<Option<String>, ClientError> {
    let reply = conn
        .call_method(
            Some(BUS_NAME),
            MANAGER_PATH,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &(MANAGER_INTERFACE, "Version"),
        )
        .await;
    match reply {
        Ok(r) => {
            let v: OwnedValue = r.body().deserialize()?;
            Ok(String::try_from(v).ok())
        }
        Err(zbus::Error::MethodError(name, _, _)) if name.as_str() == "org.freedesktop.DBus.Error.UnknownProperty" => {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Call a method of `org.hbd1.Manager`.
pub async fn call_manager<B>(conn: &Connection, method: &str, args: &B) -> Result<(), ClientError>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    conn.call_method(Some(BUS_NAME), MANAGER_PATH, Some(MANAGER_INTERFACE), method, args).await?;
    Ok(())
}

/// A signal of interest to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    GroupMoved {
        group: String,
        from: String,
        to: String,
        reason: String,
    },
    /// Some property of some object changed (or an object came or went).
    Changed,
}

/// A stream of the signals `org.hbd1` sends (everything below `/org/hbd1`).
/// Create it before the call whose effects you want to see.
pub async fn signals(conn: &Connection) -> Result<MessageStream, ClientError> {
    let rule = MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .path_namespace(MANAGER_PATH)
        .map_err(|e| ClientError::Bus(e.to_string()))?
        .build();
    Ok(MessageStream::for_match_rule(rule, conn, Some(256)).await?)
}

/// Decode a message from [`signals`]; None for ones of no interest.
pub fn decode_signal(msg: &zbus::Message) -> Option<Signal> {
    let h = msg.header();
    let member = h.member()?;
    match (h.interface()?.as_str(), member.as_str()) {
        (MANAGER_INTERFACE, "GroupMoved") => {
            let (group, from, to, reason): (String, String, String, String) = msg.body().deserialize().ok()?;
            Some(Signal::GroupMoved { group, from, to, reason })
        }
        ("org.freedesktop.DBus.Properties", "PropertiesChanged") => Some(Signal::Changed),
        _ => None,
    }
}
