//! Opening the IRC socket at the configured address (twitch-irc's own
//! connectors hard-code irc.chat.twitch.tv), TLS with rustls and the webpki
//! roots, and the check that refuses plain text to anything but loopback.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};

use crate::validate::ConfigError;

/// A socket IRC lines are read from and written to.
pub trait IrcSocket: AsyncRead + AsyncWrite + Send + Sync + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin> IrcSocket for T {}

/// Where to connect and how.
#[derive(Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// `None` = plain TCP (loopback only, see [`validate_transport`]).
    pub tls: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Endpoint {
    /// From the `twitch.irc_addr` and `twitch.tls` keys, validated.
    pub fn from_config(irc_addr: &str, tls: bool) -> Result<Self, ConfigError> {
        validate_transport(irc_addr, tls)?;
        let (host, port) = split_addr(irc_addr)?;
        let tls = if tls {
            Some(default_tls_config().map_err(|e| {
                ConfigError::invalid("twitch.tls", format!("TLS setup failed: {e}"))
            })?)
        } else {
            None
        };
        Ok(Self { host, port, tls })
    }
}

/// Opens the socket to `endpoint`: TCP, then TLS unless the endpoint is
/// plain-text loopback.
pub async fn connect(endpoint: &Endpoint) -> io::Result<Box<dyn IrcSocket>> {
    let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port)).await?;
    // Chat lines are small and latency matters more than throughput.
    tcp.set_nodelay(true)?;
    match &endpoint.tls {
        None => Ok(Box::new(tcp)),
        Some(cfg) => {
            let name = ServerName::try_from(endpoint.host.clone()).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("bad TLS name: {e}"))
            })?;
            let tls = TlsConnector::from(cfg.clone()).connect(name, tcp).await?;
            Ok(Box::new(tls))
        }
    }
}

/// rustls with aws-lc-rs (the provider reqwest already brings) and the
/// Mozilla roots: no OS certificate store needed, and the provider is named
/// explicitly so a second provider enabled elsewhere cannot make rustls panic
/// over an ambiguous default.
pub fn default_tls_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

fn split_addr(addr: &str) -> Result<(String, u16), ConfigError> {
    let bad = || {
        ConfigError::invalid(
            "twitch.irc_addr",
            format!("{addr:?} must be host:port, e.g. irc.chat.twitch.tv:6697"),
        )
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks `twitch.irc_addr` / `twitch.tls`: the address must be host:port,
/// and plain text (`tls = false`) is refused unless the host is loopback,
/// because the login token travels in the `PASS` line.
pub fn validate_transport(irc_addr: &str, tls: bool) -> Result<(), ConfigError> {
    let (host, _) = split_addr(irc_addr)?;
    if !tls && !is_loopback(&host) {
        return Err(ConfigError::invalid(
            "twitch.tls",
            format!(
                "false is only allowed for a loopback address (127.0.0.1, ::1, localhost), not {host:?}: the login token would travel in clear text"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_only_to_loopback() {
        assert!(validate_transport("irc.chat.twitch.tv:6697", true).is_ok());
        assert!(validate_transport("127.0.0.1:6667", false).is_ok());
        assert!(validate_transport("[::1]:6667", false).is_ok());
        assert!(validate_transport("localhost:6667", false).is_ok());
        let err = validate_transport("irc.chat.twitch.tv:6667", false).unwrap_err();
        assert!(err.to_string().contains("twitch.tls"), "{err}");
        assert!(validate_transport("10.0.0.1:6667", false).is_err());
        let err = validate_transport("irc.chat.twitch.tv", true).unwrap_err();
        assert!(err.to_string().contains("twitch.irc_addr"), "{err}");
        assert!(validate_transport("host:0", true).is_err());
    }

    #[test]
    fn endpoint_from_config() {
        let ep = Endpoint::from_config("irc.chat.twitch.tv:6697", true).unwrap();
        assert_eq!((ep.host.as_str(), ep.port), ("irc.chat.twitch.tv", 6697));
        assert!(ep.tls.is_some());
        let ep = Endpoint::from_config("[::1]:7000", false).unwrap();
        assert_eq!(
            (ep.host.as_str(), ep.port, ep.tls.is_none()),
            ("::1", 7000, true)
        );
    }
}
