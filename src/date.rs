//! HTTP-dates (RFC 9110 §5.6.7) in all three formats, at one-second resolution.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::range::trim_ows;

/// Parses an HTTP-date: an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete
/// RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`) or asctime's
/// (`Sun Nov  6 08:49:37 1994`).
///
/// Strict: the day name must be the date's, and nothing may surround the date but
/// optional whitespace. `None` for anything else, which callers ignore.
pub(crate) fn parse(value: &[u8]) -> Option<SystemTime> {
    parse_at(value, SystemTime::now)
}

/// [`parse`], with the clock that RFC 850's two-digit years are read against.
fn parse_at(value: &[u8], now: impl FnOnce() -> SystemTime) -> Option<SystemTime> {
    let text = std::str::from_utf8(trim_ows(value)).ok()?;
    match Rfc850::split(text) {
        Some(date) => date.resolve(now()),
        // `httpdate` reads both other formats exactly, and checks the day name.
        None => httpdate::parse_http_date(text).ok(),
    }
}

/// An RFC 850 date, cut into the parts that an IMF-fixdate spells the same way.
struct Rfc850<'a> {
    /// The day name's first three letters: `Sun`.
    day_name: &'a str,
    /// `06`, `Nov`, `94`, ` 08:49:37 GMT`.
    day: &'a str,
    month: &'a str,
    year: u16,
    time: &'a str,
}

