//! One module per resource; `routes` wires them to paths.

mod encoded;
mod intents;
mod pods;
mod runtime_config;
mod scheduler_metrics;
mod scheduling;
mod system;
mod token;

use actix_web::web;

use crate::routing::resource;

pub fn routes(cfg: &mut web::ServiceConfig, standalone: bool) {
    cfg.service(resource("/health").get(system::health))
        .service(resource("/version").get(system::version))
        .service(resource("/metrics").get(system::prometheus))
        .service(resource("/api/v1/auth/token").post(token::issue))
        .service(
            resource("/api/v1/intents")
                .post(intents::replace)
                .delete(intents::delete),
        )
        .service(resource("/api/v1/intents/merkle").get(intents::merkle))
        .service(resource("/api/v1/intents/preview").post(intents::preview))
        .service(
            resource("/api/v1/node-intents")
                .post(intents::replace_nodes)
                .delete(intents::delete_nodes),
        )
        .service(resource("/api/v1/node-intents/merkle").get(intents::node_merkle))
        .service(resource("/api/v1/pods/pids").get(pods::list))
        .service(
            resource("/api/v1/runtime-config")
                .post(runtime_config::apply)
                .get(runtime_config::status),
        )
        .service(resource("/api-docs/openapi.json").get(system::openapi));
    if standalone {
        cfg.service(resource("/").get(system::legacy_root))
            .service(
                resource("/api/v1/scheduling/strategies")
                    .get(scheduling::list)
                    .post(scheduling::replace_templates),
            )
            .service(
                resource("/api/v1/metrics")
                    .post(scheduler_metrics::record)
                    .get(scheduler_metrics::latest),
            );
    } else {
        cfg.service(resource("/api/v1/scheduling/strategies").get(scheduling::list))
            .service(resource("/api/v1/metrics").post(scheduler_metrics::record));
    }
}
