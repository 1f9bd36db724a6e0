//! One module per resource; `routes` wires them to paths.

mod intents;
mod pods;
mod scheduler_metrics;
mod scheduling;
mod system;
mod token;

use actix_web::web;

use crate::ApiError;

async fn method_not_allowed() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// A resource whose other methods get a JSON 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

pub fn routes(cfg: &mut web::ServiceConfig, standalone: bool) {
    cfg.service(resource("/health").route(web::get().to(system::health)))
        .service(resource("/version").route(web::get().to(system::version)))
        .service(resource("/metrics").route(web::get().to(system::prometheus)))
        .service(resource("/api/v1/auth/token").route(web::post().to(token::issue)))
        .service(
            resource("/api/v1/intents")
                .route(web::post().to(intents::replace))
                .route(web::delete().to(intents::delete)),
        )
        .service(resource("/api/v1/intents/merkle").route(web::get().to(intents::merkle)))
        .service(resource("/api/v1/pods/pids").route(web::get().to(pods::list)));
    if standalone {
        cfg.service(resource("/").route(web::get().to(system::legacy_root)))
            .service(
                resource("/api/v1/scheduling/strategies")
                    .route(web::get().to(scheduling::list))
                    .route(web::post().to(scheduling::replace_templates)),
            )
            .service(
                resource("/api/v1/metrics")
                    .route(web::post().to(scheduler_metrics::record))
                    .route(web::get().to(scheduler_metrics::latest)),
            );
    } else {
        cfg.service(resource("/api/v1/scheduling/strategies").route(web::get().to(scheduling::list)))
            .service(resource("/api/v1/metrics").route(web::post().to(scheduler_metrics::record)));
    }
}
