//! Valid CPFs for test users, their check digits computed here, apart from the users
//! service's own rule.

/// A valid CPF, different for each `n` below 899,999,999.
pub fn cpf(n: u64) -> String {
    let base = 100_000_000 + (n % 899_999_999) * 7_919 % 899_999_999;
    let mut digits: Vec<u64> = base.to_string().bytes().map(|digit| u64::from(digit - b'0')).collect();
    for _ in 0..2 {
        // Weights 2, 3, ... from the last digit; a remainder below 2 makes a 0.
        let sum: u64 = digits.iter().rev().zip(2..).map(|(digit, weight)| digit * weight).sum();
        digits.push(if sum % 11 < 2 { 0 } else { 11 - sum % 11 });
    }
    digits.iter().map(u64::to_string).collect()
}
