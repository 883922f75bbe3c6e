//! The verifiers, one file per platform, and what they share: header lookup, the replay window, HMAC-SHA256
//! compared in constant time, event ids.

mod github;
mod header;
mod sendgrid;
mod slack;
mod standard;
mod stripe;
mod teams;
mod twitter;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{KeyError, Keys, Refusal, Request, Verdict, VerifierKind};

type HmacSha256 = Hmac<Sha256>;

/// Standard base64 that decodes with or without padding (secrets get pasted without it) and encodes with it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Verifies `req` with `kind`. `now_s` is the current unix time in seconds; `tolerance_s` is the replay window
/// (0 = off), applied in both directions where the platform signs a timestamp (slack, stripe, sendgrid,
/// standard_webhooks).
///
/// `GET` and `HEAD` requests carry no event and are refused by every verifier but `twitter`, whose `GET` is the
/// challenge-response check. Other methods (`POST`, and `PUT` from custom senders) are verified alike.
pub fn verify(
    kind: VerifierKind,
    keys: &Keys,
    req: &Request,
    now_s: i64,
    tolerance_s: u64,
) -> Result<Verdict, Refusal> {
    let bodiless = req.method.eq_ignore_ascii_case("GET") || req.method.eq_ignore_ascii_case("HEAD");
    if bodiless && kind != VerifierKind::Twitter {
        return Err(Refusal::new(format!(
            "a {kind} webhook takes no {} request: the platform POSTs its events (only twitter answers a GET challenge)",
            req.method.to_ascii_uppercase()
        )));
    }
    let window = Window { now_s, tolerance_s };
    match kind {
        VerifierKind::Header => header::verify(keys, req),
        VerifierKind::Slack => slack::verify(keys, req, window),
        VerifierKind::Github => github::verify(keys, req),
        VerifierKind::Stripe => stripe::verify(keys, req, window),
        VerifierKind::Teams => teams::verify(keys, req),
        VerifierKind::Sendgrid => sendgrid::verify(keys, req, window),
        VerifierKind::StandardWebhooks => standard::verify(keys, req, window),
        VerifierKind::Twitter => twitter::verify(keys, req),
    }
}

/// Checks a definition's keys when it is saved: what `kind` needs is there and well-formed. Every entry of
/// `secrets` is checked, the previous secret of a rotation included. Keys a verifier does not use are ignored.
pub fn validate_keys(kind: VerifierKind, keys: &Keys) -> Result<(), KeyError> {
    match kind {
        VerifierKind::Header => header::validate(keys.headers),
        VerifierKind::Sendgrid => match keys.public_key {
            None => Err(key_error("public_key", "a sendgrid verifier needs a public key")),
            Some(text) => sendgrid::parse_public_key(text).map(drop),
        },
        _ if keys.secrets.is_empty() || keys.secrets.iter().any(|s| s.trim().is_empty()) => Err(needs_secret(kind)),
        VerifierKind::Slack | VerifierKind::Github | VerifierKind::Stripe | VerifierKind::Twitter => Ok(()),
        VerifierKind::Teams => {
            teams::decoded_keys(keys).map(drop).map_err(|_| key_error("secret", "a teams security token is base64"))
        }
        VerifierKind::StandardWebhooks => standard::decoded_keys(keys)
            .map(drop)
            .map_err(|_| key_error("secret", "a standard_webhooks secret is whsec_ followed by base64")),
    }
}

fn needs_secret(kind: VerifierKind) -> KeyError {
    key_error("secret", format!("a {kind} verifier needs a secret"))
}

fn key_error(field: &'static str, message: impl Into<String>) -> KeyError {
    KeyError { field, message: message.into() }
}

