//! Login throttling: at most N attempts per sliding minute per client IP
//! and, separately, per username, so neither one address guessing many
//! names nor many addresses guessing one name get far.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many tracked keys, idle ones are swept on the next attempt,
/// so a flood of distinct names cannot grow the map without bound.
const SWEEP_ABOVE: usize = 10_000;

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

    /// Counts an attempt and tells whether it may proceed. Refused attempts
    /// are not counted, so a blocked client is let in again one minute
    /// after its last admitted attempt.
    pub(crate) fn admit(&self, client_ip: &str, username: &str) -> bool {
        self.admit_at(client_ip, username, Instant::now())
    }

    fn admit_at(&self, client_ip: &str, username: &str, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let mut attempts = self.attempts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if attempts.len() > SWEEP_ABOVE {
            attempts.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let keys = [format!("ip:{client_ip}"), format!("user:{username}")];
        let full = keys.iter().any(|key| {
            attempts.get_mut(key).is_some_and(|times| {
                while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                    times.pop_front();
                }
                times.len() >= self.per_minute
            })
        });
        if full {
            return false;
        }
        for key in keys {
            attempts.entry(key).or_default().push_back(now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_ip_and_per_username_in_a_sliding_minute() {
        let limiter = LoginLimiter::new(3);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(limiter.admit_at("1.1.1.1", &format!("u{i}"), t0));
        }
        // The IP is exhausted, whatever the username.
        assert!(!limiter.admit_at("1.1.1.1", "fresh", t0));
        // Another IP may still try, but not beyond the username's own limit.
        for _ in 0..3 {
            assert!(limiter.admit_at("2.2.2.2", "victim", t0));
        }
        assert!(!limiter.admit_at("3.3.3.3", "victim", t0));
        // A minute after the first attempts, they have left the window.
        let later = t0 + WINDOW;
        assert!(limiter.admit_at("1.1.1.1", "fresh", later));
        assert!(limiter.admit_at("3.3.3.3", "victim", later));
    }

    #[test]
    fn refused_attempts_are_not_counted() {
        let limiter = LoginLimiter::new(1);
        let t0 = Instant::now();
        assert!(limiter.admit_at("ip", "u", t0));
        assert!(!limiter.admit_at("ip", "u", t0 + Duration::from_secs(30)));
        assert!(limiter.admit_at("ip", "u", t0 + WINDOW));
    }

    #[test]
    fn zero_disables_the_limit() {
        let limiter = LoginLimiter::new(0);
        assert!((0..100).all(|_| limiter.admit("ip", "u")));
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
