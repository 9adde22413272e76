//! The contract's rules for order input (`API.md`, "Rules"), as types.
//!
//! An [`ItemDescription`], [`Quantity`] or [`PriceCents`] exists only once its input passed its
//! rule, in the form it is stored; `parse` answers `BAD_USER_INPUT` naming the input field's
//! GraphQL name otherwise. Handlers parse a request before touching the database and write
//! rows from these types, so raw input cannot reach a row.

use rpc::{RpcError, RpcResult, money};

/// The GraphQL names of the input fields, as errors report them.
pub mod field {
    pub const ITEM_DESCRIPTION: &str = "itemDescription";
    pub const ITEM_QUANTITY: &str = "itemQuantity";
    pub const ITEM_PRICE: &str = "itemPrice";
}

/// 1–500 characters after trimming, without control characters; stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemDescription(String);

impl ItemDescription {
    /// At most this many characters (Unicode scalar values) after trimming.
    pub const MAX_CHARS: usize = 500;

    /// Control characters are refused, as in a fullName: they have no place in a description,
    /// and PostgreSQL cannot store NUL in text at all.
    pub fn parse(text: &str) -> RpcResult<Self> {
        let trimmed = text.trim();
        let chars = trimmed.chars().count();
        if chars == 0 {
            return Err(RpcError::invalid(field::ITEM_DESCRIPTION, "must not be empty"));
        }
        if chars > Self::MAX_CHARS {
            return Err(RpcError::invalid(
                field::ITEM_DESCRIPTION,
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(RpcError::invalid(field::ITEM_DESCRIPTION, "must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<ItemDescription> for String {
    fn from(value: ItemDescription) -> Self {
        value.0
    }
}

/// itemQuantity: 1..=1,000,000, so it fits the `INTEGER` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i32);

impl Quantity {
    pub const MAX: i64 = 1_000_000;

    pub fn parse(quantity: i64) -> RpcResult<Self> {
        if !(1..=Self::MAX).contains(&quantity) {
            return Err(RpcError::invalid(field::ITEM_QUANTITY, format!("must be between 1 and {}", Self::MAX)));
        }
        i32::try_from(quantity).map(Self).map_err(|_| RpcError::invalid(field::ITEM_QUANTITY, "is out of range"))
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// itemPrice in cents: 0..=1,000,000,000.00, parsed from its text (`"19.9"` → 1990).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceCents(i64);

impl PriceCents {
    /// See [`rpc::money::parse_price`].
    pub fn parse(text: &str) -> RpcResult<Self> {
        money::parse_price(text).map(Self).map_err(|error| RpcError::invalid(field::ITEM_PRICE, error.to_string()))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// `quantity × price`, exact. Within the rules it tops out at 10^17 cents, far below
/// `i64::MAX`, so the check only guards against the rules changing. Takes the stored values,
/// since an update recomputes the total from the row's own where the request leaves them.
pub fn total_cents(quantity: i32, price_cents: i64) -> RpcResult<i64> {
    i64::from(quantity)
        .checked_mul(price_cents)
        .ok_or_else(|| RpcError::invalid(field::ITEM_QUANTITY, "the total is too large"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use rpc::{ErrorCode, money::format_cents};

    use super::*;

    // The rules' tests read each type by the value it stores.
    fn item_description(text: &str) -> RpcResult<String> {
        ItemDescription::parse(text).map(String::from)
    }

    fn item_quantity(quantity: i64) -> RpcResult<i32> {
        Quantity::parse(quantity).map(Quantity::get)
    }

    fn item_price(text: &str) -> RpcResult<i64> {
        PriceCents::parse(text).map(PriceCents::get)
    }

    fn field_of(error: RpcError) -> (ErrorCode, String) {
        (error.code, error.field.unwrap_or_default())
    }

    #[test]
    fn descriptions_are_stored_trimmed() {
        assert_eq!(item_description("  a red chair \n").unwrap(), "a red chair");
    }

    #[test]
    fn empty_or_blank_descriptions_are_refused() {
        for text in ["", "   ", "\t\n"] {
            let error = item_description(text).unwrap_err();
            assert_eq!(field_of(error), (ErrorCode::BadUserInput, "itemDescription".to_owned()), "{text:?}");
        }
    }

    #[test]
    fn descriptions_are_measured_in_characters_not_bytes() {
        assert!(item_description(&"é".repeat(500)).is_ok());
        assert!(item_description(&format!("  {}  ", "a".repeat(500))).is_ok());
        let error = item_description(&"é".repeat(501)).unwrap_err();
        assert_eq!(field_of(error), (ErrorCode::BadUserInput, "itemDescription".to_owned()));
    }

    #[test]
    fn quantities_from_one_to_a_million_are_accepted() {
        assert_eq!(item_quantity(1).unwrap(), 1);
        assert_eq!(item_quantity(1_000_000).unwrap(), 1_000_000);
    }

    #[test]
    fn quantities_outside_one_to_a_million_are_refused() {
        for quantity in [0, -1, 1_000_001, i64::from(i32::MAX) + 1, i64::MIN, i64::MAX] {
            let error = item_quantity(quantity).unwrap_err();
            assert_eq!(field_of(error), (ErrorCode::BadUserInput, "itemQuantity".to_owned()), "{quantity}");
        }
    }

    #[test]
    fn prices_are_parsed_into_cents() {
        assert_eq!(item_price("0").unwrap(), 0);
        assert_eq!(item_price("19.9").unwrap(), 1990);
        assert_eq!(item_price("1000000000").unwrap(), 100_000_000_000);
    }

    #[test]
    fn malformed_or_too_large_prices_are_refused_on_item_price() {
        for text in ["1000000000.01", "1.234", "-1", "abc", "", "1e3", "19,90", " 1"] {
            let error = item_price(text).unwrap_err();
            assert_eq!(field_of(error), (ErrorCode::BadUserInput, "itemPrice".to_owned()), "{text:?}");
        }
    }

    #[test]
    fn the_largest_total_is_exact() {
        let price = item_price("999999999.99").unwrap();
        assert_eq!(format_cents(total_cents(1_000_000, price).unwrap()), "999999999990000.00");
        assert_eq!(format_cents(total_cents(7, item_price("0.1").unwrap()).unwrap()), "0.70");
    }

    #[test]
    fn a_total_that_overflows_is_refused_rather_than_wrapped() {
        assert!(total_cents(i32::MAX, i64::MAX / 2).is_err());
    }

    #[test]
    fn descriptions_with_control_characters_are_refused() {
        for text in ["a\0b", "\0", "a red\nchair", "tab\tinside", "bell\u{7}", "del\u{7f}", "next\u{85}line"] {
            let error = item_description(text).unwrap_err();
            assert_eq!(field_of(error), (ErrorCode::BadUserInput, "itemDescription".to_owned()), "{text:?}");
        }
    }

    /// A valid price as a client may write it: 0..=1e9 with 0, 1 or 2 decimal places, maybe
    /// with leading zeros; along with its value in cents.
    fn valid_price() -> impl Strategy<Value = (String, i64)> {
        (0..=1_000_000_000_i64, 0..=2_usize, 0..100_i64, 0..3_usize).prop_map(|(whole, places, fraction, zeros)| {
            // The maximum has no cents; any other whole part takes any fraction.
            let fraction = if whole == 1_000_000_000 { 0 } else { fraction };
            let padding = "0".repeat(zeros);
            match places {
                0 => (format!("{padding}{whole}"), whole * 100),
                1 => {
                    let tenth = fraction / 10;
                    (format!("{padding}{whole}.{tenth}"), whole * 100 + tenth * 10)
                }
                _ => (format!("{padding}{whole}.{fraction:02}"), whole * 100 + fraction),
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn every_valid_price_is_accepted_and_shown_with_two_places((text, cents) in valid_price()) {
            let parsed = item_price(&text).unwrap();
            prop_assert_eq!(parsed, cents);
            let shown = format_cents(parsed);
            prop_assert_eq!(shown.split_once('.').map(|(_, places)| places.len()), Some(2));
            prop_assert_eq!(&shown, &format!("{}.{:02}", cents / 100, cents % 100));
            // The canonical form is itself valid and means the same amount.
            prop_assert_eq!(item_price(&shown).unwrap(), cents);
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = item_price(&text);
            let _ = item_description(&text);
        }

        #[test]
        fn descriptions_are_accepted_exactly_when_the_rule_says(
            text in prop_oneof![
                4 => "[aé \\t\\n\\x00\\x7f]{0,12}",
                2 => "[aé ]{495,505}",
                1 => any::<String>(),
            ],
        ) {
            let trimmed = text.trim();
            let ok = (1..=500).contains(&trimmed.chars().count()) && !trimmed.chars().any(char::is_control);
            prop_assert_eq!(item_description(&text).ok(), ok.then(|| trimmed.to_owned()));
        }

        #[test]
        fn number_like_text_never_panics_and_is_in_range_when_accepted(text in "[0-9.eE+-]{0,24}") {
            if let Ok(cents) = item_price(&text) {
                prop_assert!((0..=money::MAX_PRICE_CENTS).contains(&cents));
            }
        }

        #[test]
        fn three_or_more_decimal_places_are_refused(text in "[0-9]{1,10}\\.[0-9]{3,8}") {
            prop_assert!(item_price(&text).is_err());
        }

        #[test]
        fn signed_prices_are_refused(text in "[+-][0-9]{1,10}(\\.[0-9]{1,2})?") {
            prop_assert!(item_price(&text).is_err());
        }

        #[test]
        fn exponents_are_refused(text in "[0-9]{1,5}(\\.[0-9]{1,2})?[eE][+-]?[0-9]{1,3}") {
            prop_assert!(item_price(&text).is_err());
        }

        #[test]
        fn prices_above_a_billion_are_refused(cents in money::MAX_PRICE_CENTS + 1..=i64::MAX / 100) {
            prop_assert!(item_price(&format_cents(cents)).is_err());
        }
    }
    /// The money rule read from `API.md`, digit by digit: digits, then optionally `.` and one or
    /// two digits; at most 1,000,000,000. Answers the amount in cents.
    fn price_oracle(text: &str) -> Option<i64> {
        let (whole, fraction) = match text.find('.') {
            Some(dot) => (&text[..dot], Some(&text[dot + 1..])),
            None => (text, None),
        };
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || fraction.is_some_and(|fraction| !digits(fraction) || fraction.len() > 2) {
            return None;
        }
        let significant = whole.trim_start_matches('0');
        if significant.len() > 12 {
            return None;
        }
        let whole: u128 = significant.parse().unwrap_or(0);
        let cents: u128 = match fraction {
            Some(fraction) if fraction.len() == 1 => fraction.parse::<u128>().unwrap() * 10,
            Some(fraction) => fraction.parse().unwrap(),
            None => 0,
        };
        let total = whole * 100 + cents;
        (total <= 100_000_000_000).then(|| i64::try_from(total).unwrap())
    }

    /// Price-like text: mostly digits and dots, sometimes signs, exponents, spaces or commas.
    fn price_like() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "0{0,3}[0-9]{1,11}(\\.[0-9]{0,3})?",
            3 => "[0-9.]{0,14}",
            2 => "[0-9.,eE+ -]{0,14}",
            1 => any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn prices_are_accepted_exactly_when_the_rule_says(text in price_like()) {
            prop_assert_eq!(item_price(&text).ok(), price_oracle(&text));
        }

        #[test]
        fn prices_around_a_billion_are_judged_by_their_value(cents in 99_999_999_000_i64..=100_000_001_000, places in 0usize..3) {
            let (text, value) = match places {
                0 => ((cents / 100).to_string(), cents / 100 * 100),
                1 => (format!("{}.{}", cents / 100, cents % 100 / 10), cents / 10 * 10),
                _ => (format_cents(cents), cents),
            };
            prop_assert_eq!(item_price(&text).ok(), (value <= money::MAX_PRICE_CENTS).then_some(value));
        }
    }
}
