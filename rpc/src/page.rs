//! A page of a keyset-paginated list, as services answer it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// At most `first` items, ordered by id (UUIDv7, so oldest first).
    pub items: Vec<T>,
    /// Whether an item exists before the first one of this page. Looked for only when the
    /// request asked ([`PageExtras::has_previous`]) and gave a cursor; false otherwise.
    pub has_previous: bool,
    /// Whether an item exists after the last one of this page.
    pub has_next: bool,
    /// How many items the whole (filtered) list holds; counted only when the request asked
    /// ([`PageExtras::total_count`]).
    pub total_count: Option<u64>,
}

impl<T> Page<T> {
    pub fn empty() -> Self {
        Self { items: Vec::new(), has_previous: false, has_next: false, total_count: Some(0) }
    }
}

/// What a list request wants beyond the items and `has_next`. Each costs the service one more
/// query (a count grows with the list), so callers ask only for what they will show; the
/// gateway asks for what the GraphQL selection holds. A request that does not say (an older
/// caller) gets both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PageExtras {
    pub total_count: bool,
    pub has_previous: bool,
}

impl PageExtras {
    pub const ALL: Self = Self { total_count: true, has_previous: true };
    pub const NONE: Self = Self { total_count: false, has_previous: false };

    /// These extras as the page starting after `after` needs them: there is nothing before a
    /// first page to look for.
    pub fn for_page(self, after: Option<uuid::Uuid>) -> Self {
        Self { has_previous: self.has_previous && after.is_some(), ..self }
    }

    /// Whether answering takes a query beyond the page's own.
    pub fn any(self) -> bool {
        self.total_count || self.has_previous
    }
}

impl Default for PageExtras {
    fn default() -> Self {
        Self::ALL
    }
}
