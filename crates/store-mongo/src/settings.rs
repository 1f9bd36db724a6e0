//! The `mongodb.*` configuration keys (manager.md 15.2) and the connection
//! URI built from them (14.2).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What a userinfo part may keep unescaped: RFC 3986 unreserved characters.
/// Everything else (`@`, `:`, `/`, `%`, …) is percent-encoded, which upstream
/// did not do.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

const DEFAULT_HOST: &str = "localhost";
const DEFAULT_PORT: &str = "27017";

/// The Manager's MongoDB settings, as loaded from `[mongodb]`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MongoSettings {
    /// A full connection string; wins over the fields below when non-empty.
    pub uri: String,
    pub host: String,
    pub port: String,
    pub user: String,
    pub password: String,
    pub database: String,
    /// Appended verbatim after `/?`.
    pub options: String,
    pub ca_pem_enable: bool,
    /// PEM of the only CA trusted for TLS (when `ca_pem_enable`).
    pub ca_pem: String,
}

impl MongoSettings {
    /// `database`, or `manager` when empty.
    pub fn database_name(&self) -> &str {
        if self.database.is_empty() {
            "manager"
        } else {
            &self.database
        }
    }

    /// Whether TLS uses `ca_pem` as its only root.
    pub fn custom_ca(&self) -> Option<&str> {
        (self.ca_pem_enable && !self.ca_pem.is_empty()).then_some(self.ca_pem.as_str())
    }
}

// Hand-written so that the password can never reach a log through `{:?}`.
impl std::fmt::Debug for MongoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoSettings")
            .field("uri", &redacted(&self.uri))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"***")
            .field("database", &self.database)
            .field("options", &self.options)
            .field("ca_pem_enable", &self.ca_pem_enable)
            .field("ca_pem_len", &self.ca_pem.len())
            .finish()
    }
}

/// `uri` when set, else `mongodb://<user>:<password>@<host>:<port>/?<options>`
/// with user and password percent-encoded and no credentials part without
/// a user.
pub fn connection_uri(settings: &MongoSettings) -> String {
    if !settings.uri.is_empty() {
        return settings.uri.clone();
    }
    let host = if settings.host.is_empty() {
        DEFAULT_HOST
    } else {
        &settings.host
    };
    let port = if settings.port.is_empty() {
        DEFAULT_PORT
    } else {
        &settings.port
    };
    let credentials = if settings.user.is_empty() {
        String::new()
    } else {
        format!(
            "{}:{}@",
            utf8_percent_encode(&settings.user, USERINFO),
            utf8_percent_encode(&settings.password, USERINFO)
        )
    };
    format!("mongodb://{credentials}{host}:{port}/?{}", settings.options)
}

/// The URI with its password (if any) replaced by `***`, for logs.
pub fn redacted(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://").map(|i| i + 3) else {
        return uri.to_owned();
    };
    let rest = &uri[scheme_end..];
    // The userinfo ends at the last `@` before the options: an unescaped
    // `@` or `/` in a password must not leak its tail.
    let authority_end = rest.find('?').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return uri.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &uri[..scheme_end], &rest[..colon], &rest[at..]),
        None => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(user: &str, password: &str) -> MongoSettings {
        MongoSettings {
            host: "db.example".into(),
            port: "27018".into(),
            user: user.into(),
            password: password.into(),
            options: "authSource=admin&directConnection=true&ssl=false".into(),
            ..MongoSettings::default()
        }
    }

    #[test]
    fn user_and_password_are_percent_encoded() {
        assert_eq!(
            connection_uri(&fields("ad min@x", "p@ss:w/rd")),
            "mongodb://ad%20min%40x:p%40ss%3Aw%2Frd@db.example:27018/?authSource=admin&directConnection=true&ssl=false"
        );
        assert_eq!(
            connection_uri(&fields("a-b.c_d~e", "100%")),
            "mongodb://a-b.c_d~e:100%25@db.example:27018/?authSource=admin&directConnection=true&ssl=false"
        );
    }

    #[test]
    fn no_user_means_no_credentials_and_defaults_apply() {
        assert_eq!(
            connection_uri(&fields("", "ignored")),
            "mongodb://db.example:27018/?authSource=admin&directConnection=true&ssl=false"
        );
        assert_eq!(connection_uri(&MongoSettings::default()), "mongodb://localhost:27017/?");
    }

    #[test]
    fn uri_wins() {
        let settings = MongoSettings {
            uri: "mongodb://other:1/?replicaSet=rs0".into(),
            ..fields("u", "p")
        };
        assert_eq!(connection_uri(&settings), "mongodb://other:1/?replicaSet=rs0");
    }

    #[test]
    fn redacted_hides_only_the_password() {
        assert_eq!(
            redacted(&connection_uri(&fields("admin", "p@ss:w/rd"))),
            "mongodb://admin:***@db.example:27018/?authSource=admin&directConnection=true&ssl=false"
        );
        assert_eq!(
            redacted("mongodb://admin:s3cr@t@h1,h2/db?x=1"),
            "mongodb://admin:***@h1,h2/db?x=1"
        );
        assert_eq!(redacted("mongodb://u:pa/ss@h/"), "mongodb://u:***@h/");
        assert_eq!(
            redacted("mongodb+srv://u:pw@cluster.example"),
            "mongodb+srv://u:***@cluster.example"
        );
        assert_eq!(redacted("mongodb://admin@h:1/"), "mongodb://admin@h:1/");
        assert_eq!(redacted("mongodb://h:1/?a=b@c"), "mongodb://h:1/?a=b@c");
        assert_eq!(redacted("not a uri"), "not a uri");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let settings = MongoSettings {
            uri: "mongodb://u:topsecret@h/".into(),
            ..fields("u", "topsecret")
        };
        assert!(!format!("{settings:?}").contains("topsecret"));
    }

    #[test]
    fn database_and_ca_defaults() {
        let mut settings = MongoSettings::default();
        assert_eq!(settings.database_name(), "manager");
        assert_eq!(settings.custom_ca(), None);
        settings.ca_pem = "PEM".into();
        assert_eq!(settings.custom_ca(), None);
        settings.ca_pem_enable = true;
        assert_eq!(settings.custom_ca(), Some("PEM"));
    }
}
