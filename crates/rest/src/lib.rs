//! The actix-web REST layer of the Gthulhu services. Handlers translate
//! HTTP to calls on the domain's service traits; every error is mapped to
//! a JSON body and a status code here, once.

mod body;
pub mod dm;
mod envelope;
mod error;
mod http_metrics;
mod listener;
pub mod manager;
mod routing;
mod timeouts;
mod tls;

pub use error::ApiError;
pub use http_metrics::HttpMetrics;
pub use listener::bind_listener;
pub use timeouts::Timeouts;
pub use tls::{TlsError, server_tls_config};
