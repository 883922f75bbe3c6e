//! `multipart/form-data`: a part with a filename or a content type is a file,
//! planned for the workspace object storage, and its argument is an array of
//! `{"s3": "<key>"}` (one per file, the same name accumulates); other parts
//! are string arguments.

use super::{content, push_file, push_text, Uploads};
use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{Map, Value};

/// The arguments of a multipart body; files are planned in `uploads`.
pub(super) async fn args(headers: &HeaderMap, body: Bytes, uploads: &mut Uploads) -> ApiResult<Map<String, Value>> {
    let ct = content::content_type(headers).unwrap_or_default();
    let boundary = multer::parse_boundary(&ct).map_err(|_| {
        ApiError::BadRequest(format!(
            "the Content-Type '{ct}' has no multipart boundary; send multipart/form-data; boundary=..."
        ))
    })?;
    let bad = |e: multer::Error| {
        ApiError::BadRequest(format!(
            "the multipart/form-data body is malformed: {e}; check the boundary and each part"
        ))
    };
    let stream = futures::stream::once(std::future::ready(Ok::<_, std::convert::Infallible>(body)));
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut out = Map::new();
    let mut index = 0;
    while let Some(field) = parts.next_field().await.map_err(bad)? {
        index += 1;
        let Some(name) = field.name().filter(|n| !n.is_empty()).map(str::to_owned) else {
            return Err(ApiError::BadRequest(format!(
                "part {index} of the multipart body has no name; give every part Content-Disposition: form-data; name=\"...\""
            )));
        };
        let file_name = field.file_name().map(str::to_owned);
        let part_type = field.content_type().map(ToString::to_string);
        let data = field.bytes().await.map_err(bad)?;
        let is_file = file_name.is_some() || part_type.is_some();
        match std::str::from_utf8(&data) {
            Ok(text) if !is_file => push_text(&mut out, &name, text.to_owned()),
            // A part that is not text is a file even when the sender did not say so.
            _ => {
                let file = uploads.add(file_name.as_deref().unwrap_or(&name), data, part_type);
                push_file(&mut out, &name, file);
            }
        }
    }
    Ok(out)
}
