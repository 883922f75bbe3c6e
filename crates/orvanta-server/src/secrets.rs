//! Secrets at rest: what the database keeps of a secret (an inbound
//! webhook's signing secret, later a secret variable) is sealed with
//! ChaCha20-Poly1305 (`ring`) under the instance's secret key, which is never
//! stored in the database: it comes from `ORVANTA_SECRET_KEY` or, when that
//! is unset, from the file `{data_dir}/secret.key` (made on first start,
//! `0600`). A copy of the database alone reveals no secret. Every process on
//! one database needs the same key: set `ORVANTA_SECRET_KEY` for a server and
//! workers on several machines.
//!
//! A sealed value is `enc:v1:` + base64(nonce ‖ ciphertext ‖ tag), bound to
//! its place (`context`, e.g. the hook id and field) as associated data, so
//! that a sealed value copied to another row does not open there.

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;

const PREFIX: &str = "enc:v1:";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Seals and opens secrets with the instance's key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

/// Why a sealed value did not open.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SealError(pub String);

impl Sealer {
    /// A sealer for a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, key).expect("a 32-byte ChaCha20-Poly1305 key");
        Self { key: LessSafeKey::new(unbound), rng: SystemRandom::new() }
    }

    /// The instance's sealer: `configured` (base64 of 32 bytes), else the key
    /// file in `data_dir`, made when missing.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> Result<Self, SealError> {
        if let Some(text) = configured {
            let bytes = B64.decode(text.trim()).map_err(|_| {
                SealError("ORVANTA_SECRET_KEY is not base64; make one with `openssl rand -base64 32`".into())
            })?;
            let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
                SealError(format!(
                    "ORVANTA_SECRET_KEY holds {} bytes; it must hold 32 (`openssl rand -base64 32`)",
                    b.len()
                ))
            })?;
            return Ok(Self::new(&key));
        }
        let path = data_dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::load(Some(&text), data_dir).map_err(|e| SealError(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                SystemRandom::new().fill(&mut key).map_err(|_| SealError("no randomness for a secret key".into()))?;
                write_private(&path, &B64.encode(key))
                    .map_err(|e| SealError(format!("could not write the secret key {}: {e}", path.display())))?;
                Ok(Self::new(&key))
            }
            Err(e) => Err(SealError(format!("could not read the secret key {}: {e}", path.display()))),
        }
    }

    /// Seals `plain` for `context`.
    pub fn seal(&self, plain: &str, context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        // The system's randomness does not fail on Linux; should it, the value
        // is still sealed under a nonce that is unique for this process.
        if self.rng.fill(&mut nonce).is_err() {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            nonce.copy_from_slice(&t.as_nanos().to_le_bytes()[..NONCE_LEN]);
        }
        let mut data = plain.as_bytes().to_vec();
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut data)
            .expect("sealing a value in memory");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        out.extend_from_slice(tag.as_ref());
        format!("{PREFIX}{}", B64.encode(out))
    }

    /// Opens what [`Sealer::seal`] made for `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SealError> {
        let wrong = || {
            SealError(format!(
                "a stored secret ({context}) does not open with this instance's secret key: every process on one \
                 database needs the same ORVANTA_SECRET_KEY (or secret.key file); save the secret again to re-seal it"
            ))
        };
        let body = sealed.strip_prefix(PREFIX).ok_or_else(wrong)?;
        let bytes = B64.decode(body).map_err(|_| wrong())?;
        if bytes.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return Err(wrong());
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut data = rest.to_vec();
        let plain =
            self.key.open_in_place(nonce, Aad::from(context.as_bytes()), &mut data).map_err(|_| wrong())?.to_vec();
        String::from_utf8(plain).map_err(|_| wrong())
    }

    /// Whether `value` is a sealed value (and not a secret in the clear).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }
}

/// Writes a file readable by this user only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_in_their_place_only() {
        let s = Sealer::new(&[7u8; 32]);
        let sealed = s.seal("whsec_abc", "hook:1:secret");
        assert!(Sealer::is_sealed(&sealed));
        assert!(!sealed.contains("whsec_abc"));
        assert_ne!(sealed, s.seal("whsec_abc", "hook:1:secret"), "a fresh nonce each time");
        assert_eq!(s.open(&sealed, "hook:1:secret").unwrap(), "whsec_abc");
        assert!(s.open(&sealed, "hook:2:secret").is_err(), "another row");
        assert!(Sealer::new(&[8u8; 32]).open(&sealed, "hook:1:secret").is_err(), "another key");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(s.open(&tampered, "hook:1:secret").is_err());
        assert!(s.open("whsec_abc", "hook:1:secret").is_err(), "a value in the clear is not taken for sealed");
    }

    #[test]
    fn the_key_file_is_made_once_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = Sealer::load(None, dir.path()).unwrap();
        let sealed = a.seal("x", "c");
        let meta = std::fs::metadata(dir.path().join("secret.key")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(Sealer::load(None, dir.path()).unwrap().open(&sealed, "c").unwrap(), "x");
        assert!(Sealer::load(Some("c2hvcnQ="), dir.path()).unwrap_err().0.contains("32"));
        assert!(Sealer::load(Some("not base64!"), dir.path()).is_err());
    }
}
