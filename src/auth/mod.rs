//! Platform logins: the OAuth device code flow for Twitch and Google
//! (YouTube), token refresh and Twitch's validation ([`oauth`]), tokens
//! encrypted at rest ([`vault`]), and the
//! [`CredentialSource`] an adapter asks for a fresh token. Tokens are
//! [`Secret`]s: they never reach a log, a `Debug` print or an error.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::secret::Secret;

pub mod oauth;
pub mod persist;
pub mod vault;

pub use oauth::TokenSink;
pub use oauth::{
    DeviceCode, OAuthClient, Provider, RefreshingAuth, TwitchAuth, device_login, device_login_with,
};
pub use persist::{
    KEY_FILE_NAME, LoginStoreError, StoreSink, key_path, load_token, open_vault, save_token,
    stored_credentials, twitch_credentials,
};
pub use vault::{SealedToken, TokenVault, VaultError};

/// Scopes clank asks Twitch for: read and write chat.
pub const TWITCH_SCOPES: &[&str] = &["chat:read", "chat:edit"];

/// The scope clank asks Google for. `liveChatMessages.insert` accepts
/// `youtube` or `youtube.force-ssl`, but Google's device flow only grants a
/// short list of scopes and `youtube.force-ssl` is not on it (Google answers
/// `invalid_scope: Invalid device flow scope`); `youtube` is.
pub const YOUTUBE_SCOPES: &[&str] = &["https://www.googleapis.com/auth/youtube"];

/// An OAuth token pair as Twitch or Google issued it.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub access: Secret,
    /// Single use on Twitch: every refresh returns a new one, which must be stored.
    pub refresh: Option<Secret>,
    /// When the access token stops working, if Twitch said.
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    /// The account's name: Twitch's login from `/oauth2/validate`, the
    /// YouTube channel's title for Google.
    pub login: Option<String>,
}

/// A login name and token for the IRC `PASS`/`NICK` lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    pub login: String,
    pub token: Secret,
}

/// What can go wrong while logging in or keeping a token fresh. Texts never
/// contain a token. They name no platform: the caller's status line does.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("the login was denied in the browser")]
    Denied,
    #[error(
        "the device code expired before the login was confirmed; run `clank login` for this platform again"
    )]
    Expired,
    #[error(
        "the saved token is no longer accepted (revoked or expired); run `clank login` for this platform again"
    )]
    Revoked,
    #[error("no login saved; run `clank login` for this platform (reading works without one)")]
    NotLoggedIn,
    #[error("cannot reach the OAuth service: {0}")]
    Network(String),
    #[error("unexpected answer from the OAuth service: {0}")]
    Protocol(String),
    #[error("cannot save the token: {0}")]
    Persist(String),
}

impl AuthError {
    /// The text with the login command of `platform` spelled out, for a
    /// status line ("run `clank login twitch` again").
    pub fn for_platform(&self, platform: crate::model::Platform) -> String {
        self.to_string().replace(
            "`clank login` for this platform",
            &format!("`clank login {platform}`"),
        )
    }

    /// True when only a new `clank login` helps (no point in retrying).
    pub fn needs_login(&self) -> bool {
        matches!(
            self,
            AuthError::Denied | AuthError::Expired | AuthError::Revoked | AuthError::NotLoggedIn
        )
    }
}

/// Where an adapter gets its login from. Implemented by [`RefreshingAuth`];
/// tests can use [`StaticCredentials`].
#[async_trait]
pub trait CredentialSource: Send + Sync {
    /// A token good for at least a few minutes (refreshed first if needed).
    async fn credentials(&self) -> Result<Credentials, AuthError>;
    /// The platform refused the token: refresh it now, once.
    async fn refresh_after_failure(&self) -> Result<Credentials, AuthError>;
    /// Periodic check that the token still works (Twitch asks for hourly).
    async fn validate(&self) -> Result<(), AuthError>;
}

/// A fixed login, for tests and for a token given on the command line.
pub struct StaticCredentials(pub Credentials);

#[async_trait]
impl CredentialSource for StaticCredentials {
    async fn credentials(&self) -> Result<Credentials, AuthError> {
        Ok(self.0.clone())
    }
    async fn refresh_after_failure(&self) -> Result<Credentials, AuthError> {
        Err(AuthError::Revoked)
    }
    async fn validate(&self) -> Result<(), AuthError> {
        Ok(())
    }
}
