//! Serving org.hbd1 on the system bus, and again after dbus restarts.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::dbus::ApiHandle;

/// Connect to the system bus and serve the API; the connection must be kept
/// alive for as long as the name should be owned.
pub async fn start(api: ApiHandle) -> anyhow::Result<zbus::Connection> {
    let conn = zbus::Connection::system().await?;
    crate::dbus::serve(&conn, api).await?;
    Ok(conn)
}

/// Serve the API again whenever its connection closes (dbus restarted):
/// an hbd that runs but cannot be asked is as bad as one that is down.
/// One line when the name is lost, one when it is back, one a minute in
/// between.
pub async fn keep(mut conn: zbus::Connection, api: ApiHandle) {
    loop {
        conn.closed().await;
        let lost = Instant::now();
        warn!(HBD_EVENT = "api-lost", "lost the system bus: org.hbd1 is not served until it is back");
        let mut delay = Duration::from_millis(50);
        let mut next_note = lost + Duration::from_secs(60);
        conn = loop {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
            match start(api.clone()).await {
                Ok(c) => break c,
                Err(e) if Instant::now() >= next_note => {
                    warn!(
                        HBD_EVENT = "api-lost",
                        "still cannot serve org.hbd1 after {} s: {e:#}",
                        lost.elapsed().as_secs()
                    );
                    next_note += Duration::from_secs(60);
                }
                Err(_) => {}
            }
        };
        info!(HBD_EVENT = "api-back", "serving org.hbd1 again after {} ms", lost.elapsed().as_millis());
    }
}
