//! Table definitions (manager.md 14.3), key encodings and the table-level
//! helpers the repository's transactions are built from.
//!
//! Every key but a node name starts or ends with a 12-byte id, so a range
//! over a table or an index prefix comes back in id (creation) order.

use gthulhu_domain::manager::{ObjectId, RepoError, ScheduleIntent};
use gthulhu_store_model::IntentDoc;
use redb::{ReadableTable, Table, TableDefinition, TableHandle, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Failure, decode};

pub type Bytes = TableDefinition<'static, &'static [u8], &'static [u8]>;

pub const USERS: Bytes = TableDefinition::new("users");
pub const USERS_BY_USERNAME: Bytes = TableDefinition::new("users_by_username");
pub const ROLES: Bytes = TableDefinition::new("roles");
pub const ROLES_BY_NAME: Bytes = TableDefinition::new("roles_by_name");
pub const PERMISSIONS: Bytes = TableDefinition::new("permissions");
pub const PERMISSIONS_BY_KEY: Bytes = TableDefinition::new("permissions_by_key");
pub const STRATEGIES: Bytes = TableDefinition::new("schedule_strategies");
/// creator id + strategy id → ().
pub const STRATEGIES_BY_CREATOR: Bytes = TableDefinition::new("strategies_by_creator");
pub const INTENTS: Bytes = TableDefinition::new("schedule_intents");
/// strategy id + pod id → intent id (unique).
pub const INTENTS_BY_STRATEGY_POD: Bytes = TableDefinition::new("intents_by_strategy_pod");
/// length-prefixed node id + intent id → ().
pub const INTENTS_BY_NODE: Bytes = TableDefinition::new("intents_by_node");
/// length-prefixed pod id + intent id → (). Added after the first release:
/// built from `schedule_intents` when a file without it is opened.
pub const INTENTS_BY_POD: Bytes = TableDefinition::new("intents_by_pod");
/// creator id + intent id → ().
pub const INTENTS_BY_CREATOR: Bytes = TableDefinition::new("intents_by_creator");
pub const AUDIT: Bytes = TableDefinition::new("audit_logs");
/// user id + time key → (); entries without a user are not in it.
pub const AUDIT_BY_USER_TIME: Bytes = TableDefinition::new("audit_by_user_time");
/// time key → (): newest-first listing without a user filter.
pub const AUDIT_BY_TIME: Bytes = TableDefinition::new("audit_by_time");
/// Session families (sessions-and-runtime.md 11.1).
pub const AUTH_SESSIONS: Bytes = TableDefinition::new("auth_sessions");
/// user id + session id → ().
pub const SESSIONS_BY_USER: Bytes = TableDefinition::new("sessions_by_user");
/// node name → desired runtime configuration (sessions-and-runtime.md
/// 15.1): keyed by name, so a listing comes back sorted by it.
pub const NODE_RUNTIME_CONFIGS: Bytes = TableDefinition::new("node_runtime_configs");
pub const MIGRATIONS: TableDefinition<'static, u32, &'static [u8]> = TableDefinition::new("schema_migrations");

/// A value of `MIGRATIONS`, keyed by its version.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationDoc {
    #[serde(rename = "_id")]
    pub version: u32,
    pub name: String,
    pub applied_at: i64,
}

pub const BYTE_TABLES: [Bytes; 19] = [
    USERS,
    USERS_BY_USERNAME,
    ROLES,
    ROLES_BY_NAME,
    PERMISSIONS,
    PERMISSIONS_BY_KEY,
    STRATEGIES,
    STRATEGIES_BY_CREATOR,
    INTENTS,
    INTENTS_BY_STRATEGY_POD,
    INTENTS_BY_NODE,
    INTENTS_BY_POD,
    INTENTS_BY_CREATOR,
    AUDIT,
    AUDIT_BY_USER_TIME,
    AUDIT_BY_TIME,
    AUTH_SESSIONS,
    SESSIONS_BY_USER,
    NODE_RUNTIME_CONFIGS,
];

/// The value of index entries whose key says it all.
pub const EMPTY: &[u8] = &[];

const ID_LEN: usize = 12;
pub const TIME_KEY_LEN: usize = 8 + ID_LEN;

pub fn owner_key(owner: &ObjectId, id: &ObjectId) -> Vec<u8> {
    [owner.bytes(), id.bytes()].concat()
}

pub fn pair_key(strategy: &ObjectId, pod: &str) -> Vec<u8> {
    [&strategy.bytes()[..], pod.as_bytes()].concat()
}

