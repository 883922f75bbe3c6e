//! Microsoft Teams outgoing webhooks (Conductor's `HMAC_BASED`): `Authorization: HMAC <base64 HMAC-SHA256 of the
//! body>`, keyed with the base64-decoded security token Teams shows once at creation. No timestamp: the activity's
//! `id` is the event id. Teams waits 5 s for a synchronous reply; that is the server's concern.

use base64::Engine;

use super::{body_event_id, hmac_matches, json_body, mismatch, required, BASE64};
use crate::{Keys, Refusal, Request, Verdict};

const AUTHORIZATION: &str = "Authorization";

pub(super) fn verify(keys: &Keys, req: &Request) -> Result<Verdict, Refusal> {
    let authorization = required(req, AUTHORIZATION)?;
    let secrets = decoded_keys(keys)?;
    let candidate = match authorization.trim().split_once(char::is_whitespace) {
        Some((scheme, value)) if scheme.eq_ignore_ascii_case("HMAC") => {
            BASE64.decode(value.trim()).map_err(|_| Refusal::new(format!("{AUTHORIZATION}'s HMAC is not base64")))?
        }
        _ => return Err(Refusal::new(format!("{AUTHORIZATION} is not HMAC <base64>"))),
    };
    if !hmac_matches(&secrets, &[req.body], &[candidate]) {
        return Err(mismatch());
    }
    let event_id = json_body(req.body).and_then(|body| body_event_id(&body, "id"));
    Ok(Verdict::Event { event_id })
}

/// The security tokens, base64-decoded. Refuses when there is none or one is not base64.
pub(super) fn decoded_keys(keys: &Keys) -> Result<Vec<Vec<u8>>, Refusal> {
    if keys.secrets.is_empty() {
        return Err(Refusal::new("the teams webhook has no security token configured"));
    }
    keys.secrets
        .iter()
        .map(|token| match BASE64.decode(token.trim()) {
            Ok(key) if !key.is_empty() => Ok(key),
            _ => Err(Refusal::new("the teams webhook's security token is not base64")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{keys, secrets, Req};
    use crate::{validate_keys, verify, Verdict, VerifierKind};

    // The key is MS Learn's example security token; the body and HMAC are verification.md's [D] vector (Microsoft
    // publishes no body for its example header).
    const TOKEN: &str = "vqF0En+Z0ucuRTM/01o2GuhMH3hKKk/N2bOmlM31zaA=";
    const BODY: &str = r#"{"type":"message","text":"Hello"}"#;
    const AUTH: &str = "HMAC li1fTqMFABmYXxJNDIXFXa4avUdMUzXRhEXTcjO/5Ss=";

    fn check_with(tokens: &[&str], authorization: Option<&str>, body: &str) -> Result<Verdict, String> {
        let s = secrets(tokens);
        let headers: Vec<(&str, &str)> = authorization.map(|a| ("Authorization", a)).into_iter().collect();
        let r = Req::post(&headers, body);
        verify(VerifierKind::Teams, &keys(&s), &r.request(), 0, 300).map_err(|e| e.reason)
    }

    fn check(authorization: &str, body: &str) -> Result<Verdict, String> {
        check_with(&[TOKEN], Some(authorization), body)
    }

    #[test]
    fn vector_verifies() {
        assert_eq!(check(AUTH, BODY), Ok(Verdict::Event { event_id: None }));
        assert!(check(&AUTH.replace("HMAC", "hmac"), BODY).is_ok());
        assert!(check(AUTH.trim_end_matches('='), BODY).is_ok());
        assert!(check_with(&["bmV3IHRva2Vu", TOKEN], Some(AUTH), BODY).is_ok());
    }

    #[test]
    fn tampering_is_refused() {
        assert_eq!(
            check(AUTH, r#"{"type":"message","text":"Hello!"}"#),
            Err("the signature does not match the body".into())
        );
        assert!(check(&AUTH.replace("5Ss=", "5St="), BODY).is_err());
        // The token is a key only once decoded: its text as a key does not verify.
        assert!(
            check_with(&["dnFGMEVuK1owdWN1UlRNLzAxbzJHdWhNSDNoS0trL04yYk9tbE0zMXphQT0="], Some(AUTH), BODY).is_err()
        );
    }

    #[test]
    fn malformed_input_is_refused() {
        assert_eq!(check_with(&[TOKEN], None, BODY), Err("Authorization is missing".into()));
        assert_eq!(check("Bearer abc", BODY), Err("Authorization is not HMAC <base64>".into()));
        assert_eq!(check("HMAC", BODY), Err("Authorization is not HMAC <base64>".into()));
        assert_eq!(check("HMAC not*base64!", BODY), Err("Authorization's HMAC is not base64".into()));
        assert_eq!(
            check_with(&["not base64!"], Some(AUTH), BODY),
            Err("the teams webhook's security token is not base64".into())
        );
        assert_eq!(check_with(&[], Some(AUTH), BODY), Err("the teams webhook has no security token configured".into()));
    }

    #[test]
    fn the_activity_id_is_the_event_id() {
        use base64::Engine;
        use hmac::Mac;
        let body = r#"{"type":"message","id":"1485983408511","text":"<at>Bot</at> hi"}"#;
        let key = super::BASE64.decode(TOKEN).unwrap();
        let mut mac = super::super::HmacSha256::new_from_slice(&key).unwrap();
        mac.update(body.as_bytes());
        let auth = format!("HMAC {}", super::BASE64.encode(mac.finalize().into_bytes()));
        assert_eq!(check(&auth, body), Ok(Verdict::Event { event_id: Some("1485983408511".into()) }));
    }

    #[test]
    fn validation_wants_a_base64_token() {
        let check =
            |list: &[&str]| validate_keys(VerifierKind::Teams, &keys(&secrets(list))).map_err(|e| e.to_string());
        assert_eq!(check(&[TOKEN]), Ok(()));
        assert_eq!(check(&["not base64!"]), Err("secret: a teams security token is base64".into()));
        assert_eq!(check(&[TOKEN, "%%%"]), Err("secret: a teams security token is base64".into()));
        assert_eq!(check(&[""]), Err("secret: a teams verifier needs a secret".into()));
        assert_eq!(check(&[]), Err("secret: a teams verifier needs a secret".into()));
    }
}
