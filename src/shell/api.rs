//! Serving org.hbd1 on the system bus.

use crate::dbus::ApiHandle;

/// Connect to the system bus and serve the API; the connection must be kept
/// alive for as long as the name should be owned.
pub async fn start(api: ApiHandle) -> anyhow::Result<zbus::Connection> {
    let conn = zbus::Connection::system().await?;
    crate::dbus::serve(&conn, api).await?;
    Ok(conn)
}
