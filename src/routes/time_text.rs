//! Durations in words for the pages ("3 minutes", "in 2 hours", "5 minutes ago").

/// A number of seconds as a rounded-down duration in words.
pub fn duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (amount, unit) = match seconds {
        0..60 => return "less than a minute".into(),
        60..3600 => (seconds / 60, "minute"),
        3600..86_400 => (seconds / 3600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    if amount == 1 {
        format!("1 {unit}")
    } else {
        format!("{amount} {unit}s")
    }
}

/// A time this many seconds in the future: "in 3 minutes".
pub fn from_now(seconds: i64) -> String {
    format!("in {}", duration(seconds))
}

/// A time this many seconds in the past: "3 minutes ago".
pub fn ago(seconds: i64) -> String {
    if seconds < 60 {
        "just now".into()
    } else {
        format!("{} ago", duration(seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(5), "less than a minute");
        assert_eq!(duration(60), "1 minute");
        assert_eq!(duration(3599), "59 minutes");
        assert_eq!(duration(7200), "2 hours");
        assert_eq!(duration(86_400 * 3), "3 days");
        assert_eq!(from_now(120), "in 2 minutes");
        assert_eq!(ago(10), "just now");
        assert_eq!(ago(3600), "1 hour ago");
    }
}
