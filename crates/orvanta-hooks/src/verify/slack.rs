//! Slack request signing v0: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">` with the timestamp from
//! `X-Slack-Request-Timestamp`, inside the replay window. The body is JSON (Events API) or form-encoded (slash
//! commands, interactivity's `payload=`); the signature covers the raw bytes either way. A signed
//! `{"type":"url_verification","challenge":...}` is answered with the bare challenge as `text/plain` (one of the
//! three answers Slack accepts) and proves the URL; it is not an event.

use super::{body_event_id, hmac_matches, json_body, mismatch, parse_unix, required, secret_keys, Window};
use crate::{Keys, Refusal, Request, Verdict, VerifierKind};

const SIGNATURE: &str = "X-Slack-Signature";
const TIMESTAMP: &str = "X-Slack-Request-Timestamp";

pub(super) fn verify(keys: &Keys, req: &Request, window: Window) -> Result<Verdict, Refusal> {
    let signature = required(req, SIGNATURE)?;
    let timestamp = required(req, TIMESTAMP)?;
    let secrets = secret_keys(VerifierKind::Slack, keys)?;
    let ts = parse_unix(timestamp, TIMESTAMP)?;
    let hex_part = signature
        .trim()
        .strip_prefix("v0=")
        .ok_or_else(|| Refusal::new(format!("{SIGNATURE} does not start with v0=")))?;
    let candidate = hex::decode(hex_part).map_err(|_| Refusal::new(format!("{SIGNATURE} is not v0=<hex>")))?;
    // Sign over the header's own digits, as Slack did, not over a re-rendering of the parsed number.
    let parts: [&[u8]; 4] = [b"v0:", timestamp.trim().as_bytes(), b":", req.body];
    if !hmac_matches(&secrets, &parts, &[candidate]) {
        return Err(mismatch());
    }
    window.check(ts)?;

    let Some(body) = json_body(req.body) else {
        return Ok(Verdict::Event { event_id: None });
    };
    let challenge = body.get("challenge").and_then(|c| c.as_str());
    if let (Some("url_verification"), Some(challenge)) = (body.get("type").and_then(|t| t.as_str()), challenge) {
        return Ok(Verdict::Answer {
            status: 200,
            content_type: "text/plain",
            body: challenge.as_bytes().to_vec(),
            verifies_url: true,
            event_id: None,
        });
    }
    Ok(Verdict::Event { event_id: body_event_id(&body, "event_id") })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{keys, secrets, Req};
    use crate::{verify, Verdict, VerifierKind};

    // Slack's "Verifying requests from Slack" worked example (also python-slack-sdk's signature tests).
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const NOW: i64 = 1_531_420_618;
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    // verification.md [D]: Slack's url_verification example body, compact, signed with the secret above at TS.
    const CHALLENGE_BODY: &str = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    const CHALLENGE_SIGNATURE: &str = "v0=f9bd80929259f3f6d5fe3a3186c453c89cd1ad4862815a15837584f31c993652";

    fn check(r: &Req, now: i64, tolerance: u64) -> Result<Verdict, String> {
        let s = secrets(&[SECRET]);
        verify(VerifierKind::Slack, &keys(&s), &r.request(), now, tolerance).map_err(|e| e.reason)
    }

    fn signed(ts: &str, signature: &str, body: &str) -> Req {
        Req::post(&[("X-Slack-Signature", signature), ("X-Slack-Request-Timestamp", ts)], body)
    }

    #[test]
    fn published_vector_verifies_a_form_body() {
        assert_eq!(check(&signed(TS, SIGNATURE, BODY), NOW, 300), Ok(Verdict::Event { event_id: None }));
        assert!(check(&signed(TS, SIGNATURE, BODY), NOW + 300, 300).is_ok());
        assert!(check(&signed(TS, SIGNATURE, BODY), NOW - 300, 300).is_ok());
    }

    #[test]
    fn tampered_expired_and_future_requests_are_refused() {
        let other_body = BODY.replace("roadrunner", "wile_e_coyote");
        assert_eq!(
            check(&signed(TS, SIGNATURE, &other_body), NOW, 300),
            Err("the signature does not match the body".into())
        );
        assert_eq!(
            check(&signed("1531420619", SIGNATURE, BODY), NOW, 300),
            Err("the signature does not match the body".into())
        );
        let wrong_secret = secrets(&["8f742231b10e8888abcd99yyyzzz85a"]);
        let r = signed(TS, SIGNATURE, BODY);
        assert!(verify(VerifierKind::Slack, &keys(&wrong_secret), &r.request(), NOW, 300).is_err());
        assert_eq!(
            check(&signed(TS, SIGNATURE, BODY), NOW + 412, 300),
            Err("the timestamp is 412 s old, over the 300 s window".into())
        );
        assert_eq!(
            check(&signed(TS, SIGNATURE, BODY), NOW - 3600, 300),
            Err("the timestamp is 3600 s in the future, over the 300 s window".into())
        );
        // A replay window of 0 is off.
        assert!(check(&signed(TS, SIGNATURE, BODY), NOW + 86_400, 0).is_ok());
    }

    #[test]
    fn malformed_headers_are_refused() {
        let no_sig = Req::post(&[("X-Slack-Request-Timestamp", TS)], BODY);
        assert_eq!(check(&no_sig, NOW, 300), Err("X-Slack-Signature is missing".into()));
        let no_ts = Req::post(&[("X-Slack-Signature", SIGNATURE)], BODY);
        assert_eq!(check(&no_ts, NOW, 300), Err("X-Slack-Request-Timestamp is missing".into()));
        assert_eq!(
            check(&signed("soon", SIGNATURE, BODY), NOW, 300),
            Err("X-Slack-Request-Timestamp is not a unix time in seconds".into())
        );
        assert_eq!(
            check(&signed(TS, &SIGNATURE.replace("v0=", "v1="), BODY), NOW, 300),
            Err("X-Slack-Signature does not start with v0=".into())
        );
        assert_eq!(check(&signed(TS, "v0=xyz", BODY), NOW, 300), Err("X-Slack-Signature is not v0=<hex>".into()));
    }

    #[test]
    fn a_signed_url_verification_is_answered_with_the_challenge() {
        let verdict = check(&signed(TS, CHALLENGE_SIGNATURE, CHALLENGE_BODY), NOW, 300).unwrap();
        assert_eq!(
            verdict,
            Verdict::Answer {
                status: 200,
                content_type: "text/plain",
                body: b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".to_vec(),
                verifies_url: true,
                event_id: None,
            }
        );
        // Unsigned, or signed for another body, it is refused like anything else.
        let forged = CHALLENGE_BODY.replace("3eZb", "4eZb");
        assert!(check(&signed(TS, CHALLENGE_SIGNATURE, &forged), NOW, 300).is_err());
        let unsigned = Req::post(&[("X-Slack-Request-Timestamp", TS)], CHALLENGE_BODY);
        assert!(check(&unsigned, NOW, 300).is_err());
    }

    #[test]
    fn event_callbacks_carry_their_event_id() {
        use hmac::Mac;
        let body = r#"{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention"}}"#;
        let mut mac = super::super::HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("v0:{TS}:{body}").as_bytes());
        let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            check(&signed(TS, &signature, body), NOW, 300),
            Ok(Verdict::Event { event_id: Some("Ev08MFMKH6".into()) })
        );
    }
}
