//! OwnTracks HTTP mode: `POST /ingest/owntracks`, basic auth (username = enrolment id, password
//! = device token). Every message type is answered `[]`; only `location` carries a fix.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};
use tracker::ingest::{protocol::owntracks, Job};

use crate::error::ApiError;
use crate::server::AppState;

pub async fn post_message(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let unauthorized = ApiError::Unauthorized { basic_realm: true };
    let (user, password) = basic_credentials(&headers).ok_or(ApiError::Unauthorized { basic_realm: true })?;
    let device = state.devices.authenticate(&user, &password).await?.ok_or(unauthorized)?;
    let value = super::parse_json(&body)?;
    let Some(fix) = owntracks::decode(&value).map_err(|e| ApiError::bad(e.field, e.message))? else {
        return Ok(Json(json!([])));
    };
    let report =
        state.ingestor.ingest(Job { device, decoded: vec![Ok(fix)], names: owntracks::FIELDS, indexed: false }).await?;
    match report.errors.into_iter().next() {
        Some(e) => Err(ApiError::bad(e.field, e.message)),
        None => Ok(Json(json!([]))),
    }
}

/// `Authorization: Basic base64(user:password)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Standard base64 (RFC 4648) with optional padding; `None` for anything else.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes().take_while(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_basic_credentials() {
        // "jane:s3cr:et" — the password may contain colons.
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, "Basic amFuZTpzM2NyOmV0".parse().unwrap());
        assert_eq!(basic_credentials(&h), Some(("jane".into(), "s3cr:et".into())));
        h.insert(axum::http::header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(basic_credentials(&h), None);
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
    }
}
