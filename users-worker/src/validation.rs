//! The input rules of `API.md` for users, as types.
//!
//! A [`NickName`], [`FullName`], [`Password`], [`Cpf`], [`Email`] or [`PhoneNumber`] exists only
//! once its text passed its rule, normalised as it is stored; `parse` answers BAD_USER_INPUT
//! naming the GraphQL field otherwise. Handlers parse a request before touching the database
//! and write rows from these types alone, so raw text cannot reach a row and a refused write
//! never reaches the database.

use entities::users;
use rpc::{RpcError, RpcResult};

/// The GraphQL names of the input fields, as errors report them.
pub mod field {
    pub const NICK_NAME: &str = "nickName";
    pub const FULL_NAME: &str = "fullName";
    pub const PASSWORD: &str = "password";
    pub const NEW_PASSWORD: &str = "newPassword";
    pub const CPF: &str = "cpf";
    pub const EMAIL: &str = "email";
    pub const PHONE_NUMBER: &str = "phoneNumber";
}

/// A text that passed a rule: read as `&str`, stored as its `String`.
macro_rules! parsed_text {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    )*};
}

parsed_text! {
    /// 3–32 ASCII letters, digits, `_`, `.` or `-`; kept as given.
    NickName;
    /// 1–120 characters, trimmed, without control characters.
    FullName;
    /// 11 digits with valid check digits, not all equal.
    Cpf;
    /// Lower case; one `@` and a dotted domain; at most 254 characters.
    Email;
    /// An optional leading `+` and 10–15 digits, nothing else.
    PhoneNumber;
}

