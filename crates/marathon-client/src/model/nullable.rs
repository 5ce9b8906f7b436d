//! Serde helper for fields that Marathon sends as a value, as `null`, or not at all.
//!
//! Such a field is an `Option<Option<T>>`: `None` when absent, `Some(None)` when `null`,
//! `Some(Some(v))` otherwise. Used with `#[serde(default, skip_serializing_if =
//! "Option::is_none")]`, all three forms serialize back exactly as they came, which keeps the
//! app and group models lossless.

use serde::{Deserialize, Deserializer};

/// Deserializes a present field (value or `null`) into `Some(..)`; `default` supplies `None`
/// when the field is absent.
pub(crate) fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
