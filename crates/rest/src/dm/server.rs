use std::net::{SocketAddr, TcpListener};
use std::time::Instant;

use actix_web::dev::{Server, Service};
use actix_web::http::Method;
use actix_web::middleware::{Condition, DefaultHeaders, NormalizePath, TrailingSlash};
use actix_web::{App, HttpResponse, HttpServer, web};
use futures_util::future::{Either, ready};

use super::DmApi;
use super::handlers;
use crate::routing::not_found;
use crate::timeouts::bound_body;

/// A bound, not yet awaited DM server.
pub struct DmServer {
    pub server: Server,
    pub local_addr: SocketAddr,
}

/// HTTP worker threads when the caller does not choose (`server.workers`' default).
const DEFAULT_WORKERS: usize = 2;

/// Builds the DM's HTTP server on `listener`; HTTPS with a required client
/// certificate when `tls` is given. SIGTERM/SIGINT stop it gracefully.
pub fn serve(api: DmApi, listener: TcpListener, tls: Option<rustls::ServerConfig>) -> std::io::Result<DmServer> {
    serve_with_workers(api, listener, tls, DEFAULT_WORKERS)
}

/// `serve` with `workers` HTTP worker threads (at least one).
pub fn serve_with_workers(
    api: DmApi,
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    workers: usize,
) -> std::io::Result<DmServer> {
    let local_addr = listener.local_addr()?;
    let standalone = api.settings.standalone;
    let timeouts = api.settings.timeouts;
    let api = web::Data::new(api);
    let server = HttpServer::new(move || {
        let cors = DefaultHeaders::new()
            .add(("Access-Control-Allow-Origin", "*"))
            .add(("Access-Control-Allow-Methods", "POST, GET, OPTIONS"))
            .add((
                "Access-Control-Allow-Headers",
                "Content-Type, Authorization, X-Request-ID",
            ));
        App::new()
            .app_data(api.clone())
            .configure(|cfg| handlers::routes(cfg, standalone))
            .default_service(web::to(not_found))
            .wrap_fn(|req, srv| {
                let started = Instant::now();
                let method = req.method().to_string();
                let path = req.path().to_string();
                let request_id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                let metrics = req.app_data::<web::Data<DmApi>>().map(|a| a.http_metrics.clone());
                let response = srv.call(req);
                async move {
                    let response = response.await?;
                    let route = response
                        .request()
                        .match_pattern()
                        .unwrap_or_else(|| "unmatched".to_string());
                    let status = response.status().as_u16();
                    let elapsed = started.elapsed();
                    if let Some(metrics) = metrics {
                        metrics.observe(&route, &method, status, elapsed);
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
            .wrap_fn(move |req, srv| {
                if standalone && req.method() == Method::OPTIONS {
                    Either::Left(ready(Ok(req.into_response(HttpResponse::Ok().finish()))))
                } else {
                    Either::Right(srv.call(req))
                }
            })
            .wrap(Condition::new(standalone, cors))
            .wrap_fn(move |mut req, srv| {
                bound_body(&mut req, timeouts.client_request);
                srv.call(req)
            })
            .wrap(NormalizePath::new(TrailingSlash::MergeOnly))
    })
    .client_request_timeout(timeouts.client_request)
    .client_disconnect_timeout(timeouts.client_disconnect)
    .keep_alive(timeouts.keep_alive)
    .workers(workers.max(1))
    .shutdown_timeout(10);
    let server = match tls {
        Some(config) => server.listen_rustls_0_23(listener, config)?,
        None => server.listen(listener)?,
    }
    .run();
    Ok(DmServer { server, local_addr })
}
