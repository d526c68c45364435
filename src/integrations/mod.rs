//! Outside services clank talks to besides chat and the LLM: the autonomous
//! agent ([`agent`]: context out, guidance in) and the VTuber avatar
//! ([`avatar`]: sent replies to speak). Both are optional and never fatal.

pub mod agent;
pub mod avatar;

use std::time::Duration;

/// The HTTP client both integrations use: a whole-request timeout, a shorter
/// connect timeout (a dead peer should fail fast), no proxy (the peers are
/// local), and clank's user agent.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .no_proxy()
        .user_agent(concat!("clank/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}
