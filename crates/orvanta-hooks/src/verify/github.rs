//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` keyed with the secret's UTF-8 bytes. No
//! timestamp: deliveries are deduplicated on `X-GitHub-Delivery`. The `ping` sent when a hook is created is signed
//! too; once verified it is answered `{"ok":true}` and proves the URL.

use super::{event_id, header, hmac_matches, mismatch, required, secret_keys};
use crate::{Keys, Refusal, Request, Verdict, VerifierKind};

const SIGNATURE: &str = "X-Hub-Signature-256";

pub(super) fn verify(keys: &Keys, req: &Request) -> Result<Verdict, Refusal> {
    let signature = required(req, SIGNATURE)?;
    let secrets = secret_keys(VerifierKind::Github, keys)?;
    let hex_part = signature
        .trim()
        .strip_prefix("sha256=")
        .ok_or_else(|| Refusal::new(format!("{SIGNATURE} does not start with sha256=")))?;
    let candidate = hex::decode(hex_part).map_err(|_| Refusal::new(format!("{SIGNATURE} is not sha256=<hex>")))?;
    if !hmac_matches(&secrets, &[req.body], &[candidate]) {
        return Err(mismatch());
    }

    let event_id = header(req, "X-GitHub-Delivery")?.and_then(event_id);
    if header(req, "X-GitHub-Event")?.is_some_and(|e| e.trim() == "ping") {
        return Ok(Verdict::Answer {
            status: 200,
            content_type: "application/json",
            body: br#"{"ok":true}"#.to_vec(),
            verifies_url: true,
            event_id,
        });
    }
    Ok(Verdict::Event { event_id })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{keys, secrets, Req};
    use crate::{verify, Verdict, VerifierKind};

    // docs.github.com, "Validating webhook deliveries" → "Testing the webhook payload validation".
    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &str = "Hello, World!";
    const SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn check(secrets: &[String], r: &Req) -> Result<Verdict, String> {
        verify(VerifierKind::Github, &keys(secrets), &r.request(), 1_700_000_000, 300).map_err(|e| e.reason)
    }

    #[test]
    fn published_vector_verifies() {
        let r = Req::post(
            &[("X-Hub-Signature-256", SIGNATURE), ("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "72d3162e")],
            BODY,
        );
        assert_eq!(check(&secrets(&[SECRET]), &r), Ok(Verdict::Event { event_id: Some("72d3162e".into()) }));
        let upper = SIGNATURE.replace("757107ea", "757107EA");
        let r = Req::post(&[("x-hub-signature-256", &upper)], BODY);
        assert_eq!(check(&secrets(&[SECRET]), &r), Ok(Verdict::Event { event_id: None }));
    }

    #[test]
    fn either_secret_of_a_rotation_verifies() {
        let r = Req::post(&[("X-Hub-Signature-256", SIGNATURE)], BODY);
        assert!(check(&secrets(&["the new one", SECRET]), &r).is_ok());
        assert!(check(&secrets(&[SECRET, "the old one"]), &r).is_ok());
        assert_eq!(
            check(&secrets(&["the new one", "the old one"]), &r),
            Err("the signature does not match the body".into())
        );
    }

    #[test]
    fn tampering_is_refused() {
        let s = secrets(&[SECRET]);
        let other_body = Req::post(&[("X-Hub-Signature-256", SIGNATURE)], "Hello, World?");
        assert_eq!(check(&s, &other_body), Err("the signature does not match the body".into()));
        let flipped = SIGNATURE.replace("3e17", "3e18");
        assert!(check(&s, &Req::post(&[("X-Hub-Signature-256", &flipped)], BODY)).is_err());
        let truncated = &SIGNATURE[..SIGNATURE.len() - 2];
        assert!(check(&s, &Req::post(&[("X-Hub-Signature-256", truncated)], BODY)).is_err());
        assert!(check(
            &secrets(&["It's a Secret to Everybody "]),
            &Req::post(&[("X-Hub-Signature-256", SIGNATURE)], BODY)
        )
        .is_err());
    }

    #[test]
    fn malformed_headers_are_refused() {
        let s = secrets(&[SECRET]);
        assert_eq!(check(&s, &Req::post(&[], BODY)), Err("X-Hub-Signature-256 is missing".into()));
        // The legacy SHA-1 header alone is not enough.
        let legacy = Req::post(&[("X-Hub-Signature", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59")], BODY);
        assert_eq!(check(&s, &legacy), Err("X-Hub-Signature-256 is missing".into()));
        let bare = SIGNATURE.trim_start_matches("sha256=");
        assert_eq!(
            check(&s, &Req::post(&[("X-Hub-Signature-256", bare)], BODY)),
            Err("X-Hub-Signature-256 does not start with sha256=".into())
        );
        assert_eq!(
            check(&s, &Req::post(&[("X-Hub-Signature-256", "sha256=zz")], BODY)),
            Err("X-Hub-Signature-256 is not sha256=<hex>".into())
        );
        let huge = format!("sha256={}", "ab".repeat(1 << 20));
        assert!(check(&s, &Req::post(&[("X-Hub-Signature-256", &huge)], BODY)).is_err());
    }

    #[test]
    fn a_signed_ping_verifies_the_url() {
        let headers = [("X-Hub-Signature-256", SIGNATURE), ("X-GitHub-Event", "ping"), ("X-GitHub-Delivery", "d-1")];
        let verdict = check(&secrets(&[SECRET]), &Req::post(&headers, BODY)).unwrap();
        assert_eq!(
            verdict,
            Verdict::Answer {
                status: 200,
                content_type: "application/json",
                body: br#"{"ok":true}"#.to_vec(),
                verifies_url: true,
                event_id: Some("d-1".into()),
            }
        );
        let unsigned = Req::post(&[("X-GitHub-Event", "ping")], BODY);
        assert_eq!(check(&secrets(&[SECRET]), &unsigned), Err("X-Hub-Signature-256 is missing".into()));
        let forged = Req::post(&[("X-GitHub-Event", "ping"), ("X-Hub-Signature-256", SIGNATURE)], "{}");
        assert!(check(&secrets(&[SECRET]), &forged).is_err());
    }
}
