//! Job tokens: the `ORVANTA_TOKEN` a script runs with.
//!
//! Signed with the instance key (HMAC-SHA256), never stored: minting one costs
//! no database write, which matters on the hot path of every job. A job token
//! names its job and an expiry (the job's timeout), nothing more: the rights
//! come from the database at each use (see [`super::Principal`]): the job's
//! `permissioned_as` user as that user's row says now, in the job's
//! workspace, within the scopes of the token that started the job, and only
//! while the job runs. No claim can grant more than a row says.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use orvanta_core::JobId;
use sha2::Sha256;

const PREFIX: &str = "ojt_";

/// The instance key that signs job tokens.
#[derive(Clone)]
pub struct JobTokenKey([u8; 32]);

impl std::fmt::Debug for JobTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobTokenKey(***)")
    }
}

/// What a job token says. Unknown fields are refused: a token minted with
/// claims of an older form does not verify.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Claims {
    j: JobId,
    e: i64,
}

/// A verified job token: its job and when it expires (millis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobClaims {
    pub job: JobId,
    pub expires_at: i64,
}

impl JobTokenKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        Self(k)
    }

    /// The key's hex form, for storage.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The key from its hex form (64 characters); `None` if malformed.
    pub fn from_hex(s: &str) -> Option<Self> {
        let v = hex::decode(s).ok()?;
        Some(Self(v.try_into().ok()?))
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
    }

    /// The signature of a suspended step's resume and cancel URLs: hex
    /// HMAC-SHA256 over the step's job id, the resume id (big-endian) and
    /// the approver, apart from job tokens by its domain prefix.
    pub fn sign_resume(&self, job: JobId, resume_id: u32, approver: &str) -> String {
        let mut mac = self.mac();
        mac.update(b"orvanta-resume\0");
        mac.update(job.to_string().as_bytes());
        mac.update(&resume_id.to_be_bytes());
        mac.update(approver.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `sig` is the resume signature of these values (constant time).
    pub fn verify_resume(&self, job: JobId, resume_id: u32, approver: &str, sig: &str) -> bool {
        let Ok(given) = hex::decode(sig) else { return false };
        let mut mac = self.mac();
        mac.update(b"orvanta-resume\0");
        mac.update(job.to_string().as_bytes());
        mac.update(&resume_id.to_be_bytes());
        mac.update(approver.as_bytes());
        mac.verify_slice(&given).is_ok()
    }

    /// A token for `job`, valid until `expires_at` (millis) at most.
    pub fn mint(&self, job: JobId, expires_at: i64) -> String {
        let claims = Claims { j: job, e: expires_at };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{PREFIX}{body}.{sig}")
    }

    /// Whether `token` has the form of a job token (it may still be invalid).
    pub fn is_job_token(token: &str) -> bool {
        token.starts_with(PREFIX)
    }

    /// The claims of a validly signed, unexpired job token; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<JobClaims> {
        let rest = token.strip_prefix(PREFIX)?;
        let (body, sig) = rest.split_once('.')?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(sig).ok()?).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        if claims.e <= orvanta_core::now_millis() {
            return None;
        }
        Some(JobClaims { job: claims.j, expires_at: claims.e })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mint_and_verify() {
        let key = JobTokenKey([7; 32]);
        let job = JobId::new();
        let t = key.mint(job, orvanta_core::now_millis() + 60_000);
        assert_eq!(key.verify(&t).map(|c| c.job), Some(job));
        let forged = t.replace(".", ".x");
        assert!(key.verify(&forged).is_none());
        assert!(JobTokenKey([8; 32]).verify(&t).is_none());
        let expired = key.mint(job, orvanta_core::now_millis() - 1);
        assert!(key.verify(&expired).is_none());
    }

    #[test]
    fn extra_claims_are_refused_even_when_signed() {
        // An admin claim, signed with the right key, as the old form had.
        let key = JobTokenKey([7; 32]);
        let body = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"j": JobId::new(), "e": orvanta_core::now_millis() + 60_000, "a": true}).to_string(),
        );
        let mut mac = key.mac();
        mac.update(body.as_bytes());
        let token = format!("{PREFIX}{body}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        assert!(key.verify(&token).is_none());
    }
}
