//! Wall-clock samples and their median and p95 (nearest rank).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::interrupt;

/// Summary of one measured operation.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Summary {
    #[serde(serialize_with = "as_micros")]
    pub median: Duration,
    #[serde(serialize_with = "as_micros")]
    pub p95: Duration,
    #[serde(serialize_with = "as_micros")]
    pub p99: Duration,
    pub samples: usize,
}

fn as_micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e6)
}

/// Sorts the samples and picks the median and the 95th percentile.
pub fn summarize(mut samples: Vec<Duration>) -> Summary {
    assert!(!samples.is_empty(), "no samples to summarize");
    samples.sort_unstable();
    Summary {
        median: percentile(&samples, 0.5),
        p95: percentile(&samples, 0.95),
        p99: percentile(&samples, 0.99),
        samples: samples.len(),
    }
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let index = (q * sorted.len() as f64).ceil() as usize;
    sorted[index.clamp(1, sorted.len()) - 1]
}

/// A duration in the unit that reads best (µs, ms or s).
pub fn human(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.1} µs")
    } else if micros < 1_000_000.0 {
        format!("{:.2} ms", micros / 1e3)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

/// Runs `op` `iterations` times and summarizes the durations; stops early
/// (with an error) on Ctrl-C.
pub fn time<T>(iterations: usize, mut op: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<Summary> {
    time_with_setup(iterations, || Ok(()), |()| op())
}

/// As [`time`], but `setup` runs untimed before each timed `op`.
pub fn time_with_setup<S, T>(
    iterations: usize,
    mut setup: impl FnMut() -> anyhow::Result<S>,
    mut op: impl FnMut(S) -> anyhow::Result<T>,
) -> anyhow::Result<Summary> {
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        interrupt::check()?;
        let input = setup()?;
        let started = Instant::now();
        // Kept (and dropped) past the measurement so the work cannot be optimised away.
        let _output = std::hint::black_box(op(input)?);
        samples.push(started.elapsed());
    }
    Ok(summarize(samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p95_by_nearest_rank() {
        let samples = (1..=20).map(Duration::from_millis).collect();
        let s = summarize(samples);
        assert_eq!(
            (s.median, s.p95, s.samples),
            (Duration::from_millis(10), Duration::from_millis(19), 20)
        );
        let one = summarize(vec![Duration::from_millis(3)]);
        assert_eq!(
            (one.median, one.p95),
            (Duration::from_millis(3), Duration::from_millis(3))
        );
    }
}
