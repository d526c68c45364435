//! Tokens encrypted at rest with XChaCha20-Poly1305. The 256-bit key lives in
//! a file of its own in the data directory, created with mode 0600; a sealed
//! token is `version || nonce || ciphertext`, authenticated together with a
//! fixed label, so a wrong key or a tampered row is detected, never guessed.

use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::Token;
use crate::secret::Secret;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const AAD: &[u8] = b"clank auth_tokens v1";

/// An encrypted token, as stored in the `auth_tokens` table.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedToken(pub Vec<u8>);

impl std::fmt::Debug for SealedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedToken({} bytes)", self.0.len())
    }
}

/// Why the vault could not do its job. Every variant that means "the saved
/// login is unusable" tells the operator how to get a new one.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("cannot read or create the token key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the token key file {path} is not a clank key (expected 64 hex digits); move it away and run `clank login twitch` and `clank login youtube` again"
    )]
    KeyFormat { path: PathBuf },
    #[error(
        "the token key file {path} can be read by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error(
        "the saved login cannot be decrypted (wrong key file or a tampered database row); run `clank login` for that platform again"
    )]
    Undecryptable,
    #[error("encrypting the token failed")]
    Encrypt,
}

#[derive(Serialize, Deserialize)]
struct PlainToken {
    access: String,
    refresh: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    scopes: Vec<String>,
    login: Option<String>,
}

impl Drop for PlainToken {
    fn drop(&mut self) {
        self.access.zeroize();
        if let Some(r) = self.refresh.as_mut() {
            r.zeroize();
        }
    }
}

/// Seals and opens tokens with the key from one key file.
pub struct TokenVault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for TokenVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenVault(***)")
    }
}

fn hex_decode(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

impl TokenVault {
    /// Reads the key from `key_path`, or creates a new random key there
    /// (mode 0600, parent directories as needed).
    pub fn open_or_create(key_path: &Path) -> Result<Self, VaultError> {
        let key_err = |source| VaultError::KeyFile {
            path: key_path.to_path_buf(),
            source,
        };
        match std::fs::read_to_string(key_path) {
            Ok(mut text) => {
                check_permissions(key_path)?;
                let bytes = hex_decode(&text);
                text.zeroize();
                let mut bytes = bytes.ok_or_else(|| VaultError::KeyFormat {
                    path: key_path.to_path_buf(),
                })?;
                let cipher = XChaCha20Poly1305::new(Key::from_slice(&bytes));
                bytes.zeroize();
                Ok(Self { cipher })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = key_path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(key_err)?;
                }
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                let mut hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                let written = write_new_private_file(key_path, hex.as_bytes());
                hex.zeroize();
                written.map_err(key_err)?;
                Ok(Self {
                    cipher: XChaCha20Poly1305::new(&key),
                })
            }
            Err(e) => Err(key_err(e)),
        }
    }

    /// Encrypts a token with a fresh random nonce.
    pub fn seal(&self, token: &Token) -> Result<SealedToken, VaultError> {
        let plain = PlainToken {
            access: token.access.expose().to_string(),
            refresh: token.refresh.as_ref().map(|r| r.expose().to_string()),
            expires_at: token.expires_at,
            scopes: token.scopes.clone(),
            login: token.login.clone(),
        };
        let mut json = serde_json::to_vec(&plain).map_err(|_| VaultError::Encrypt)?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self.cipher.encrypt(
            &nonce,
            Payload {
                msg: &json,
                aad: AAD,
            },
        );
        json.zeroize();
        let ct = sealed.map_err(|_| VaultError::Encrypt)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(SealedToken(out))
    }

    /// Decrypts a sealed token; a wrong key or any changed byte is
    /// [`VaultError::Undecryptable`].
    pub fn open(&self, sealed: &SealedToken) -> Result<Token, VaultError> {
        let bytes = &sealed.0;
        if bytes.len() < 1 + NONCE_LEN + 16 || bytes[0] != VERSION {
            return Err(VaultError::Undecryptable);
        }
        let nonce = XNonce::from_slice(&bytes[1..1 + NONCE_LEN]);
        let mut json = self
            .cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &bytes[1 + NONCE_LEN..],
                    aad: AAD,
                },
            )
            .map_err(|_| VaultError::Undecryptable)?;
        let parsed = serde_json::from_slice::<PlainToken>(&json);
        json.zeroize();
        let plain = parsed.map_err(|_| VaultError::Undecryptable)?;
        Ok(Token {
            access: Secret::new(plain.access.clone()),
            refresh: plain.refresh.clone().map(Secret::new),
            expires_at: plain.expires_at,
            scopes: plain.scopes.clone(),
            login: plain.login.clone(),
        })
    }
}

#[cfg(unix)]
fn write_new_private_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_new_private_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(data)?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), VaultError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| VaultError::KeyFile {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(VaultError::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), VaultError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token {
            access: Secret::new("acc3ss-t0ken-value"),
            refresh: Some(Secret::new("refr3sh-t0ken-value")),
            expires_at: Some(DateTime::from_timestamp(1_900_000_000, 0).unwrap()),
            scopes: vec!["chat:read".into(), "chat:edit".into()],
            login: Some("clankbot".into()),
        }
    }

    #[test]
    fn round_trip_and_key_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("sub/token.key");
        let vault = TokenVault::open_or_create(&key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let sealed = vault.seal(&token()).unwrap();
        let raw = String::from_utf8_lossy(&sealed.0);
        assert!(!raw.contains("acc3ss") && !raw.contains("refr3sh"));
        assert!(!format!("{sealed:?} {vault:?}").contains("acc3ss"));
        // A second vault on the same key file opens it.
        let again = TokenVault::open_or_create(&key).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), token());
        // Nonces differ: sealing twice gives different rows.
        assert_ne!(vault.seal(&token()).unwrap(), sealed);
    }

    #[test]
    fn wrong_key_and_tampering_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let a = TokenVault::open_or_create(&dir.path().join("a.key")).unwrap();
        let b = TokenVault::open_or_create(&dir.path().join("b.key")).unwrap();
        let sealed = a.seal(&token()).unwrap();
        let err = b.open(&sealed).unwrap_err();
        assert!(err.to_string().contains("clank login"), "{err}");
        for i in [0, 5, sealed.0.len() - 1] {
            let mut bad = sealed.clone();
            bad.0[i] ^= 0x01;
            assert!(
                matches!(a.open(&bad), Err(VaultError::Undecryptable)),
                "byte {i}"
            );
        }
        assert!(a.open(&SealedToken(vec![1, 2, 3])).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_key_file_or_garbage_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        TokenVault::open_or_create(&key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = TokenVault::open_or_create(&key).unwrap_err();
        assert!(matches!(err, VaultError::KeyPermissions { .. }), "{err}");
        let junk = dir.path().join("junk");
        std::fs::write(&junk, "not a key").unwrap();
        std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            TokenVault::open_or_create(&junk),
            Err(VaultError::KeyFormat { .. })
        ));
    }
}
