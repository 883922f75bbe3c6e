//! Passwords: argon2id with a random salt, hashed and checked off the async
//! threads (each costs tens of milliseconds of CPU on purpose).

use crate::error::{ApiError, ApiResult};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The shortest password accepted.
pub const MIN_LEN: usize = 8;

/// 400 unless `password` is acceptable: long enough, not absurdly long.
pub fn check_strength(password: &str) -> ApiResult<()> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(ApiError::BadRequest(format!("the password is too short: use at least {MIN_LEN} characters")));
    }
    if password.len() > 1024 {
        return Err(ApiError::BadRequest("the password is longer than 1024 bytes; use a shorter one".into()));
    }
    Ok(())
}

/// The argon2id PHC string of `password`.
pub async fn hash(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("cannot hash a password: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the password hasher stopped: {e}")))?
}

/// Whether `password` matches the stored `phc` string (false for a malformed one).
pub async fn verify(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// A hash no password matches, checked against when the email is unknown,
/// so that a wrong email costs as long as a wrong password.
pub fn decoy() -> String {
    "$argon2id$v=19$m=19456,t=2,p=1$b3J2YW50YWRlY295$8yXo7PS1GzB0HVmTJ2vOlJv0V6uM5QmZ2m7y4x0uT6Q".into()
}
