//! The header verifier (Conductor's `HEADER_BASED`): every configured header present exactly once with exactly
//! the configured value. Names match in any case; values are compared byte for byte, in constant time.

use subtle::ConstantTimeEq;

use super::{header, key_error};
use crate::{KeyError, Keys, Refusal, Request, Verdict};

pub(super) fn verify(keys: &Keys, req: &Request) -> Result<Verdict, Refusal> {
    // An empty list would accept anyone: fail closed (validate refuses to save it anyway).
    if keys.headers.is_empty() {
        return Err(Refusal::new("the header webhook has no header configured"));
    }
    for (name, wanted) in keys.headers {
        let got = header(req, name)?.ok_or_else(|| Refusal::new(format!("{name} is missing")))?;
        if !bool::from(got.as_bytes().ct_eq(wanted.as_bytes())) {
            return Err(Refusal::new(format!("{name} does not have the configured value")));
        }
    }
    Ok(Verdict::Event { event_id: None })
}

pub(super) fn validate(headers: &[(String, String)]) -> Result<(), KeyError> {
    if headers.is_empty() {
        return Err(key_error("headers", "a header verifier needs at least one header"));
    }
    for (name, value) in headers {
        // RFC 9110 token characters.
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(key_error("headers", format!("`{name}` is not a header name")));
        }
        if value.is_empty() {
            return Err(key_error("headers", format!("{name} needs a value")));
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(key_error("headers", format!("the value of {name} has a control character")));
        }
        if headers.iter().filter(|(other, _)| other.eq_ignore_ascii_case(name)).count() > 1 {
            return Err(key_error("headers", format!("{name} is configured more than once")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::Req;
    use crate::{validate_keys, verify, Keys, Verdict, VerifierKind};

    fn configured(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    fn check(config: &[(String, String)], r: &Req) -> Result<Verdict, String> {
        let keys = Keys { secrets: &[], public_key: None, headers: config };
        verify(VerifierKind::Header, &keys, &r.request(), 0, 300).map_err(|e| e.reason)
    }

    #[test]
    fn every_configured_header_must_match_exactly() {
        let config = configured(&[("X-Api-Key", "k3y"), ("X-Source", "billing")]);
        let ok = Req::post(&[("x-api-key", "k3y"), ("x-source", "billing"), ("x-other", "1")], "{}");
        assert_eq!(check(&config, &ok), Ok(Verdict::Event { event_id: None }));

        let wrong = Req::post(&[("x-api-key", "K3Y"), ("x-source", "billing")], "{}");
        assert_eq!(check(&config, &wrong), Err("X-Api-Key does not have the configured value".into()));
        let padded = Req::post(&[("x-api-key", "k3y "), ("x-source", "billing")], "{}");
        assert!(check(&config, &padded).is_err());
        let missing = Req::post(&[("x-api-key", "k3y")], "{}");
        assert_eq!(check(&config, &missing), Err("X-Source is missing".into()));
        let twice = Req::post(&[("x-api-key", "k3y"), ("x-api-key", "k3y"), ("x-source", "billing")], "{}");
        assert_eq!(check(&config, &twice), Err("X-Api-Key is sent more than once".into()));
    }

    #[test]
    fn no_configured_header_accepts_nothing() {
        let r = Req::post(&[], "{}");
        assert_eq!(check(&[], &r), Err("the header webhook has no header configured".into()));
    }

    #[test]
    fn validation_names_the_problem() {
        let validate = |list: &[(&str, &str)]| {
            let config = configured(list);
            let keys = Keys { secrets: &[], public_key: None, headers: &config };
            validate_keys(VerifierKind::Header, &keys).map_err(|e| e.to_string())
        };
        assert_eq!(validate(&[("X-Api-Key", "k")]), Ok(()));
        assert_eq!(validate(&[]), Err("headers: a header verifier needs at least one header".into()));
        assert_eq!(validate(&[("X Api", "k")]), Err("headers: `X Api` is not a header name".into()));
        assert_eq!(validate(&[("X-Api-Key", "")]), Err("headers: X-Api-Key needs a value".into()));
        assert_eq!(validate(&[("a", "1\n2")]), Err("headers: the value of a has a control character".into()));
        assert_eq!(validate(&[("a", "1"), ("A", "2")]), Err("headers: a is configured more than once".into()));
    }
}
