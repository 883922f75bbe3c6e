//! Inbound webhooks, as plain functions: is this request really from the platform, and what does the server do
//! with it?
//!
//! Platforms that send events cannot be given our bearer token, so each inbound webhook definition names a
//! verifier, and [`verify`] is the authentication of `POST /webhook/{id}`. It works over the raw body bytes as
//! received (never over re-serialized JSON), compares in constant time, and takes the clock as an argument so
//! that tests (and replays) can fix it. It answers a [`Verdict`] (run the effects, or answer the platform's
//! challenge and run nothing) or a [`Refusal`] whose reason the server records and answers with a 401.
//! [`validate_keys`] checks a definition's secret, public key or headers when it is saved, so that a
//! misconfiguration is a 422 at save time rather than a stream of refusals later.
//!
//! The verifiers ([`VerifierKind`]):
//! - `header`: every configured header present once with exactly the configured value (names match in any case).
//! - `github`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`; a signed `X-GitHub-Event: ping` is
//!   answered `{"ok":true}` and proves the URL. The legacy SHA-1 `X-Hub-Signature` is not accepted: GitHub sends
//!   the SHA-256 header on every delivery, and accepting SHA-1 alone would let a forger pick the weaker check.
//! - `slack`: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{X-Slack-Request-Timestamp}:{body}">` within the
//!   replay window; a signed `url_verification` body is answered with its challenge and proves the URL.
//! - `stripe`: `Stripe-Signature: t=..,v1=..[,v1=..]`, HMAC-SHA256 of `"{t}.{body}"` keyed with the whole
//!   `whsec_...` string; any `v1` may match, `v0` and other schemes are ignored (Stripe's downgrade protection).
//! - `teams`: `Authorization: HMAC <base64 HMAC-SHA256 of the body>` keyed with the base64-decoded security token.
//! - `sendgrid`: ECDSA P-256/SHA-256 over `"{timestamp}{body}"`, the signature base64 DER in
//!   `X-Twilio-Email-Event-Webhook-Signature`, the public key base64 DER SubjectPublicKeyInfo.
//! - `standard_webhooks` (Svix and others): HMAC-SHA256 of `"{webhook-id}.{webhook-timestamp}.{body}"` keyed with
//!   the base64 after `whsec_`; `webhook-signature` lists `v1,<base64>` entries, any may match. Svix's `svix-*`
//!   header names are accepted too.
//! - `twitter`: a `GET` with `crc_token` is answered with the challenge-response token and proves the URL; events
//!   carry `X-Twitter-Webhooks-Signature: sha256=<base64 HMAC-SHA256 of the body>`.
//!
//! Every secret-based verifier accepts any of [`Keys::secrets`] (the current secret and, during a rotation, the
//! previous one). `GET` and `HEAD` carry no event: every verifier but `twitter` refuses them.
//!
//! Besides verification, [`jsonpath`] is the small JSONPath used by `waitforwebhook` matches and idempotency keys,
//! [`resolve_key`] turns an idempotency-key template into a key, and [`matches()`] tests an event against a step's
//! resolved match values. Nothing here touches a database, a socket or a clock.

pub mod jsonpath;
mod key;
mod matching;
mod verify;

use std::fmt;
use std::str::FromStr;

pub use jsonpath::{Path, PathError};
pub use key::{check_key_template, resolve_key, MAX_KEY_LEN};
pub use matching::matches;
pub use verify::{validate_keys, verify};

/// A request as received: header names lower-case (the server lowercases them; lookups here ignore case anyway),
/// the raw query string without `?` (may be empty), the raw body bytes.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub headers: &'a [(String, String)],
    pub query: &'a str,
    pub body: &'a [u8],
}

/// The platform a definition receives from; it only chooses the default verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Github,
    Slack,
    Stripe,
    Teams,
    Sendgrid,
    Custom,
}

impl Platform {
    pub const ALL: [Platform; 6] =
        [Platform::Github, Platform::Slack, Platform::Stripe, Platform::Teams, Platform::Sendgrid, Platform::Custom];

    /// The verifier a definition gets when it names none: the platform's own scheme; `custom` → `header`.
    pub fn default_verifier(self) -> VerifierKind {
        match self {
            Platform::Github => VerifierKind::Github,
            Platform::Slack => VerifierKind::Slack,
            Platform::Stripe => VerifierKind::Stripe,
            Platform::Teams => VerifierKind::Teams,
            Platform::Sendgrid => VerifierKind::Sendgrid,
            Platform::Custom => VerifierKind::Header,
        }
    }

