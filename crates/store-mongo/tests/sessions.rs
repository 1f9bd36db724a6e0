//! MongoDB specifics of session families (sessions-and-runtime.md 11):
//! stored field names and types, the `idx_sessions_user` index, and user
//! documents written before `tokenVersion` existed.

#[allow(dead_code)]
mod common;

use bson::{Bson, Document, doc};
use futures_util::TryStreamExt;
use gthulhu_domain::manager::{ObjectId, Repository, RevokeReason};
use gthulhu_repo_conformance::fixtures::{T0, session, user};
use gthulhu_store_mongo::MongoRepository;

async fn connected(uri: &str) -> (MongoRepository, mongodb::Database) {
    let settings = common::fresh_settings(uri);
    let repo = MongoRepository::connect(&settings).await.expect("connect");
    let raw = mongodb::Client::with_uri_str(uri)
        .await
        .expect("raw client")
        .database(&settings.database);
    (repo, raw)
}

async fn raw_session(db: &mongodb::Database, id: &ObjectId) -> Document {
    db.collection::<Document>("auth_sessions")
        .find_one(doc! {"_id": id.to_string()})
        .await
        .expect("raw read")
        .expect("a stored session")
}

fn int(doc: &Document, field: &str) -> i64 {
    match doc.get(field) {
        Some(Bson::Int32(v)) => i64::from(*v),
        Some(Bson::Int64(v)) => *v,
        other => panic!("{field} is not an integer: {other:?}"),
    }
}

async fn session_documents_and_index(uri: &str) {
    let (repo, db) = connected(uri).await;
    let owner = ObjectId::new();
    let s = session(&owner, T0);
    repo.insert_session(&s).await.unwrap();
    let stored = raw_session(&db, &s.id).await;
    assert_eq!(stored.get_str("userID").unwrap(), owner.to_string());
    assert_eq!(stored.get_str("jti").unwrap(), s.jti);
    assert_eq!(stored.get_str("tokenHash").unwrap(), s.token_hash);
    assert_eq!(int(&stored, "createdTime"), T0);
    assert_eq!(int(&stored, "lastUsedTime"), T0);
    assert_eq!(int(&stored, "expiresAt"), s.expires_at);
    assert_eq!(stored.get("revokedReason"), Some(&Bson::Null));
    assert_eq!(stored.get_str("userAgent").unwrap(), "conformance/1.0");
    repo.revoke_session(&s.id, RevokeReason::SessionLimit, T0 + 1)
        .await
        .unwrap();
    let stored = raw_session(&db, &s.id).await;
    assert_eq!(stored.get_str("revokedReason").unwrap(), "session_limit");
    assert_eq!(int(&stored, "revokedTime"), T0 + 1);

    let indexes: Vec<mongodb::IndexModel> = db
        .collection::<Document>("auth_sessions")
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        indexes.iter().any(|i| i.keys == doc! {"userID": 1}),
        "auth_sessions lacks its index on userID: {indexes:?}"
    );
}

async fn users_without_a_token_version_read_as_zero(uri: &str) {
    let (repo, db) = connected(uri).await;
    let u = user("legacy", &[]);
    repo.create_user(&u).await.unwrap();
    db.collection::<Document>("users")
        .update_one(doc! {"_id": u.id.to_string()}, doc! {"$unset": {"tokenVersion": ""}})
        .await
        .unwrap();
    assert_eq!(repo.get_user(&u.id).await.unwrap().token_version, 0);
    assert_eq!(repo.bump_token_version(&u.id).await.unwrap(), 1);
    let stored = db
        .collection::<Document>("users")
        .find_one(doc! {"_id": u.id.to_string()})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(int(&stored, "tokenVersion"), 1);
}

macro_rules! env_tests {
    ($($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                match common::env_uri() {
                    Ok(uri) => super::$scenario(&uri).await,
                    Err(missing) => missing.report(),
                }
            }
        )*
    };
}

mod against_mongodb {
    use super::common;

    env_tests!(session_documents_and_index, users_without_a_token_version_read_as_zero);
}
