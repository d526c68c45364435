//! Saving and loading logins: tokens are sealed by the [`TokenVault`] before
//! they reach the store's `auth_tokens` table, and a row that cannot be
//! opened is a clear "log in again", never a crash.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::oauth::{OAuthClient, RefreshingAuth, TokenSink};
use super::vault::{SealedToken, TokenVault, VaultError};
use super::{AuthError, CredentialSource, Token};
use crate::model::Platform;
use crate::secret::Secret;
use crate::store::{AuthTokenRow, Store, StoreError};

/// The key file's name inside the data directory.
pub const KEY_FILE_NAME: &str = "token.key";

/// The key file for a data directory.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE_NAME)
}

/// Why a saved login could not be used or saved.
#[derive(Debug, thiserror::Error)]
pub enum LoginStoreError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("cannot read or write saved logins: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Seals and saves a token (after `clank login`, and on every refresh).
/// Durable when it returns.
pub async fn save_token(
    vault: &TokenVault,
    store: &Store,
    platform: Platform,
    token: &Token,
) -> Result<(), LoginStoreError> {
    let SealedToken(sealed) = vault.seal(token)?;
    store
        .save_auth_token_async(AuthTokenRow {
            platform,
            account: token.login.clone().unwrap_or_default(),
            sealed,
            scopes: token.scopes.join(" "),
            expires_at: token.expires_at,
        })
        .await?;
    Ok(())
}

/// Loads and opens the saved token of `platform`, if any. A wrong key or a
/// tampered row is [`VaultError::Undecryptable`], whose text asks the
/// operator to log in again.
pub async fn load_token(
    vault: &TokenVault,
    store: &Store,
    platform: Platform,
) -> Result<Option<Token>, LoginStoreError> {
    match store.load_auth_token_async(platform).await? {
        None => Ok(None),
        Some(row) => Ok(Some(vault.open(&SealedToken(row.sealed))?)),
    }
}

/// Opens (or creates) the key file beside the database: the one vault both
/// `clank login` and the adapters use.
pub fn open_vault(db_path: &Path) -> Result<TokenVault, VaultError> {
    let dir = db_path.parent().unwrap_or_else(|| Path::new("."));
    TokenVault::open_or_create(&key_path(dir))
}

/// Seals each refreshed token of one platform into the store.
pub struct StoreSink {
    pub vault: Arc<TokenVault>,
    pub store: Store,
    pub platform: Platform,
}

#[async_trait]
impl TokenSink for StoreSink {
    async fn save(&self, token: &Token) -> Result<(), String> {
        save_token(&self.vault, &self.store, self.platform, token)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The adapter's credentials at start-up: `Ok(None)` when nobody logged in
/// (read-only), an error when a saved login exists but cannot be opened (the
/// caller shows it and runs read-only).
pub async fn twitch_credentials(
    oauth_base_url: &str,
    client_id: &str,
    client_secret: Option<Secret>,
    vault: Arc<TokenVault>,
    store: Store,
) -> Result<Option<Arc<dyn CredentialSource>>, LoginStoreError> {
    let client = OAuthClient::new(oauth_base_url, client_id, client_secret)?;
    stored_credentials(Platform::Twitch, client, vault, store).await
}

/// The saved login of `platform`, refreshed through `client` (whose
/// provider must be the platform's), or `Ok(None)` when nobody logged in.
pub async fn stored_credentials(
    platform: Platform,
    client: OAuthClient,
    vault: Arc<TokenVault>,
    store: Store,
) -> Result<Option<Arc<dyn CredentialSource>>, LoginStoreError> {
    let Some(token) = load_token(&vault, &store, platform).await? else {
        return Ok(None);
    };
    Ok(Some(Arc::new(RefreshingAuth::new(
        client,
        token,
        Arc::new(StoreSink {
            vault,
            store,
            platform,
        }),
    ))))
}
