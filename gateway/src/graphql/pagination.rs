//! Relay-style connections: opaque keyset cursors and the `first` bound.

use async_graphql::{Context, SimpleObject};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rpc::{PageExtras, bounds};
use uuid::Uuid;

use super::error::bad_input;

/// The contract's default and largest page sizes ([`rpc::bounds`]), as the `i64` that list
/// fields take their `first` in.
pub const DEFAULT_FIRST: i64 = bounds::DEFAULT_FIRST as i64;
pub const MAX_FIRST: i64 = bounds::MAX_FIRST as i64;

const CURSOR_PREFIX: &str = "v1:";

/// A cursor is the id of the item it points at, opaque to clients: base64url of `v1:<uuid>`.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{id}"))
}

/// The id a cursor points at, or None when it is not one of ours.
pub fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let id = text.strip_prefix(CURSOR_PREFIX)?.parse().ok()?;
    // Only the one text we hand out per id: `Uuid::parse` also reads upper case, braces and
    // `urn:uuid:`, which no cursor of ours holds.
    (encode_cursor(id) == cursor).then_some(id)
}

/// Checks `first` and `after` of a list field and turns them into wire arguments.
///
/// `first` arrives as an `i64` (still a GraphQL `Int`), so a number past 32 bits is refused
/// here on its field, not by async-graphql's `i32` without one.
pub fn page_args(first: Option<i64>, after: Option<String>) -> async_graphql::Result<(u32, Option<Uuid>)> {
    let first = first.unwrap_or(DEFAULT_FIRST);
    let first = u32::try_from(first)
        .ok()
        .filter(|first| *first <= bounds::MAX_FIRST)
        .ok_or_else(|| bad_input("first", format!("first must be between 0 and {MAX_FIRST}")))?;
    let after = match after {
        Some(cursor) => Some(decode_cursor(&cursor).ok_or_else(|| bad_input("after", "after is not a valid cursor"))?),
        None => None,
    };
    Ok((first, after))
}

#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    pub has_previous_page: bool,
    pub has_next_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

impl PageInfo {
    pub fn of<T>(page: &rpc::Page<T>, id: impl Fn(&T) -> Uuid) -> Self {
        Self {
            has_previous_page: page.has_previous,
            has_next_page: page.has_next,
            start_cursor: page.items.first().map(|item| encode_cursor(id(item))),
            end_cursor: page.items.last().map(|item| encode_cursor(id(item))),
        }
    }
}

/// What of a page the selection of the list field being resolved shows beyond its items:
/// the service runs a query for each, so it is asked only for those.
pub fn page_extras(ctx: &Context<'_>, after: Option<Uuid>) -> PageExtras {
    let selection = ctx.look_ahead();
    PageExtras {
        total_count: selection.field("totalCount").exists(),
        has_previous: selection.field("pageInfo").field("hasPreviousPage").exists(),
    }
    .for_page(after)
}

/// Declares a Relay connection type and its edge type for a node with an `id` field, built
/// from the service's page of wire items (`connection!(UserConnection, UserEdge, User, wire::User)`).
/// Edges are made only when selected: most clients read `nodes`.
macro_rules! connection {
    ($connection:ident, $edge:ident, $node:ty, $wire:ty) => {
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        #[derive(async_graphql::SimpleObject)]
        #[graphql(complex)]
        pub struct $connection {
            pub nodes: Vec<$node>,
            pub page_info: $crate::graphql::pagination::PageInfo,
            pub total_count: i32,
        }

        #[async_graphql::ComplexObject]
        impl $connection {
            async fn edges(&self) -> Vec<$edge> {
                let cursor = $crate::graphql::pagination::encode_cursor;
                self.nodes.iter().map(|node| $edge { cursor: cursor(node.id), node: node.clone() }).collect()
            }
        }

        impl From<rpc::Page<$wire>> for $connection {
            fn from(page: rpc::Page<$wire>) -> Self {
                use $crate::graphql::pagination::{PageInfo, count};
                let page_info = PageInfo::of(&page, |item| item.id);
                let total_count = count(page.total_count.unwrap_or_default());
                Self { nodes: page.items.into_iter().map(<$node>::from).collect(), page_info, total_count }
            }
        }
    };
}
pub(crate) use connection;

