//! `Quantity`: how many of one product, checked when it is made.

/// A valid quantity: a whole number from 1 to 99 (or 0, where 0 means "remove").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i32);

/// Why a quantity was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Quantity must be a whole number from {} to 99.", u8::from(!self.zero_allowed))]
pub struct InvalidQuantity {
    /// Whether 0 would have been accepted (the message says the range).
    pub zero_allowed: bool,
}

impl Quantity {
    /// The largest quantity of one product.
    pub const MAX: i32 = 99;

    /// A quantity to add: 1 to 99. A missing field means 1; anything else
    /// (empty, negative, zero, fractions, letters, huge numbers) is refused.
    pub fn to_add(text: Option<&str>) -> Result<Self, InvalidQuantity> {
        match text {
            None => Ok(Self(1)),
            Some(text) => Self::parse(text, 1).ok_or(InvalidQuantity {
                zero_allowed: false,
            }),
        }
    }

    /// A quantity to set on a line: 0 (remove) to 99; the field is required.
    pub fn to_set(text: Option<&str>) -> Result<Self, InvalidQuantity> {
        text.and_then(|text| Self::parse(text, 0))
            .ok_or(InvalidQuantity { zero_allowed: true })
    }

    /// Digits only (no sign, no point, no spaces), then the range check.
    fn parse(text: &str, min: i32) -> Option<Self> {
        if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: i32 = text.parse().ok()?;
        (min..=Self::MAX).contains(&value).then_some(Self(value))
    }

    /// The number.
    pub fn get(self) -> i32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Quantity;

    #[test]
    fn quantities_to_add_are_1_to_99() {
        assert_eq!(Quantity::to_add(None).map(Quantity::get), Ok(1));
        assert_eq!(Quantity::to_add(Some("7")).map(Quantity::get), Ok(7));
        assert_eq!(Quantity::to_add(Some("99")).map(Quantity::get), Ok(99));
        assert_eq!(Quantity::to_add(Some("007")).map(Quantity::get), Ok(7));
        for bad in [
            "0",
            "100",
            "-1",
            "1.5",
            "abc",
            "",
            " 1",
            "+1",
            "1e2",
            "99999999999999999999",
        ] {
            assert!(Quantity::to_add(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quantities_to_set_are_0_to_99_and_required() {
        assert_eq!(Quantity::to_set(Some("0")).map(Quantity::get), Ok(0));
        assert!(Quantity::to_set(None).is_err());
        assert!(Quantity::to_set(Some("100")).is_err());
    }
}
