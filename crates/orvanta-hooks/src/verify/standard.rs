//! Standard Webhooks v1 (the scheme Svix sends): `webhook-id`, `webhook-timestamp` and `webhook-signature`, a
//! space-separated list of `<version>,<base64>`. The `v1` entries are HMAC-SHA256 of `"{id}.{timestamp}.{body}"`
//! keyed with the base64 after `whsec_`; any may match (a sender rotating its secret signs with both), other
//! versions (`v1a` ed25519 and unknown ones) are skipped as the reference libraries do. Svix's `svix-id`,
//! `svix-timestamp` and `svix-signature` are read when `webhook-signature` is absent. The event id is the message
//! id, which stays the same across retries.

use base64::Engine;

use super::{event_id, header, hmac_matches, mismatch, parse_unix, required, Window, BASE64};
use crate::{Keys, Refusal, Request, Verdict};

pub(super) fn verify(keys: &Keys, req: &Request, window: Window) -> Result<Verdict, Refusal> {
    let prefix = if header(req, "webhook-signature")?.is_none() && header(req, "svix-signature")?.is_some() {
        "svix"
    } else {
        "webhook"
    };
    let signature = required(req, &format!("{prefix}-signature"))?;
    let id = required(req, &format!("{prefix}-id"))?;
    let timestamp = required(req, &format!("{prefix}-timestamp"))?;
    let secrets = decoded_keys(keys)?;
    let ts = parse_unix(timestamp, &format!("{prefix}-timestamp"))?;
    let (id, timestamp) = (id.trim(), timestamp.trim());
    if id.is_empty() || id.contains('.') {
        return Err(Refusal::new(format!("{prefix}-id is empty or has a `.`")));
    }

    let mut versioned = 0;
    let mut candidates = Vec::new();
    for entry in signature.split_whitespace() {
        if let Some(("v1", value)) = entry.split_once(',') {
            versioned += 1;
            candidates.extend(BASE64.decode(value).ok());
        }
    }
    if versioned == 0 {
        return Err(Refusal::new(format!("{prefix}-signature has no v1 signature")));
    }
    let parts: [&[u8]; 5] = [id.as_bytes(), b".", timestamp.as_bytes(), b".", req.body];
    if !hmac_matches(&secrets, &parts, &candidates) {
        return Err(mismatch());
    }
    window.check(ts)?;
    Ok(Verdict::Event { event_id: event_id(id) })
}

