//! Timestamps as text: RFC 3339 in UTC, written and read without chrono's general formatter and
//! parser.
//!
//! A page of 100 users or orders carries 200 timestamps, each formatted by the service, parsed
//! by the gateway and formatted again for the response. chrono goes through `fmt` for every
//! field of every one of them; that showed in the profiles of list calls (`core::fmt::write`
//! 7 % of the users service's CPU on `users.get` of 100 ids, chrono's parser 5 % of the
//! gateway's on 100 orders with their users). The text is the same as chrono's, byte for byte
//! (tested against it); anything outside the usual form (years beyond 0..=9999, leap seconds,
//! offsets other than `Z` on input) goes to chrono.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use serde::{Deserializer, Serializer, de};

/// How many digits of the second's fraction to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fraction {
    /// As few as say it exactly: none, 3, 6 or 9 (chrono's `SecondsFormat::AutoSi`, which its
    /// serde uses).
    Auto,
    /// Always 6 (chrono's `SecondsFormat::Micros`).
    Micros,
}

impl Fraction {
    fn chrono(self) -> chrono::SecondsFormat {
        match self {
            Self::Auto => chrono::SecondsFormat::AutoSi,
            Self::Micros => chrono::SecondsFormat::Micros,
        }
    }
}

/// The longest text [`text`] makes: `2026-11-21T10:00:00.123456789Z`.
const MAX_LEN: usize = 30;

/// `time` as RFC 3339 text ending in `Z`, as chrono's `to_rfc3339_opts(_, true)` writes it.
pub fn format(time: &DateTime<Utc>, fraction: Fraction) -> String {
    match text(time, fraction, &mut [0; MAX_LEN]) {
        Some(text) => text.to_owned(),
        None => time.to_rfc3339_opts(fraction.chrono(), true),
    }
}

/// Writes `time` into `buffer` and answers the text; None for what chrono must write (years
/// outside 0..=9999, leap seconds).
fn text<'b>(time: &DateTime<Utc>, fraction: Fraction, buffer: &'b mut [u8; MAX_LEN]) -> Option<&'b str> {
    let year = u32::try_from(time.year()).ok().filter(|year| *year <= 9999)?;
    let nano = time.nanosecond();
    if nano >= 1_000_000_000 {
        return None;
    }
    // How many digits of the fraction, and what one unit of the last is worth in nanoseconds.
    let (digits, unit) = match fraction {
        Fraction::Micros => (6, 1_000),
        Fraction::Auto if nano == 0 => (0, 1),
        Fraction::Auto if nano.is_multiple_of(1_000_000) => (3, 1_000_000),
        Fraction::Auto if nano.is_multiple_of(1_000) => (6, 1_000),
        Fraction::Auto => (9, 1),
    };
    let mut text = Text { buffer, len: 0 };
    text.number(year, 4);
    text.byte(b'-');
    text.number(time.month(), 2);
    text.byte(b'-');
    text.number(time.day(), 2);
    text.byte(b'T');
    text.number(time.hour(), 2);
    text.byte(b':');
    text.number(time.minute(), 2);
    text.byte(b':');
    text.number(time.second(), 2);
    if digits > 0 {
        text.byte(b'.');
        text.number(nano / unit, digits);
    }
    text.byte(b'Z');
    let Text { buffer, len } = text;
    // Only ASCII digits and separators went in.
    std::str::from_utf8(&buffer[..len]).ok()
}

/// ASCII written into a buffer long enough for it.
struct Text<'a> {
    buffer: &'a mut [u8; MAX_LEN],
    len: usize,
}

impl Text<'_> {
    fn byte(&mut self, byte: u8) {
        self.buffer[self.len] = byte;
        self.len += 1;
    }

    /// `value`'s last `digits` decimal digits, zero-padded.
    fn number(&mut self, mut value: u32, digits: usize) {
        let end = self.len + digits;
        for at in (self.len..end).rev() {
            // A digit is below 10: the cast cannot truncate.
            self.buffer[at] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len = end;
    }
}

/// Reads RFC 3339 text. The form [`format`] writes (`YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`) is read
/// here; any other (an offset, lower-case `t`/`z`, a space) goes to chrono, which also says
/// what is wrong with text that is no date-time at all.
pub fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match parse_utc(text.as_bytes()) {
        Some(time) => Ok(time),
        None => DateTime::parse_from_rfc3339(text).map(|time| time.with_timezone(&Utc)),
    }
}

