//! Twitter / X (Conductor's `TWITTER`): a `GET` with `crc_token` is the challenge-response check, answered
//! `{"response_token":"sha256=<base64 HMAC-SHA256(consumer secret, crc_token)>"}`; it proves the URL and is sent
//! again about hourly. Events are `POST`s with `X-Twitter-Webhooks-Signature: sha256=<base64 HMAC-SHA256 of the
//! body>`. X sends no timestamp and no delivery id.
//!
//! The CRC `GET` is not signed, so its answer signs whatever token anyone sends, with the same key and the same
//! construction as event signatures: answered blindly it would sign forged event bodies. Two rules close that: a
//! token may only use URL-safe base64-like characters (X's tokens do), and an event body must be a JSON object
//! (X's events are), which such a token can never be.

use base64::Engine;

use super::{hmac_matches, hmac_sha256, mismatch, required, secret_keys, BASE64};
use crate::{Keys, Refusal, Request, Verdict, VerifierKind};

const SIGNATURE: &str = "X-Twitter-Webhooks-Signature";
/// Longer than any token X sends; a bound on what the challenge signs.
const MAX_CRC_TOKEN: usize = 256;

pub(super) fn verify(keys: &Keys, req: &Request) -> Result<Verdict, Refusal> {
    if req.method.eq_ignore_ascii_case("GET") || req.method.eq_ignore_ascii_case("HEAD") {
        return challenge(keys, req);
    }
    let signature = required(req, SIGNATURE)?;
    let secrets = secret_keys(VerifierKind::Twitter, keys)?;
    let b64 = signature
        .trim()
        .strip_prefix("sha256=")
        .ok_or_else(|| Refusal::new(format!("{SIGNATURE} does not start with sha256=")))?;
    let candidate = BASE64.decode(b64).map_err(|_| Refusal::new(format!("{SIGNATURE} is not sha256=<base64>")))?;
    if !hmac_matches(&secrets, &[req.body], &[candidate]) {
        return Err(mismatch());
    }
    if req.body.trim_ascii_start().first() != Some(&b'{') {
        return Err(Refusal::new("a twitter event is a JSON object"));
    }
    Ok(Verdict::Event { event_id: None })
}

fn challenge(keys: &Keys, req: &Request) -> Result<Verdict, Refusal> {
    let token = query_param(req.query, "crc_token").ok_or_else(|| Refusal::new("crc_token is missing"))?;
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"+/=-_".contains(&b);
    if token.is_empty() || token.len() > MAX_CRC_TOKEN || !token.bytes().all(allowed) {
        return Err(Refusal::new("crc_token is not a challenge token (base64 characters, at most 256)"));
    }
    // The current secret answers: X checks the answer against the consumer secret the app has now.
    let secret = secret_keys(VerifierKind::Twitter, keys)?[0];
    let response_token = format!("sha256={}", BASE64.encode(hmac_sha256(secret, token.as_bytes())));
    let body = serde_json::json!({ "response_token": response_token }).to_string();
    Ok(Verdict::Answer {
        status: 200,
        content_type: "application/json",
        body: body.into_bytes(),
        verifies_url: true,
        event_id: None,
    })
}

/// The first value of `name` in a form-encoded query string, decoded (`+` is a space, `%XX` a byte). `None` when it
/// is absent or does not decode to UTF-8.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').filter_map(|pair| pair.split_once('=')).find(|(key, _)| *key == name).and_then(|(_, v)| decode(v))
}

fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{keys, secrets, Req};
    use super::*;
    use crate::verify;

    const SECRET: &str = "consumer-secret";

    fn check_with(s: &[String], r: &Req) -> Result<Verdict, String> {
        verify(VerifierKind::Twitter, &keys(s), &r.request(), 0, 300).map_err(|e| e.reason)
    }

    fn check(r: &Req) -> Result<Verdict, String> {
        check_with(&secrets(&[SECRET]), r)
    }

    fn sign(body: &str) -> String {
        format!("sha256={}", BASE64.encode(hmac_sha256(SECRET.as_bytes(), body.as_bytes())))
    }

    #[test]
    fn the_crc_challenge_is_answered() {
        // Python's hmac module gives this token for that key and message.
        let expected = r#"{"response_token":"sha256=1DAy385uY4NJXzmUjqiARra4LmCpkhx9grMNuYpcoG0="}"#;
        for query in ["crc_token=abc%2B123", "nonce=1&crc_token=abc%2b123"] {
            let Ok(Verdict::Answer { status, content_type, body, verifies_url, event_id }) = check(&Req::get(query))
            else {
                panic!("no answer for {query}");
            };
            assert_eq!((status, content_type, verifies_url, event_id), (200, "application/json", true, None));
            assert_eq!(String::from_utf8(body).unwrap(), expected, "{query}");
        }
        // The current secret (the first) answers, even during a rotation.
        let Ok(Verdict::Answer { body, .. }) = check_with(&secrets(&[SECRET, "old"]), &Req::get("crc_token=abc%2B123"))
        else {
            panic!("no answer");
        };
        assert_eq!(String::from_utf8(body).unwrap(), expected);
    }

    #[test]
    fn crc_tokens_that_could_sign_an_event_are_refused() {
        let refused = Err("crc_token is not a challenge token (base64 characters, at most 256)".to_owned());
        assert_eq!(check(&Req::get("crc_token=%7B%22a%22%3A1%7D")), refused);
        assert_eq!(check(&Req::get(&format!("crc_token={}", "a".repeat(257)))), refused);
        assert_eq!(check(&Req::get("crc_token=")), refused);
        assert_eq!(check(&Req::get("crc_token=%zz")), Err("crc_token is missing".into()));
        assert_eq!(check(&Req::get("crc_token=%ff")), Err("crc_token is missing".into()));
        assert_eq!(check(&Req::get("other=1")), Err("crc_token is missing".into()));
        assert_eq!(
            check_with(&[], &Req::get("crc_token=abc")),
            Err("the twitter webhook has no secret configured".into())
        );
    }

    #[test]
    fn events_are_checked_by_their_signature() {
        let body = r#"{"for_user_id":"2244994945","tweet_create_events":[]}"#;
        let ok = Req::post(&[("X-Twitter-Webhooks-Signature", &sign(body))], body);
        assert_eq!(check(&ok), Ok(Verdict::Event { event_id: None }));
        let other = Req::post(&[("X-Twitter-Webhooks-Signature", &sign(body))], "{}");
        assert_eq!(check(&other), Err("the signature does not match the body".into()));
        assert_eq!(check(&Req::post(&[], body)), Err("X-Twitter-Webhooks-Signature is missing".into()));
        let hex = Req::post(&[("X-Twitter-Webhooks-Signature", "sha256=zz*")], body);
        assert_eq!(check(&hex), Err("X-Twitter-Webhooks-Signature is not sha256=<base64>".into()));
        // A body the CRC answer could have signed is not an event even when its signature holds.
        let token_like = "abc+123";
        let forged = Req::post(&[("X-Twitter-Webhooks-Signature", &sign(token_like))], token_like);
        assert_eq!(check(&forged), Err("a twitter event is a JSON object".into()));
    }

    #[test]
    fn query_decoding_never_panics() {
        assert_eq!(decode("a+b%20c"), Some("a b c".into()));
        assert_eq!(decode("%"), None);
        assert_eq!(decode("%4"), None);
        assert_eq!(decode("%é1"), None);
        assert_eq!(decode("%+f"), None);
        assert_eq!(query_param("crc_token", "crc_token"), None);
        assert_eq!(query_param("a=1&crc_token=x&crc_token=y", "crc_token"), Some("x".into()));
    }
}