/// The configured secrets as HMAC keys (their UTF-8 bytes). Refuses when there is none or one is empty, so that
/// a definition saved without a secret fails closed.
fn secret_keys<'k>(kind: VerifierKind, keys: &Keys<'k>) -> Result<Vec<&'k [u8]>, Refusal> {
    if keys.secrets.is_empty() || keys.secrets.iter().any(|s| s.is_empty()) {
        return Err(Refusal::new(format!("the {kind} webhook has no secret configured")));
    }
    Ok(keys.secrets.iter().map(|s| s.as_bytes()).collect())
}

/// The one value of header `name` (looked up in any case). Two occurrences are refused rather than picking one.
fn header<'r>(req: &Request<'r>, name: &str) -> Result<Option<&'r str>, Refusal> {
    let mut found = req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    let first = found.next();
    if found.next().is_some() {
        return Err(Refusal::new(format!("{name} is sent more than once")));
    }
    Ok(first.map(|(_, v)| v.as_str()))
}

/// Like [`header`], and missing is a refusal.
fn required<'r>(req: &Request<'r>, name: &str) -> Result<&'r str, Refusal> {
    header(req, name)?.ok_or_else(|| Refusal::new(format!("{name} is missing")))
}

/// The clock and the replay window.
#[derive(Debug, Clone, Copy)]
struct Window {
    now_s: i64,
    tolerance_s: u64,
}

impl Window {
    /// Refuses a timestamp more than `tolerance_s` in the past or in the future; a tolerance of 0 accepts any.
    fn check(self, ts: i64) -> Result<(), Refusal> {
        if self.tolerance_s == 0 {
            return Ok(());
        }
        let age = i128::from(self.now_s) - i128::from(ts);
        let tolerance = i128::from(self.tolerance_s);
        if age > tolerance {
            Err(Refusal::new(format!("the timestamp is {age} s old, over the {tolerance} s window")))
        } else if -age > tolerance {
            Err(Refusal::new(format!("the timestamp is {} s in the future, over the {tolerance} s window", -age)))
        } else {
            Ok(())
        }
    }
}

/// A unix time in seconds: ASCII digits only (no sign, no fraction), at most 18 of them so it fits an i64.
fn parse_unix(text: &str, what: &str) -> Result<i64, Refusal> {
    let text = text.trim();
    let digits_only = !text.is_empty() && text.len() <= 18 && text.bytes().all(|b| b.is_ascii_digit());
    match digits_only.then(|| text.parse::<i64>().ok()).flatten() {
        Some(ts) => Ok(ts),
        None => Err(Refusal::new(format!("{what} is not a unix time in seconds"))),
    }
}

/// True when HMAC-SHA256 over the concatenated `parts` under any of `keys` equals any of `candidates`. Each
/// comparison is constant-time (`verify_slice`); which key or candidate matched is not secret.
fn hmac_matches<K: AsRef<[u8]>, C: AsRef<[u8]>>(keys: &[K], parts: &[&[u8]], candidates: &[C]) -> bool {
    keys.iter().any(|key| {
        let Ok(mut mac) = HmacSha256::new_from_slice(key.as_ref()) else {
            return false;
        };
        for part in parts {
            mac.update(part);
        }
        candidates.iter().any(|c| mac.clone().verify_slice(c.as_ref()).is_ok())
    })
}

/// HMAC-SHA256 of `message` under `key` (used to answer challenges).
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => Vec::new(),
    }
}

/// The longest event id kept; a longer one is dropped (the server then generates its own).
const MAX_EVENT_ID: usize = 256;

/// A platform's delivery id if it is usable as one: non-empty, at most 256 bytes, no control characters.
fn event_id(text: &str) -> Option<String> {
    let text = text.trim();
    let usable = !text.is_empty() && text.len() <= MAX_EVENT_ID && !text.chars().any(char::is_control);
    usable.then(|| text.to_owned())
}

/// The body parsed as JSON, if it is JSON (serde_json's default recursion limit applies).
fn json_body(body: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(body).ok()
}