/// Clamps a count for GraphQL's `Int`.
pub fn count(total: u64) -> i32 {
    i32::try_from(total).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_cursor_decodes_to_the_id_it_was_made_from() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
    }

    #[test]
    fn cursors_are_opaque_url_safe_text() {
        let cursor = encode_cursor(Uuid::nil());
        assert!(cursor.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert!(!cursor.contains("0000"));
    }

    #[test]
    fn strings_that_are_not_our_cursors_are_refused() {
        for cursor in ["", "abc", "djE6bm90LWEtdXVpZA", &URL_SAFE_NO_PAD.encode(Uuid::nil().to_string()), "!!!"] {
            assert_eq!(decode_cursor(cursor), None, "{cursor}");
        }
    }

    #[test]
    fn first_outside_zero_to_a_hundred_is_refused() {
        assert!(page_args(Some(-1), None).is_err());
        assert!(page_args(Some(101), None).is_err());
        assert_eq!(page_args(Some(0), None).unwrap().0, 0);
        assert_eq!(page_args(Some(100), None).unwrap().0, 100);
        assert_eq!(page_args(None, None).unwrap().0, 20);
    }

    /// The ways `uuid` can write an id; only the first is in our cursors.
    fn written(id: Uuid, style: usize) -> String {
        match style {
            0 => id.hyphenated().to_string(),
            1 => id.simple().to_string(),
            2 => id.hyphenated().to_string().to_uppercase(),
            3 => id.braced().to_string(),
            _ => id.urn().to_string(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn every_cursor_we_make_decodes_to_its_id(id in any::<u128>()) {
            let id = Uuid::from_u128(id);
            prop_assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
            prop_assert_eq!(page_args(None, Some(encode_cursor(id))).unwrap().1, Some(id));
        }

        #[test]
        fn only_the_cursors_we_make_are_accepted(id in any::<u128>(), style in 0usize..5) {
            let id = Uuid::from_u128(id);
            let cursor = URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{}", written(id, style)));
            // An id without the letters a-f reads the same in upper case: that one is ours too.
            let ours = written(id, style) == written(id, 0);
            prop_assert_eq!(decode_cursor(&cursor), ours.then_some(id));
        }

        #[test]
        fn arbitrary_text_is_a_cursor_only_if_we_could_have_made_it(text in "[A-Za-z0-9_=+/-]{0,64}|.{0,64}") {
            if let Some(id) = decode_cursor(&text) {
                prop_assert_eq!(encode_cursor(id), text.clone());
            }
            prop_assert_eq!(page_args(None, Some(text.clone())).is_ok(), decode_cursor(&text).is_some());
        }

        #[test]
        fn a_cursor_with_one_character_changed_is_refused_or_another_of_ours(
            id in any::<u128>(), position in any::<prop::sample::Index>(),
            replacement in "[A-Za-z0-9_=+/.-]",
        ) {
            let mut cursor: Vec<char> = encode_cursor(Uuid::from_u128(id)).chars().collect();
            let at = position.index(cursor.len());
            cursor[at] = replacement.chars().next().unwrap();
            let cursor: String = cursor.into_iter().collect();
            if let Some(other) = decode_cursor(&cursor) {
                prop_assert_eq!(encode_cursor(other), cursor);
            }
        }

        #[test]
        fn first_is_accepted_exactly_from_zero_to_a_hundred(first in prop_oneof![-5_i64..110, any::<i64>()]) {
            let accepted = page_args(Some(first), None).ok().map(|(first, _)| first);
            prop_assert_eq!(accepted, u32::try_from(first).ok().filter(|first| *first <= 100));
        }
    }
}
