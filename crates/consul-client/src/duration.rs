//! Go-style duration strings, as Consul writes and reads them (`"15s"`, `"1500ms"`, `"1m30s"`).

use std::time::Duration;

/// Formats a duration the way Consul's Go code parses it: whole seconds as `"Ns"`, anything
/// finer as milliseconds (`"Nms"`). Sub-millisecond parts are dropped; Consul ignores them.
pub(crate) fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Parses a Go duration string such as `"30s"`, `"1m30s"`, `"1.5h"` or `"0s"`.
///
/// Returns `None` for anything Go's `time.ParseDuration` would refuse, and for negative values,
/// which have no meaning for the fields Consul sends.
pub(crate) fn parse(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total_nanos: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_end);
        if num.is_empty() {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total_nanos += value * scale;
        rest = next;
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(total_nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_whole_seconds_as_seconds_and_the_rest_as_milliseconds() {
        assert_eq!(format(Duration::from_secs(15)), "15s");
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format(Duration::ZERO), "0s");
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse("0s"), Some(Duration::ZERO));
        assert_eq!(parse("0"), Some(Duration::ZERO));
    }

    #[test]
    fn refuses_what_go_refuses() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("10"), None);
        assert_eq!(parse("s"), None);
        assert_eq!(parse("-5s"), None);
        assert_eq!(parse("5 days"), None);
    }
}