/// The secrets' keys: each `whsec_` followed by base64 (padding optional), decoded.
pub(super) fn decoded_keys(keys: &Keys) -> Result<Vec<Vec<u8>>, Refusal> {
    if keys.secrets.is_empty() {
        return Err(Refusal::new("the standard_webhooks webhook has no secret configured"));
    }
    keys.secrets
        .iter()
        .map(|secret| {
            let decoded = secret.trim().strip_prefix("whsec_").map(|b64| BASE64.decode(b64));
            match decoded {
                Some(Ok(key)) if !key.is_empty() => Ok(key),
                _ => Err(Refusal::new("the standard_webhooks webhook's secret is not whsec_<base64>")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{keys, secrets, Req};
    use crate::{validate_keys, verify, Verdict, VerifierKind};

    // The reference libraries' "sign function works" test (JS webhook.test.ts; Go, Java, C# identical).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: &str = "1614265330";
    const NOW: i64 = 1_614_265_330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn check_with(secret: &str, headers: &[(&str, &str)], body: &str, now: i64) -> Result<Verdict, String> {
        let s = secrets(&[secret]);
        let r = Req::post(headers, body);
        verify(VerifierKind::StandardWebhooks, &keys(&s), &r.request(), now, 300).map_err(|e| e.reason)
    }

    fn check(signature: &str, body: &str, now: i64) -> Result<Verdict, String> {
        check_with(
            SECRET,
            &[("webhook-id", ID), ("webhook-timestamp", TS), ("webhook-signature", signature)],
            body,
            now,
        )
    }

    fn evt() -> Result<Verdict, String> {
        Ok(Verdict::Event { event_id: Some(ID.into()) })
    }

    #[test]
    fn published_vector_verifies() {
        assert_eq!(check(SIGNATURE, BODY, NOW), evt());
        assert_eq!(check(SIGNATURE, BODY, NOW + 300), evt());
        assert_eq!(check(SIGNATURE, BODY, NOW - 300), evt());
        // The same under Svix's header names.
        let svix = [("svix-id", ID), ("svix-timestamp", TS), ("svix-signature", SIGNATURE)];
        assert_eq!(check_with(SECRET, &svix, BODY, NOW), evt());
    }

    #[test]
    fn any_v1_entry_may_match() {
        let multi = format!(
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {SIGNATURE}"
        );
        assert_eq!(check(&multi, BODY, NOW), evt());
        assert_eq!(check(&format!("v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== v1,@@@ {SIGNATURE}"), BODY, NOW), evt());
    }

    #[test]
    fn unpadded_secrets_verify_and_the_prefix_is_required() {
        // The secret above is 32 base64 characters, so it has no padding to drop; check with a padded one.
        use base64::Engine;
        use hmac::Mac;
        let key = b"a 25-byte key for testing";
        let padded = format!("whsec_{}", super::BASE64.encode(key));
        assert!(padded.ends_with('='));
        let mut mac = super::super::HmacSha256::new_from_slice(key).unwrap();
        mac.update(format!("{ID}.{TS}.{BODY}").as_bytes());
        let signature = format!("v1,{}", super::BASE64.encode(mac.finalize().into_bytes()));
        let headers = [("webhook-id", ID), ("webhook-timestamp", TS), ("webhook-signature", signature.as_str())];
        assert_eq!(check_with(&padded, &headers, BODY, NOW), evt());
        assert_eq!(check_with(padded.trim_end_matches('='), &headers, BODY, NOW), evt());
        assert_eq!(
            check_with(padded.trim_start_matches("whsec_"), &headers, BODY, NOW),
            Err("the standard_webhooks webhook's secret is not whsec_<base64>".into())
        );
    }

    #[test]
    fn tampered_expired_and_future_requests_are_refused() {
        let mismatch = Err("the signature does not match the body".to_owned());
        // The Python library's negative value: the last character changed.
        assert_eq!(check("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", BODY, NOW), mismatch);
        assert_eq!(check(SIGNATURE, r#"{"test": 2432232315}"#, NOW), mismatch);
        assert_eq!(check(SIGNATURE, r#"{"test":2432232314}"#, NOW), mismatch);
        let other_id = [("webhook-id", "msg_other"), ("webhook-timestamp", TS), ("webhook-signature", SIGNATURE)];
        assert_eq!(check_with(SECRET, &other_id, BODY, NOW), mismatch);
        let other_ts = [("webhook-id", ID), ("webhook-timestamp", "1614265331"), ("webhook-signature", SIGNATURE)];
        assert_eq!(check_with(SECRET, &other_ts, BODY, NOW), mismatch);
        let headers = [("webhook-id", ID), ("webhook-timestamp", TS), ("webhook-signature", SIGNATURE)];
        assert_eq!(check_with("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx", &headers, BODY, NOW), mismatch);
        assert_eq!(check(SIGNATURE, BODY, NOW + 412), Err("the timestamp is 412 s old, over the 300 s window".into()));
        assert_eq!(
            check(SIGNATURE, BODY, NOW - 3600),
            Err("the timestamp is 3600 s in the future, over the 300 s window".into())
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        assert_eq!(
            check_with(SECRET, &[("webhook-id", ID), ("webhook-timestamp", TS)], BODY, NOW),
            Err("webhook-signature is missing".into())
        );
        assert_eq!(
            check_with(SECRET, &[("webhook-timestamp", TS), ("webhook-signature", SIGNATURE)], BODY, NOW),
            Err("webhook-id is missing".into())
        );
        assert_eq!(
            check_with(SECRET, &[("svix-id", ID), ("svix-signature", SIGNATURE)], BODY, NOW),
            Err("svix-timestamp is missing".into())
        );
        let dotted = [("webhook-id", "msg.1"), ("webhook-timestamp", TS), ("webhook-signature", SIGNATURE)];
        assert_eq!(check_with(SECRET, &dotted, BODY, NOW), Err("webhook-id is empty or has a `.`".into()));
        let bad_ts = [("webhook-id", ID), ("webhook-timestamp", "1614265330.5"), ("webhook-signature", SIGNATURE)];
        assert_eq!(
            check_with(SECRET, &bad_ts, BODY, NOW),
            Err("webhook-timestamp is not a unix time in seconds".into())
        );
        assert_eq!(check("", BODY, NOW), Err("webhook-signature has no v1 signature".into()));
        assert_eq!(check("v1a,abcd v2,abcd", BODY, NOW), Err("webhook-signature has no v1 signature".into()));
        assert_eq!(check("v1,not*base64", BODY, NOW), Err("the signature does not match the body".into()));
        assert_eq!(
            check_with(
                "whsec_***",
                &[("webhook-id", ID), ("webhook-timestamp", TS), ("webhook-signature", SIGNATURE)],
                BODY,
                NOW
            ),
            Err("the standard_webhooks webhook's secret is not whsec_<base64>".into())
        );
    }

    #[test]
    fn validation_wants_whsec_base64() {
        let check = |list: &[&str]| {
            validate_keys(VerifierKind::StandardWebhooks, &keys(&secrets(list))).map_err(|e| e.to_string())
        };
        let malformed = Err("secret: a standard_webhooks secret is whsec_ followed by base64".to_owned());
        assert_eq!(check(&[SECRET]), Ok(()));
        assert_eq!(check(&["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]), malformed);
        assert_eq!(check(&["whsec_"]), malformed);
        assert_eq!(check(&["whsec_not base64!"]), malformed);
        assert_eq!(check(&[SECRET, "whsec_%%"]), malformed);
        assert_eq!(check(&[]), Err("secret: a standard_webhooks verifier needs a secret".into()));
    }
}
