//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=<hex>]`, HMAC-SHA256 of `"{t}.{body}"` keyed with
//! the whole secret string (`whsec_` included, not decoded). Any `v1` may match (Stripe sends one per active secret
//! while a rolled secret is still valid); `v0` and other schemes are ignored, which is Stripe's downgrade
//! protection. The event id is the body's `id`.

use super::{body_event_id, hmac_matches, json_body, mismatch, parse_unix, required, secret_keys, Window};
use crate::{Keys, Refusal, Request, Verdict, VerifierKind};

const SIGNATURE: &str = "Stripe-Signature";

pub(super) fn verify(keys: &Keys, req: &Request, window: Window) -> Result<Verdict, Refusal> {
    let header = required(req, SIGNATURE)?;
    let secrets = secret_keys(VerifierKind::Stripe, keys)?;
    let parsed = parse(header)?;
    let parts: [&[u8]; 3] = [parsed.t.as_bytes(), b".", req.body];
    if !hmac_matches(&secrets, &parts, &parsed.v1) {
        return Err(mismatch());
    }
    window.check(parsed.ts)?;
    let event_id = json_body(req.body).and_then(|body| body_event_id(&body, "id"));
    Ok(Verdict::Event { event_id })
}

struct Parsed<'h> {
    /// The timestamp as sent, which is what was signed.
    t: &'h str,
    ts: i64,
    /// Every `v1` that is hex; one that is not cannot match and is skipped.
    v1: Vec<Vec<u8>>,
}

fn parse(header: &str) -> Result<Parsed<'_>, Refusal> {
    let mut t = None;
    let mut v1 = Vec::new();
    let mut v1_seen = false;
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else { continue };
        match key.trim() {
            "t" if t.is_some() => return Err(Refusal::new(format!("{SIGNATURE} is malformed: more than one t="))),
            "t" => t = Some(value.trim()),
            "v1" => {
                v1_seen = true;
                v1.extend(hex::decode(value.trim()).ok());
            }
            _ => {}
        }
    }
    let t = t.ok_or_else(|| Refusal::new(format!("{SIGNATURE} is malformed: no t=")))?;
    let ts = parse_unix(t, &format!("{SIGNATURE}'s t="))?;
    if !v1_seen {
        return Err(Refusal::new(format!("{SIGNATURE} has no v1 signature")));
    }
    Ok(Parsed { t, ts, v1 })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{keys, secrets, Req};
    use crate::{verify, Verdict, VerifierKind};

    // stripe-python's test constants (DUMMY_WEBHOOK_SECRET / DUMMY_WEBHOOK_PAYLOAD), signed at t=1600000000
    // (verification.md [D]; Stripe publishes no static vector).
    const SECRET: &str = "whsec_test_secret";
    const PRETTY: &str = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
    const PRETTY_V1: &str = "d31a0c09b944148f3e0967540577eab14332f9eed37bc847aa57257cb33baf8e";
    const COMPACT: &str = r#"{"id":"evt_test_webhook","object":"event"}"#;
    const COMPACT_V1: &str = "0a7fcf3d3e827f08963bef536165c289a8f2f5d9b6c038e511138255342462e0";
    const T: i64 = 1_600_000_000;

    fn check_with(secrets: &[String], header: &str, body: &str, now: i64) -> Result<Verdict, String> {
        let r = Req::post(&[("Stripe-Signature", header)], body);
        verify(VerifierKind::Stripe, &keys(secrets), &r.request(), now, 300).map_err(|e| e.reason)
    }

    fn check(header: &str, body: &str, now: i64) -> Result<Verdict, String> {
        check_with(&secrets(&[SECRET]), header, body, now)
    }

    fn evt() -> Result<Verdict, String> {
        Ok(Verdict::Event { event_id: Some("evt_test_webhook".into()) })
    }

    #[test]
    fn vectors_verify() {
        assert_eq!(check(&format!("t={T},v1={PRETTY_V1}"), PRETTY, T), evt());
        assert_eq!(check(&format!("t={T},v1={COMPACT_V1}"), COMPACT, T + 300), evt());
        assert_eq!(check(&format!("t={T},v1={COMPACT_V1}"), COMPACT, T - 300), evt());
    }

    #[test]
    fn any_v1_may_match_and_v0_is_ignored() {
        let junk = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd";
        assert_eq!(check(&format!("t={T},v1={junk},v1={PRETTY_V1},v0={junk}"), PRETTY, T), evt());
        assert_eq!(check(&format!(" t={T} , v1=nothex , v1={PRETTY_V1} "), PRETTY, T), evt());
        // A valid signature under v0 (or any other scheme) is not accepted.
        assert_eq!(
            check(&format!("t={T},v0={PRETTY_V1}"), PRETTY, T),
            Err("Stripe-Signature has no v1 signature".into())
        );
        assert_eq!(
            check(&format!("t={T},v1={junk},v0={PRETTY_V1}"), PRETTY, T),
            Err("the signature does not match the body".into())
        );
    }

    #[test]
    fn the_secret_is_the_whole_string_and_either_of_a_rotation_matches() {
        assert!(check_with(&secrets(&["test_secret"]), &format!("t={T},v1={PRETTY_V1}"), PRETTY, T).is_err());
        assert!(check_with(&secrets(&["whsec_new", SECRET]), &format!("t={T},v1={PRETTY_V1}"), PRETTY, T).is_ok());
    }

    #[test]
    fn tampered_expired_and_future_requests_are_refused() {
        let header = format!("t={T},v1={PRETTY_V1}");
        assert_eq!(check(&header, COMPACT, T), Err("the signature does not match the body".into()));
        assert_eq!(
            check(&format!("t={},v1={PRETTY_V1}", T + 1), PRETTY, T),
            Err("the signature does not match the body".into())
        );
        assert_eq!(check(&header, PRETTY, T + 412), Err("the timestamp is 412 s old, over the 300 s window".into()));
        assert_eq!(
            check(&header, PRETTY, T - 3600),
            Err("the timestamp is 3600 s in the future, over the 300 s window".into())
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let missing = Req::post(&[], PRETTY);
        let s = secrets(&[SECRET]);
        assert_eq!(
            verify(VerifierKind::Stripe, &keys(&s), &missing.request(), T, 300).unwrap_err().reason,
            "Stripe-Signature is missing"
        );
        assert_eq!(check(&format!("v1={PRETTY_V1}"), PRETTY, T), Err("Stripe-Signature is malformed: no t=".into()));
        assert_eq!(check("", PRETTY, T), Err("Stripe-Signature is malformed: no t=".into()));
        assert_eq!(check(",,,=,", PRETTY, T), Err("Stripe-Signature is malformed: no t=".into()));
        assert_eq!(
            check(&format!("t=yesterday,v1={PRETTY_V1}"), PRETTY, T),
            Err("Stripe-Signature's t= is not a unix time in seconds".into())
        );
        assert_eq!(
            check(&format!("t={T},t={T},v1={PRETTY_V1}"), PRETTY, T),
            Err("Stripe-Signature is malformed: more than one t=".into())
        );
        assert_eq!(check(&format!("t={T}"), PRETTY, T), Err("Stripe-Signature has no v1 signature".into()));
        assert_eq!(check(&format!("t={T},v1=zz"), PRETTY, T), Err("the signature does not match the body".into()));
    }
}