/// The length prefix keeps node `n1` from matching the keys of `n10`.
pub fn length_prefixed(text: &str) -> Vec<u8> {
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    [&len.to_be_bytes()[..], text.as_bytes()].concat()
}

/// A key of `INTENTS_BY_NODE` or `INTENTS_BY_POD`.
pub fn text_id_key(text: &str, id: &ObjectId) -> Vec<u8> {
    [length_prefixed(text), id.bytes().to_vec()].concat()
}

/// Orders by timestamp (sign bit flipped so negatives sort first), then id.
pub fn time_key(timestamp: i64, id: &ObjectId) -> [u8; TIME_KEY_LEN] {
    let mut key = [0u8; TIME_KEY_LEN];
    key[..8].copy_from_slice(&((timestamp as u64) ^ (1 << 63)).to_be_bytes());
    key[8..].copy_from_slice(&id.bytes());
    key
}

/// The id a key ends with (or that an index value holds).
pub fn trailing_id(key: &[u8]) -> Result<ObjectId, Failure> {
    key.len()
        .checked_sub(ID_LEN)
        .and_then(|start| <[u8; ID_LEN]>::try_from(&key[start..]).ok())
        .map(ObjectId::from_bytes)
        .ok_or_else(|| Failure(RepoError::Other("malformed index key".into())))
}

pub fn encode<D: Serialize>(doc: &D) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(doc).map_err(|e| Failure(RepoError::Other(format!("encode record: {:?}", e.classify()))))
}

/// Stores `value` under `id` in the first table and `id` under its unique
/// name in the second: `Conflict(field)` when the name is taken,
/// `Conflict("id")` when the id is.
pub fn insert_named(
    tx: &WriteTransaction,
    (docs, by_name): (Bytes, Bytes),
    (field, name): (&str, &str),
    id: &ObjectId,
    value: &[u8],
) -> Result<(), Failure> {
    let (mut docs, mut by_name) = (tx.open_table(docs)?, tx.open_table(by_name)?);
    let id = id.bytes();
    if by_name.get(name.as_bytes())?.is_some() {
        return Err(RepoError::Conflict(field.into()).into());
    }
    if docs.get(&id[..])?.is_some() {
        return Err(RepoError::Conflict("id".into()).into());
    }
    docs.insert(&id[..], value)?;
    by_name.insert(name.as_bytes(), &id[..])?;
    Ok(())
}

pub fn get_doc<D, T>(table: &T, name: &str, key: &[u8]) -> Result<Option<D>, Failure>
where
    D: DeserializeOwned,
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    match table.get(key)? {
        Some(value) => serde_json::from_slice(value.value())
            .map(Some)
            .map_err(|e| decode(name, &e)),
        None => Ok(None),
    }
}

pub fn all_docs<D, T>(table: &T, name: &str) -> Result<Vec<D>, Failure>
where
    D: DeserializeOwned,
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    let mut docs = Vec::new();
    for entry in table.iter()? {
        let (_, value) = entry?;
        docs.push(serde_json::from_slice(value.value()).map_err(|e| decode(name, &e))?);
    }
    Ok(docs)
}

/// Keys and values, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Keys and values of every entry whose key starts with `prefix`.
pub fn scan_prefix<T>(table: &T, prefix: &[u8]) -> Result<Entries, Failure>
where
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    let mut found = Vec::new();
    for entry in table.range::<&[u8]>(prefix..)? {
        let (key, value) = entry?;
        if !key.value().starts_with(prefix) {
            break;
        }
        found.push((key.value().to_vec(), value.value().to_vec()));
    }
    Ok(found)
}

/// Documents named by the trailing ids of an index's keys under `prefix`.
pub fn docs_by_prefix<D, I, T>(index: &I, docs: &T, name: &str, prefix: &[u8]) -> Result<Vec<D>, Failure>
where
    D: DeserializeOwned,
    I: ReadableTable<&'static [u8], &'static [u8]>,
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    let mut found = Vec::new();
    for (key, _) in scan_prefix(index, prefix)? {
        if let Some(doc) = get_doc(docs, name, &trailing_id(&key)?.bytes())? {
            found.push(doc);
        }
    }
    Ok(found)
}

/// The intent table and its indexes, kept in step within one write
/// transaction.
pub struct IntentTables<'t> {
    docs: Table<'t, &'static [u8], &'static [u8]>,
    by_pair: Table<'t, &'static [u8], &'static [u8]>,
    by_node: Table<'t, &'static [u8], &'static [u8]>,
    by_pod: Table<'t, &'static [u8], &'static [u8]>,
    by_creator: Table<'t, &'static [u8], &'static [u8]>,
}

