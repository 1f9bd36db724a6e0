use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
pub use figment::value::Value;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    /// Figment's message names the key and the source (file or env var),
    /// never the value.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The first `<name>.toml` found in `dir` (when given), `/app/config`,
/// then `./config`.
pub fn find_config_file(name: &str, dir: Option<&Path>) -> Option<PathBuf> {
    let file = format!("{name}.toml");
    dir.into_iter()
        .map(Path::to_path_buf)
        .chain([PathBuf::from("/app/config"), PathBuf::from("config")])
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
}

/// Defaults < `file` < `<env_prefix>SECTION_KEY` < `overrides`
/// (dotted keys such as `server.host`, from command-line flags).
///
/// The environment maps `DM_TOKEN_RSA_PRIVATE_KEY_PEM` to
/// `token.rsa_private_key_pem`: only the first `_` after the prefix
/// separates section from key, because keys contain underscores.
pub fn load<T>(env_prefix: &str, file: Option<&Path>, overrides: &[(&str, Value)]) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Serialize + Default,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.is_file() {
            return Err(ConfigError::MissingFile(path.to_path_buf()));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(
        Env::prefixed(env_prefix)
            .map(|key| key.as_str().replacen('_', ".", 1).into())
            .lowercase(true),
    );
    for (key, value) in overrides {
        figment = figment.merge((*key, value.clone()));
    }
    figment.extract().map_err(|e| ConfigError::Invalid(describe(&e)))
}

/// Figment errors can quote the offending value; PEMs and passwords must
/// never reach logs, so only the kind, key and source are kept.
fn describe(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e.metadata.as_ref().map(|m| m.name.to_string()).unwrap_or_default();
            let kind = match &e.kind {
                figment::error::Kind::InvalidType(actual, expected) => {
                    format!("expected {expected}, found {}", kind_name(actual))
                }
                figment::error::Kind::InvalidValue(_, expected) => format!("expected {expected}"),
                figment::error::Kind::Message(m) if !m.contains('\n') && m.len() < 200 => m.clone(),
                other => short_kind(other).to_string(),
            };
            if key.is_empty() {
                format!("{kind} ({source})")
            } else {
                format!("{key}: {kind} ({source})")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn kind_name(actual: &figment::error::Actual) -> String {
    use figment::error::Actual;
    match actual {
        Actual::Str(_) | Actual::Char(_) => "a string".into(),
        Actual::Signed(_) | Actual::Unsigned(_) => "an integer".into(),
        Actual::Float(_) => "a float".into(),
        Actual::Bool(_) => "a boolean".into(),
        other => other.to_string(),
    }
}

fn short_kind(kind: &figment::error::Kind) -> &'static str {
    use figment::error::Kind;
    match kind {
        Kind::MissingField(_) => "missing field",
        Kind::UnknownField(..) => "unknown field",
        Kind::DuplicateField(_) => "duplicate field",
        Kind::InvalidLength(..) => "invalid length",
        Kind::UnknownVariant(..) => "unknown variant",
        Kind::UnsupportedKey(..) => "unsupported key",
        Kind::Unsupported(_) => "unsupported value",
        _ => "invalid value",
    }
}
