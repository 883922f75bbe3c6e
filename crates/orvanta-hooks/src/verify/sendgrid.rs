//! SendGrid's Signed Event Webhook: ECDSA P-256 with SHA-256 over `"{timestamp}{body}"` (no separator; the body's
//! trailing CRLF is signed too). The signature is base64 DER in `X-Twilio-Email-Event-Webhook-Signature`, the
//! timestamp in `X-Twilio-Email-Event-Webhook-Timestamp`, the public key base64 DER SubjectPublicKeyInfo as the
//! SendGrid settings page shows it. SendGrid documents no replay window; the definition's applies.
//!
//! Signatures with a high `s` must verify, as p256 lets them: SendGrid does not normalize its own (vector A's `s`
//! is high). Nothing here relies on a signature being unique.

use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

use super::{key_error, mismatch, parse_unix, required, Window, BASE64};
use crate::{KeyError, Keys, Refusal, Request, Verdict};

const SIGNATURE: &str = "X-Twilio-Email-Event-Webhook-Signature";
const TIMESTAMP: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

pub(super) fn verify(keys: &Keys, req: &Request, window: Window) -> Result<Verdict, Refusal> {
    let signature = required(req, SIGNATURE)?;
    let timestamp = required(req, TIMESTAMP)?;
    let key = keys.public_key.ok_or_else(|| Refusal::new("the sendgrid webhook has no public key configured"))?;
    let key = parse_public_key(key).map_err(|_| Refusal::new("the sendgrid webhook's public key is not valid"))?;
    let ts = parse_unix(timestamp, TIMESTAMP)?;
    let der = BASE64.decode(signature.trim()).map_err(|_| Refusal::new(format!("{SIGNATURE} is not base64")))?;
    let signature =
        Signature::from_der(&der).map_err(|_| Refusal::new(format!("{SIGNATURE} is not a DER ECDSA signature")))?;

    let mut message = Vec::with_capacity(timestamp.len() + req.body.len());
    message.extend_from_slice(timestamp.trim().as_bytes());
    message.extend_from_slice(req.body);
    key.verify(&message, &signature).map_err(|_| mismatch())?;
    window.check(ts)?;
    // Each event of the batch has its own `sg_event_id`; the delivery as a whole has no id.
    Ok(Verdict::Event { event_id: None })
}

