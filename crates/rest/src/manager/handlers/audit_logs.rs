use actix_web::{HttpRequest, HttpResponse, web};
use gthulhu_domain::manager::{AuditQuery, ObjectId};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ok;
use crate::ApiError;
use crate::manager::ManagerApi;
use crate::manager::auth::{AuditLogRead, Authed};
use crate::manager::dto::{AuditLogData, AuditLogParams, Envelope, ErrorBody};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The audit log, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/audit-logs", tag = "audit", params(AuditLogParams),
    security(("bearer" = [])), responses(
    (status = 200, body = Envelope<AuditLogData>),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 422, description = "A malformed filter, named", body = ErrorBody),
    (status = 503, body = ErrorBody),
))]
pub(crate) async fn query(
    auth: Authed<AuditLogRead>,
    api: web::Data<ManagerApi>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = web::Query::<AuditLogParams>::from_query(req.query_string())
        .map_err(|e| ApiError::Validation(format!("invalid query string: {e}")))?
        .into_inner();
    let query = parse(params)?;
    let limit = query.limit;
    let entries = api.audit.query(&auth.caller, query).await?;
    // A full page may have a successor; the last entry is where it starts.
    let next_cursor = (entries.len() >= limit)
        .then(|| entries.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(ok(AuditLogData {
        entries: entries.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

fn parse(p: AuditLogParams) -> Result<AuditQuery, ApiError> {
    let invalid = |m: &str| ApiError::Validation(m.to_string());
    let present = |v: Option<String>| v.filter(|v| !v.is_empty());
    let user_ids = match present(p.user_id) {
        Some(id) => vec![ObjectId::parse(&id).ok_or_else(|| invalid("userId: invalid user ID"))?],
        None => vec![],
    };
    let time_ms = |v: Option<String>, field: &str| -> Result<Option<i64>, ApiError> {
        present(v)
            .map(|t| {
                OffsetDateTime::parse(&t, &Rfc3339)
                    .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                    .map_err(|_| invalid(&format!("{field} must be an RFC3339 time")))
            })
            .transpose()
    };
    let limit = match present(p.limit) {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| invalid("limit must be between 1 and 1000"))?,
        None => DEFAULT_LIMIT,
    };
    let cursor = present(p.cursor)
        .map(|c| ObjectId::parse(&c).ok_or_else(|| invalid("cursor: invalid cursor")))
        .transpose()?;
    Ok(AuditQuery {
        user_ids,
        action: present(p.action),
        from_ms: time_ms(p.from, "from")?,
        to_ms: time_ms(p.to, "to")?,
        limit,
        cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &str) -> Result<AuditQuery, String> {
        let p = web::Query::<AuditLogParams>::from_query(pairs).unwrap().into_inner();
        parse(p).map_err(|e| e.to_string())
    }

    #[test]
    fn filters_parse_and_bad_ones_are_named() {
        let id = ObjectId::new();
        let q = params(&format!(
            "userId={id}&action=auth.login&from=2026-03-10T08:00:00Z&to=2026-03-10T09:00:00%2B01:00&limit=5&cursor={id}"
        ))
        .unwrap();
        assert_eq!(q.user_ids, vec![id.clone()]);
        assert_eq!(q.action.as_deref(), Some("auth.login"));
        assert_eq!(q.from_ms, Some(1_773_129_600_000));
        assert_eq!(q.to_ms, Some(1_773_129_600_000));
        assert_eq!(q.limit, 5);
        assert_eq!(q.cursor, Some(id));
        assert_eq!(
            params("").unwrap(),
            AuditQuery {
                limit: 100,
                ..Default::default()
            }
        );
        assert_eq!(params("userId=xyz").unwrap_err(), "userId: invalid user ID");
        assert_eq!(params("from=yesterday").unwrap_err(), "from must be an RFC3339 time");
        assert_eq!(params("to=1").unwrap_err(), "to must be an RFC3339 time");
        assert_eq!(params("limit=0").unwrap_err(), "limit must be between 1 and 1000");
        assert_eq!(params("limit=1001").unwrap_err(), "limit must be between 1 and 1000");
        assert_eq!(params("cursor=1").unwrap_err(), "cursor: invalid cursor");
    }
}
