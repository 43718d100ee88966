//! Validators (RFC 9110 §8.8): the response's `ETag` and `Last-Modified`, and the
//! entity-tags, their two comparisons and the lists that `If-Match` and `If-None-Match`
//! carry.

use std::time::SystemTime;

use http::header::{DATE, ETAG, LAST_MODIFIED};
use http::{HeaderMap, HeaderValue};

use crate::date;
use crate::field::single;
use crate::range::trim_ows;

/// The validators of the response being decided on, looked up only when a condition
/// needs them. A field sent twice is no validator: which one would describe the
/// representation?
#[derive(Clone, Copy, Debug)]
pub(crate) struct Validators<'a> {
    headers: &'a HeaderMap,
}

impl<'a> Validators<'a> {
    /// The validators among the response's `headers`.
    pub(crate) const fn of(headers: &'a HeaderMap) -> Self {
        Self { headers }
    }

    /// The `ETag`, if it is a valid entity-tag.
    pub(crate) fn etag(&self) -> Option<EntityTag<'a>> {
        EntityTag::parse(single(self.headers.get_all(ETAG))?.as_bytes())
    }

    /// The `Last-Modified` instant, if it is a valid HTTP-date.
    pub(crate) fn last_modified(&self) -> Option<SystemTime> {
        date::parse(single(self.headers.get_all(LAST_MODIFIED))?.as_bytes())
    }

    /// The `Date` instant, if it is a valid HTTP-date: when the response was sent.
    pub(crate) fn date(&self) -> Option<SystemTime> {
        date::parse(single(self.headers.get_all(DATE))?.as_bytes())
    }
}

/// Marks the response's strong `ETag` weak: `"xyz"` becomes `W/"xyz"`.
///
/// For a response that is not the representation its tag was made for: the weak tag
/// still revalidates a cached copy (`If-None-Match` compares weakly), and no longer
/// passes `If-Match` or `If-Range`, which need byte-for-byte identity. A field that is
/// not one valid entity-tag is left alone: it is no validator either way.
pub(crate) fn weaken_etag(headers: &mut HeaderMap) {
    let Some(value) = single(headers.get_all(ETAG)) else {
        return;
    };
    match EntityTag::parse(value.as_bytes()) {
        Some(tag) if !tag.weak => {
            let mut weak = b"W/".to_vec();
            weak.extend_from_slice(trim_ows(value.as_bytes()));
            match HeaderValue::from_bytes(&weak) {
                Ok(weak) => headers.insert(ETAG, weak),
                // Unreachable for a valid tag; without a tag there is no false claim.
                Err(_) => headers.remove(ETAG),
            };
        }
        _ => {}
    }
}

/// An entity-tag: `"xyz"` or `W/"xyz"`, borrowed from the field it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EntityTag<'a> {
    weak: bool,
    /// The characters between the quotes.
    opaque: &'a [u8],
}

impl<'a> EntityTag<'a> {
    /// Parses a field value that holds exactly one entity-tag, such as `ETag`.
    pub(crate) fn parse(value: &'a [u8]) -> Option<Self> {
        match Self::parse_prefix(trim_ows(value))? {
            (tag, []) => Some(tag),
            _ => None,
        }
    }

    /// `entity-tag = [ %s"W/" ] DQUOTE *etagc DQUOTE` at the start of `s`, and what
    /// follows it.
    fn parse_prefix(s: &'a [u8]) -> Option<(Self, &'a [u8])> {
        let (weak, s) = match s.strip_prefix(b"W/") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let s = s.strip_prefix(b"\"")?;
        let end = s.iter().position(|&c| !is_etagc(c))?;
        if s[end] != b'"' {
            return None;
        }
        let tag = Self {
            weak,
            opaque: &s[..end],
        };
        Some((tag, &s[end + 1..]))
    }

    /// Whether two entity-tags match under `comparison` (RFC 9110 §8.8.3.2).
    pub(crate) fn matches(self, other: EntityTag<'_>, comparison: Comparison) -> bool {
        let strong_enough = comparison == Comparison::Weak || !(self.weak || other.weak);
        strong_enough && self.opaque == other.opaque
    }
}

/// The two ways of comparing entity-tags (RFC 9110 §8.8.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Comparison {
    /// Both tags strong, with the same characters: `If-Match`, `If-Range`.
    Strong,
    /// The same characters, weak or not: `If-None-Match`.
    Weak,
}

/// `etagc = %x21 / %x23-7E / obs-text`: any visible character but `"`.
const fn is_etagc(c: u8) -> bool {
    c == 0x21 || matches!(c, 0x23..=0x7e | 0x80..=0xff)
}