fn parse_utc(text: &[u8]) -> Option<DateTime<Utc>> {
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = text.get(range)?;
        digits
            .iter()
            .try_fold(0u32, |value, digit| digit.is_ascii_digit().then(|| value * 10 + u32::from(digit - b'0')))
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if text.len() < 20 || separators.iter().any(|&(at, separator)| text[at] != separator) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(number(0..4)?).ok()?, number(5..7)?, number(8..10)?)?;
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let nano = match (text[19], text.len()) {
        (b'Z', 20) => 0,
        (b'.', len @ 22..=30) if text[len - 1] == b'Z' => {
            let digits = len - 21;
            number(20..len - 1)? * 10u32.pow(u32::try_from(9 - digits).ok()?)
        }
        _ => return None,
    };
    // Leap seconds (60) are chrono's to read.
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nano).filter(|_| second < 60)?;
    Some(date.and_time(time).and_utc())
}

/// `#[serde(with = "crate::time::serde_rfc3339")]`: a `DateTime<Utc>` field as chrono's serde
/// writes and reads it, faster.
pub mod serde_rfc3339 {
    use super::*;

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        match text(time, Fraction::Auto, &mut [0; MAX_LEN]) {
            Some(text) => serializer.serialize_str(text),
            None => serde::Serialize::serialize(time, serializer),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = DateTime<Utc>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an RFC 3339 date and time")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{SecondsFormat, TimeZone};
    use proptest::prelude::*;

    use super::*;

    /// Times of every shape: whole seconds, millis, micros, nanos; years across 0..=9999.
    fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
        let seconds = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap().timestamp()
            ..Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap().timestamp();
        let nanos = prop_oneof![
            Just(0u32),
            (0..1000u32).prop_map(|n| n * 1_000_000),
            (0..1_000_000u32).prop_map(|n| n * 1000),
            0..1_000_000_000u32
        ];
        (seconds, nanos).prop_map(|(seconds, nanos)| DateTime::from_timestamp(seconds, nanos).unwrap())
    }

    proptest! {
        #[test]
        fn writes_what_chrono_writes(time in any_time()) {
            prop_assert_eq!(format(&time, Fraction::Auto), time.to_rfc3339_opts(SecondsFormat::AutoSi, true));
            prop_assert_eq!(format(&time, Fraction::Micros), time.to_rfc3339_opts(SecondsFormat::Micros, true));
            prop_assert_eq!(serde_json::to_string(&Wire { time }).unwrap(), serde_json::to_string(&Chrono { time }).unwrap());
        }

        #[test]
        fn reads_back_what_it_wrote(time in any_time()) {
            prop_assert_eq!(parse(&format(&time, Fraction::Auto)).unwrap(), time);
            let wire: Wire = serde_json::from_str(&serde_json::to_string(&Chrono { time }).unwrap()).unwrap();
            prop_assert_eq!(wire.time, time);
        }

        #[test]
        fn reads_any_text_as_chrono_does(
            text in "[0-9]{4}-(0[0-9]|1[0-3])-([0-2][0-9]|3[0-2])[Tt ]([01][0-9]|2[0-5]):[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,10})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
        ) {
            let chrono = DateTime::parse_from_rfc3339(&text).map(|time| time.with_timezone(&Utc));
            prop_assert_eq!(parse(&text).ok(), chrono.ok());
        }
    }

    #[test]
    fn outside_the_usual_form_chrono_decides() {
        let far = Utc.with_ymd_and_hms(12_000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(format(&far, Fraction::Auto), far.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        assert_eq!(parse("2026-11-21T10:00:00+02:00").unwrap(), Utc.with_ymd_and_hms(2026, 11, 21, 8, 0, 0).unwrap());
        assert!(parse("2026-02-30T10:00:00Z").is_err());
        assert!(parse("2026-11-21T24:00:00Z").is_err());
        assert!(parse("2026-11-21T10:00:00.Z").is_err());
        assert!(parse("yesterday").is_err());
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Wire {
        #[serde(with = "serde_rfc3339")]
        time: DateTime<Utc>,
    }

    #[derive(serde::Serialize)]
    struct Chrono {
        time: DateTime<Utc>,
    }
}