/// A top-level string (or number) field of a JSON body as an event id.
fn body_event_id(body: &serde_json::Value, field: &str) -> Option<String> {
    match body.get(field)? {
        serde_json::Value::String(s) => event_id(s),
        serde_json::Value::Number(n) => event_id(&n.to_string()),
        _ => None,
    }
}

/// The signature does not match: one wording for every verifier.
fn mismatch() -> Refusal {
    Refusal::new("the signature does not match the body")
}

#[cfg(test)]
pub(crate) mod testing {
    //! Builders shared by the verifier tests.

    use crate::{Keys, Request};

    pub struct Req {
        pub method: &'static str,
        pub headers: Vec<(String, String)>,
        pub query: String,
        pub body: Vec<u8>,
    }

    impl Req {
        pub fn post(headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Req {
            Req {
                method: "POST",
                headers: headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_owned())).collect(),
                query: String::new(),
                body: body.as_ref().to_vec(),
            }
        }

        pub fn get(query: &str) -> Req {
            Req { method: "GET", headers: Vec::new(), query: query.to_owned(), body: Vec::new() }
        }

        pub fn request(&self) -> Request<'_> {
            Request { method: self.method, headers: &self.headers, query: &self.query, body: &self.body }
        }
    }

    pub fn secrets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    pub fn keys(secrets: &[String]) -> Keys<'_> {
        Keys { secrets, public_key: None, headers: &[] }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn window_is_symmetric_and_zero_turns_it_off() {
        let w = Window { now_s: 1_000_000, tolerance_s: 300 };
        assert!(w.check(1_000_000 - 300).is_ok());
        assert!(w.check(1_000_000 + 300).is_ok());
        assert_eq!(w.check(1_000_000 - 412).unwrap_err().reason, "the timestamp is 412 s old, over the 300 s window");
        assert_eq!(
            w.check(1_000_000 + 3600).unwrap_err().reason,
            "the timestamp is 3600 s in the future, over the 300 s window"
        );
        let off = Window { now_s: 1_000_000, tolerance_s: 0 };
        assert!(off.check(0).is_ok());
        let extreme = Window { now_s: i64::MIN, tolerance_s: u64::MAX };
        assert!(extreme.check(i64::MAX).is_ok());
        assert!(Window { now_s: i64::MAX, tolerance_s: 1 }.check(i64::MIN).is_err());
    }

    #[test]
    fn unix_times_are_plain_digits() {
        assert_eq!(parse_unix(" 1531420618 ", "t").unwrap(), 1_531_420_618);
        for bad in ["", "-5", "+5", "1e9", "12.5", "timestamp", "9999999999999999999999", "１２"] {
            assert_eq!(parse_unix(bad, "t").unwrap_err().reason, "t is not a unix time in seconds", "{bad:?}");
        }
    }

    #[test]
    fn get_is_refused_except_for_twitter() {
        let secrets = secrets(&["s"]);
        let r = Req::get("");
        for kind in VerifierKind::ALL.into_iter().filter(|k| *k != VerifierKind::Twitter) {
            let err = verify(kind, &keys(&secrets), &r.request(), 0, 300).unwrap_err();
            assert!(err.reason.contains("takes no GET request"), "{kind}: {}", err.reason);
        }
    }

    #[test]
    fn duplicate_signature_headers_are_refused() {
        let r = Req::post(&[("X-Hub-Signature-256", "sha256=00"), ("x-hub-signature-256", "sha256=11")], "{}");
        let secrets = secrets(&["s"]);
        let err = verify(VerifierKind::Github, &keys(&secrets), &r.request(), 0, 300).unwrap_err();
        assert_eq!(err.reason, "X-Hub-Signature-256 is sent more than once");
    }

    #[test]
    fn secret_verifiers_fail_closed_without_a_secret() {
        let none: Vec<String> = Vec::new();
        let empty = secrets(&[""]);
        let r = Req::post(&[("X-Hub-Signature-256", "sha256=00")], "{}");
        for s in [&none, &empty] {
            let err = verify(VerifierKind::Github, &keys(s), &r.request(), 0, 300).unwrap_err();
            assert_eq!(err.reason, "the github webhook has no secret configured");
        }
        for kind in [VerifierKind::Slack, VerifierKind::Github, VerifierKind::Stripe, VerifierKind::Twitter] {
            let err = validate_keys(kind, &keys(&none)).unwrap_err();
            assert_eq!(err.to_string(), format!("secret: a {kind} verifier needs a secret"));
            assert_eq!(err.field, "secret");
            assert!(validate_keys(kind, &keys(&empty)).is_err());
            assert!(validate_keys(kind, &keys(&secrets(&["new", "old"]))).is_ok());
        }
    }

    #[test]
    fn hostile_headers_and_bodies_are_refused_without_panic() {
        let names = [
            "x-hub-signature-256",
            "x-github-event",
            "x-slack-signature",
            "x-slack-request-timestamp",
            "stripe-signature",
            "authorization",
            "x-twilio-email-event-webhook-signature",
            "x-twilio-email-event-webhook-timestamp",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "svix-signature",
            "x-twitter-webhooks-signature",
        ];
        let huge = "9".repeat(100_000);
        let values = [
            "",
            " ",
            "=",
            ",",
            ",,,",
            "t=",
            "t=,v1=",
            "v1,",
            "v1, v1,",
            "sha256=",
            "v0=",
            "HMAC",
            "HMAC ",
            "HMAC ====",
            "sha256=é",
            "t=１２,v1=00",
            "-1",
            "99999999999999999999",
            "MEUC",
            "\u{0}",
            "ü",
            &huge,
        ];
        let bodies: [&[u8]; 4] = [b"", b"\xff\xfe\x00{", b"{\"type\":\"url_verification\"}", b"[[[[[[[[[["];
        let secrets = secrets(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
        let configured = vec![("x-api-key".to_owned(), "k".to_owned())];
        let key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
        let keys = Keys { secrets: &secrets, public_key: Some(key), headers: &configured };
        for kind in VerifierKind::ALL {
            for value in values {
                for body in bodies {
                    let headers: Vec<(&str, &str)> = names.iter().map(|n| (*n, value)).collect();
                    let r = Req::post(&headers, body);
                    let outcome = verify(kind, &keys, &r.request(), i64::MAX, u64::MAX);
                    assert!(outcome.is_err(), "{kind} accepted {value:?}");
                    let outcome = verify(kind, &keys, &r.request(), i64::MIN, 1);
                    assert!(outcome.is_err(), "{kind} accepted {value:?}");
                }
            }
        }
    }

    #[test]
    fn a_body_that_is_not_utf8_is_verified_as_bytes() {
        let body: &[u8] = b"\xff\xfe payload \x00";
        let mac = |key: &[u8], parts: &[&[u8]]| {
            let mut m = HmacSha256::new_from_slice(key).unwrap();
            parts.iter().for_each(|p| m.update(p));
            hex::encode(m.finalize().into_bytes())
        };
        let secrets = secrets(&["s3cret"]);
        let signature = format!("v0={}", mac(b"s3cret", &[b"v0:100:", body]));
        let r = Req::post(&[("X-Slack-Signature", &signature), ("X-Slack-Request-Timestamp", "100")], body);
        assert_eq!(
            verify(VerifierKind::Slack, &keys(&secrets), &r.request(), 100, 300),
            Ok(Verdict::Event { event_id: None })
        );
    }

    #[test]
    fn event_ids_are_bounded() {
        assert_eq!(event_id(" abc "), Some("abc".to_owned()));
        assert_eq!(event_id(""), None);
        assert_eq!(event_id("a\nb"), None);
        assert_eq!(event_id(&"x".repeat(MAX_EVENT_ID + 1)), None);
    }
}