impl<'t> IntentTables<'t> {
    pub fn open(tx: &'t WriteTransaction) -> Result<Self, Failure> {
        Ok(Self {
            docs: tx.open_table(INTENTS)?,
            by_pair: tx.open_table(INTENTS_BY_STRATEGY_POD)?,
            by_node: tx.open_table(INTENTS_BY_NODE)?,
            by_pod: tx.open_table(INTENTS_BY_POD)?,
            by_creator: tx.open_table(INTENTS_BY_CREATOR)?,
        })
    }

    pub fn get(&self, id: &ObjectId) -> Result<Option<ScheduleIntent>, Failure> {
        Ok(get_doc::<IntentDoc, _>(&self.docs, INTENTS.name(), &id.bytes())?.map(ScheduleIntent::from))
    }

    /// `Conflict("strategyId+podId")` when the pair is taken.
    pub fn insert(&mut self, intent: &ScheduleIntent) -> Result<(), Failure> {
        let id = intent.id.bytes();
        if self.docs.get(&id[..])?.is_some() {
            return Err(RepoError::Conflict("id".into()).into());
        }
        let pair = pair_key(&intent.strategy_id, &intent.pod_id);
        if self.by_pair.get(pair.as_slice())?.is_some() {
            return Err(RepoError::Conflict("strategyId+podId".into()).into());
        }
        self.docs
            .insert(&id[..], encode(&IntentDoc::from(intent))?.as_slice())?;
        self.by_pair.insert(pair.as_slice(), &id[..])?;
        self.by_node
            .insert(text_id_key(&intent.node_id, &intent.id).as_slice(), EMPTY)?;
        self.by_pod
            .insert(text_id_key(&intent.pod_id, &intent.id).as_slice(), EMPTY)?;
        self.by_creator
            .insert(owner_key(&intent.creator_id, &intent.id).as_slice(), EMPTY)?;
        Ok(())
    }

    /// Overwrites a stored intent whose indexed fields are unchanged.
    pub fn put_unindexed(&mut self, intent: &ScheduleIntent) -> Result<(), Failure> {
        self.docs
            .insert(&intent.id.bytes()[..], encode(&IntentDoc::from(intent))?.as_slice())?;
        Ok(())
    }

    pub fn remove(&mut self, id: &ObjectId) -> Result<Option<ScheduleIntent>, Failure> {
        let doc: IntentDoc = match self.docs.remove(&id.bytes()[..])? {
            Some(value) => serde_json::from_slice(value.value()).map_err(|e| decode(INTENTS.name(), &e))?,
            None => return Ok(None),
        };
        let intent = ScheduleIntent::from(doc);
        self.by_pair
            .remove(pair_key(&intent.strategy_id, &intent.pod_id).as_slice())?;
        self.by_node.remove(text_id_key(&intent.node_id, id).as_slice())?;
        self.by_pod.remove(text_id_key(&intent.pod_id, id).as_slice())?;
        self.by_creator.remove(owner_key(&intent.creator_id, id).as_slice())?;
        Ok(Some(intent))
    }

    /// Ids of the strategy's intents, in id order.
    pub fn ids_of_strategy(&self, strategy: &ObjectId) -> Result<Vec<ObjectId>, Failure> {
        let mut ids = scan_prefix(&self.by_pair, &strategy.bytes())?
            .into_iter()
            .map(|(_, value)| trailing_id(&value))
            .collect::<Result<Vec<_>, _>>()?;
        ids.sort();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_by_time_then_id() {
        let (a, b) = (ObjectId::new(), ObjectId::new());
        let mut keys = [
            time_key(5, &a),
            time_key(-3, &b),
            time_key(0, &b),
            time_key(5, &b),
            time_key(i64::MIN, &a),
            time_key(i64::MAX, &a),
        ];
        keys.sort();
        assert_eq!(
            keys,
            [
                time_key(i64::MIN, &a),
                time_key(-3, &b),
                time_key(0, &b),
                time_key(5, &a),
                time_key(5, &b),
                time_key(i64::MAX, &a),
            ]
        );
        assert_eq!(trailing_id(&time_key(7, &b)).ok(), Some(b));
    }

    #[test]
    fn node_keys_of_a_longer_name_do_not_share_the_prefix() {
        let id = ObjectId::new();
        assert!(text_id_key("n1", &id).starts_with(&length_prefixed("n1")));
        assert!(!text_id_key("n10", &id).starts_with(&length_prefixed("n1")));
        assert!(!text_id_key("n1", &id).starts_with(&length_prefixed("")));
    }
}
