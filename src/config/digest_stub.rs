// Temporary until the config layer lands.
impl super::Config {
    pub fn digest(&self) -> u64 {
        0
    }
}
