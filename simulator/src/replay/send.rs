//! HTTP for every protocol: one request as the protocol encodes it ([`Request`]), what the
//! server's answer means for its fixes ([`Answer`]), and sending with bounded retries.

use std::time::Duration;

use reqwest::header::{HeaderValue, RETRY_AFTER};
use serde_json::Value;

/// One HTTP request, fully encoded (URL with query, headers, body), so that tests can check
/// exactly what goes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: reqwest::Url,
    pub headers: Vec<(&'static str, String)>,
    /// `None`: an empty body (OsmAnd's query form sends nothing else).
    pub body: Option<Vec<u8>>,
}

/// One fix of a request that the server refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Index of the fix within its request.
    pub index: usize,
    /// The field the server named, without the batch prefix (`time`, not `fixes[3].time`).
    pub field: String,
    pub message: String,
}

/// What a reply means for the fixes of its request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The server judged every fix: taken, already had, or refused.
    Judged { accepted: usize, duplicates: usize, rejected: Vec<Rejection>, location_request: bool },
    /// Nothing was stored; send the same request again (after the server's delay, if it gave one).
    Retry { after: Option<Duration>, reason: String },
    /// Every later request would get the same answer (wrong credentials, unknown device, wrong
    /// URL): stop.
    Stop(String),
}

impl Answer {
    /// Every fix of an `n`-fix request refused for the same reason.
    pub fn all_rejected(n: usize, field: &str, message: &str) -> Answer {
        Answer::Judged {
            accepted: 0,
            duplicates: 0,
            rejected: (0..n).map(|index| Rejection { index, field: field.into(), message: message.into() }).collect(),
            location_request: false,
        }
    }
}

/// The answer to a single-fix protocol (OsmAnd, OwnTracks): any 2xx means stored — these
/// protocols cannot say "duplicate", so a fix already stored also counts as accepted; otherwise
/// the body names the refused field.
pub fn single_fix_answer(status: u16, body: &[u8]) -> Answer {
    if (200..300).contains(&status) {
        return Answer::Judged { accepted: 1, duplicates: 0, rejected: vec![], location_request: false };
    }
    let (field, message) = error_body(status, body);
    Answer::all_rejected(1, &field, &message)
}

/// cctrack's error body `{"error": "field: message", "field": "field"}` as (field, message);
/// anything else as `http STATUS` and the body's text.
pub fn error_body(status: u16, body: &[u8]) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error")).and_then(Value::as_str);
    match (parsed.as_ref().and_then(|v| v.get("field")).and_then(Value::as_str), error) {
        (Some(field), Some(e)) => {
            let message = e.strip_prefix(field).and_then(|m| m.strip_prefix(": ")).unwrap_or(e);
            (field.to_string(), message.to_string())
        }
        (None, Some(e)) => (format!("http {status}"), e.to_string()),
        _ => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.trim().chars().take(200).collect();
            (format!("http {status}"), if text.is_empty() { "(empty reply)".into() } else { text })
        }
    }
}

/// The answers that mean the same for every protocol; `None` for the protocol to interpret.
pub fn common_answer(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Option<Answer> {
    match status {
        503 => Some(Answer::Retry { after: retry_after, reason: "the server is unavailable (503)".into() }),
        401 => {
            Some(Answer::Stop("the server refused the device's credentials (401): check --device and --token".into()))
        }
        403 => Some(Answer::Stop("the server does not know this device or it is retired (403): check --device".into())),
        404 | 405 => Some(Answer::Stop(format!(
            "the server has no such endpoint ({status}: {}): check --server and --protocol",
            error_body(status, body).1
        ))),
        _ => None,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by cctrack and is ignored).
pub fn retry_after(v: Option<&HeaderValue>) -> Option<Duration> {
    let secs: f64 = v?.to_str().ok()?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// A reply as received.
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// Sends `req` once. An error is a transport failure (no connection, timeout, broken reply).
pub async fn send_once(client: &reqwest::Client, req: &Request) -> Result<Reply, reqwest::Error> {
    let mut b = client.post(req.url.clone());
    for (k, v) in &req.headers {
        b = b.header(*k, v);
    }
    if let Some(body) = &req.body {
        b = b.body(body.clone());
    }
    let resp = b.send().await?;
    let status = resp.status().as_u16();
    let retry_after = retry_after(resp.headers().get(RETRY_AFTER));
    let body = resp.bytes().await?.to_vec();
    Ok(Reply { status, retry_after, body })
}

/// How long to wait before the `attempt`-th resend (1-based): the server's `Retry-After` when
/// it gave one, else `first` doubled each time; never more than `max`.
pub fn backoff(attempt: u32, server_says: Option<Duration>, first: Duration, max: Duration) -> Duration {
    let doubled = first.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    server_says.unwrap_or(doubled).min(max)
}

/// Standard base64 (for HTTP basic auth).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &c)| acc | u32::from(c) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { T[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"jane:s3cr:et"), "amFuZTpzM2NyOmV0");
    }

    #[test]
    fn error_bodies() {
        let b = br#"{"error": "lat: 95 is not a latitude", "field": "lat"}"#;
        assert_eq!(error_body(400, b), ("lat".into(), "95 is not a latitude".into()));
        assert_eq!(error_body(500, br#"{"error": "internal error"}"#), ("http 500".into(), "internal error".into()));
        assert_eq!(error_body(413, b"too big"), ("http 413".into(), "too big".into()));
        assert_eq!(error_body(400, b""), ("http 400".into(), "(empty reply)".into()));
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let (first, max) = (Duration::from_secs(1), Duration::from_secs(10));
        let waits: Vec<u64> = (1..=6).map(|a| backoff(a, None, first, max).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
        assert_eq!(backoff(1, Some(Duration::from_secs(5)), first, max), Duration::from_secs(5));
        assert_eq!(backoff(1, Some(Duration::from_secs(500)), first, max), max);
        assert_eq!(backoff(u32::MAX, None, first, max), max);
    }

    #[test]
    fn retry_after_header() {
        assert_eq!(retry_after(Some(&HeaderValue::from_static("5"))), Some(Duration::from_secs(5)));
        assert_eq!(retry_after(Some(&HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"))), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn common_statuses() {
        assert!(matches!(common_answer(503, None, b""), Some(Answer::Retry { .. })));
        for s in [401, 403, 404, 405] {
            assert!(matches!(common_answer(s, None, b""), Some(Answer::Stop(_))), "{s}");
        }
        for s in [200, 400, 422, 500] {
            assert_eq!(common_answer(s, None, b""), None, "{s}");
        }
    }
}
