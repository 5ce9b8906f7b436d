//! Durations as people write them: `90s`, `5m`, `1h30m`, `500ms`.

use std::time::Duration;

/// Parses a duration made of one or more `NUMBER UNIT` parts, with units `h`, `m`, `s` and `ms`
/// (`1h30m`, `90s`, `2m30s`). A bare `0` is accepted; any other number needs a unit.
///
/// The error is a sentence meant for the user, so clap can show it as it is.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err("a duration is needed, for example 90s, 5m or 1h30m".to_owned());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration: expected a number, as in 90s, 5m or 1h30m"
            ));
        }
        let (number, after) = rest.split_at(digits);
        let value: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration: {number} is too large"))?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let part = match unit {
            "h" => value.checked_mul(3600).map(Duration::from_secs),
            "m" => value.checked_mul(60).map(Duration::from_secs),
            "s" => Some(Duration::from_secs(value)),
            "ms" => Some(Duration::from_millis(value)),
            "" => {
                return Err(format!(
                    "`{text}` is not a duration: add a unit (h, m, s or ms), as in {text}s"
                ));
            }
            other => {
                return Err(format!(
                    "`{text}` is not a duration: unknown unit `{other}` (use h, m, s or ms)"
                ));
            }
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
        rest = next;
    }
    Ok(total)
}

/// Formats a duration the way [`parse_duration`] reads it, in the largest fitting units
/// (`1h30m`, `90s` as `1m30s`, `250ms`).
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if duration.is_zero() {
        return "0".to_owned();
    }
    if secs == 0 {
        return format!("{}ms", duration.subsec_millis());
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_single_and_combined_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2m30s"), Ok(Duration::from_secs(150)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn bare_number_asks_for_a_unit() {
        let err = parse_duration("90").unwrap_err();
        assert!(err.contains("add a unit"), "{err}");
    }

    #[test]
    fn rejects_unknown_units_and_garbage() {
        assert!(
            parse_duration("5d")
                .unwrap_err()
                .contains("unknown unit `d`")
        );
        assert!(parse_duration("m5").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn formats_back_in_the_same_grammar() {
        for text in ["1h30m", "1m30s", "5m", "250ms", "2h", "1h0m5s"] {
            let parsed = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(parsed)), Ok(parsed));
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
    }
}
