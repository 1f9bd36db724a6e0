//! `[auth]`: login rate limit and sessions (manager.md 15.2, amended by
//! sessions-and-runtime.md 12).

use serde::{Deserialize, Serialize};

use super::lenient_string;
use crate::ConfigError;

const DEFAULT_ACCESS_TTL_S: i64 = 900;
pub(crate) const TOKEN_TTL_DEPRECATED: &str = "auth.token_ttl_s is deprecated; use auth.access_ttl_s";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Access token lifetime, seconds (10-86400); unset = 900, or the
    /// deprecated `token_ttl_s` when only that is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_ttl_s: Option<i64>,
    /// Deprecated alias of `access_ttl_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_ttl_s: Option<i64>,
    /// Sliding refresh token lifetime, seconds (`access_ttl_s`..=31536000).
    pub refresh_ttl_s: i64,
    /// Absolute lifetime of a session family, seconds; 0 = no cap, else at
    /// least `refresh_ttl_s`.
    pub session_max_age_s: i64,
    /// Live session families per user (1-1000).
    pub max_sessions_per_user: u32,
    /// Seconds the auth middleware may serve a user from its cache; 0 disables it.
    pub user_cache_ttl_s: u64,
    /// `auto`, `true` or `false`: the refresh cookie's `Secure` attribute.
    #[serde(deserialize_with = "lenient_string")]
    pub cookie_secure: String,
    /// Comma-separated extra origins (`scheme://host[:port]`) of the
    /// cookie's Origin check.
    #[serde(deserialize_with = "lenient_string")]
    pub allowed_origins: String,
    /// Login attempts per minute, per client IP and per username.
    pub login_rate_per_min: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_ttl_s: None,
            token_ttl_s: None,
            refresh_ttl_s: 86_400,
            session_max_age_s: 604_800,
            max_sessions_per_user: 20,
            user_cache_ttl_s: 5,
            cookie_secure: "auto".into(),
            allowed_origins: String::new(),
            login_rate_per_min: 10,
        }
    }
}

/// `auth.cookie_secure`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieSecureSetting {
    Auto,
    Always,
    Never,
}

/// `[auth]` validated, with the deprecated alias resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    pub access_ttl_s: i64,
    pub refresh_ttl_s: i64,
    pub session_max_age_s: i64,
    pub max_sessions_per_user: u32,
    pub user_cache_ttl_s: u64,
    pub cookie_secure: CookieSecureSetting,
    pub allowed_origins: Vec<String>,
    pub login_rate_per_min: u32,
    /// Warnings to log at startup (the deprecated alias in use).
    pub warnings: Vec<&'static str>,
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(message.into())
}

/// `scheme://host[:port]`, nothing after it.
fn is_origin(text: &str) -> bool {
    let Some((scheme, host)) = text.split_once("://") else {
        return false;
    };
    ["http", "https"].iter().any(|s| s.eq_ignore_ascii_case(scheme))
        && !host.is_empty()
        && !host.contains(['/', '?', '#', '@', ' '])
}

