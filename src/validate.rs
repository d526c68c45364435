//! Validation helpers every config section uses: the [`ConfigError`] type and
//! range checks. A leaf module (it imports nothing from the crate) so that the
//! sections in `engine/`, `reply/`, `store/`, `ui/` and `adapters/` can
//! validate themselves without importing `config`, which imports them.

use std::fmt::Display;
use std::path::PathBuf;

/// A configuration problem, always naming the key or variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key {key}: {message}")]
    Invalid { key: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Checks `lo <= value <= hi`, else an error naming `key` and the allowed range.
pub fn check_range<T: PartialOrd + Display>(
    key: &str,
    value: T,
    lo: T,
    hi: T,
) -> Result<(), ConfigError> {
    if value >= lo && value <= hi {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!("{value} is out of range (allowed: {lo} to {hi})"),
        ))
    }
}

/// Checks that an optional URL is http:// or https://.
pub fn check_url(key: &str, url: Option<&str>) -> Result<(), ConfigError> {
    match url {
        None => Ok(()),
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => Ok(()),
        Some(u) => Err(ConfigError::invalid(
            key,
            format!("{u:?} is not an http:// or https:// URL"),
        )),
    }
}

/// An API key or token must never cross the network in clear: plain http
/// is for a loopback fake only.
pub fn check_plain_http_loopback(key: &str, url: &str) -> Result<(), ConfigError> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Ok(());
    };
    let host_port = rest.split('/').next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!("{url:?} is plain http to a non-loopback host; use https://"),
        ))
    }
}

/// How an environment variable's text becomes a config value.
#[derive(Debug, Clone, Copy)]
pub enum EnvKind {
    Int,
    Bool,
    Str,
    /// Comma separated.
    List,
    DatabaseUrl,
    /// `N` or `MIN-MAX` seconds.
    DwellRange,
}

/// An environment variable, the config key it sets and how it is read.
pub type EnvVar = (&'static str, &'static str, EnvKind);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_errors_name_the_key_and_the_range() {
        assert!(check_range("a.b", 5, 1, 10).is_ok());
        assert!(check_range("a.b", 1.0, 1.0, 1.0).is_ok());
        let e = check_range("a.b", 11, 1, 10).unwrap_err().to_string();
        assert_eq!(e, "config key a.b: 11 is out of range (allowed: 1 to 10)");
    }
}
