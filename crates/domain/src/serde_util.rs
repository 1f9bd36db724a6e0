use serde::{Deserialize, Deserializer};

/// `null` decodes as an empty list or map. Go clients (upstream's Manager,
/// CLI and BSS callers) marshal a nil slice or map as `null`, so for
/// collections it means "none". Only for collections: a `null` where a
/// string, number or boolean is required is the wrong JSON type (400).
pub fn null_as_empty<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
