//! Durations as people write them: `90s`, `5m`, `1h30m`, `500ms`, and the range each kind of
//! duration the CLI accepts may take.
//!
//! | kind | where | range |
//! | --- | --- | --- |
//! | [`Kind::Deadline`] | `--timeout`, `timeouts.deploy`, `DUNCAN_DEPLOY_TIMEOUT` | more than 0, at most 7 days |
//! | [`Kind::Wait`] | `--wait`, `timeouts.lock_wait` | 0 (do not wait) to 7 days |
//! | [`Kind::Request`] | `timeouts.request`, `DUNCAN_REQUEST_TIMEOUT` | more than 0, at most 10 minutes |
//! | [`Kind::Lookback`] | `report --since` | more than 0, at most 10 years (3650d) |
//!
//! A deploy that has not ended in a week has not ended; a value beyond that is a typo (or
//! `u64::MAX` seconds, which overflowed a clock after the group was already updated). One HTTP
//! request has no reason to take ten minutes either: Consul's longest blocking query is ten
//! minutes and duncan asks for less. Out-of-range values are refused when they are read, before
//! anything is sent.

use std::time::Duration;

/// The longest deadline of a deployment, and the longest wait for a lock: 7 days.
pub const MAX_DEADLINE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest timeout of one HTTP request: 10 minutes.
pub const MAX_REQUEST: Duration = Duration::from_secs(10 * 60);
/// The longest look back into the history: 3650 days (about 10 years).
pub const MAX_LOOKBACK: Duration = Duration::from_secs(3650 * 24 * 3600);

/// What a duration is for, which decides the values it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The deadline of a deployment or a watch: more than 0, at most [`MAX_DEADLINE`].
    Deadline,
    /// How long to wait for a held lock: 0 (not at all) up to [`MAX_DEADLINE`].
    Wait,
    /// The timeout of each HTTP request: more than 0, at most [`MAX_REQUEST`].
    Request,
    /// How far back a report looks: more than 0, at most [`MAX_LOOKBACK`].
    Lookback,
}

impl Kind {
    /// The longest value allowed.
    pub fn max(self) -> Duration {
        match self {
            Self::Deadline | Self::Wait => MAX_DEADLINE,
            Self::Request => MAX_REQUEST,
            Self::Lookback => MAX_LOOKBACK,
        }
    }

    /// Whether 0 is allowed.
    fn allows_zero(self) -> bool {
        matches!(self, Self::Wait)
    }

    /// The limit as a person says it.
    fn max_text(self) -> &'static str {
        match self {
            Self::Deadline | Self::Wait => "7 days (168h)",
            Self::Request => "10 minutes (10m)",
            Self::Lookback => "10 years (3650d)",
        }
    }

    /// Why 0 is refused.
    fn zero_reason(self) -> &'static str {
        match self {
            Self::Deadline => "a deadline of 0 would fail every deployment at once",
            Self::Request => "every request needs a timeout",
            Self::Lookback => "a report of no time has nothing in it",
            Self::Wait => "",
        }
    }

    /// What this kind of duration is, for messages.
    fn what(self) -> &'static str {
        match self {
            Self::Deadline => "a deadline",
            Self::Wait => "a lock wait",
            Self::Request => "a request timeout",
            Self::Lookback => "a report's period",
        }
    }
}

/// Parses a duration (see [`parse_duration`]) and checks it is in the range of its [`Kind`]. The
/// error is a sentence that names the limit.
pub fn parse_kind(text: &str, kind: Kind) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    let text = text.trim();
    if duration.is_zero() && !kind.allows_zero() {
        return Err(format!(
            "`{text}` is too short for {}: it must be more than 0 ({})",
            kind.what(),
            kind.zero_reason()
        ));
    }
    if duration > kind.max() {
        return Err(format!(
            "`{text}` is too long for {}: the most is {}",
            kind.what(),
            kind.max_text()
        ));
    }
    Ok(duration)
}

/// clap's parser of `--timeout`: a [`Kind::Deadline`].
pub fn parse_deadline(text: &str) -> Result<Duration, String> {
    parse_kind(text, Kind::Deadline)
}

/// clap's parser of `--wait`: a [`Kind::Wait`].
pub fn parse_wait(text: &str) -> Result<Duration, String> {
    parse_kind(text, Kind::Wait)
}

/// clap's parser of `report --since`: a [`Kind::Lookback`].
pub fn parse_lookback(text: &str) -> Result<Duration, String> {
    parse_kind(text, Kind::Lookback)
}

/// Parses a duration made of one or more `NUMBER UNIT` parts, with units `w` (7 days), `d`, `h`,
/// `m`, `s` and `ms` (`1h30m`, `90s`, `2m30s`, `30d`). A bare `0` is accepted; any other number needs a unit.
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
            "w" => value.checked_mul(7 * 24 * 3600).map(Duration::from_secs),
            "d" => value.checked_mul(24 * 3600).map(Duration::from_secs),
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
                    "`{text}` is not a duration: unknown unit `{}` (use h, m, s or ms, as in \
                     90s, 5m or 1h30m)",
                    other.trim()
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
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("2w1d"), Ok(Duration::from_secs(15 * 86_400)));
    }

    #[test]
    fn bare_number_asks_for_a_unit() {
        let err = parse_duration("90").unwrap_err();
        assert!(err.contains("add a unit"), "{err}");
    }

    #[test]
    fn rejects_unknown_units_and_garbage() {
        assert!(
            parse_duration("5y")
                .unwrap_err()
                .contains("unknown unit `y`")
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

    #[test]
    fn durations_beyond_their_kinds_limit_are_refused_naming_it() {
        let huge = "18446744073709551615s";
        for kind in [Kind::Deadline, Kind::Wait] {
            let err = parse_kind(huge, kind).unwrap_err();
            assert!(err.contains("the most is 7 days (168h)"), "{err}");
            assert_eq!(parse_kind("168h", kind), Ok(MAX_DEADLINE));
            assert!(parse_kind("168h1s", kind).is_err());
        }
        let err = parse_kind("11m", Kind::Request).unwrap_err();
        assert!(err.contains("the most is 10 minutes (10m)"), "{err}");
        assert_eq!(parse_kind("10m", Kind::Request), Ok(MAX_REQUEST));
    }

    #[test]
    fn zero_is_only_a_valid_wait() {
        assert_eq!(parse_kind("0", Kind::Wait), Ok(Duration::ZERO));
        for zero in ["0", "0s", "0ms"] {
            let err = parse_kind(zero, Kind::Request).unwrap_err();
            assert!(err.contains("every request needs a timeout"), "{err}");
            assert!(parse_kind(zero, Kind::Deadline).is_err());
        }
    }
}
