//! The framework ceiling: an actix-web server that answers every request
//! with one prepared body from memory, nothing else (no auth, no
//! middleware), as fast as a poll answer on this machine can be.

use std::net::TcpListener;
use std::sync::mpsc;
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use bytes::Bytes;

/// Stops and joins its server on drop.
pub struct Ceiling {
    pub base: String,
    handle: ServerHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Ceiling {
    /// `workers` as the DM has them, so both run the same threads.
    pub fn start(body: Bytes, workers: usize) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let base = format!("http://{}", listener.local_addr()?);
        let (started, handle) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("bench-ceiling".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || {
                        let body = body.clone();
                        App::new().default_service(web::to(move || {
                            let body = body.clone();
                            async move { HttpResponse::Ok().content_type("application/json").body(body) }
                        }))
                    })
                    .workers(workers)
                    .disable_signals()
                    .listen(listener)?
                    .run();
                    let _ = started.send(server.handle());
                    server.await
                })
            })?;
        let handle = handle.recv().context("the ceiling server did not start")?;
        Ok(Self {
            base,
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; its future only
        // reports completion, which the join below waits for.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
