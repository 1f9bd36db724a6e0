//! The web UI's refresh cookie and the Origin check of cookie-carrying
//! auth requests (sessions-and-runtime.md 8).

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};

/// The cookie's name.
pub(crate) const REFRESH_COOKIE: &str = "gthulhu_refresh";
/// The cookie never leaves the auth routes.
const COOKIE_PATH: &str = "/api/v1/auth";

/// When the cookie carries `Secure` (`auth.cookie_secure`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CookieSecure {
    /// When the connection is TLS or the first `X-Forwarded-Proto` is `https`.
    #[default]
    Auto,
    Always,
    Never,
}

/// `auth.cookie_secure` and `auth.allowed_origins`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionCookieSettings {
    pub secure: CookieSecure,
    /// Full origins (`scheme://host[:port]`) accepted besides the request's own.
    pub allowed_origins: Vec<String>,
}

/// The first value of a comma-separated header, trimmed.
fn first_value<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    let value = req.headers().get(name)?.to_str().ok()?;
    Some(value.split(',').next().unwrap_or("").trim()).filter(|v| !v.is_empty())
}

fn secure(req: &HttpRequest, settings: &SessionCookieSettings) -> bool {
    match settings.secure {
        CookieSecure::Always => true,
        CookieSecure::Never => false,
        CookieSecure::Auto => {
            req.app_config().secure()
                || first_value(req, "x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"))
        }
    }
}

fn cookie(req: &HttpRequest, settings: &SessionCookieSettings, value: &str, max_age: i64) -> Option<HeaderValue> {
    let secure = if secure(req, settings) { "; Secure" } else { "" };
    let text =
        format!("{REFRESH_COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}");
    // A JWT is base64url and dots: always valid header text.
    HeaderValue::from_str(&text).ok()
}

/// `Set-Cookie` carrying `token`, living until `expires_at` (Unix seconds).
pub(crate) fn set_refresh(
    req: &HttpRequest,
    settings: &SessionCookieSettings,
    token: &str,
    expires_at: i64,
    now: i64,
) -> Option<HeaderValue> {
    cookie(req, settings, token, expires_at.saturating_sub(now).max(0))
}

/// `Set-Cookie` deleting the cookie.
pub(crate) fn clear_refresh(req: &HttpRequest, settings: &SessionCookieSettings) -> Option<HeaderValue> {
    cookie(req, settings, "", 0)
}

/// The cookie's value when the request carries it (possibly empty).
pub(crate) fn refresh_cookie(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name.trim() == REFRESH_COOKIE).then(|| value.trim().trim_matches('"').to_string())
        })
}

/// `host[:port]` lowercased, without a default port (80, 443).
fn normalised(authority: &str) -> String {
    let lower = authority.trim().to_ascii_lowercase();
    for default in [":80", ":443"] {
        if let Some(stripped) = lower.strip_suffix(default) {
            return stripped.to_string();
        }
    }
    lower
}

/// 8.2: an `Origin` that is not `null`, whose `host[:port]` is the request's
/// authority (the first `X-Forwarded-Host`, else `Host`), or which is
/// listed in `auth.allowed_origins`.
pub(crate) fn origin_allowed(req: &HttpRequest, settings: &SessionCookieSettings) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/');
    if origin.is_empty() || origin.eq_ignore_ascii_case("null") {
        return false;
    }
    if settings
        .allowed_origins
        .iter()
        .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some((_, host)) = origin.split_once("://") else {
        return false;
    };
    let authority = first_value(req, "x-forwarded-host")
        .or_else(|| req.headers().get(header::HOST).and_then(|v| v.to_str().ok()))
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    authority.is_some_and(|authority| !host.contains('/') && normalised(host) == normalised(&authority))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn text(value: Option<HeaderValue>) -> String {
        value.unwrap().to_str().unwrap().to_string()
    }

    #[test]
    fn attributes_and_secure_rules() {
        let plain = TestRequest::post().to_http_request();
        let auto = SessionCookieSettings::default();
        assert_eq!(
            text(set_refresh(&plain, &auto, "a.b.c", 1_000_900, 1_000_000)),
            "gthulhu_refresh=a.b.c; Path=/api/v1/auth; Max-Age=900; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            text(clear_refresh(&plain, &auto)),
            "gthulhu_refresh=; Path=/api/v1/auth; Max-Age=0; HttpOnly; SameSite=Strict"
        );
        let proxied = TestRequest::post()
            .insert_header(("X-Forwarded-Proto", "HTTPS, http"))
            .to_http_request();
        assert!(text(clear_refresh(&proxied, &auto)).ends_with("; SameSite=Strict; Secure"));
        let never = SessionCookieSettings {
            secure: CookieSecure::Never,
            ..Default::default()
        };
        assert!(!text(clear_refresh(&proxied, &never)).contains("Secure"));
        let always = SessionCookieSettings {
            secure: CookieSecure::Always,
            ..Default::default()
        };
        assert!(text(clear_refresh(&plain, &always)).ends_with("; Secure"));
        assert!(text(set_refresh(&plain, &auto, "t", 5, 10)).contains("Max-Age=0;"));
    }

    #[test]
    fn reads_the_cookie_among_others() {
        let req = TestRequest::post()
            .insert_header(("Cookie", "a=1; gthulhu_refresh=x.y.z; b=2"))
            .to_http_request();
        assert_eq!(refresh_cookie(&req).as_deref(), Some("x.y.z"));
        let empty = TestRequest::post()
            .insert_header(("Cookie", "gthulhu_refresh="))
            .to_http_request();
        assert_eq!(refresh_cookie(&empty).as_deref(), Some(""));
        let other = TestRequest::post()
            .insert_header(("Cookie", "gthulhu_refresh_x=1"))
            .to_http_request();
        assert_eq!(refresh_cookie(&other), None);
        assert_eq!(refresh_cookie(&TestRequest::post().to_http_request()), None);
    }

    #[test]
    fn origin_check() {
        let settings = SessionCookieSettings {
            allowed_origins: vec!["https://ui.example.com".into()],
            ..Default::default()
        };
        let check = |origin: Option<&str>, host: &str, forwarded: Option<&str>| {
            let mut req = TestRequest::post().insert_header(("Host", host));
            if let Some(origin) = origin {
                req = req.insert_header(("Origin", origin));
            }
            if let Some(forwarded) = forwarded {
                req = req.insert_header(("X-Forwarded-Host", forwarded));
            }
            origin_allowed(&req.to_http_request(), &settings)
        };
        assert!(check(Some("http://127.0.0.1:8080"), "127.0.0.1:8080", None));
        assert!(check(
            Some("https://Gthulhu.Example.com"),
            "gthulhu.example.com:443",
            None
        ));
        assert!(check(
            Some("http://gthulhu.example.com:80"),
            "gthulhu.example.com",
            None
        ));
        assert!(check(
            Some("https://public.example.com"),
            "10.0.0.5:8080",
            Some("public.example.com, internal")
        ));
        assert!(check(Some("https://ui.example.com"), "10.0.0.5:8080", None), "listed");
        assert!(!check(None, "127.0.0.1:8080", None));
        assert!(!check(Some("null"), "127.0.0.1:8080", None));
        assert!(!check(Some("http://evil.example"), "127.0.0.1:8080", None));
        assert!(!check(Some("http://127.0.0.1:8081"), "127.0.0.1:8080", None));
        assert!(!check(Some("127.0.0.1:8080"), "127.0.0.1:8080", None), "no scheme");
    }
}
