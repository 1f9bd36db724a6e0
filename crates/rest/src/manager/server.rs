use std::net::{SocketAddr, TcpListener};
use std::time::Instant;

use actix_web::dev::{Server, Service};
use actix_web::middleware::{NormalizePath, TrailingSlash};
use actix_web::{App, HttpMessage, HttpServer, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::audit::{self, RequestId};
use super::errors::is_storage_outage;
use super::handlers;
use super::{ApiDoc, ManagerApi};
use crate::ApiError;
use crate::routing::not_found;
use crate::timeouts::bound_body;

/// A bound, not yet awaited Manager server.
pub struct ManagerServer {
    pub server: Server,
    pub local_addr: SocketAddr,
}

/// Builds the Manager's HTTP server on `listener`. SIGTERM/SIGINT stop it
/// gracefully.
pub fn serve(api: ManagerApi, listener: TcpListener) -> std::io::Result<ManagerServer> {
    let local_addr = listener.local_addr()?;
    let timeouts = api.settings.timeouts;
    let api = web::Data::new(api);
    let openapi = ApiDoc::openapi();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(api.clone())
            .configure(handlers::routes)
            .service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", openapi.clone()))
            .default_service(web::to(not_found))
            .wrap_fn(|req, srv| {
                let started = Instant::now();
                let method = req.method().to_string();
                let path = req.path().to_string();
                let request_id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                req.extensions_mut().insert(RequestId(request_id.clone()));
                let api = req.app_data::<web::Data<ManagerApi>>().cloned();
                let response = srv.call(req);
                async move {
                    let response = response.await?;
                    let route = response
                        .request()
                        .match_pattern()
                        .unwrap_or_else(|| "unmatched".to_string());
                    let status = response.status().as_u16();
                    let elapsed = started.elapsed();
                    if let Some(api) = api {
                        api.metrics.http.observe(&route, &method, status, elapsed);
                        let error = response.response().error().and_then(|e| e.as_error::<ApiError>());
                        if error.is_some_and(is_storage_outage) {
                            api.metrics.storage_error();
                        }
                        if let Some(entry) = audit::entry_for(response.request(), status) {
                            api.audit.record(entry).await;
                        }
                    }
                    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
                    if status >= 400 {
                        tracing::info!(%request_id, %method, %path, status, elapsed_ms, "request failed");
                    } else {
                        tracing::debug!(%request_id, %method, %path, status, elapsed_ms, "request");
                    }
                    Ok(response)
                }
            })
            .wrap_fn(move |mut req, srv| {
                bound_body(&mut req, timeouts.client_request);
                srv.call(req)
            })
            .wrap(NormalizePath::new(TrailingSlash::MergeOnly))
    })
    .client_request_timeout(timeouts.client_request)
    .client_disconnect_timeout(timeouts.client_disconnect)
    .keep_alive(timeouts.keep_alive)
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(ManagerServer { server, local_addr })
}
