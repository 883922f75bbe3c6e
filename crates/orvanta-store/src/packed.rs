//! Large job values (arguments, results, flow states) packed on SQLite.
//!
//! SQLite rewrites a whole row, overflow pages and all, whenever one of its
//! columns changes, and every page written goes to the WAL and then, at the
//! checkpoint, to the database file, each with an fsync. A flow run's row
//! holds its input (an inbound event's 5 kB body, say), its flow state and
//! its result, and is written at its enqueue, its claim and its end. So a
//! value of [`MIN_PACKED`] bytes or more is stored LZ4-compressed, as a
//! BLOB: `[1]` then the block (its length first). A value stays text where
//! packing would save less than a fifth. Reading takes either form, so rows
//! written before are read as they are. PostgreSQL keeps text: it compresses
//! large values itself and does not rewrite them when other columns change.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type, TypeInfo, ValueRef};

/// Values shorter than this stay text.
pub(crate) const MIN_PACKED: usize = 512;
/// The first byte of a packed value: the format.
const LZ4_BLOCK: u8 = 1;

/// A JSON text to store on SQLite: text, or packed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Packed {
    Text(String),
    Lz4(Vec<u8>),
}

/// `bytes` packed (`[1]`, then the LZ4 block with its length first), when
/// they are long enough and packing saves at least a fifth.
fn lz4(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < MIN_PACKED {
        return None;
    }
    let block = lz4_flex::block::compress_prepend_size(bytes);
    if (block.len() + 1) * 5 > bytes.len() * 4 {
        return None;
    }
    let mut out = Vec::with_capacity(block.len() + 1);
    out.push(LZ4_BLOCK);
    out.extend_from_slice(&block);
    Some(out)
}

/// Packs a JSON text for SQLite (for the binders shared by both databases).
pub(crate) fn pack(text: String) -> Packed {
    match lz4(text.as_bytes()) {
        Some(bytes) => Packed::Lz4(bytes),
        None => Packed::Text(text),
    }
}

impl Type<Sqlite> for Packed {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty) || <Vec<u8> as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Packed {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        self.clone().encode(buf)
    }
    fn encode(self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        match self {
            Packed::Text(s) => <String as Encode<'q, Sqlite>>::encode(s, buf),
            Packed::Lz4(b) => <Vec<u8> as Encode<'q, Sqlite>>::encode(b, buf),
        }
    }
}

/// An inbound event's body as SQLite stores it: packed, with format 1, when
/// that pays as for JSON values; else as received, format 0.
pub(crate) fn pack_body(body: &[u8]) -> (Vec<u8>, i32) {
    match lz4(body) {
        Some(packed) => (packed, 1),
        None => (body.to_vec(), 0),
    }
}

/// A stored body as received: unpacked if its format says so. A damaged one
/// becomes a note of that (logged), so that the rest of the history reads.
pub(crate) fn stored_body(event: &str, body: Vec<u8>, format: i32) -> Vec<u8> {
    if format == 0 {
        return body;
    }
    let unpacked = if format == 1 { unpack_bytes(&body) } else { Err(format!("unknown body format {format}").into()) };
    unpacked.unwrap_or_else(|e| {
        tracing::error!(event, error = %e, "the stored body of this inbound event cannot be read");
        format!("[orvanta: the stored body of this event cannot be read: {e}]").into_bytes()
    })
}

/// A stored JSON text as read back: from text, or unpacked; or why a packed
/// value cannot be unpacked. Not a decode error: that would fail the whole
/// query (a page of jobs, a claim already made), where only this value of
/// this job is lost.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredText(pub Result<String, String>);

/// Unpacks a packed value.
fn unpack(bytes: &[u8]) -> Result<String, BoxDynError> {
    Ok(String::from_utf8(unpack_bytes(bytes)?)?)
}

/// Unpacks packed bytes.
fn unpack_bytes(bytes: &[u8]) -> Result<Vec<u8>, BoxDynError> {
    match bytes.split_first() {
        Some((&LZ4_BLOCK, block)) => {
            let damaged = || BoxDynError::from("a stored value's packed block is damaged");
            let (Some(size), Some(data)) = (block.get(..4), block.get(4..)) else { return Err(damaged()) };
            let said = u32::from_le_bytes([size[0], size[1], size[2], size[3]]) as usize;
            // LZ4 expands at most 255 times: a larger size is damage, not a
            // reason to allocate it.
            if said > block.len().saturating_mul(255) {
                return Err(damaged());
            }
            let raw = lz4_flex::block::decompress(data, said)?;
            if raw.len() != said {
                return Err(damaged());
            }
            Ok(raw)
        }
        Some((format, _)) => Err(format!("a stored value is packed in an unknown format ({format})").into()),
        None => Err("a stored value is an empty BLOB".into()),
    }
}

impl Type<Sqlite> for StoredText {
    fn type_info() -> SqliteTypeInfo {
        <Packed as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <Packed as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for StoredText {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.type_info().name() == "BLOB" {
            let bytes = <&[u8] as Decode<Sqlite>>::decode(value)?;
            return Ok(StoredText(unpack(bytes).map_err(|e| e.to_string())));
        }
        Ok(StoredText(Ok(<String as Decode<Sqlite>>::decode(value)?)))
    }
}

impl Type<Postgres> for StoredText {
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <String as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for StoredText {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(StoredText(Ok(<String as Decode<Postgres>>::decode(value)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_incompressible_values_stay_text_and_large_ones_round_trip() {
        assert_eq!(pack("{\"a\": 1}".into()), Packed::Text("{\"a\": 1}".into()));
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let noise: String = (0..2000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'!' + (x % 94) as u8)
            })
            .collect();
        assert!(matches!(pack(noise.clone()), Packed::Text(_)), "noise does not pack");
        let json = serde_json::json!({"commits": vec![serde_json::json!({"url": "https://github.com/o/r/commit/1", "message": "fix"}); 50]}).to_string();
        let Packed::Lz4(bytes) = pack(json.clone()) else { panic!("repetitive JSON packs") };
        assert!(bytes.len() * 4 < json.len(), "{} of {}", bytes.len(), json.len());
        assert_eq!(unpack(&bytes).unwrap(), json);
        assert!(unpack(&[9, 1, 2]).unwrap_err().to_string().contains("unknown format"));
        assert!(unpack(&[]).is_err());
        assert!(unpack(&[LZ4_BLOCK, 200, 0, 0, 0, 1]).is_err(), "a damaged block is an error, not a panic");
        assert!(unpack(&[LZ4_BLOCK, 255, 255, 255, 255, 0]).is_err(), "nor an allocation of the size it claims");
        assert!(unpack(&bytes[..bytes.len() / 2]).is_err(), "so is a cut one");
    }
}
