//! Request headers as arguments (`include_header`, `INCLUDE_HEADERS`), and
//! the decoding of CloudEvents `ce-*` header values.

use axum::http::{HeaderMap, HeaderName};
use serde_json::{Map, Value};

/// Headers the caller authenticates with, and those an authenticating proxy
/// (oauth2-proxy, Cloudflare Access, IAP, ALB, Azure) sets to say who the
/// caller is: never copied into a job's arguments, which are stored and
/// readable by the workspace.
const CREDENTIALS: [&str; 21] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-preferred-username",
    "x-forwarded-groups",
    "x-forwarded-access-token",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-access-token",
    "x-remote-user",
    "remote-user",
    "x-webauth-user",
    "x-amzn-oidc-data",
    "x-amzn-oidc-identity",
    "x-amzn-oidc-accesstoken",
    "x-ms-client-principal",
    "x-ms-client-principal-name",
    "cf-access-jwt-assertion",
    "x-goog-iap-jwt-assertion",
];

/// Whether `name` is a credential or a proxy's identity header.
pub(super) fn is_identity(name: &str) -> bool {
    CREDENTIALS.contains(&name.trim().to_ascii_lowercase().as_str())
}

/// The listed headers that are present, named lower-case with `-` → `_`
/// (`X-Sign` → `x_sign`). Repeated headers are joined with `, `.
pub(super) fn header_args<'a>(headers: &HeaderMap, names: impl Iterator<Item = &'a String>) -> Map<String, Value> {
    let mut out = Map::new();
    for name in names {
        let lower = name.trim().to_ascii_lowercase();
        if CREDENTIALS.contains(&lower.as_str()) {
            continue;
        }
        let Ok(header) = HeaderName::from_bytes(lower.as_bytes()) else { continue };
        let values: Vec<String> =
            headers.get_all(&header).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
        if !values.is_empty() {
            out.insert(lower.replace('-', "_"), Value::String(values.join(", ")));
        }
    }
    out
}

/// Decodes the `%XX` escapes of a CloudEvents header value (HTTP binding
/// §3.1.3.2). Unlike query decoding, `+` stays a `+`.
pub(super) fn percent_decode(value: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%' && i + 2 < value.len() {
            if let (Some(h), Some(l)) = (hex(value[i + 1]), hex(value[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(value[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_become_arguments() {
        let mut h = HeaderMap::new();
        h.insert("x-sign", "abc".parse().unwrap());
        h.append("x-multi", "1".parse().unwrap());
        h.append("x-multi", "2".parse().unwrap());
        h.insert("authorization", "Bearer secret".parse().unwrap());
        let names: Vec<String> = ["X-Sign", "x-multi", "absent", "Authorization", "bad name"].map(String::from).into();
        let args = header_args(&h, names.iter());
        assert_eq!(Value::Object(args), serde_json::json!({"x_sign": "abc", "x_multi": "1, 2"}));
    }

    #[test]
    fn ce_values_are_percent_decoded() {
        assert_eq!(percent_decode(b"a%20b+c%C3%A9%"), "a b+cé%");
        assert_eq!(percent_decode(b"%2"), "%2");
        assert_eq!(percent_decode(b"%zz%41"), "%zzA");
    }
}
