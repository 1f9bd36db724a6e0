use serde::{Deserialize, Deserializer};

/// Upstream's Go decoder leaves a field at its zero value when the JSON
/// carries `null`; serde would reject it. This restores the Go behaviour.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
