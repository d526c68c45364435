//! OAuth over HTTP for Twitch and Google: the device code flow (RFC 8628:
//! ask for a code, then poll the token endpoint), refresh, and Twitch's
//! `GET /oauth2/validate`. The two services speak the same grant with
//! different paths, parameter names and error fields ([`Provider`]). The
//! base URL is configurable so tests can point it at a loopback fake.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde::Deserialize;

use super::{AuthError, CredentialSource, Credentials, Token};
use crate::secret::Secret;

/// Twitch's identity service.
pub const DEFAULT_BASE_URL: &str = "https://id.twitch.tv";

/// Google's OAuth 2.0 server (device code and token endpoints).
pub const GOOGLE_BASE_URL: &str = "https://oauth2.googleapis.com";

/// Which OAuth service a client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `id.twitch.tv`: `/oauth2/device`, `/oauth2/token`, `/oauth2/validate`;
    /// errors in `message`; scopes in `scopes`; refresh tokens rotate.
    Twitch,
    /// `oauth2.googleapis.com`: `/device/code`, `/token`; errors in `error`
    /// (RFC 8628 names); scopes in `scope`; no validate endpoint.
    Google,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Twitch => "Twitch",
            Provider::Google => "Google",
        }
    }
    fn device_path(self) -> &'static str {
        match self {
            Provider::Twitch => "/oauth2/device",
            Provider::Google => "/device/code",
        }
    }
    fn token_path(self) -> &'static str {
        match self {
            Provider::Twitch => "/oauth2/token",
            Provider::Google => "/token",
        }
    }
    fn scope_param(self) -> &'static str {
        match self {
            Provider::Twitch => "scopes",
            Provider::Google => "scope",
        }
    }
}

/// Refresh this long before the access token expires.
const REFRESH_MARGIN_S: i64 = 300;

/// What the user must do to finish a device login.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    /// The short code the user types at `verification_uri`.
    pub user_code: String,
    pub verification_uri: String,
    /// Seconds until the code expires.
    pub expires_in: u64,
    /// Seconds between two polls, as Twitch asks.
    pub interval: u64,
    device_code: Secret,
}

/// What `/oauth2/validate` says about a token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Validation {
    pub login: String,
    pub user_id: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct DeviceResponse {
    device_code: String,
    user_code: String,
    /// Google spells it `verification_url`.
    #[serde(alias = "verification_url")]
    verification_uri: String,
    expires_in: u64,
    /// RFC 8628 makes it optional, with 5 s as the default.
    #[serde(default = "default_interval")]
    interval: u64,
}

fn default_interval() -> u64 {
    5
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
    #[serde(default, deserialize_with = "scope_list")]
    scope: Vec<String>,
}

/// Twitch sends the granted scopes as a list, Google as one
/// space-separated string.
fn scope_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Text(String),
        None(()),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(l) => l,
        Either::Text(t) => t.split_whitespace().map(str::to_string).collect(),
        Either::None(()) => Vec::new(),
    })
}

#[derive(Deserialize)]
struct ErrorResponse {
    #[serde(default)]
    message: String,
    #[serde(default)]
    error: String,
}

impl TokenResponse {
    fn into_token(self) -> Token {
        Token {
            access: Secret::new(self.access_token),
            refresh: self.refresh_token.map(Secret::new),
            expires_at: self
                .expires_in
                .map(|s| Utc::now() + chrono::Duration::seconds(s)),
            scopes: self.scope,
            login: None,
        }
    }
}

/// An HTTP client for one OAuth application (Twitch or Google).
#[derive(Clone)]
pub struct OAuthClient {
    http: reqwest::Client,
    provider: Provider,
    base: String,
    client_id: String,
    client_secret: Option<Secret>,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("provider", &self.provider)
            .field("base", &self.base)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn net(e: reqwest::Error) -> AuthError {
    // reqwest's text names the URL and the cause; URLs carry no token here.
    AuthError::Network(e.without_url().to_string())
}

impl OAuthClient {
    /// `base_url` is `https://id.twitch.tv` in production. A confidential
    /// application passes its secret; device-flow (public) clients do not.
    pub fn new(
        base_url: &str,
        client_id: &str,
        client_secret: Option<Secret>,
    ) -> Result<Self, AuthError> {
        Self::for_provider(Provider::Twitch, base_url, client_id, client_secret)
    }

