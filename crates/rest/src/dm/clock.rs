//! The DM's clock against the Manager's (targeting.md 13.4): boosts end on
//! the DM's own clock, so a skewed node ends them early or late. The skew
//! is estimated from the `Date` header of the Manager's requests (1 s
//! resolution) and reported, never corrected.

use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

#[derive(Debug)]
pub struct ClockSkew {
    /// DM clock − Manager `Date`, whole seconds; `None` until a dated request.
    seconds: Mutex<Option<i64>>,
    max_skew_s: i64,
}

fn unix_seconds(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

impl ClockSkew {
    /// `max_skew_s` ≤ 0 falls back to the default of 5.
    pub fn new(max_skew_s: i64) -> Self {
        Self {
            seconds: Mutex::new(None),
            max_skew_s: if max_skew_s > 0 { max_skew_s } else { 5 },
        }
    }

    pub fn observe(&self, manager_date: SystemTime, now: SystemTime) {
        *self.seconds.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(unix_seconds(now) - unix_seconds(manager_date));
    }

    pub fn seconds(&self) -> Option<i64> {
        *self.seconds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The exact `checks.clock` text.
    pub fn describe(&self) -> String {
        match self.seconds() {
            None => "unknown: no dated request from the manager yet".into(),
            Some(s) if s > self.max_skew_s => {
                format!("skewed: {s:+}s against the manager (boosts end early on this node)")
            }
            Some(s) if s < -self.max_skew_s => {
                format!("skewed: {s:+}s against the manager (boosts may end late on this node)")
            }
            Some(s) => format!("ok: skew {s:+}s against the manager"),
        }
    }
}

/// `gthulhu_dm_clock_skew_seconds`, absent until a dated request.
#[derive(Debug)]
pub struct ClockSkewGauge(pub std::sync::Arc<ClockSkew>);

impl Collector for ClockSkewGauge {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(seconds) = self.0.seconds() else {
            return Ok(());
        };
        let gauge = ConstGauge::new(seconds);
        let metric = encoder.encode_descriptor(
            "gthulhu_dm_clock_skew_seconds",
            "DM clock minus the Date of the Manager's last request",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn texts_follow_the_sign_and_the_bound() {
        let clock = ClockSkew::new(5);
        assert_eq!(clock.describe(), "unknown: no dated request from the manager yet");
        let manager = UNIX_EPOCH + Duration::from_secs(1_773_129_600);
        clock.observe(manager, manager + Duration::from_millis(900));
        assert_eq!(clock.describe(), "ok: skew +0s against the manager");
        clock.observe(manager, manager + Duration::from_secs(7));
        assert_eq!(
            clock.describe(),
            "skewed: +7s against the manager (boosts end early on this node)"
        );
        clock.observe(manager, manager - Duration::from_secs(6));
        assert_eq!(
            clock.describe(),
            "skewed: -6s against the manager (boosts may end late on this node)"
        );
        clock.observe(manager, manager - Duration::from_secs(5));
        assert_eq!(clock.describe(), "ok: skew -5s against the manager");
        assert_eq!(ClockSkew::new(0).max_skew_s, 5);
    }
}
