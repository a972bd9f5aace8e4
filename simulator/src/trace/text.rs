//! Turning file bytes into text, and byte offsets into line numbers.

use std::borrow::Cow;

use super::{Problem, ProblemKind};

/// Decodes file content. UTF-8 (with or without BOM) is borrowed as is; UTF-16 is
/// recognised by its BOM; anything else is read as UTF-8 with bad bytes replaced,
/// which is reported because it may have damaged numbers or names.
pub(crate) fn decode(bytes: &[u8]) -> (Cow<'_, str>, Option<Problem>) {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return decode_utf8(rest);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return decode_utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return decode_utf16(rest, u16::from_be_bytes);
    }
    decode_utf8(bytes)
}

fn decode_utf8(bytes: &[u8]) -> (Cow<'_, str>, Option<Problem>) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (Cow::Borrowed(s), None),
        Err(e) => {
            let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
            let problem = Problem::new(
                ProblemKind::Encoding,
                "file is not valid UTF-8; invalid bytes were replaced (first one here)",
            )
            .at_line(Some(line));
            (String::from_utf8_lossy(bytes), Some(problem))
        }
    }
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> (Cow<'_, str>, Option<Problem>) {
    let units = bytes.chunks(2).map(|c| match c {
        [a, b] => unit([*a, *b]),
        // An odd trailing byte cannot be a character.
        _ => 0xFFFD,
    });
    let mut bad = false;
    let s: String = char::decode_utf16(units)
        .map(|r| {
            r.unwrap_or_else(|_| {
                bad = true;
                char::REPLACEMENT_CHARACTER
            })
        })
        .collect();
    let problem = (bad || bytes.len() % 2 == 1)
        .then(|| Problem::new(ProblemKind::Encoding, "file is not valid UTF-16; invalid units were replaced"));
    (Cow::Owned(s), problem)
}

/// Maps byte offsets to 1-based line numbers in O(log n).
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts }
    }

    pub(crate) fn line_of(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(decode(b"\xEF\xBB\xBFabc").0, "abc");
        assert!(decode(b"abc").1.is_none());
        let (s, p) = decode(b"a\nb\xFFc");
        assert_eq!(s, "a\nb\u{FFFD}c");
        assert_eq!(p.unwrap().line, Some(2));
        assert_eq!(decode(b"\xFF\xFEa\0b\0").0, "ab");
        assert_eq!(decode(b"\xFE\xFF\0a\0b").0, "ab");
        assert!(decode(b"\xFF\xFEa\0b").1.is_some());
        assert!(decode(b"\xFF\xFE\x00\xD8").1.is_some());
    }

    #[test]
    fn lines() {
        let idx = LineIndex::new("ab\ncd\n\nef");
        assert_eq!(idx.line_of(0), 1);
        assert_eq!(idx.line_of(2), 1);
        assert_eq!(idx.line_of(3), 2);
        assert_eq!(idx.line_of(6), 3);
        assert_eq!(idx.line_of(7), 4);
        assert_eq!(idx.line_of(100), 4);
    }
}