    /// A client for `provider`. Google's "TVs and Limited Input devices"
    /// clients come with a secret that the token endpoint requires.
    pub fn for_provider(
        provider: Provider,
        base_url: &str,
        client_id: &str,
        client_secret: Option<Secret>,
    ) -> Result<Self, AuthError> {
        let mut tls = crate::adapters::twitch::connect::default_tls_config()
            .map(|c| (*c).clone())
            .map_err(|e| AuthError::Network(format!("TLS setup failed: {e}")))?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("clank/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(net)?;
        Ok(Self {
            http,
            provider,
            base: base_url.trim_end_matches('/').to_string(),
            client_id: client_id.to_string(),
            client_secret,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Step 1 of the device flow.
    pub async fn start_device(&self, scopes: &[&str]) -> Result<DeviceCode, AuthError> {
        let resp = self
            .http
            .post(self.url(self.provider.device_path()))
            .form(&[
                ("client_id", self.client_id.as_str()),
                (self.provider.scope_param(), &scopes.join(" ")),
            ])
            .send()
            .await
            .map_err(net)?;
        if !resp.status().is_success() {
            return Err(self.protocol_error(resp).await);
        }
        let d: DeviceResponse = resp
            .json()
            .await
            .map_err(|e| AuthError::Protocol(e.without_url().to_string()))?;
        Ok(DeviceCode {
            user_code: d.user_code,
            verification_uri: d.verification_uri,
            expires_in: d.expires_in,
            interval: d.interval.max(1),
            device_code: Secret::new(d.device_code),
        })
    }

    /// Step 2: polls until the user confirms, denies, or the code expires,
    /// honouring `interval` and `slow_down`.
    pub async fn poll_device(
        &self,
        code: &DeviceCode,
        scopes: &[&str],
    ) -> Result<Token, AuthError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(code.expires_in);
        let mut interval = Duration::from_secs(code.interval);
        let scopes = scopes.join(" ");
        loop {
            tokio::time::sleep(interval).await;
            if tokio::time::Instant::now() >= deadline {
                return Err(AuthError::Expired);
            }
            let mut form = vec![
                ("client_id", self.client_id.as_str()),
                ("device_code", code.device_code.expose()),
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ];
            if self.provider == Provider::Twitch {
                form.push(("scopes", scopes.as_str()));
            }
            if let Some(s) = &self.client_secret {
                form.push(("client_secret", s.expose()));
            }
            let resp = self
                .http
                .post(self.url(self.provider.token_path()))
                .form(&form)
                .send()
                .await
                .map_err(net)?;
            if resp.status().is_success() {
                return resp
                    .json::<TokenResponse>()
                    .await
                    .map(TokenResponse::into_token)
                    .map_err(|e| AuthError::Protocol(e.without_url().to_string()));
            }
            let message = self.error_message(resp).await;
            match message.as_str() {
                "authorization_pending" => {}
                "slow_down" => interval += Duration::from_secs(5),
                "access_denied" | "authorization_denied" => return Err(AuthError::Denied),
                m if m.contains("expired") || m.contains("invalid device code") => {
                    return Err(AuthError::Expired);
                }
                other => return Err(AuthError::Protocol(other.to_string())),
            }
        }
    }

    /// Exchanges a refresh token for a new pair (Twitch rotates the refresh
    /// token: the returned one must replace the old one).
    pub async fn refresh(&self, refresh: &Secret) -> Result<Token, AuthError> {
        let mut form = vec![
            ("client_id", self.client_id.as_str()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose()),
        ];
        if let Some(s) = &self.client_secret {
            form.push(("client_secret", s.expose()));
        }
        let resp = self
            .http
            .post(self.url(self.provider.token_path()))
            .form(&form)
            .send()
            .await
            .map_err(net)?;
        let status = resp.status();
        if status.is_success() {
            let mut token = resp
                .json::<TokenResponse>()
                .await
                .map(TokenResponse::into_token)
                .map_err(|e| AuthError::Protocol(e.without_url().to_string()))?;
            if token.refresh.is_none() {
                token.refresh = Some(refresh.clone());
            }
            return Ok(token);
        }
        if status.as_u16() == 400 || status.as_u16() == 401 {
            return Err(AuthError::Revoked);
        }
        Err(self.protocol_error(resp).await)
    }

    /// `GET /oauth2/validate`; 401 is [`AuthError::Revoked`].
    pub async fn validate(&self, access: &Secret) -> Result<Validation, AuthError> {
        if self.provider != Provider::Twitch {
            return Err(AuthError::Protocol(format!(
                "{} has no validate endpoint",
                self.provider.name()
            )));
        }
        let resp = self
            .http
            .get(self.url("/oauth2/validate"))
            .header("Authorization", format!("OAuth {}", access.expose()))
            .send()
            .await
            .map_err(net)?;
        if resp.status().as_u16() == 401 {
            return Err(AuthError::Revoked);
        }
        if !resp.status().is_success() {
            return Err(self.protocol_error(resp).await);
        }
        resp.json()
            .await
            .map_err(|e| AuthError::Protocol(e.without_url().to_string()))
    }

    /// The error code of a refused request: Twitch puts it in `message`
    /// (its `error` is the HTTP reason), Google in `error`.
    async fn error_message(&self, resp: reqwest::Response) -> String {
        let Ok(e) = resp.json::<ErrorResponse>().await else {
            return String::new();
        };
        match self.provider {
            Provider::Twitch => e.message,
            Provider::Google => e.error,
        }
    }

    async fn protocol_error(&self, resp: reqwest::Response) -> AuthError {
        let status = resp.status();
        let message = self.error_message(resp).await;
        AuthError::Protocol(format!("HTTP {status}: {message}"))
    }
}

/// The whole device login: asks for a code, hands it to `on_code` (the CLI
/// prints "go to URL and enter CODE"), polls until done, then validates the
/// token to learn the login name.
pub async fn device_login(
    base_url: &str,
    client_id: &str,
    scopes: &[&str],
    on_code: impl Fn(&DeviceCode),
) -> Result<Token, AuthError> {
    let client = OAuthClient::new(base_url, client_id, None)?;
    device_login_with(&client, scopes, on_code).await
}

/// The device login with a ready client (either provider). Only Twitch
/// tells the login name here; Google's is looked up by the caller (the
/// YouTube channel, through the Data API).
pub async fn device_login_with(
    client: &OAuthClient,
    scopes: &[&str],
    on_code: impl Fn(&DeviceCode),
) -> Result<Token, AuthError> {
    let code = client.start_device(scopes).await?;
    on_code(&code);
    let mut token = client.poll_device(&code, scopes).await?;
    if client.provider == Provider::Twitch {
        let v = client.validate(&token.access).await?;
        token.login = Some(v.login);
    }
    Ok(token)
}

/// Saves a token after it changed (sealed into the store's `auth_tokens`).
/// Async because the store answers over a channel and callers run on tokio.
#[async_trait]
pub trait TokenSink: Send + Sync {
    async fn save(&self, token: &Token) -> Result<(), String>;
}

/// The refreshing Twitch login, by its old name.
pub type TwitchAuth = RefreshingAuth;

/// A refreshing login (Twitch or Google): the [`CredentialSource`] an
/// adapter uses. Twitch tokens are validated at start-up, as Twitch asks;
/// Google has no such endpoint, so a refused call triggers the refresh.
pub struct RefreshingAuth {
    client: OAuthClient,
    token: tokio::sync::Mutex<Token>,
    persist: Arc<dyn TokenSink>,
    /// Twitch asks apps to validate at start-up; the first `credentials()` does.
    validated: std::sync::atomic::AtomicBool,
}

impl RefreshingAuth {
    pub fn new(client: OAuthClient, token: Token, persist: Arc<dyn TokenSink>) -> Self {
        Self {
            client,
            token: tokio::sync::Mutex::new(token),
            persist,
            validated: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Refreshes under the lock, stores the rotated pair, keeps the login.
    async fn refresh_locked(&self, token: &mut Token) -> Result<(), AuthError> {
        let refresh = token.refresh.clone().ok_or(AuthError::Revoked)?;
        let mut fresh = self.client.refresh(&refresh).await?;
        fresh.login = token.login.clone();
        if fresh.scopes.is_empty() {
            fresh.scopes = token.scopes.clone();
        }
        *token = fresh;
        self.persist.save(token).await.map_err(AuthError::Persist)?;
        tracing::info!(target: "clank::auth", provider = self.client.provider.name(), "token refreshed");
        Ok(())
    }

    async fn ensure_login(&self, token: &mut Token) -> Result<String, AuthError> {
        if let Some(l) = &token.login {
            return Ok(l.clone());
        }
        if self.client.provider != Provider::Twitch {
            return Ok(String::new());
        }
        let v = self.client.validate(&token.access).await?;
        token.login = Some(v.login.clone());
        self.persist.save(token).await.map_err(AuthError::Persist)?;
        Ok(v.login)
    }
}

#[async_trait]
impl CredentialSource for RefreshingAuth {
    async fn credentials(&self) -> Result<Credentials, AuthError> {
        if self.client.provider == Provider::Twitch
            && !self
                .validated
                .swap(true, std::sync::atomic::Ordering::SeqCst)
            && let Err(e) = self.validate().await
        {
            // A network failure leaves the flag unset, to try again next time.
            if !e.needs_login() {
                self.validated
                    .store(false, std::sync::atomic::Ordering::SeqCst);
            }
            return Err(e);
        }
        let mut token = self.token.lock().await;
        let expiring = token
            .expires_at
            .is_some_and(|at| at <= Utc::now() + chrono::Duration::seconds(REFRESH_MARGIN_S));
        if expiring {
            self.refresh_locked(&mut token).await?;
        }
        let login = self.ensure_login(&mut token).await?;
        Ok(Credentials {
            login,
            token: token.access.clone(),
        })
    }

    async fn refresh_after_failure(&self) -> Result<Credentials, AuthError> {
        let mut token = self.token.lock().await;
        self.refresh_locked(&mut token).await?;
        let login = self.ensure_login(&mut token).await?;
        Ok(Credentials {
            login,
            token: token.access.clone(),
        })
    }

    async fn validate(&self) -> Result<(), AuthError> {
        if self.client.provider != Provider::Twitch {
            return Ok(());
        }
        let mut token = self.token.lock().await;
        match self.client.validate(&token.access).await {
            Ok(v) => {
                if token.login.as_deref() != Some(v.login.as_str()) {
                    token.login = Some(v.login);
                    self.persist
                        .save(&token)
                        .await
                        .map_err(AuthError::Persist)?;
                }
                Ok(())
            }
            Err(AuthError::Revoked) => self.refresh_locked(&mut token).await,
            Err(e) => Err(e),
        }
    }
}
