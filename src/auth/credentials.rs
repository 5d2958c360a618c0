//! Domain types for what people type into the account forms.
//!
//! Each type checks its rules when it is made, so a `Username` or a
//! `NewPassword` that exists past this point is valid by construction.

use std::fmt;

/// A valid username: 3 to 32 characters of `A-Z a-z 0-9 _ . -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

/// Why a username was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Usernames are 3 to 32 characters long and use only letters, digits, _ . and -.")]
pub struct InvalidUsername;

impl Username {
    /// Checks `text` against the username rules.
    pub fn parse(text: &str) -> Result<Self, InvalidUsername> {
        let valid_chars = text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if valid_chars && (3..=32).contains(&text.len()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidUsername)
        }
    }

    /// The username as typed (its case is kept for display).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name in lower case: usernames are one account whatever their case,
    /// so failures and device cookies are kept under this form.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A new password that passed the rules: 8 to 128 characters, typed the same twice.
pub struct NewPassword(String);

/// Why a new password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPassword {
    /// Fewer than 8 or more than 128 characters.
    #[error("Passwords must be 8 to 128 characters long.")]
    Length,
    /// The confirmation differs.
    #[error("The two passwords do not match.")]
    Mismatch,
}

impl NewPassword {
    /// The shortest password accepted, in characters.
    pub const MIN_CHARS: usize = 8;
    /// The longest password accepted, in characters (Argon2 does not need more,
    /// and a cap stops megabyte "passwords" from costing hashing time).
    pub const MAX_CHARS: usize = 128;

    /// Checks the password and its confirmation.
    pub fn parse(password: &str, confirmation: &str) -> Result<Self, InvalidPassword> {
        let chars = password.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(InvalidPassword::Length);
        }
        if password != confirmation {
            return Err(InvalidPassword::Mismatch);
        }
        Ok(Self(password.to_owned()))
    }

    /// The password itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules() {
        for good in ["abc", "Alice_1", "a.b-c", &"x".repeat(32)] {
            assert!(Username::parse(good).is_ok(), "{good}");
        }
        for bad in ["ab", "", "with space", "ünï", "semi;colon", &"x".repeat(33)] {
            assert_eq!(Username::parse(bad), Err(InvalidUsername), "{bad}");
        }
    }

    #[test]
    fn passwords_follow_the_rules() {
        assert!(NewPassword::parse("12345678", "12345678").is_ok());
        assert!(
            NewPassword::parse("ééééééééé", "ééééééééé").is_ok(),
            "characters, not bytes"
        );
        assert_eq!(
            NewPassword::parse("1234567", "1234567").unwrap_err(),
            InvalidPassword::Length
        );
        let long = "x".repeat(129);
        assert_eq!(
            NewPassword::parse(&long, &long).unwrap_err(),
            InvalidPassword::Length
        );
        assert_eq!(
            NewPassword::parse("12345678", "12345679").unwrap_err(),
            InvalidPassword::Mismatch
        );
    }
}