impl AuthConfig {
    /// The validated settings (sessions-and-runtime.md 12); an invalid
    /// value stops startup with its message.
    pub fn settings(&self) -> Result<AuthSettings, ConfigError> {
        let mut warnings = Vec::new();
        let access = match (self.access_ttl_s, self.token_ttl_s) {
            (Some(access), _) => access,
            (None, Some(legacy)) => {
                warnings.push(TOKEN_TTL_DEPRECATED);
                legacy
            }
            (None, None) => DEFAULT_ACCESS_TTL_S,
        };
        if !(10..=86_400).contains(&access) {
            return Err(invalid("auth.access_ttl_s must be between 10 and 86400"));
        }
        if self.refresh_ttl_s < access || self.refresh_ttl_s > 31_536_000 {
            return Err(invalid(
                "auth.refresh_ttl_s must be at least auth.access_ttl_s and at most 31536000",
            ));
        }
        if self.session_max_age_s != 0 && self.session_max_age_s < self.refresh_ttl_s {
            return Err(invalid(
                "auth.session_max_age_s must be 0 (no cap) or at least auth.refresh_ttl_s",
            ));
        }
        if !(1..=1000).contains(&self.max_sessions_per_user) {
            return Err(invalid("auth.max_sessions_per_user must be between 1 and 1000"));
        }
        let cookie_secure = match self.cookie_secure.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => CookieSecureSetting::Auto,
            "true" => CookieSecureSetting::Always,
            "false" => CookieSecureSetting::Never,
            _ => return Err(invalid("auth.cookie_secure must be auto, true or false")),
        };
        let mut allowed_origins = Vec::new();
        for origin in self.allowed_origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let origin = origin.trim_end_matches('/');
            if !is_origin(origin) {
                return Err(invalid(format!(
                    "auth.allowed_origins: {origin:?} is not an origin (scheme://host[:port])"
                )));
            }
            allowed_origins.push(origin.to_string());
        }
        Ok(AuthSettings {
            access_ttl_s: access,
            refresh_ttl_s: self.refresh_ttl_s,
            session_max_age_s: self.session_max_age_s,
            max_sessions_per_user: self.max_sessions_per_user,
            user_cache_ttl_s: self.user_cache_ttl_s,
            cookie_secure,
            allowed_origins,
            login_rate_per_min: self.login_rate_per_min,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(config: &AuthConfig) -> String {
        config.settings().unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_the_deprecated_alias() {
        let s = AuthConfig::default().settings().unwrap();
        assert_eq!(
            (s.access_ttl_s, s.refresh_ttl_s, s.session_max_age_s),
            (900, 86_400, 604_800)
        );
        assert_eq!((s.max_sessions_per_user, s.user_cache_ttl_s), (20, 5));
        assert_eq!(s.cookie_secure, CookieSecureSetting::Auto);
        assert!(s.allowed_origins.is_empty() && s.warnings.is_empty());

        let legacy = AuthConfig {
            token_ttl_s: Some(10_800),
            ..AuthConfig::default()
        };
        let s = legacy.settings().unwrap();
        assert_eq!((s.access_ttl_s, s.warnings), (10_800, vec![TOKEN_TTL_DEPRECATED]));
        let both = AuthConfig {
            access_ttl_s: Some(60),
            ..legacy
        };
        let s = both.settings().unwrap();
        assert_eq!(
            (s.access_ttl_s, s.warnings.len()),
            (60, 0),
            "access_ttl_s wins, silently"
        );
    }

    #[test]
    fn invalid_values_are_named() {
        let with = |f: fn(&mut AuthConfig)| {
            let mut c = AuthConfig::default();
            f(&mut c);
            message(&c)
        };
        for (got, want) in [
            (
                with(|c| c.access_ttl_s = Some(9)),
                "auth.access_ttl_s must be between 10 and 86400",
            ),
            (
                with(|c| c.token_ttl_s = Some(86_401)),
                "auth.access_ttl_s must be between 10 and 86400",
            ),
            (
                with(|c| c.refresh_ttl_s = 100),
                "auth.refresh_ttl_s must be at least auth.access_ttl_s and at most 31536000",
            ),
            (
                with(|c| c.session_max_age_s = 3600),
                "auth.session_max_age_s must be 0 (no cap) or at least auth.refresh_ttl_s",
            ),
            (
                with(|c| c.max_sessions_per_user = 0),
                "auth.max_sessions_per_user must be between 1 and 1000",
            ),
            (
                with(|c| c.cookie_secure = "yes".into()),
                "auth.cookie_secure must be auto, true or false",
            ),
            (
                with(|c| c.allowed_origins = "https://a.example, evil".into()),
                "auth.allowed_origins: \"evil\" is not an origin (scheme://host[:port])",
            ),
        ] {
            assert_eq!(got, format!("invalid configuration: {want}"));
        }
        let mut c = AuthConfig {
            session_max_age_s: 0,
            cookie_secure: "TRUE".into(),
            allowed_origins: " https://ui.example.com/ ,http://10.0.0.1:8080,".into(),
            ..AuthConfig::default()
        };
        let s = c.settings().unwrap();
        assert_eq!(s.cookie_secure, CookieSecureSetting::Always);
        assert_eq!(s.allowed_origins, ["https://ui.example.com", "http://10.0.0.1:8080"]);
        c.cookie_secure = "false".into();
        assert_eq!(c.settings().unwrap().cookie_secure, CookieSecureSetting::Never);
    }
}
