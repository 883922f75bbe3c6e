//! CloudEvents 1.0 (§4.3): structured mode (`application/cloudevents+json`),
//! binary mode (`ce-*` headers) and batch mode
//! (`application/cloudevents-batch+json`, one job per event).
//!
//! The event's data becomes the arguments by the usual rules; its other
//! attributes go into the argument `WEBHOOK__METADATA__`. Every event is
//! checked before anything is planned for object storage.

use super::content::{self, invalid_json, Body};
use super::{headers, into_args, Uploads};
use crate::error::{ApiError, ApiResult};
use serde_json::{Map, Value};

/// The argument that carries the event's attributes.
pub const METADATA: &str = "WEBHOOK__METADATA__";

/// A structured-mode event: the body is the event.
pub(super) fn structured(body: &[u8], wrap: bool, uploads: &mut Uploads) -> ApiResult<Map<String, Value>> {
    let value = content::parse(body).map_err(|e| invalid_json("the CloudEvent", &e))?;
    let Value::Object(event) = value else {
        return Err(ApiError::BadRequest(
            "a structured CloudEvent (application/cloudevents+json) must be a JSON object with specversion, id, source, type and data".into(),
        ));
    };
    event_args(event, wrap, uploads, "")
}

/// A batch: a JSON array of structured events, one arguments map per event.
pub(super) fn batch(body: &[u8], wrap: bool, uploads: &mut Uploads) -> ApiResult<Vec<Map<String, Value>>> {
    let value = content::parse(body).map_err(|e| invalid_json("the CloudEvents batch", &e))?;
    let Value::Array(events) = value else {
        return Err(ApiError::BadRequest(
            "a CloudEvents batch (application/cloudevents-batch+json) must be a JSON array of events".into(),
        ));
    };
    if events.is_empty() {
        return Err(ApiError::BadRequest("the CloudEvents batch is empty; send at least one event".into()));
    }
    let mut list = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let at = format!(" (event {} of the batch)", i + 1);
        let Value::Object(event) = event else {
            return Err(ApiError::BadRequest(format!("every event of a CloudEvents batch must be a JSON object{at}")));
        };
        list.push(event_args(event, wrap, uploads, &at)?);
    }
    Ok(list)
}

/// A binary-mode event: attributes in `ce-*` headers, the body is the data.
pub(super) async fn binary(body: &Body<'_>, uploads: &mut Uploads) -> ApiResult<Map<String, Value>> {
    let mut meta = Map::new();
    for (name, value) in body.headers {
        if let Some(attr) = name.as_str().strip_prefix("ce-").filter(|a| !a.is_empty()) {
            if !meta.contains_key(attr) {
                meta.insert(attr.to_owned(), Value::String(headers::percent_decode(value.as_bytes())));
            }
        }
    }
    if let Some(ct) = content::content_type(body.headers) {
        meta.insert("datacontenttype".into(), Value::String(ct));
    }
    validate(&meta, " (binary mode: ce-* headers)")?;
    let mut args = content::args(body, uploads).await?;
    args.insert(METADATA.into(), Value::Object(meta));
    Ok(args)
}

/// One event's arguments: its data (or `data_base64`, planned for object
/// storage) and `WEBHOOK__METADATA__`.
fn event_args(
    mut event: Map<String, Value>,
    wrap: bool,
    uploads: &mut Uploads,
    at: &str,
) -> ApiResult<Map<String, Value>> {
    validate(&event, at)?;
    let data = event.remove("data").filter(|d| !d.is_null());
    let data_base64 = event.remove("data_base64").filter(|d| !d.is_null());
    let mut args = match (data, data_base64) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(format!(
                "the CloudEvent has both data and data_base64{at}; an event carries one of them"
            )));
        }
        (None, Some(encoded)) => {
            let bytes = encoded.as_str().and_then(decode_base64).ok_or_else(|| {
                ApiError::BadRequest(format!("the CloudEvents attribute 'data_base64' is not a base64 string{at}"))
            })?;
            let content_type = event.get("datacontenttype").and_then(Value::as_str).map(str::to_owned);
            let file = uploads.add("data", bytes.into(), content_type);
            Map::from_iter([("body".to_owned(), file)])
        }
        (Some(data), None) => into_args(data, wrap),
        (None, None) => Map::new(),
    };
    args.insert(METADATA.into(), Value::Object(event));
    Ok(args)
}

/// `specversion` must be "1.0"; `id`, `source` and `type` non-empty strings.
fn validate(attrs: &Map<String, Value>, at: &str) -> ApiResult<()> {
    match attrs.get("specversion") {
        Some(Value::String(v)) if v == "1.0" => {}
        None | Some(Value::Null) => {
            return Err(ApiError::BadRequest(format!(
                "the CloudEvents attribute 'specversion' is missing{at}; Orvanta accepts CloudEvents 1.0 (specversion \"1.0\")"
            )));
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "the CloudEvents attribute 'specversion' is {other}{at}; Orvanta accepts CloudEvents 1.0 only (specversion \"1.0\")"
            )));
        }
    }
    for name in ["id", "source", "type"] {
        match attrs.get(name) {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "the CloudEvents attribute '{name}' is missing or empty{at}; every event needs specversion, id, source and type"
                )));
            }
        }
    }
    Ok(())
}

/// Base64 of the standard alphabet, padding optional.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use base64::Engine;
    let cleaned: String = s.trim().trim_end_matches('=').chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD_NO_PAD.decode(cleaned).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": {"a": 1}})
    }

    #[test]
    fn structured_data_and_metadata() {
        let mut up = Uploads::default();
        let args = structured(event().to_string().as_bytes(), false, &mut up).unwrap();
        assert_eq!(
            Value::Object(args),
            json!({"a": 1, METADATA: {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}})
        );
        assert!(up.planned.is_empty());
    }

    #[test]
    fn each_attribute_is_named() {
        for (attr, bad) in
            [("id", json!("")), ("source", Value::Null), ("type", json!(3)), ("specversion", json!("0.3"))]
        {
            let mut e = event();
            e[attr] = bad;
            let err = structured(e.to_string().as_bytes(), false, &mut Uploads::default()).unwrap_err();
            assert!(err.to_string().contains(&format!("'{attr}'")), "{err}");
        }
    }

    #[test]
    fn a_batch_is_checked_whole_before_any_upload() {
        let mut good = event();
        good.as_object_mut().unwrap().remove("data");
        good["data_base64"] = json!("aGVsbG8=");
        let bad = json!({"specversion": "1.0", "id": "2", "source": "/s"});
        let mut up = Uploads::default();
        let err = batch(json!([good, bad]).to_string().as_bytes(), false, &mut up).unwrap_err();
        assert!(err.to_string().contains("'type'") && err.to_string().contains("event 2"), "{err}");
        let list = batch(json!([good, event()]).to_string().as_bytes(), false, &mut Uploads::default()).unwrap();
        assert_eq!(list.len(), 2);
        assert!(list[0]["body"]["s3"].as_str().unwrap().ends_with("/data"));
        assert!(batch(b"[]", false, &mut Uploads::default()).unwrap_err().to_string().contains("empty"));
    }
}