/// Whether an `If-Match` or `If-None-Match` field, sent as `lines`, names the current
/// representation, whose entity-tag is `current`, under `comparison`.
///
/// `*` names any current representation, with or without an entity-tag. A list names
/// it when one of its tags is `eq` to `current`. A field that is neither, such as a
/// list with one malformed member, names nothing: the whole field is in doubt.
pub(crate) fn names_current(
    lines: &[HeaderValue],
    current: Option<EntityTag<'_>>,
    comparison: Comparison,
) -> bool {
    if let [line] = lines {
        if trim_ows(line.as_bytes()) == b"*" {
            return true;
        }
    }
    let mut named = false;
    for line in lines {
        let mut rest = line.as_bytes();
        // RFC 9110 §5.6.1: `#entity-tag`, with empty members and OWS around commas.
        loop {
            rest = skip_separators(rest);
            if rest.is_empty() {
                break;
            }
            let Some((tag, after)) = EntityTag::parse_prefix(rest) else {
                return false;
            };
            named |= current.is_some_and(|current| tag.matches(current, comparison));
            rest = trim_ows(after);
            if !rest.is_empty() && rest[0] != b',' {
                return false;
            }
        }
    }
    named
}

/// Skips whitespace and commas: the empty members a list may hold.
fn skip_separators(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b',', rest @ ..] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(value: &str) -> EntityTag<'_> {
        EntityTag::parse(value.as_bytes()).unwrap()
    }

    use Comparison::{Strong, Weak};

    fn names(lines: &[&'static str], current: &str, comparison: Comparison) -> bool {
        let lines: Vec<HeaderValue> = lines.iter().map(|l| HeaderValue::from_static(l)).collect();
        names_current(&lines, EntityTag::parse(current.as_bytes()), comparison)
    }

    #[test]
    fn parses_strong_and_weak_tags() {
        assert_eq!(tag("\"xyzzy\"").opaque, b"xyzzy");
        assert!(!tag("\"xyzzy\"").weak);
        assert!(tag("W/\"xyzzy\"").weak);
        assert_eq!(tag(" \"\" ").opaque, b"");
        assert_eq!(tag("\"a,b\"").opaque, b"a,b");
        for bad in [
            "xyzzy",
            "\"xyzzy",
            "w/\"x\"",
            "W/x",
            "\"a\"b\"",
            "\"a\" \"b\"",
            "\"a b\"",
            "",
        ] {
            assert_eq!(EntityTag::parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn comparisons_follow_the_rfc_table() {
        // RFC 9110 §8.8.3.2's example table.
        let pairs = [
            ("W/\"1\"", "W/\"1\"", false, true),
            ("W/\"1\"", "W/\"2\"", false, false),
            ("W/\"1\"", "\"1\"", false, true),
            ("\"1\"", "\"1\"", true, true),
        ];
        for (a, b, strong, weak) in pairs {
            assert_eq!(tag(a).matches(tag(b), Strong), strong, "{a} {b}");
            assert_eq!(tag(a).matches(tag(b), Weak), weak, "{a} {b}");
        }
    }

    #[test]
    fn lists_name_the_current_tag() {
        assert!(names(&["\"a\", \"b\""], "\"b\"", Strong));
        assert!(names(&["\"a\",,\t, \"b\","], "\"b\"", Strong));
        assert!(names(&["\"a\"", "\"b\""], "\"b\"", Strong));
        assert!(names(&["\"a,b\""], "\"a,b\"", Strong));
        assert!(!names(&["\"a\", \"b\""], "\"c\"", Strong));
        assert!(!names(&["W/\"b\""], "\"b\"", Strong));
        assert!(names(&["W/\"b\""], "\"b\"", Weak));
        assert!(names(&["\"b\""], "W/\"b\"", Weak));
        assert!(!names(&[""], "\"b\"", Weak));
    }

    #[test]
    fn weakening_marks_only_a_strong_tag() {
        let weakened = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(ETAG, HeaderValue::from_static(value));
            weaken_etag(&mut headers);
            headers[ETAG].to_str().unwrap().to_owned()
        };
        assert_eq!(weakened("\"v1\""), "W/\"v1\"");
        assert_eq!(weakened(" \"v1\" "), "W/\"v1\"");
        assert_eq!(weakened("W/\"v1\""), "W/\"v1\"");
        assert_eq!(weakened("v1"), "v1", "not a tag: left alone");
        let mut headers = HeaderMap::new();
        weaken_etag(&mut headers);
        assert!(headers.is_empty());
    }

    #[test]
    fn star_names_any_current_representation() {
        assert!(names(&["*"], "\"b\"", Strong));
        assert!(names(&[" * "], "W/\"b\"", Strong));
        assert!(names_current(
            &[HeaderValue::from_static("*")],
            None,
            Strong
        ));
    }

    #[test]
    fn malformed_lists_name_nothing() {
        for bad in [
            &["\"b\", c"][..],
            &["\"b\" \"c\""],
            &["\"b\"x"],
            &["*, \"b\""],
            &["*", "\"b\""],
            &["\"b\"", "*"],
            &["\"b"],
            &["b"],
        ] {
            assert!(!names(bad, "\"b\"", Weak), "{bad:?}");
        }
        assert!(
            !names(&["\"a\", \"b\""], "b", Weak),
            "a malformed ETag matches nothing"
        );
    }
}
