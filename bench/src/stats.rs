//! Medians, percentiles and the way figures are written.

use std::time::Duration;

/// The `p`-th percentile (0–100) of `samples` by the nearest-rank method; zero when empty.
pub fn percentile(samples: &[Duration], p: u32) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank: ceil(p/100 × n), 1-based.
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1);
    let index = usize::try_from(rank - 1).unwrap_or(usize::MAX);
    sorted
        .get(index.min(sorted.len() - 1))
        .copied()
        .unwrap_or_default()
}

/// The median of `samples`.
pub fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50)
}

/// The median of plain numbers; zero when empty.
pub fn median_f64(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// A duration in milliseconds with a precision that suits its size.
pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// `measured / target`, written as a ratio (below 1 is within the target).
pub fn ratio(measured: f64, target: f64) -> String {
    if target <= 0.0 {
        return "–".to_owned();
    }
    format!("{:.2}×", measured / target)
}

/// A byte count in KiB or MiB.
pub fn bytes(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // Byte counts here are far below 2^52.
    let n = n as f64;
    if n >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", n / 1024.0 / 1024.0)
    } else if n >= 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else {
        format!("{n:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_list(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples = ms_list(&[5, 1, 4, 2, 3, 10, 9, 8, 7, 6]);
        assert_eq!(median(&samples), Duration::from_millis(5));
        assert_eq!(percentile(&samples, 95), Duration::from_millis(10));
        assert_eq!(percentile(&samples, 0), Duration::from_millis(1));
    }

    #[test]
    fn percentile_of_nothing_is_zero() {
        assert_eq!(percentile(&[], 95), Duration::ZERO);
    }

    #[test]
    fn ratio_below_one_means_within_target() {
        assert_eq!(ratio(5.0, 10.0), "0.50×");
        assert_eq!(ratio(1.0, 0.0), "–");
    }
}
