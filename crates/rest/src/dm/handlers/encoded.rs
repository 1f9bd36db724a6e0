//! Replies the services keep serialised: a request picks an encoding and
//! gets a shared buffer, never a fresh body.

use actix_web::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, ContentType, HeaderValue, VARY};
use actix_web::{HttpRequest, HttpResponse};
use gthulhu_domain::EncodedJson;

/// 200 with `body.gzip` when the client accepts gzip, else `body.identity`.
pub fn reply(req: &HttpRequest, body: EncodedJson) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .content_type(ContentType::json())
        .insert_header((VARY, HeaderValue::from_static("accept-encoding")));
    if accepts_gzip(req) {
        response
            .insert_header((CONTENT_ENCODING, HeaderValue::from_static("gzip")))
            .body(body.gzip)
    } else {
        response.body(body.identity)
    }
}

/// `gzip` (or `x-gzip`) listed in any `Accept-Encoding` header with a
/// non-zero `q`; anything unreadable means identity, always acceptable.
fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(ACCEPT_ENCODING)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let weight = parts
                .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
                .next()
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")) && weight > 0.0
        })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn with(values: &[&str]) -> bool {
        let mut req = TestRequest::default();
        for v in values {
            req = req.append_header((ACCEPT_ENCODING, *v));
        }
        accepts_gzip(&req.to_http_request())
    }

    #[test]
    fn gzip_only_when_listed_with_a_positive_weight() {
        assert!(with(&["gzip"]));
        assert!(with(&["deflate, GZIP;q=0.5"]));
        assert!(with(&["br", "x-gzip"]));
        assert!(!with(&[]));
        assert!(!with(&["identity"]));
        assert!(!with(&["gzip;q=0"]));
        assert!(!with(&["gzip; q=0.000"]));
        assert!(!with(&["gzip;q=nonsense"]));
        assert!(!with(&["*"]));
        assert!(!with(&["gzipped"]));
    }
}
