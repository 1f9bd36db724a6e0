//! Login throttling: at most N attempts per sliding minute per client IP
//! (refused beyond that), and per username a slow-down instead of a
//! refusal, so many addresses guessing one name get slow while its owner,
//! from any address, still gets in (issue 9: a refusal was a lockout
//! anyone could keep up).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many tracked keys, idle ones are swept on the next attempt,
/// so a flood of distinct names cannot grow the map without bound.
const SWEEP_ABOVE: usize = 10_000;
/// The first slowed-down attempt waits this long; each further one in the
/// window doubles it, up to `MAX_DELAY`.
const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(4);

/// What an attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Go on, after waiting this long (zero below the username's limit).
    Proceed(Duration),
    /// The client address is over its limit.
    Refused,
}

pub(crate) struct LoginLimiter {
    per_minute: usize,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// `per_minute == 0` disables the limit.
    pub(crate) fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute as usize,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt and tells whether and when it may proceed. Refused
    /// attempts are not counted, so a blocked address is let in again one
    /// minute after its last admitted attempt.
    pub(crate) fn admit(&self, client_ip: &str, username: &str) -> Admission {
        self.admit_at(client_ip, username, Instant::now())
    }

    fn admit_at(&self, client_ip: &str, username: &str, now: Instant) -> Admission {
        if self.per_minute == 0 {
            return Admission::Proceed(Duration::ZERO);
        }
        let mut attempts = self.attempts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if attempts.len() > SWEEP_ABOVE {
            attempts.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let ip_key = format!("ip:{client_ip}");
        let user_key = format!("user:{username}");
        let mut recent = |key: &str| {
            attempts.get_mut(key).map_or(0, |times| {
                while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                    times.pop_front();
                }
                times.len()
            })
        };
        if recent(&ip_key) >= self.per_minute {
            return Admission::Refused;
        }
        let delay = match recent(&user_key).checked_sub(self.per_minute) {
            None => Duration::ZERO,
            Some(over) => FIRST_DELAY.saturating_mul(1u32 << over.min(16)).min(MAX_DELAY),
        };
        for key in [ip_key, user_key] {
            attempts.entry(key).or_default().push_back(now);
        }
        Admission::Proceed(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO: Admission = Admission::Proceed(Duration::ZERO);

    #[test]
    fn refuses_per_ip_and_slows_per_username_in_a_sliding_minute() {
        let limiter = LoginLimiter::new(3);
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(limiter.admit_at("1.1.1.1", &format!("u{i}"), t0), GO);
        }
        // The IP is exhausted, whatever the username.
        assert_eq!(limiter.admit_at("1.1.1.1", "fresh", t0), Admission::Refused);
        // Other addresses guessing one name are slowed down, increasingly,
        // never refused: its owner still gets in from a new address.
        for _ in 0..3 {
            assert_eq!(limiter.admit_at("2.2.2.2", "victim", t0), GO);
        }
        assert_eq!(
            limiter.admit_at("3.3.3.3", "victim", t0),
            Admission::Proceed(FIRST_DELAY)
        );
        assert_eq!(
            limiter.admit_at("4.4.4.4", "victim", t0),
            Admission::Proceed(FIRST_DELAY * 2)
        );
        for i in 0..20 {
            limiter.admit_at(&format!("10.0.0.{i}"), "victim", t0);
        }
        assert_eq!(limiter.admit_at("5.5.5.5", "victim", t0), Admission::Proceed(MAX_DELAY));
        // A minute after the first attempts, they have left the window.
        let later = t0 + WINDOW;
        assert_eq!(limiter.admit_at("1.1.1.1", "fresh", later), GO);
        assert_eq!(limiter.admit_at("3.3.3.3", "victim", later), GO);
    }

    #[test]
    fn refused_attempts_are_not_counted() {
        let limiter = LoginLimiter::new(1);
        let t0 = Instant::now();
        assert_eq!(limiter.admit_at("ip", "u", t0), GO);
        assert_eq!(
            limiter.admit_at("ip", "u", t0 + Duration::from_secs(30)),
            Admission::Refused
        );
        assert_eq!(limiter.admit_at("ip", "u", t0 + WINDOW), GO);
    }

    #[test]
    fn zero_disables_the_limit() {
        let limiter = LoginLimiter::new(0);
        assert!((0..100).all(|_| limiter.admit("ip", "u") == GO));
    }

    #[test]
    fn idle_keys_are_swept() {
        let limiter = LoginLimiter::new(5);
        let t0 = Instant::now();
        for i in 0..=SWEEP_ABOVE {
            limiter.admit_at(&format!("ip{i}"), &format!("u{i}"), t0);
        }
        limiter.admit_at("new", "v", t0 + WINDOW);
        assert_eq!(limiter.attempts.lock().unwrap().len(), 2);
    }
}
