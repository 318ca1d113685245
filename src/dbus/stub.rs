// Placeholder until the API layer lands.
pub async fn serve(_conn: &zbus::Connection, _api: super::ApiHandle) -> Result<(), zbus::Error> {
    Err(zbus::Error::Failure("the D-Bus API is not built yet".into()))
}
