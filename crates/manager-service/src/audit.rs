//! The audit log (manager.md 14.6): best-effort writes, bounded reads.

use async_trait::async_trait;
use gthulhu_domain::manager::{AuditEntry, AuditQuery, AuditService, Caller, ServiceError, ServiceResult};

use crate::ManagerServices;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The HTTP status the REST layer answers for `e` (manager.md 1.2), for
/// audit entries written here rather than by the REST layer.
pub(crate) fn http_status(e: &ServiceError) -> u16 {
    match e {
        ServiceError::Unauthorized(_) => 401,
        ServiceError::Forbidden(_) => 403,
        ServiceError::NotFound(_) => 404,
        ServiceError::Conflict(_) => 409,
        ServiceError::Validation(_) => 422,
        ServiceError::TooManyRequests(_) => 429,
        ServiceError::Unavailable(_) | ServiceError::StorageUnavailable => 503,
        ServiceError::Internal(_) => 500,
    }
}

#[async_trait]
impl AuditService for ManagerServices {
    async fn record(&self, entry: AuditEntry) {
        if let Err(e) = self.repo.insert_audit(&entry).await {
            tracing::warn!(error = %e, action = %entry.action, request_id = %entry.request_id, "writing an audit entry failed");
        }
    }

    /// Callers whose every grant is `self`-only read only their own entries.
    async fn query(&self, caller: &Caller, mut query: AuditQuery) -> ServiceResult<Vec<AuditEntry>> {
        query.limit = match query.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        if caller.grants.iter().all(|g| g.self_only) {
            let own = &caller.user.id;
            if !query.user_ids.is_empty() && !query.user_ids.contains(own) {
                return Ok(vec![]);
            }
            query.user_ids = vec![own.clone()];
        }
        Ok(self.repo.query_audit(&query).await?)
    }
}

#[cfg(test)]
mod tests {
    use gthulhu_domain::manager::{MockRepository, ObjectId, RepoError};

    use super::*;
    use crate::testutil::*;

    fn entry() -> AuditEntry {
        AuditEntry {
            id: ObjectId::new(),
            user_id: None,
            action: "role.create".into(),
            request_id: "r1".into(),
            timestamp: 1,
            ip: "10.0.0.1".into(),
            status: 200,
            target: None,
            details: serde_json::json!({}),
        }
    }

    #[tokio::test]
    async fn record_swallows_storage_errors() {
        let mut repo = MockRepository::new();
        repo.expect_insert_audit()
            .times(1)
            .returning(|_| Err(RepoError::Unavailable("down".into())));
        services(repo).record(entry()).await;
    }

    #[tokio::test]
    async fn query_limits_and_self_scope() {
        let mut repo = MockRepository::new();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        repo.expect_query_audit().returning(move |q| {
            sink.lock().unwrap().push(q.clone());
            Ok(vec![])
        });
        let svc = services(repo);
        let admin = caller(vec![policy("audit_log.read", false, "")]);
        let own_only = caller(vec![policy("audit_log.read", true, "")]);
        let someone = ObjectId::new();

        svc.query(&admin, AuditQuery::default()).await.unwrap();
        svc.query(
            &admin,
            AuditQuery {
                limit: 5000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        svc.query(
            &own_only,
            AuditQuery {
                limit: 7,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        // Asking only for someone else's entries yields nothing, without a query.
        let q = AuditQuery {
            user_ids: vec![someone],
            ..Default::default()
        };
        assert!(svc.query(&own_only, q).await.unwrap().is_empty());

        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!((seen[0].limit, seen[0].user_ids.len()), (100, 0));
        assert_eq!(seen[1].limit, 1000);
        assert_eq!((seen[2].limit, &seen[2].user_ids), (7, &vec![own_only.user.id.clone()]));
    }
}