    /// The name used in the API and in storage (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Github => "github",
            Platform::Slack => "slack",
            Platform::Stripe => "stripe",
            Platform::Teams => "teams",
            Platform::Sendgrid => "sendgrid",
            Platform::Custom => "custom",
        }
    }
}

/// How a request is verified. See the crate documentation for each scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifierKind {
    Header,
    Slack,
    Github,
    Stripe,
    Teams,
    Sendgrid,
    StandardWebhooks,
    Twitter,
}

impl VerifierKind {
    pub const ALL: [VerifierKind; 8] = [
        VerifierKind::Header,
        VerifierKind::Slack,
        VerifierKind::Github,
        VerifierKind::Stripe,
        VerifierKind::Teams,
        VerifierKind::Sendgrid,
        VerifierKind::StandardWebhooks,
        VerifierKind::Twitter,
    ];

    /// The name used in the API and in storage (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            VerifierKind::Header => "header",
            VerifierKind::Slack => "slack",
            VerifierKind::Github => "github",
            VerifierKind::Stripe => "stripe",
            VerifierKind::Teams => "teams",
            VerifierKind::Sendgrid => "sendgrid",
            VerifierKind::StandardWebhooks => "standard_webhooks",
            VerifierKind::Twitter => "twitter",
        }
    }

    /// Whether the platform signs a timestamp, so that `tolerance_s` applies.
    pub fn has_timestamp(self) -> bool {
        matches!(
            self,
            VerifierKind::Slack | VerifierKind::Stripe | VerifierKind::Sendgrid | VerifierKind::StandardWebhooks
        )
    }
}

/// An unknown platform or verifier name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}`: expected one of {expected}")]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
    pub expected: String,
}

impl FromStr for Platform {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownName {
            what: "platform",
            name: s.to_owned(),
            expected: Platform::ALL.map(Platform::as_str).join(", "),
        })
    }
}

impl FromStr for VerifierKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VerifierKind::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownName {
            what: "verifier",
            name: s.to_owned(),
            expected: VerifierKind::ALL.map(VerifierKind::as_str).join(", "),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for VerifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a verifier checks with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys<'a> {
    /// The current secret and, during a rotation, the previous one: either may match.
    pub secrets: &'a [String],
    /// SendGrid's public key: base64 DER SubjectPublicKeyInfo (P-256).
    pub public_key: Option<&'a str>,
    /// The header verifier's headers: configured name (any case) → exact value.
    pub headers: &'a [(String, String)],
}

/// A definition's keys do not suit its verifier. `field` is the definition's field (`secret`, `public_key`,
/// `headers`), so that the server can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct KeyError {
    pub field: &'static str,
    pub message: String,
}

/// A verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Verified: run the effects. `event_id` is the platform's delivery id when it sends one
    /// (`X-GitHub-Delivery`, Stripe's and Teams' body `id`, Slack's body `event_id`, `webhook-id`), else `None`.
    Event { event_id: Option<String> },
    /// Answer this to the platform and run nothing. `verifies_url`: the answer proves the URL (Slack
    /// `url_verification`, GitHub `ping`, Twitter CRC).
    Answer { status: u16, content_type: &'static str, body: Vec<u8>, verifies_url: bool, event_id: Option<String> },
}

/// A request that failed verification; nothing runs, the server answers 401 and records `reason`.
/// Reasons name what was wrong and never include a secret or a computed signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    pub reason: String,
}

impl Refusal {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Refusal { reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        for p in Platform::ALL {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(p.as_str().parse::<Platform>().unwrap(), p);
        }
        for v in VerifierKind::ALL {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
            assert_eq!(serde_json::from_str::<VerifierKind>(&json).unwrap(), v);
            assert_eq!(v.as_str().parse::<VerifierKind>().unwrap(), v);
        }
        let err = "svix".parse::<VerifierKind>().unwrap_err().to_string();
        assert!(err.starts_with("unknown verifier `svix`: expected one of header, slack"), "{err}");
    }

    #[test]
    fn default_verifiers() {
        assert_eq!(Platform::Custom.default_verifier(), VerifierKind::Header);
        assert_eq!(Platform::Github.default_verifier(), VerifierKind::Github);
        assert_eq!(Platform::Sendgrid.default_verifier(), VerifierKind::Sendgrid);
        assert!(VerifierKind::Stripe.has_timestamp());
        assert!(!VerifierKind::Teams.has_timestamp());
    }
}
