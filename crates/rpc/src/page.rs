//! A page of a keyset-paginated list, as services answer it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// At most `first` items, ordered by id (UUIDv7, so oldest first).
    pub items: Vec<T>,
    /// Whether an item exists before the first one of this page.
    pub has_previous: bool,
    /// Whether an item exists after the last one of this page.
    pub has_next: bool,
    /// How many items the whole (filtered) list holds.
    pub total_count: u64,
}

impl<T> Page<T> {
    pub fn empty() -> Self {
        Self { items: Vec::new(), has_previous: false, has_next: false, total_count: 0 }
    }
}
