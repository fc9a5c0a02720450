//! Secrets at rest: trunk passwords are stored encrypted with XChaCha20-Poly1305.
//!
//! The 32-byte key lives in `<state_dir>/secret.key` (mode 0600), created on first start.
//! Each value gets its own random 192-bit nonce, so encrypting the same password twice
//! gives different text; the stored form is `base64(nonce || ciphertext)`. The key and the
//! plain values are never logged: [`Secrets`] prints as `Secrets(..)`.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use thiserror::Error;

/// The key file's name inside the state directory.
pub const KEY_FILE: &str = "secret.key";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("cannot {action} the secret key {}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("the secret key {} must hold exactly {KEY_LEN} bytes, it holds {len}", path.display())]
    KeyLength { path: PathBuf, len: usize },
    #[error("cannot generate a secret key: {0}")]
    Random(String),
    #[error("a stored secret is not valid base64 or too short")]
    Encoding,
    /// Wrong key (e.g. `secret.key` replaced) or a tampered value.
    #[error("a stored secret cannot be decrypted with this key")]
    Decrypt,
}

/// The cipher for values kept encrypted in the database. Cheap to clone.
#[derive(Clone)]
pub struct Secrets {
    cipher: Arc<XChaCha20Poly1305>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

impl Secrets {
    /// A cipher with this key (tests, tools).
    pub fn from_key(key: &[u8; KEY_LEN]) -> Self {
        Secrets {
            cipher: Arc::new(XChaCha20Poly1305::new(key.into())),
        }
    }

    /// Reads `<state_dir>/secret.key`, or creates it (mode 0600) when it does not exist.
    pub fn load_or_create(state_dir: &Path) -> Result<Self, SecretError> {
        let path = state_dir.join(KEY_FILE);
        match read_key(&path) {
            Ok(key) => Ok(Self::from_key(&key)),
            Err(SecretError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                match create_key(&path) {
                    Ok(key) => {
                        tracing::info!(file = %path.display(), "created the secret key for trunk passwords");
                        Ok(Self::from_key(&key))
                    }
                    // Another process created it in between: use theirs.
                    Err(SecretError::Io { source, .. })
                        if source.kind() == ErrorKind::AlreadyExists =>
                    {
                        read_key(&path).map(|key| Self::from_key(&key))
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// A value that identifies this key without revealing it (a key check value):
    /// the tag of a fixed message under a fixed nonce no real secret uses. Nodes
    /// compare it to know that they share one key.
    pub fn check_value(&self) -> String {
        let nonce = [0u8; NONCE_LEN];
        let sealed = self
            .cipher
            .encrypt((&nonce).into(), b"rayan key check".as_slice())
            .unwrap_or_default();
        sealed
            .iter()
            .rev()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Encrypts `plain` with a fresh random nonce: `base64(nonce || ciphertext)`.
    pub fn encrypt(&self, plain: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption into a Vec fails only on a buffer-size overflow, which a password
        // cannot reach; fall back to an empty ciphertext that will never decrypt.
        let sealed = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    /// Decrypts what [`Secrets::encrypt`] produced.
    pub fn decrypt(&self, stored: &str) -> Result<String, SecretError> {
        let bytes = STANDARD
            .decode(stored.trim())
            .map_err(|_| SecretError::Encoding)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::Encoding);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| SecretError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| SecretError::Decrypt)
    }
}

fn read_key(path: &Path) -> Result<[u8; KEY_LEN], SecretError> {
    let io = |action| {
        move |source| SecretError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let mut file = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(io("open"))?;
    let mode = file.metadata().map_err(io("inspect"))?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(file = %path.display(), mode = format!("{:o}", mode & 0o777),
            "the secret key is readable by other users; chmod 600 it");
    }
    let mut bytes = Vec::with_capacity(KEY_LEN);
    Read::by_ref(&mut file)
        .take(KEY_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io("read"))?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| SecretError::KeyLength {
        path: path.to_path_buf(),
        len: bytes.len(),
    })
}

fn create_key(path: &Path) -> Result<[u8; KEY_LEN], SecretError> {
    let io = |action| {
        move |source| SecretError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let mut key = [0u8; KEY_LEN];
    OsRng
        .try_fill_bytes(&mut key)
        .map_err(|e| SecretError::Random(e.to_string()))?;
    // A temp file renamed into place: a crash never leaves a short key behind.
    let tmp = path.with_extension("key.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("create"))?;
    file.write_all(&key).map_err(io("write"))?;
    file.sync_all().map_err(io("sync"))?;
    drop(file);
    // hard_link fails when the key appeared meanwhile, unlike rename, which would replace it.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(io("create"))?;
    if let Some(dir) = path.parent() {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secrets() -> Secrets {
        Secrets::from_key(&[7u8; KEY_LEN])
    }

    #[test]
    fn the_check_value_tells_keys_apart_and_hides_them() {
        let one = secrets().check_value();
        assert_eq!(one, secrets().check_value(), "stable for one key");
        assert_eq!(one.len(), 32);
        assert_ne!(one, Secrets::from_key(&[8u8; KEY_LEN]).check_value());
        assert!(!one.contains(&"07".repeat(4)), "the key is not in it");
    }

    #[test]
    fn round_trips_with_a_fresh_nonce_each_time() {
        let s = secrets();
        let a = s.encrypt("pa55;word");
        let b = s.encrypt("pa55;word");
        assert_ne!(a, b, "the same password must not encrypt to the same text");
        assert!(!a.contains("pa55"));
        assert_eq!(s.decrypt(&a).unwrap(), "pa55;word");
        assert_eq!(s.decrypt(&b).unwrap(), "pa55;word");
    }

    #[test]
    fn refuses_a_wrong_key_or_tampering() {
        let s = secrets();
        let stored = s.encrypt("secret");
        let other = Secrets::from_key(&[8u8; KEY_LEN]);
        assert!(matches!(other.decrypt(&stored), Err(SecretError::Decrypt)));
        let mut bytes = STANDARD.decode(&stored).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            s.decrypt(&STANDARD.encode(&bytes)),
            Err(SecretError::Decrypt)
        ));
        assert!(matches!(
            s.decrypt("not base64!"),
            Err(SecretError::Encoding)
        ));
        assert!(matches!(s.decrypt("AAAA"), Err(SecretError::Encoding)));
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let first = Secrets::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), KEY_LEN as u64);
        let stored = first.encrypt("kept");
        let second = Secrets::load_or_create(dir.path()).unwrap();
        assert_eq!(
            second.decrypt(&stored).unwrap(),
            "kept",
            "the key is reused"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file is left"
        );
    }

    #[test]
    fn a_short_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        let err = Secrets::load_or_create(dir.path()).unwrap_err();
        assert!(
            matches!(err, SecretError::KeyLength { len: 5, .. }),
            "{err}"
        );
    }

    #[test]
    fn debug_output_hides_the_key() {
        assert_eq!(format!("{:?}", secrets()), "Secrets(..)");
    }

    proptest! {
        #[test]
        fn any_text_round_trips(plain in "\\PC{0,64}") {
            let s = secrets();
            prop_assert_eq!(s.decrypt(&s.encrypt(&plain)).unwrap(), plain);
        }
    }
}
