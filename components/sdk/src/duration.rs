//! Lengths of time as operators write them in settings: a whole number
//! and a unit, `90s`, `15m`, `2h`, `1d` (`0` alone is zero).
//! Shared by every connector (`message-trace-core` re-exports it).

use crate::{ConfigError, settings};

/// One second in milliseconds.
pub const SECOND_MS: u64 = 1_000;
/// One minute in milliseconds.
pub const MINUTE_MS: u64 = 60 * SECOND_MS;
/// One hour in milliseconds.
pub const HOUR_MS: u64 = 60 * MINUTE_MS;
/// One day in milliseconds.
pub const DAY_MS: u64 = 24 * HOUR_MS;

/// Parses the value of `setting` into milliseconds, with an error that
/// says how to write one.
pub fn parse(setting: &str, text: &str) -> Result<u64, ConfigError> {
    let text = text.trim();
    let bad = || {
        settings::invalid(
            setting,
            format!(
                "`{text}` is not a duration; write a whole number followed by s, m, h or d, such as 90s, 15m, 2h or 1d"
            ),
        )
    };
    if text == "0" {
        return Ok(0);
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let unit_ms = match unit.trim().to_ascii_lowercase().as_str() {
        "s" => SECOND_MS,
        "m" => MINUTE_MS,
        "h" => HOUR_MS,
        "d" => DAY_MS,
        _ => return Err(bad()),
    };
    let number: u64 = number.parse().map_err(|_| bad())?;
    number
        .checked_mul(unit_ms)
        .ok_or_else(|| settings::invalid(setting, format!("`{text}` is far too long a duration")))
}

/// `ms` in the largest unit that divides it (`15m`, `1h`, `36h`, `1500ms`),
/// for messages and documentation.
pub fn show(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    for (unit, size) in [
        ("d", DAY_MS),
        ("h", HOUR_MS),
        ("m", MINUTE_MS),
        ("s", SECOND_MS),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        let p = |t: &str| parse("X", t).unwrap();
        assert_eq!(p("90s"), 90_000);
        assert_eq!(p("15m"), 900_000);
        assert_eq!(p("2h"), 7_200_000);
        assert_eq!(p("1d"), 86_400_000);
        assert_eq!(p(" 15M "), 900_000);
        assert_eq!(p("10 m"), 600_000);
        assert_eq!(p("0"), 0);
        assert_eq!(p("0s"), 0);
    }

    #[test]
    fn refuses_what_it_cannot_read_saying_how_to_write_it() {
        for bad in ["", "15", "m", "1.5h", "-5m", "15min", "1w", "h2", "1h30m"] {
            let err = parse("SOME_SETTING", bad).unwrap_err();
            assert_eq!(err.setting, "SOME_SETTING");
            assert!(
                err.message.contains("such as 90s, 15m, 2h or 1d"),
                "{bad}: {}",
                err.message
            );
        }
        let err = parse("X", "99999999999999999d").unwrap_err();
        assert!(err.message.contains("far too long"), "{}", err.message);
    }

    #[test]
    fn shows_the_largest_whole_unit() {
        assert_eq!(show(900_000), "15m");
        assert_eq!(show(3_600_000), "1h");
        assert_eq!(show(36 * HOUR_MS), "36h");
        assert_eq!(show(10 * DAY_MS), "10d");
        assert_eq!(show(1_500), "1500ms");
        assert_eq!(show(0), "0s");
    }
}
