//! The simulated clock: real monotonic time scaled by a speed factor, plus jumps.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// A point in simulated time, measured from the moment the simulator started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct SimTime(pub(crate) Duration);

impl SimTime {
    /// The time `d` after this one.
    pub(crate) fn after(self, d: Duration) -> SimTime {
        SimTime(self.0.saturating_add(d))
    }
}

#[derive(Debug)]
struct Anchor {
    real: Instant,
    sim: Duration,
    speed: f64,
}

/// Simulated time runs `speed`× real time from the last anchor; `advance` moves it forward at once.
#[derive(Debug)]
pub(crate) struct SimClock {
    anchor: Mutex<Anchor>,
    epoch: OffsetDateTime,
}

impl SimClock {
    pub(crate) fn new(speed: f64) -> SimClock {
        SimClock {
            anchor: Mutex::new(Anchor {
                real: Instant::now(),
                sim: Duration::ZERO,
                speed: sane(speed),
            }),
            epoch: OffsetDateTime::now_utc(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Anchor> {
        self.anchor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> SimTime {
        let a = self.lock();
        SimTime(a.sim.saturating_add(a.real.elapsed().mul_f64(a.speed)))
    }

    pub(crate) fn speed(&self) -> f64 {
        self.lock().speed
    }

    pub(crate) fn set_speed(&self, speed: f64) {
        let mut a = self.lock();
        let now = a.sim.saturating_add(a.real.elapsed().mul_f64(a.speed));
        *a = Anchor {
            real: Instant::now(),
            sim: now,
            speed: sane(speed),
        };
    }

    pub(crate) fn advance(&self, d: Duration) {
        let mut a = self.lock();
        a.sim = a.sim.saturating_add(d);
    }

    /// Real time until simulated time reaches `at`, if the clock moves at all.
    pub(crate) fn real_until(&self, at: SimTime) -> Option<Duration> {
        let now = self.now();
        let speed = self.speed();
        if speed <= 0.0 {
            return None;
        }
        Some(at.0.saturating_sub(now.0).div_f64(speed))
    }

    /// Marathon's timestamp format, e.g. `2015-09-30T12:44:30.061Z`.
    pub(crate) fn format(&self, t: SimTime) -> String {
        format_timestamp(self.epoch + t.0)
    }
}

fn sane(speed: f64) -> f64 {
    if speed.is_finite() && speed >= 0.0 {
        speed
    } else {
        1.0
    }
}

pub(crate) fn format_timestamp(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_time_forward_without_waiting() {
        let clock = SimClock::new(0.0);
        let before = clock.now();
        clock.advance(Duration::from_secs(400));
        assert_eq!(clock.now().0 - before.0, Duration::from_secs(400));
    }

    #[test]
    fn timestamps_use_marathons_millisecond_format() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_443_617_070_061_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(format_timestamp(t), "2015-09-30T12:44:30.061Z");
    }
}