impl NickName {
    /// ASCII only, so that "ignoring case" has one obvious meaning (no Unicode case folding
    /// surprises such as `ß` or `İ`).
    pub fn parse(value: &str) -> RpcResult<Self> {
        if !rpc::users::is_nick_name(value) {
            return Err(RpcError::invalid(
                field::NICK_NAME,
                "nickName must be 3 to 32 letters, digits, '_', '.' or '-'",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// What uniqueness and look-ups compare: [`users::nick_name_key`].
    pub fn key(&self) -> String {
        users::nick_name_key(&self.0)
    }
}

impl FullName {
    /// Counted in characters after trimming. Control characters are refused: they have no
    /// place in a name, and PostgreSQL cannot store NUL in text at all.
    pub fn parse(value: &str) -> RpcResult<Self> {
        let trimmed = value.trim();
        if !(1..=120).contains(&trimmed.chars().count()) {
            return Err(RpcError::invalid(field::FULL_NAME, "fullName must be 1 to 120 characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(RpcError::invalid(field::FULL_NAME, "fullName must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }
}

/// 8–128 characters of any kind, taken as given (never trimmed: spaces may be part of a
/// passphrase). It is only ever hashed, never stored, so the contract restricts nothing else.
/// Neither `Debug` nor `Display`: it cannot reach a log by accident.
pub struct Password(String);

impl Password {
    /// The longest password the rules allow: a longer candidate cannot match a stored one.
    pub const MAX_CHARS: usize = 128;

    /// `field` is `password` on create and `newPassword` on changePassword.
    pub fn parse(field: &str, value: String) -> RpcResult<Self> {
        if !(8..=Self::MAX_CHARS).contains(&value.chars().count()) {
            return Err(RpcError::invalid(field, format!("{field} must be 8 to 128 characters")));
        }
        Ok(Self(value))
    }

    /// The text itself, for the hasher.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Cpf {
    /// With or without `.`, `-` and spaces; normalised to the 11 digits.
    pub fn parse(value: &str) -> RpcResult<Self> {
        let invalid = || RpcError::invalid(field::CPF, "cpf must be 11 digits with valid check digits");
        let mut normalised = String::with_capacity(11);
        for c in value.chars().filter(|&c| !matches!(c, '.' | '-') && !c.is_whitespace()) {
            // Stop at the first surplus character: overlong input is refused without copying it.
            if !c.is_ascii_digit() || normalised.len() == 11 {
                return Err(invalid());
            }
            normalised.push(c);
        }
        if normalised.len() != 11 {
            return Err(invalid());
        }
        let digits: Vec<u32> = normalised.bytes().map(|digit| u32::from(digit - b'0')).collect();
        if digits.iter().all(|&digit| digit == digits[0]) {
            return Err(RpcError::invalid(field::CPF, "cpf must not be one digit repeated"));
        }
        if cpf_check_digit(&digits[..9]) != digits[9] || cpf_check_digit(&digits[..10]) != digits[10] {
            return Err(invalid());
        }
        Ok(Self(normalised))
    }
}

/// The CPF check digit that follows `digits` (the 9 base digits, or those and the first check
/// digit): weights 2, 3, 4, … from the last digit backwards; a remainder mod 11 below 2 gives
/// 0, otherwise 11 minus it.
fn cpf_check_digit(digits: &[u32]) -> u32 {
    let sum: u32 = digits.iter().rev().zip(2..).map(|(digit, weight)| digit * weight).sum();
    match sum % 11 {
        0 | 1 => 0,
        rest => 11 - rest,
    }
}

impl Email {
    /// Trimmed and lower-cased; then one `@` with something before it, a dotted domain after
    /// it (at least two non-empty labels), no whitespace or control characters, at most 254
    /// characters.
    pub fn parse(value: &str) -> RpcResult<Self> {
        const MAX: usize = 254;
        let too_long = || RpcError::invalid(field::EMAIL, "email must be at most 254 characters");
        let trimmed = value.trim();
        // A char is at most 4 bytes and lower-casing never shortens text: refuse huge input
        // before copying it.
        if trimmed.len() > MAX * 4 {
            return Err(too_long());
        }
        let email = trimmed.to_lowercase();
        if email.chars().count() > MAX {
            return Err(too_long());
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RpcError::invalid(field::EMAIL, "email must not contain spaces"));
        }
        let well_formed = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.contains('@') && {
                let mut labels = domain.split('.');
                labels.clone().count() >= 2 && labels.all(|label| !label.is_empty())
            }
        });
        if !well_formed {
            return Err(RpcError::invalid(field::EMAIL, "email must look like name@example.com"));
        }
        Ok(Self(email))
    }
}

impl PhoneNumber {
    /// Separators (spaces, `-`, `(`, `)`) removed; then an optional leading `+` and 10–15
    /// digits.
    pub fn parse(value: &str) -> RpcResult<Self> {
        let invalid =
            || RpcError::invalid(field::PHONE_NUMBER, "phoneNumber must be an optional '+' and 10 to 15 digits");
        let mut phone = String::with_capacity(16);
        for c in value.chars().filter(|&c| !matches!(c, '-' | '(' | ')') && !c.is_whitespace()) {
            let leading_plus = c == '+' && phone.is_empty();
            if !(leading_plus || c.is_ascii_digit()) || phone.len() >= 16 {
                return Err(invalid());
            }
            phone.push(c);
        }
        let digits = phone.strip_prefix('+').unwrap_or(&phone);
        if !(10..=15).contains(&digits.len()) {
            return Err(invalid());
        }
        Ok(Self(phone))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rpc::ErrorCode;

    use super::*;

    // The rules' tests read each type by the text it stores.
    fn nick_name(value: &str) -> RpcResult<String> {
        NickName::parse(value).map(String::from)
    }

    fn full_name(value: &str) -> RpcResult<String> {
        FullName::parse(value).map(String::from)
    }

    fn password(field: &str, value: &str) -> RpcResult<String> {
        Password::parse(field, value.to_owned()).map(|password| password.expose().to_owned())
    }

    fn cpf(value: &str) -> RpcResult<String> {
        Cpf::parse(value).map(String::from)
    }

    fn email(value: &str) -> RpcResult<String> {
        Email::parse(value).map(String::from)
    }

    fn phone_number(value: &str) -> RpcResult<String> {
        PhoneNumber::parse(value).map(String::from)
    }

    fn refused_on(result: RpcResult<impl std::fmt::Debug>) -> String {
        let error = result.expect_err("the value should be refused");
        assert_eq!(error.code, ErrorCode::BadUserInput);
        error.field.expect("input errors name their field")
    }

    #[test]
    fn nick_names_of_letters_digits_and_marks_are_kept_as_given() {
        for nick in ["abc", "Ana.Maria_99", "x-y", "A".repeat(32).as_str(), "___"] {
            assert_eq!(nick_name(nick).unwrap(), nick);
        }
    }

    #[test]
    fn nick_names_too_short_too_long_or_with_other_characters_are_refused() {
        for nick in ["", "ab", "a".repeat(33).as_str(), "ana maria", " ana", "ana!", "joão", "ana@x", "a\0b"] {
            assert_eq!(refused_on(nick_name(nick)), "nickName", "{nick:?}");
        }
    }

    #[test]
    fn full_names_are_trimmed_and_counted_in_characters() {
        assert_eq!(full_name("  Ana Maria  ").unwrap(), "Ana Maria");
        assert_eq!(full_name("J").unwrap(), "J");
        // 120 two-byte characters fit: the limit is characters, not bytes.
        let accented = "é".repeat(120);
        assert_eq!(full_name(&accented).unwrap(), accented);
    }

    #[test]
    fn full_names_empty_blank_too_long_or_with_control_characters_are_refused() {
        for name in ["", "   ", "a".repeat(121).as_str(), "Ana\nMaria", "Ana\0"] {
            assert_eq!(refused_on(full_name(name)), "fullName", "{name:?}");
        }
    }

    #[test]
    fn passwords_of_8_to_128_characters_are_kept_untrimmed() {
        assert_eq!(password(field::PASSWORD, "12345678").unwrap(), "12345678");
        assert_eq!(password(field::PASSWORD, " spaced ").unwrap(), " spaced ");
        assert!(password(field::PASSWORD, &"ç".repeat(128)).is_ok());
    }

    #[test]
    fn passwords_too_short_or_too_long_are_refused_under_the_given_field() {
        assert_eq!(refused_on(password(field::PASSWORD, "1234567")), "password");
        assert_eq!(refused_on(password(field::NEW_PASSWORD, &"a".repeat(129))), "newPassword");
    }

    #[test]
    fn cpfs_with_or_without_punctuation_are_normalised_to_digits() {
        for input in ["52998224725", "529.982.247-25", "529 982 247 25", " 529.982.247-25 "] {
            assert_eq!(cpf(input).unwrap(), "52998224725");
        }
        assert_eq!(cpf("111.444.777-35").unwrap(), "11144477735");
        // A check digit that comes out as 0 (a remainder below 2).
        assert_eq!(cpf("123.456.789-09").unwrap(), "12345678909");
    }

    #[test]
    fn cpf_with_wrong_check_digits_is_refused() {
        assert_eq!(refused_on(cpf("529.982.247-26")), "cpf");
        assert_eq!(refused_on(cpf("529.982.247-15")), "cpf");
    }

    #[test]
    fn cpfs_of_one_repeated_digit_are_refused_although_their_check_digits_add_up() {
        for digit in '0'..='9' {
            assert_eq!(refused_on(cpf(&digit.to_string().repeat(11))), "cpf");
        }
    }

    #[test]
    fn cpfs_of_the_wrong_length_or_with_other_characters_are_refused() {
        for input in ["", "5299822472", "529982247250", "529/982/247-25", "5299822472a", "٥٢٩٩٨٢٢٤٧٢٥"] {
            assert_eq!(refused_on(cpf(input)), "cpf", "{input:?}");
        }
    }

    #[test]
    fn the_cpf_check_digits_cannot_catch_every_single_digit_change() {
        // Remainders 0 and 1 both give the check digit 0, so a few single-digit changes keep
        // a valid CPF: both of these are valid. The property tests account for it.
        assert!(cpf("784.560.469-06").is_ok());
        assert!(cpf("684.560.469-06").is_ok());
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(email("  Ana.Maria@Example.COM ").unwrap(), "ana.maria@example.com");
        assert_eq!(email("a+tag@mail.example.com.br").unwrap(), "a+tag@mail.example.com.br");
    }

    #[test]
    fn emails_without_one_at_or_a_dotted_domain_or_with_spaces_are_refused() {
        for input in [
            "",
            "ana",
            "@example.com",
            "ana@",
            "ana@example",
            "ana@@example.com",
            "ana@x@example.com",
            "ana@.example.com",
            "ana@example.com.",
            "ana@example..com",
            "ana maria@example.com",
            "ana@exam\tple.com",
        ] {
            assert_eq!(refused_on(email(input)), "email", "{input:?}");
        }
    }

    #[test]
    fn emails_longer_than_254_characters_are_refused() {
        let fits = format!("{}@example.com", "a".repeat(254 - 12));
        assert_eq!(email(&fits).unwrap().len(), 254);
        assert_eq!(refused_on(email(&format!("a{fits}"))), "email");
        assert_eq!(refused_on(email(&"a".repeat(100_000))), "email");
    }

    #[test]
    fn phone_numbers_lose_their_separators_and_keep_a_leading_plus() {
        assert_eq!(phone_number("+55 (11) 98765-4321").unwrap(), "+5511987654321");
        assert_eq!(phone_number("(11) 98765-4321").unwrap(), "11987654321");
        assert_eq!(phone_number("1234567890").unwrap(), "1234567890");
        assert_eq!(phone_number("+123456789012345").unwrap(), "+123456789012345");
    }

    #[test]
    fn phone_numbers_with_too_few_or_too_many_digits_or_a_misplaced_plus_are_refused() {
        for input in ["", "+", "123456789", "+123456789", "1234567890123456", "55+11987654321", "++5511987654321"] {
            assert_eq!(refused_on(phone_number(input)), "phoneNumber", "{input:?}");
        }
        for input in ["11 98765.4321", "11987654321 ext 2", "١١٩٨٧٦٥٤٣٢١"] {
            assert_eq!(refused_on(phone_number(input)), "phoneNumber", "{input:?}");
        }
    }

    /// The textbook CPF formula, written differently from [`cpf_check_digit`] on purpose:
    /// weights 10..2 (then 11..2), `(sum × 10) mod 11`, and 10 becomes 0.
    fn oracle_accepts(digits: &[u32; 11]) -> bool {
        let check = |count: usize| {
            let sum: u32 = (0..count).map(|i| digits[i] * (count as u32 + 1 - i as u32)).sum();
            (sum * 10) % 11 % 10
        };
        digits.iter().any(|&digit| digit != digits[0]) && check(9) == digits[9] && check(10) == digits[10]
    }

    fn with_check_digits(base: [u32; 9]) -> [u32; 11] {
        let mut digits = [0; 11];
        digits[..9].copy_from_slice(&base);
        digits[9] = cpf_check_digit(&digits[..9]);
        digits[10] = cpf_check_digit(&digits[..10]);
        digits
    }

    fn text(digits: &[u32]) -> String {
        digits.iter().map(|digit| char::from_digit(*digit, 10).unwrap()).collect()
    }

    fn base_digits() -> impl Strategy<Value = [u32; 9]> {
        proptest::array::uniform9(0u32..10).prop_filter("not one repeated digit", |base| {
            let digits = with_check_digits(*base);
            digits.iter().any(|&digit| digit != digits[0])
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn generated_valid_cpfs_are_accepted_plain_and_punctuated(base in base_digits()) {
            let plain = text(&with_check_digits(base));
            let punctuated = format!("{}.{}.{}-{}", &plain[..3], &plain[3..6], &plain[6..9], &plain[9..]);
            prop_assert_eq!(cpf(&plain).unwrap(), plain.clone());
            prop_assert_eq!(cpf(&punctuated).unwrap(), plain);
        }

        #[test]
        fn changing_a_check_digit_of_a_valid_cpf_is_refused(
            base in base_digits(), position in 9usize..11, shift in 1u32..10,
        ) {
            let mut digits = with_check_digits(base);
            digits[position] = (digits[position] + shift) % 10;
            prop_assert!(cpf(&text(&digits)).is_err());
        }

        #[test]
        fn a_single_changed_digit_is_accepted_only_when_the_textbook_formula_agrees(
            base in base_digits(), position in 0usize..11, shift in 1u32..10,
        ) {
            let mut digits = with_check_digits(base);
            digits[position] = (digits[position] + shift) % 10;
            prop_assert_eq!(cpf(&text(&digits)).is_ok(), oracle_accepts(&digits));
        }

        #[test]
        fn any_eleven_digits_are_judged_like_the_textbook_formula(digits in proptest::array::uniform11(0u32..10)) {
            prop_assert_eq!(cpf(&text(&digits)).is_ok(), oracle_accepts(&digits));
        }

        #[test]
        fn validators_never_panic_and_their_output_is_a_fixed_point(input in any::<String>()) {
            for validate in [nick_name, full_name, cpf, email, phone_number] {
                if let Ok(normalised) = validate(&input) {
                    prop_assert_eq!(validate(&normalised).unwrap(), normalised);
                }
            }
            let _ = password(field::PASSWORD, &input);
        }

        #[test]
        fn validators_never_panic_on_input_made_of_their_own_alphabet(input in "[0-9A-Za-z .()+@_-]{0,40}") {
            for validate in [nick_name, full_name, cpf, email, phone_number] {
                if let Ok(normalised) = validate(&input) {
                    prop_assert_eq!(validate(&normalised).unwrap(), normalised);
                }
            }
        }

        #[test]
        fn generated_nick_names_are_accepted_as_given(nick in "[A-Za-z0-9_.-]{3,32}") {
            prop_assert_eq!(nick_name(&nick).unwrap(), nick);
        }

        #[test]
        fn generated_emails_are_accepted_in_lower_case(
            local in "[A-Za-z0-9._%+-]{1,40}", domain in "[A-Za-z0-9-]{1,30}(\\.[A-Za-z]{2,10}){1,3}",
        ) {
            let input = format!("{local}@{domain}");
            prop_assert_eq!(email(&input).unwrap(), input.to_lowercase());
        }

        #[test]
        fn generated_phone_numbers_with_separators_keep_only_plus_and_digits(
            plus in any::<bool>(),
            digits in proptest::collection::vec((0u32..10, proptest::option::of("[ ()-]{1,2}")), 10..=15),
        ) {
            let mut input = String::from(if plus { "+" } else { "" });
            let mut expected = input.clone();
            for (digit, separator) in &digits {
                let digit = char::from_digit(*digit, 10).unwrap();
                input.push(digit);
                expected.push(digit);
                input.push_str(separator.as_deref().unwrap_or_default());
            }
            prop_assert_eq!(phone_number(&input).unwrap(), expected);
        }
    }
    /// The nickName rule read straight from `API.md`: 3–32 of letters, digits, `_ . -`.
    fn nick_name_oracle(input: &str) -> bool {
        (3..=32).contains(&input.chars().count())
            && input.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
    }

    /// The email rule read from `API.md`: trimmed and lower-cased, one `@`, a dotted domain, no
    /// spaces, at most 254 characters. Answers the stored value.
    fn email_oracle(input: &str) -> Option<String> {
        let email = input.trim().to_lowercase();
        let (local, domain) = email.split_once('@')?;
        let labels: Vec<&str> = domain.split('.').collect();
        let ok = email.chars().count() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && !local.is_empty()
            && !domain.contains('@')
            && labels.len() >= 2
            && labels.iter().all(|label| !label.is_empty());
        ok.then_some(email)
    }

    /// The phoneNumber rule read from `API.md`: separators (spaces, `-`, `(`, `)`) removed, then
    /// an optional leading `+` and 10–15 digits. Answers the stored value.
    fn phone_oracle(input: &str) -> Option<String> {
        let kept: String = input.chars().filter(|c| !c.is_whitespace() && !"-()".contains(*c)).collect();
        let digits = kept.strip_prefix('+').unwrap_or(&kept);
        ((10..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())).then_some(kept)
    }

    /// The cpf rule read from `API.md`: `.`, `-` and spaces dropped, then 11 digits that the
    /// textbook formula accepts. Answers the stored value.
    fn cpf_oracle(input: &str) -> Option<String> {
        let kept: String = input.chars().filter(|c| !c.is_whitespace() && *c != '.' && *c != '-').collect();
        let digits: Vec<u32> =
            kept.chars().map(|c| c.to_digit(10).filter(|_| c.is_ascii_digit())).collect::<Option<_>>()?;
        let digits: [u32; 11] = digits.try_into().ok()?;
        oracle_accepts(&digits).then_some(kept)
    }

    /// Text that is mostly made of what the rules are about, so that both sides of every rule
    /// come up often; and now and then anything at all.
    fn near(alphabet: &'static str, max: usize) -> impl Strategy<Value = String> {
        let chars: Vec<char> = alphabet.chars().collect();
        prop_oneof![
            9 => proptest::collection::vec(proptest::sample::select(chars), 0..=max)
                .prop_map(|chars| chars.into_iter().collect::<String>()),
            1 => any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn nick_names_are_accepted_exactly_when_the_rule_says(input in near("abcXYZ019_.- !@é\u{0}", 36)) {
            prop_assert_eq!(nick_name(&input).ok(), nick_name_oracle(&input).then(|| input.clone()));
        }

        #[test]
        fn a_nick_name_with_one_foreign_character_is_refused(
            nick in "[A-Za-z0-9_.-]{3,32}", position in any::<prop::sample::Index>(), foreign in "[^A-Za-z0-9_.-]",
        ) {
            let mut chars: Vec<char> = nick.chars().collect();
            let at = position.index(chars.len());
            chars[at] = foreign.chars().next().unwrap();
            prop_assert!(nick_name(&chars.into_iter().collect::<String>()).is_err());
        }

        #[test]
        fn emails_are_accepted_exactly_when_the_rule_says(input in near("aZ09.@@ _+-\tÉ\u{85}", 30)) {
            prop_assert_eq!(email(&input).ok(), email_oracle(&input));
        }

        #[test]
        fn emails_around_254_characters_are_judged_by_their_length(local in 1usize..260, tld in 2usize..4) {
            let input = format!("{}@b.{}", "a".repeat(local), "c".repeat(tld));
            prop_assert_eq!(email(&input).is_ok(), input.len() <= 254);
        }

        #[test]
        fn an_email_with_one_defect_is_refused(
            local in "[a-z0-9._+-]{1,20}", domain in "[a-z0-9-]{1,20}", tld in "[a-z]{2,6}", defect in 0usize..6,
        ) {
            let input = match defect {
                0 => format!("{local}{domain}.{tld}"),          // no @
                1 => format!("{local}@{domain}@{domain}.{tld}"), // two @
                2 => format!("@{domain}.{tld}"),                 // nothing before @
                3 => format!("{local}@{domain}"),                // no dot in the domain
                4 => format!("{local}@{domain}..{tld}"),         // an empty label
                _ => format!("{local} x@{domain}.{tld}"),        // a space inside
            };
            prop_assert!(email(&input).is_err(), "{}", input);
        }

        #[test]
        fn phone_numbers_are_accepted_exactly_when_the_rule_says(input in near("0123456789+ -()x.\u{a0}", 24)) {
            prop_assert_eq!(phone_number(&input).ok(), phone_oracle(&input));
        }

        #[test]
        fn phone_numbers_of_the_wrong_length_are_refused(
            plus in any::<bool>(), digits in "[0-9]{30}", length in prop_oneof![0usize..10, 16usize..=30],
        ) {
            let input = format!("{}{}", if plus { "+" } else { "" }, &digits[..length]);
            prop_assert!(phone_number(&input).is_err());
        }

        #[test]
        fn cpf_text_is_accepted_exactly_when_the_rule_says(input in near("0123456789.- \ta/", 20)) {
            prop_assert_eq!(cpf(&input).ok(), cpf_oracle(&input));
        }

        #[test]
        fn valid_cpfs_are_accepted_whatever_punctuation_surrounds_their_digits(
            base in base_digits(), separators in proptest::collection::vec("[ .-]{0,2}", 12),
        ) {
            let plain = text(&with_check_digits(base));
            let input: String = plain.chars().zip(&separators).flat_map(|(digit, separator)| {
                separator.chars().chain(std::iter::once(digit)).collect::<Vec<_>>()
            }).chain(separators[11].chars()).collect();
            prop_assert_eq!(cpf(&input).unwrap(), plain);
        }

        #[test]
        fn digit_strings_of_any_other_length_than_eleven_are_not_cpfs(
            digits in "[0-9]{24}", length in prop_oneof![0usize..11, 12usize..=24],
        ) {
            prop_assert!(cpf(&digits[..length]).is_err());
        }

        #[test]
        fn full_names_and_passwords_are_judged_by_their_length_in_characters(input in near("aé \t\n\u{0}", 140)) {
            let name = input.trim();
            let name_ok = (1..=120).contains(&name.chars().count()) && !name.chars().any(char::is_control);
            prop_assert_eq!(full_name(&input).ok(), name_ok.then(|| name.to_owned()));
            prop_assert_eq!(password(field::PASSWORD, &input).is_ok(), (8..=128).contains(&input.chars().count()));
        }
    }
}