impl<'a> Rfc850<'a> {
    /// `day-name-l "," SP day "-" month "-" 2DIGIT SP time-of-day SP GMT`, checked for
    /// its shape only; `httpdate` checks the values once the century is known.
    fn split(text: &'a str) -> Option<Self> {
        const DAYS: [&str; 7] = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ];
        let (day_name, rest) = text.split_once(", ")?;
        if !DAYS.contains(&day_name) || rest.len() != 22 || !rest.is_ascii() {
            return None;
        }
        let (date, time) = rest.split_at(9);
        let b = date.as_bytes();
        if b[2] != b'-' || b[6] != b'-' || !b[7].is_ascii_digit() || !b[8].is_ascii_digit() {
            return None;
        }
        Some(Self {
            day_name: &day_name[..3],
            day: &date[..2],
            month: &date[3..6],
            year: u16::from(b[7] - b'0') * 10 + u16::from(b[8] - b'0'),
            time,
        })
    }

    /// The instant, its century chosen by RFC 9110 §5.6.7: a date that would be more
    /// than 50 years in the future is in the most recent past year with those digits.
    ///
    /// The century is chosen from the calendar fields alone: the day name belongs to
    /// the date once it has a century, and is checked then.
    fn resolve(&self, now: SystemTime) -> Option<SystemTime> {
        let today = Imf::now(now)?;
        let mut year = today.year - today.year % 100 + self.year;
        let date = (year, month_number(self.month)?, self.day, self.clock());
        let limit = (
            today.year + 50,
            today.month,
            today.day.as_str(),
            today.clock.as_str(),
        );
        if date > limit {
            year = year.checked_sub(100)?;
        }
        self.with_year(year)
    }

    /// `08:49:37`: fixed width, so it compares as text.
    fn clock(&self) -> &'a str {
        self.time.get(1..9).unwrap_or_default()
    }

    /// The same date as an IMF-fixdate in `year`, parsed.
    fn with_year(&self, year: u16) -> Option<SystemTime> {
        let imf = format!(
            "{}, {} {} {year:04} {} GMT",
            self.day_name,
            self.day,
            self.month,
            self.time.strip_prefix(' ')?.strip_suffix(" GMT")?
        );
        httpdate::parse_http_date(&imf).ok()
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `1` for `Jan` to `12` for `Dec`.
fn month_number(name: &str) -> Option<u8> {
    let index = MONTHS.iter().position(|&m| m == name)?;
    u8::try_from(index + 1).ok()
}

/// The calendar fields of an instant, as an IMF-fixdate writes them.
struct Imf {
    year: u16,
    month: u8,
    day: String,
    clock: String,
}

impl Imf {
    /// The fields of `now`, for the years `httpdate` can write (1970 to 9999).
    fn now(now: SystemTime) -> Option<Self> {
        const YEAR_10000: Duration = Duration::from_secs(253_402_300_800);
        if now.duration_since(UNIX_EPOCH).ok()? >= YEAR_10000 {
            return None;
        }
        // `Tue, 01 Dec 2026 10:18:38 GMT`
        let text = httpdate::fmt_http_date(now);
        Some(Self {
            year: text.get(12..16)?.parse().ok()?,
            month: month_number(text.get(8..11)?)?,
            day: text.get(5..7)?.to_owned(),
            clock: text.get(17..25)?.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sun, 06 Nov 1994 08:49:37 GMT.
    const INSTANT: u64 = 784_111_777;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn parse_on(value: &str, today: &str) -> Option<SystemTime> {
        let now = httpdate::parse_http_date(today).unwrap();
        parse_at(value.as_bytes(), || now)
    }

    #[test]
    fn all_three_formats_of_one_instant_agree() {
        for value in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            " \tSun, 06 Nov 1994 08:49:37 GMT ",
        ] {
            assert_eq!(parse(value.as_bytes()), Some(at(INSTANT)), "{value:?}");
        }
    }

    #[test]
    fn rfc850_years_more_than_fifty_years_ahead_are_in_the_past_century() {
        let today = "Tue, 01 Dec 2026 00:00:00 GMT";
        // 2094 would be 68 years ahead: 1994.
        assert_eq!(
            parse_on("Sunday, 06-Nov-94 08:49:37 GMT", today),
            Some(at(INSTANT))
        );
        // 2070 is 44 years ahead: 2070 (httpdate alone would say 1970).
        assert_eq!(
            parse_on("Wednesday, 01-Jan-70 00:00:00 GMT", today),
            httpdate::parse_http_date("Wed, 01 Jan 2070 00:00:00 GMT").ok()
        );
        // The same digits on the wrong day name for that century are not a date.
        assert_eq!(parse_on("Thursday, 01-Jan-70 00:00:00 GMT", today), None);
        // 2076-11-30 is within 50 years of 2026-12-01; 2077-01-01 is not.
        assert_eq!(
            parse_on("Monday, 30-Nov-76 00:00:00 GMT", today),
            httpdate::parse_http_date("Mon, 30 Nov 2076 00:00:00 GMT").ok()
        );
        assert_eq!(
            parse_on("Saturday, 01-Jan-77 00:00:00 GMT", today),
            httpdate::parse_http_date("Sat, 01 Jan 1977 00:00:00 GMT").ok()
        );
        // A later clock moves the window.
        assert_eq!(
            parse_on(
                "Saturday, 06-Nov-94 08:49:37 GMT",
                "Fri, 01 Jan 2055 00:00:00 GMT"
            ),
            httpdate::parse_http_date("Sat, 06 Nov 2094 08:49:37 GMT").ok()
        );
    }

    #[test]
    fn near_misses_are_not_dates() {
        for value in [
            "",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sunday, 06-Nov-9x 08:49:37 GMT",
            "Sunday, 06 Nov 94 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMTX",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sun Nov 06 08:49:37 94",
            "Sun Nov  6 08:49:37 1994 GMT",
            "784111777",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT\u{e9}",
        ] {
            assert_eq!(parse(value.as_bytes()), None, "{value:?} is not a date");
        }
        assert_eq!(parse(b"Sun, 06 Nov 1994 08:49:37 GMT\xff"), None);
    }

    #[test]
    fn no_bytes_panic_the_parser() {
        // Every prefix and every one-byte change of each format.
        for value in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            for end in 0..=value.len() {
                let _ = parse(&value.as_bytes()[..end]);
            }
            for i in 0..value.len() {
                for byte in [0, b' ', b'-', b',', b'9', b'A', 0x80, 0xff] {
                    let mut bytes = value.as_bytes().to_vec();
                    bytes[i] = byte;
                    let _ = parse(&bytes);
                }
            }
        }
        let _ = parse_at(b"Sunday, 06-Nov-94 08:49:37 GMT", || UNIX_EPOCH);
        let _ = parse_at(b"Sunday, 06-Nov-94 08:49:37 GMT", || {
            UNIX_EPOCH + Duration::from_secs(400_000_000_000)
        });
    }
}
