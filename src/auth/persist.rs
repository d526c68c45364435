//! Saving and loading logins: tokens are sealed by the [`TokenVault`] before
//! they reach a [`TokenStore`] (the SQLite store's `auth_tokens` table), and
//! a row that cannot be opened is a clear "log in again", never a crash.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::oauth::{OAuthClient, PersistFn, TwitchAuth};
use super::vault::{SealedToken, TokenVault, VaultError};
use super::{AuthError, CredentialSource, Token};
use crate::model::Platform;
use crate::secret::Secret;

/// The key file's name inside the data directory.
pub const KEY_FILE_NAME: &str = "token.key";

/// Where sealed tokens live. Only sealed bytes and non-secret metadata cross
/// this boundary.
pub trait TokenStore: Send + Sync {
    /// Replaces the saved login of `platform` (one account per platform).
    fn save_sealed(
        &self,
        platform: Platform,
        account: &str,
        sealed: &SealedToken,
        scopes: &[String],
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), String>;
    /// The saved login of `platform`: (account, sealed token).
    fn load_sealed(&self, platform: Platform) -> Result<Option<(String, SealedToken)>, String>;
    /// Forgets the saved login of `platform`.
    fn delete_sealed(&self, platform: Platform) -> Result<(), String>;
}

/// Why a saved login could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoginStoreError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("cannot read or write saved logins: {0}")]
    Store(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Seals and saves a token (after `clank login twitch`, and on every refresh).
pub fn save_token(
    vault: &TokenVault,
    store: &dyn TokenStore,
    platform: Platform,
    token: &Token,
) -> Result<(), LoginStoreError> {
    let sealed = vault.seal(token)?;
    let account = token.login.as_deref().unwrap_or("");
    store
        .save_sealed(platform, account, &sealed, &token.scopes, token.expires_at)
        .map_err(LoginStoreError::Store)
}

/// Loads and opens the saved token of `platform`, if any. A wrong key or a
/// tampered row is [`VaultError::Undecryptable`], whose text asks the
/// operator to log in again.
pub fn load_token(
    vault: &TokenVault,
    store: &dyn TokenStore,
    platform: Platform,
) -> Result<Option<Token>, LoginStoreError> {
    match store
        .load_sealed(platform)
        .map_err(LoginStoreError::Store)?
    {
        None => Ok(None),
        Some((_, sealed)) => Ok(Some(vault.open(&sealed)?)),
    }
}

/// A [`PersistFn`] that seals each rotated token into `store`.
pub fn persist_to(vault: Arc<TokenVault>, store: Arc<dyn TokenStore>) -> PersistFn {
    Arc::new(move |token: &Token| {
        save_token(&vault, store.as_ref(), Platform::Twitch, token).map_err(|e| e.to_string())
    })
}

/// The adapter's credentials at start-up: `Ok(None)` when nobody logged in
/// (read-only), an error when a saved login exists but cannot be opened (the
/// caller shows it and runs read-only).
pub fn twitch_credentials(
    oauth_base_url: &str,
    client_id: &str,
    client_secret: Option<Secret>,
    vault: Arc<TokenVault>,
    store: Arc<dyn TokenStore>,
) -> Result<Option<Arc<dyn CredentialSource>>, LoginStoreError> {
    let Some(token) = load_token(&vault, store.as_ref(), Platform::Twitch)? else {
        return Ok(None);
    };
    let client = OAuthClient::new(oauth_base_url, client_id, client_secret)?;
    Ok(Some(Arc::new(TwitchAuth::new(
        client,
        token,
        persist_to(vault, store),
    ))))
}
