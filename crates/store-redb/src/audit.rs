//! The audit log's time-ordered indexes, and queries over them.

use std::collections::BTreeSet;
use std::ops::Bound;

use gthulhu_domain::manager::{AuditEntry, AuditQuery, ObjectId};
use gthulhu_store_model::AuditDoc;
use redb::{ReadTransaction, ReadableTable, TableHandle, WriteTransaction};

use crate::error::{Failure, conflict};
use crate::tables::*;

/// Lower and upper bounds over `time_key`s, `None` when nothing can match.
type TimeRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

fn prefixed(prefix: &[u8], range: &TimeRange) -> TimeRange {
    let join = |key: &Vec<u8>| [prefix, key].concat();
    let lower = match &range.0 {
        Bound::Included(key) => Bound::Included(join(key)),
        Bound::Excluded(key) => Bound::Excluded(join(key)),
        Bound::Unbounded => Bound::Included(prefix.to_vec()),
    };
    let upper = match &range.1 {
        Bound::Included(key) => Bound::Included(join(key)),
        Bound::Excluded(key) => Bound::Excluded(join(key)),
        Bound::Unbounded => Bound::Included([prefix, &[0xff; TIME_KEY_LEN]].concat()),
    };
    (lower, upper)
}

fn is_empty(range: &TimeRange) -> bool {
    match range {
        (Bound::Included(lo), Bound::Included(hi)) => lo > hi,
        (Bound::Included(lo) | Bound::Excluded(lo), Bound::Included(hi) | Bound::Excluded(hi)) => lo >= hi,
        _ => false,
    }
}

/// Time keys of the entries in `range`, newest first.
fn time_keys_desc<T>(index: &T, range: &TimeRange) -> Result<Vec<Vec<u8>>, Failure>
where
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    if is_empty(range) {
        return Ok(vec![]);
    }
    let bounds = (range.0.as_ref().map(Vec::as_slice), range.1.as_ref().map(Vec::as_slice));
    let mut keys = Vec::new();
    for entry in index.range::<&[u8]>(bounds)?.rev() {
        let (key, _) = entry?;
        let key = key.value();
        keys.push(key[key.len() - TIME_KEY_LEN..].to_vec());
    }
    Ok(keys)
}

pub fn insert(tx: &WriteTransaction, doc: &AuditDoc) -> Result<(), Failure> {
    let mut audit = tx.open_table(AUDIT)?;
    let id = doc.id.bytes();
    if audit.get(&id[..])?.is_some() {
        return Err(conflict("id"));
    }
    audit.insert(&id[..], encode(doc)?.as_slice())?;
    let time = time_key(doc.timestamp, &doc.id);
    tx.open_table(AUDIT_BY_TIME)?.insert(&time[..], EMPTY)?;
    if let Some(user) = &doc.user_id {
        tx.open_table(AUDIT_BY_USER_TIME)?
            .insert([&user.bytes()[..], &time[..]].concat().as_slice(), EMPTY)?;
    }
    Ok(())
}

/// Newest first: (time, id) descending.
pub fn query(tx: &ReadTransaction, query: &AuditQuery) -> Result<Vec<AuditEntry>, Failure> {
    let audit = tx.open_table(AUDIT)?;
    let lower = match query.from_ms {
        Some(from) => Bound::Included(time_key(from, &ObjectId::ZERO).to_vec()),
        None => Bound::Unbounded,
    };
    let until = query.to_ms.map(|to| {
        let mut key = time_key(to, &ObjectId::ZERO);
        key[8..].fill(0xff);
        key.to_vec()
    });
    // Pages continue strictly after the cursor entry, in (time, id)
    // descending order.
    let after = match &query.cursor {
        Some(cursor) => match get_doc::<AuditDoc, _>(&audit, AUDIT.name(), &cursor.bytes())? {
            Some(last) => Some(time_key(last.timestamp, &last.id).to_vec()),
            None => return Ok(vec![]),
        },
        None => None,
    };
    let upper = match (until, after) {
        (None, None) => Bound::Unbounded,
        (Some(until), None) => Bound::Included(until),
        (None, Some(after)) => Bound::Excluded(after),
        (Some(until), Some(after)) if after <= until => Bound::Excluded(after),
        (Some(until), Some(_)) => Bound::Included(until),
    };
    let range = (lower, upper);

    let keys = if query.user_ids.is_empty() {
        time_keys_desc(&tx.open_table(AUDIT_BY_TIME)?, &range)?
    } else {
        let by_user = tx.open_table(AUDIT_BY_USER_TIME)?;
        let users: BTreeSet<&ObjectId> = query.user_ids.iter().collect();
        let mut keys = Vec::new();
        for user in users {
            keys.extend(time_keys_desc(&by_user, &prefixed(&user.bytes(), &range))?);
        }
        keys.sort_unstable_by(|a, b| b.cmp(a));
        keys
    };

    let mut entries = Vec::new();
    for key in keys {
        if entries.len() >= query.limit {
            break;
        }
        let Some(doc) = get_doc::<AuditDoc, _>(&audit, AUDIT.name(), &trailing_id(&key)?.bytes())? else {
            continue;
        };
        if query.action.as_ref().is_none_or(|action| *action == doc.action) {
            entries.push(AuditEntry::from(doc));
        }
    }
    Ok(entries)
}