/// A P-256 public key from base64 DER SubjectPublicKeyInfo. PEM armour and line breaks are tolerated, since keys
/// get pasted with them.
pub(super) fn parse_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let bad = || key_error("public_key", "not a base64 DER P-256 SPKI key");
    let base64: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("-----"))
        .flat_map(|line| line.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = BASE64.decode(base64).map_err(|_| bad())?;
    VerifyingKey::from_public_key_der(&der).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::super::testing::Req;
    use crate::{validate_keys, verify, Keys, Verdict, VerifierKind};

    // Vector A: sendgrid/sendgrid-python test/unit/test_eventwebhook.py.
    const KEY_A: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
    const TS_A: &str = "1600112502";
    const SIG_A: &str =
        "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
    const BODY_A: &str = "[{\"email\":\"hello@world.com\",\"event\":\"dropped\",\"reason\":\"Bounced Address\",\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\",\"sg_message_id\":\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\",\"smtp-id\":\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\",\"timestamp\":1600112492}]\r\n";
    const NOW_A: i64 = 1_600_112_502;

    // Vector B: sendgrid/sendgrid-nodejs packages/eventwebhook/src/eventwebhook.spec.js.
    const KEY_B: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
    const TS_B: &str = "1588788367";
    const SIG_B: &str =
        "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
    const BODY_B: &str = r#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;
    const NOW_B: i64 = 1_588_788_367;

    fn check(key: &str, ts: &str, sig: &str, body: &str, now: i64) -> Result<Verdict, String> {
        let r = Req::post(
            &[("X-Twilio-Email-Event-Webhook-Signature", sig), ("X-Twilio-Email-Event-Webhook-Timestamp", ts)],
            body,
        );
        let keys = Keys { secrets: &[], public_key: Some(key), headers: &[] };
        verify(VerifierKind::Sendgrid, &keys, &r.request(), now, 300).map_err(|e| e.reason)
    }

    const EVENT: Result<Verdict, String> = Ok(Verdict::Event { event_id: None });
    const MISMATCH: &str = "the signature does not match the body";

    #[test]
    fn published_vectors_verify() {
        assert_eq!(check(KEY_A, TS_A, SIG_A, BODY_A, NOW_A), EVENT);
        assert_eq!(check(KEY_B, TS_B, SIG_B, BODY_B, NOW_B), EVENT);
        assert_eq!(check(KEY_B, TS_B, SIG_B, BODY_B, NOW_B + 300), EVENT);
        assert_eq!(check(KEY_B, TS_B, SIG_B, BODY_B, NOW_B - 300), EVENT);
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n", &KEY_B[..64], &KEY_B[64..]);
        assert_eq!(check(&pem, TS_B, SIG_B, BODY_B, NOW_B), EVENT);
    }

    #[test]
    fn published_negative_cases_fail() {
        // Vector A without its trailing CRLF.
        assert_eq!(check(KEY_A, TS_A, SIG_A, BODY_A.trim_end(), NOW_A), Err(MISMATCH.into()));
        // sendgrid-nodejs: one character of the signature changed, another body, a non-numeric timestamp, another key.
        let changed = SIG_B.replace("NH2j/0=", "NH3j/0=");
        assert!(check(KEY_B, TS_B, &changed, BODY_B, NOW_B).is_err());
        assert_eq!(check(KEY_B, TS_B, SIG_B, "payload", NOW_B), Err(MISMATCH.into()));
        assert_eq!(
            check(KEY_B, "timestamp", SIG_B, BODY_B, NOW_B),
            Err("X-Twilio-Email-Event-Webhook-Timestamp is not a unix time in seconds".into())
        );
        let other_key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";
        assert_eq!(check(other_key, TS_B, SIG_B, BODY_B, NOW_B), Err(MISMATCH.into()));
        assert_eq!(check(KEY_A, TS_B, SIG_B, BODY_B, NOW_B), Err(MISMATCH.into()));
        // Another timestamp changes the signed bytes.
        assert_eq!(check(KEY_B, "1588788368", SIG_B, BODY_B, NOW_B), Err(MISMATCH.into()));
    }

    #[test]
    fn expired_and_future_timestamps_are_refused() {
        assert_eq!(
            check(KEY_B, TS_B, SIG_B, BODY_B, NOW_B + 412),
            Err("the timestamp is 412 s old, over the 300 s window".into())
        );
        assert_eq!(
            check(KEY_B, TS_B, SIG_B, BODY_B, NOW_B - 3600),
            Err("the timestamp is 3600 s in the future, over the 300 s window".into())
        );
    }

    #[test]
    fn malformed_signatures_are_refused() {
        assert_eq!(
            check(KEY_B, TS_B, "not base64!", BODY_B, NOW_B),
            Err("X-Twilio-Email-Event-Webhook-Signature is not base64".into())
        );
        assert_eq!(
            check(KEY_B, TS_B, "aGVsbG8=", BODY_B, NOW_B),
            Err("X-Twilio-Email-Event-Webhook-Signature is not a DER ECDSA signature".into())
        );
        assert_eq!(
            check(KEY_B, TS_B, "", BODY_B, NOW_B),
            Err("X-Twilio-Email-Event-Webhook-Signature is not a DER ECDSA signature".into())
        );
        let r = Req::post(&[("X-Twilio-Email-Event-Webhook-Signature", SIG_B)], BODY_B);
        let keys = Keys { secrets: &[], public_key: Some(KEY_B), headers: &[] };
        assert_eq!(
            verify(VerifierKind::Sendgrid, &keys, &r.request(), NOW_B, 300).unwrap_err().reason,
            "X-Twilio-Email-Event-Webhook-Timestamp is missing"
        );
        assert_eq!(
            check("MFkw", TS_B, SIG_B, BODY_B, NOW_B),
            Err("the sendgrid webhook's public key is not valid".into())
        );
    }

    #[test]
    fn validation_wants_a_p256_spki_key() {
        let validate = |key: Option<&str>| {
            let keys = Keys { secrets: &[], public_key: key, headers: &[] };
            validate_keys(VerifierKind::Sendgrid, &keys).map_err(|e| e.to_string())
        };
        let not_p256 = "public_key: not a base64 DER P-256 SPKI key";
        assert_eq!(validate(Some(KEY_A)), Ok(()));
        assert_eq!(validate(None), Err("public_key: a sendgrid verifier needs a public key".into()));
        assert_eq!(validate(Some("")), Err(not_p256.into()));
        assert_eq!(validate(Some("not base64!")), Err(not_p256.into()));
        // Truncated, and a point not on the curve (last byte changed).
        assert_eq!(validate(Some(&KEY_A[..80])), Err(not_p256.into()));
        assert_eq!(validate(Some(&KEY_A.replace("EA3F", "EA3G"))), Err(not_p256.into()));
        // An Ed25519 SPKI key (RFC 8410's example) and an RSA-like blob are not P-256.
        assert_eq!(
            validate(Some("MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=")),
            Err(not_p256.into())
        );
        assert_eq!(validate(Some("MA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ==")), Err(not_p256.into()));
    }
}
