//! [`ObjectHead`]: what a store says of an object, as the fields of the response that
//! serves it.

use std::time::{Duration, SystemTime};

use ::object_store::path::Path;
use ::object_store::{Attribute, Attributes, ObjectMeta};
use http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LENGTH,
    CONTENT_TYPE, ETAG, LAST_MODIFIED,
};
use http::{HeaderMap, HeaderName, HeaderValue};

/// An object's metadata, and the header fields of a `200` that serves it, worked out
/// once and shared by every response while it is cached.
#[derive(Debug)]
pub(crate) struct ObjectHead {
    /// Its `location` is the key it was asked for, which every `GET` uses.
    pub(crate) meta: ObjectMeta,
    pub(crate) headers: HeaderMap,
}

/// The object's attributes that become the field of the same name, as S3 and GCS
/// serve them.
const FIELDS: [(Attribute, HeaderName); 4] = [
    (Attribute::CacheControl, CACHE_CONTROL),
    (Attribute::ContentDisposition, CONTENT_DISPOSITION),
    (Attribute::ContentEncoding, CONTENT_ENCODING),
    (Attribute::ContentLanguage, CONTENT_LANGUAGE),
];

impl ObjectHead {
    /// The head of the object at `location`, from what the store answered.
    ///
    /// `Content-Type` is the object's own, else guessed from the key's extension, else
    /// `application/octet-stream`. `ETag` is the store's, quoted when the store gives
    /// it bare (a store of one's own may); `Last-Modified` is left out when the date
    /// cannot be written as an HTTP-date. A stored value that is not a valid field
    /// value is left out rather than failing the object.
    pub(crate) fn new(location: Path, mut meta: ObjectMeta, attributes: &Attributes) -> Self {
        let mut headers = HeaderMap::with_capacity(8);
        let content_type = attributes
            .get(&Attribute::ContentType)
            .and_then(|value| HeaderValue::from_str(value).ok())
            .or_else(|| {
                let guess = mime_guess::from_path(location.as_ref()).first_raw()?;
                Some(HeaderValue::from_static(guess))
            })
            .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
        headers.insert(CONTENT_TYPE, content_type);
        headers.insert(CONTENT_LENGTH, HeaderValue::from(meta.size));
        for (attribute, name) in FIELDS {
            if let Some(value) = attributes
                .get(&attribute)
                .and_then(|value| HeaderValue::from_str(value).ok())
            {
                headers.insert(name, value);
            }
        }
        if let Some(etag) = meta.e_tag.as_deref().and_then(entity_tag) {
            headers.insert(ETAG, etag);
        }
        if let Some(date) = http_date(meta.last_modified.into()) {
            headers.insert(LAST_MODIFIED, date);
        }
        meta.location = location;
        Self { meta, headers }
    }
}

/// `tag` as an entity-tag (RFC 9110 §8.8.3): as it is when it is one, quoted when it
/// is bare (a header field needs the quotes), `None` when it cannot be one.
fn entity_tag(tag: &str) -> Option<HeaderValue> {
    let opaque = tag.strip_prefix("W/").unwrap_or(tag);
    let quoted = opaque.len() >= 2 && opaque.starts_with('"') && opaque.ends_with('"');
    let inner = if quoted {
        &opaque[1..opaque.len() - 1]
    } else {
        tag
    };
    // etagc: any visible character but `"`, or obs-text.
    if !inner
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
    {
        return None;
    }
    if quoted {
        HeaderValue::from_str(tag).ok()
    } else {
        HeaderValue::from_str(&format!("\"{tag}\"")).ok()
    }
}

/// `time` as an HTTP-date, when it is one: from 1970 to 9999 (`httpdate` panics
/// outside that span).
fn http_date(time: SystemTime) -> Option<HeaderValue> {
    // 253402300800 s after the epoch is 10000-01-01T00:00:00Z.
    let since_epoch = time.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    if since_epoch >= Duration::from_secs(253_402_300_800) {
        return None;
    }
    HeaderValue::from_str(&httpdate::fmt_http_date(time)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn meta(e_tag: Option<&str>, modified: SystemTime) -> ObjectMeta {
        ObjectMeta {
            location: Path::from("ignored"),
            last_modified: modified.into(),
            size: 10,
            e_tag: e_tag.map(str::to_owned),
            version: None,
        }
    }

    #[test]
    fn fields_come_from_the_meta_and_the_attributes() {
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, "video/webm".into());
        attributes.insert(Attribute::CacheControl, "max-age=60".into());
        let head = ObjectHead::new(
            Path::from("a/clip.mp4"),
            meta(Some("\"v1\""), at(784_111_777)),
            &attributes,
        );
        let h = &head.headers;
        assert_eq!(h[CONTENT_TYPE], "video/webm", "the object's own type wins");
        assert_eq!(h[CONTENT_LENGTH], "10");
        assert_eq!(h[ETAG], "\"v1\"");
        assert_eq!(h[LAST_MODIFIED], "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(h[CACHE_CONTROL], "max-age=60");
        assert_eq!(head.meta.location, Path::from("a/clip.mp4"));
    }

    #[test]
    fn content_type_is_guessed_from_the_key_then_defaulted() {
        let none = Attributes::new();
        let guessed = ObjectHead::new(Path::from("a/clip.mp4"), meta(None, at(0)), &none);
        assert_eq!(guessed.headers[CONTENT_TYPE], "video/mp4");
        let unknown = ObjectHead::new(Path::from("a/blob"), meta(None, at(0)), &none);
        assert_eq!(unknown.headers[CONTENT_TYPE], "application/octet-stream");
    }

    #[test]
    fn entity_tags_are_quoted_when_bare_and_dropped_when_invalid() {
        assert_eq!(entity_tag("\"abc\"").unwrap(), "\"abc\"");
        assert_eq!(entity_tag("W/\"abc\"").unwrap(), "W/\"abc\"");
        assert_eq!(entity_tag("4f2a-5e1b-10").unwrap(), "\"4f2a-5e1b-10\"");
        assert_eq!(entity_tag(""), Some(HeaderValue::from_static("\"\"")));
        assert_eq!(entity_tag("a\"b"), None);
        assert_eq!(entity_tag("a b"), None);
        assert_eq!(entity_tag("\"a\nb\""), None);
    }

    #[test]
    fn dates_outside_http_dates_are_left_out() {
        assert!(http_date(SystemTime::UNIX_EPOCH - Duration::from_secs(1)).is_none());
        assert!(http_date(at(253_402_300_800)).is_none());
        assert!(http_date(at(253_402_300_799)).is_some());
        let head = ObjectHead::new(
            Path::from("a"),
            meta(None, SystemTime::UNIX_EPOCH - Duration::from_secs(1)),
            &Attributes::new(),
        );
        assert!(!head.headers.contains_key(LAST_MODIFIED));
    }
}
