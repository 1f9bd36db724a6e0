//! Route tables of both APIs: every GET route answers HEAD too, and every
//! other method gets a JSON 405 whose `Allow` header lists what the path
//! serves (RFC 9110 15.5.6; issue 9).

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::header::{ALLOW, HeaderValue};
use actix_web::{FromRequest, Handler, HttpResponse, Responder, ResponseError, web};

use crate::ApiError;

/// One path and the methods it serves.
pub(crate) struct Resource {
    inner: actix_web::Resource,
    allow: Vec<&'static str>,
}

pub(crate) fn resource(path: &str) -> Resource {
    Resource {
        inner: web::resource(path),
        allow: Vec::new(),
    }
}

impl Resource {
    /// GET, and HEAD with the same headers and no body.
    pub fn get<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.extend(["GET", "HEAD"]);
        self.inner = self
            .inner
            .route(web::get().to(handler.clone()))
            .route(web::head().to(handler));
        self
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with("POST", web::post().to(handler))
    }

    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with("PUT", web::put().to(handler))
    }

    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with("DELETE", web::delete().to(handler))
    }

    fn with(mut self, method: &'static str, route: actix_web::Route) -> Self {
        self.allow.push(method);
        self.inner = self.inner.route(route);
        self
    }
}

impl HttpServiceFactory for Resource {
    fn register(self, config: &mut AppService) {
        let allow = HeaderValue::from_str(&self.allow.join(", ")).expect("method names are valid header text");
        self.inner
            .default_service(web::to(move || {
                let allow = allow.clone();
                async move {
                    let mut response: HttpResponse = ApiError::MethodNotAllowed.error_response();
                    response.headers_mut().insert(ALLOW, allow);
                    response
                }
            }))
            .register(config);
    }
}

/// Paths no table serves.
pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
