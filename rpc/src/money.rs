//! Exact money: amounts are whole cents in an `i64`, parsed from and shown as decimal strings.
//! No float is ever involved.

/// The largest item price the contract allows: 1,000,000,000.00.
pub const MAX_PRICE_CENTS: i64 = 100_000_000_000;

/// Why a money string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal number such as \"19.90\", with at most two decimal places")]
    Malformed,
    #[error("must be between 0 and 1000000000")]
    OutOfRange,
}

/// Parses `"19"`, `"19.9"` or `"19.90"` into cents. Refuses signs, exponents, spaces, more than
/// two decimal places and anything above [`MAX_PRICE_CENTS`].
pub fn parse_price(text: &str) -> Result<i64, MoneyError> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return Err(MoneyError::Malformed);
    }
    if text.contains('.') && fraction.is_empty() || fraction.len() > 2 {
        return Err(MoneyError::Malformed);
    }
    // Leading zeros are harmless; strip them so the length check below bounds the value.
    let whole = whole.trim_start_matches('0');
    if whole.len() > 10 {
        return Err(MoneyError::OutOfRange);
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| MoneyError::Malformed)? };
    let fraction: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().map_err(|_| MoneyError::Malformed)? * 10,
        _ => fraction.parse().map_err(|_| MoneyError::Malformed)?,
    };
    let cents = whole * 100 + fraction;
    if cents > MAX_PRICE_CENTS {
        return Err(MoneyError::OutOfRange);
    }
    Ok(cents)
}

/// Shows cents with exactly two places: `5970` → `"59.70"`.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_with_zero_one_or_two_places_are_accepted() {
        assert_eq!(parse_price("19"), Ok(1900));
        assert_eq!(parse_price("19.9"), Ok(1990));
        assert_eq!(parse_price("19.90"), Ok(1990));
        assert_eq!(parse_price("0.01"), Ok(1));
        assert_eq!(parse_price("0"), Ok(0));
        assert_eq!(parse_price("007.50"), Ok(750));
        assert_eq!(parse_price("1000000000"), Ok(MAX_PRICE_CENTS));
        assert_eq!(parse_price("1000000000.00"), Ok(MAX_PRICE_CENTS));
    }

    #[test]
    fn malformed_prices_are_refused() {
        for text in ["", ".5", "5.", "1.234", "-1", "+1", "1e3", " 1", "1 ", "1,50", "1.2.3", "NaN", "١"] {
            assert_eq!(parse_price(text), Err(MoneyError::Malformed), "{text:?}");
        }
    }

    #[test]
    fn prices_above_a_billion_are_refused() {
        assert_eq!(parse_price("1000000000.01"), Err(MoneyError::OutOfRange));
        assert_eq!(parse_price("99999999999999999999999"), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn cents_are_shown_with_two_places() {
        assert_eq!(format_cents(5970), "59.70");
        assert_eq!(format_cents(7), "0.07");
        assert_eq!(format_cents(0), "0.00");
        assert_eq!(format_cents(99_999_999_999 * 1_000_000), "999999999990000.00");
    }
}
