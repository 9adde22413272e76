//! `orders.of_users`: the `User.orders` DataLoader's batch, one page per key.
//!
//! The usual batch is many users with the same `first` and no `after` (one page of users,
//! each showing its first orders). Keys are grouped by `(first, after, extras)` and each group
//! costs one query whatever its number of users: the first `first + 1` orders of every user at
//! once, ranked with `ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY id)`. Asked-for extras
//! add one query each: the counts with one `GROUP BY user_id`, and, after a cursor,
//! `has_previous`.
//! Window functions work on PostgreSQL and on SQLite from 3.25.

use std::collections::{BTreeSet, HashMap, HashSet};

use entities::orders::order;
use rpc::{
    Page, PageExtras, RpcError, RpcResult, bounds,
    error::OrInternal,
    orders::{Order, OrdersOfUsers, UserOrdersKey},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Iterable, QueryFilter, QuerySelect,
    sea_query::{Alias, Expr, ExprTrait, Func, Order as SortOrder, Query, SelectStatement, WindowStatement},
};
use uuid::Uuid;

use super::to_wire;
use crate::Context;

pub async fn orders_of_users(req: OrdersOfUsers, ctx: Context) -> RpcResult<Vec<Page<Order>>> {
    let caller = ctx.caller.signed_in()?;
    bounds::batch_size("keys", req.keys.len())?;
    // The users of each (first, after, extras), each once; ordered so the queries are deterministic.
    // Someone else's orders are not read: their keys get empty pages.
    let mut groups: HashMap<Group, BTreeSet<Uuid>> = HashMap::new();
    for key in &req.keys {
        bounds::page_size(key.first)?;
        if caller.may_touch(key.user_id)? {
            groups.entry(Group::of(key)).or_default().insert(key.user_id);
        }
    }
    if groups.is_empty() {
        return Ok(req.keys.iter().map(|key| super::empty_page(Group::of(key).extras)).collect());
    }
    if groups.is_empty() {
        return Ok(Vec::new());
    }

    // One query (the usual batch) is a snapshot by itself; more share one transaction.
    let several = groups.len() > 1 || groups.keys().any(|group| group.extras.any());
    let pages = entities::db::read(&ctx.db, several, async |db| {
        let mut pages = HashMap::with_capacity(req.keys.len());
        for (group, users) in groups {
            pages.extend(pages_of_group(db, users, group).await?);
        }
        Ok(pages)
    })
    .await
    .or_internal("listing the orders of users")?;

    // Keys may repeat: clone each page for every key that asked for it, in key order.
    req.keys
        .iter()
        .map(|key| {
            if !caller.may_touch(key.user_id)? {
                return Ok(super::empty_page(Group::of(key).extras));
            }
            pages.get(&(key.user_id, Group::of(key))).cloned().ok_or_else(|| {
                tracing::error!(?key, "a key of orders.of_users got no page");
                RpcError::internal()
            })
        })
        .collect()
}

/// Keys that differ only by user: one query serves them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Group {
    first: u32,
    after: Option<Uuid>,
    extras: PageExtras,
}

impl Group {
    fn of(key: &UserOrdersKey) -> Self {
        Self { first: key.first, after: key.after, extras: key.extras.for_page(key.after) }
    }
}

/// The pages of `users` (distinct) for one group.
async fn pages_of_group(
    db: &impl ConnectionTrait,
    users: BTreeSet<Uuid>,
    group: Group,
) -> Result<Vec<((Uuid, Group), Page<Order>)>, DbErr> {
    let Group { first, after, extras } = group;
    let users: Vec<Uuid> = users.into_iter().collect();
    let backend = db.get_database_backend();
    let rows =
        order::Entity::find().from_raw_sql(backend.build(&first_orders_of_users(&users, first, after))).all(db).await?;

    let counts: Option<HashMap<Uuid, i64>> = match extras.total_count {
        true => Some(
            order::Entity::find()
                .select_only()
                .column(order::Column::UserId)
                .column_as(Expr::col(order::Column::Id).count(), "count")
                .filter(order::Column::UserId.is_in(users.iter().copied()))
                .group_by(order::Column::UserId)
                .into_tuple::<(Uuid, i64)>()
                .all(db)
                .await?
                .into_iter()
                .collect(),
        ),
        false => None,
    };

    let with_previous: HashSet<Uuid> = match after.filter(|_| extras.has_previous) {
        Some(after) => order::Entity::find()
            .select_only()
            .column(order::Column::UserId)
            .filter(order::Column::UserId.is_in(users.iter().copied()))
            .filter(order::Column::Id.lte(after))
            .group_by(order::Column::UserId)
            .into_tuple::<Uuid>()
            .all(db)
            .await?
            .into_iter()
            .collect(),
        None => HashSet::new(),
    };

    let mut items: HashMap<Uuid, Vec<order::Model>> = HashMap::new();
    for row in rows {
        items.entry(row.user_id).or_default().push(row);
    }
    Ok(users
        .iter()
        .map(|user_id| {
            let mut rows = items.remove(user_id).unwrap_or_default();
            // The query kept first + 1 rows per user: the extra one only says a next page exists.
            let has_next = rows.len() > first as usize;
            rows.truncate(first as usize);
            let page = Page {
                items: rows.into_iter().map(to_wire).collect(),
                has_previous: with_previous.contains(user_id),
                has_next,
                total_count: counts
                    .as_ref()
                    .map(|counts| counts.get(user_id).copied().unwrap_or(0).try_into().unwrap_or(0)),
            };
            ((*user_id, group), page)
        })
        .collect())
}

/// ```sql
/// SELECT <order columns> FROM (
///   SELECT <order columns>, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY id) AS row_rank
///   FROM orders WHERE user_id IN (...) [AND id > after]
/// ) AS ranked WHERE row_rank <= first + 1 ORDER BY user_id, id
/// ```
/// Built with sea-query so each backend gets its own placeholders and quoting.
fn first_orders_of_users(users: &[Uuid], first: u32, after: Option<Uuid>) -> SelectStatement {
    let rank = Alias::new("row_rank");
    let mut ranked = Query::select();
    ranked
        .columns(order::Column::iter())
        .expr_window_as(
            Func::cust("ROW_NUMBER"),
            WindowStatement::partition_by(order::Column::UserId).order_by(order::Column::Id, SortOrder::Asc).to_owned(),
            rank.clone(),
        )
        .from(order::Entity)
        .and_where(order::Column::UserId.is_in(users.iter().copied()));
    if let Some(after) = after {
        ranked.and_where(order::Column::Id.gt(after));
    }
    Query::select()
        .columns(order::Column::iter())
        .from_subquery(ranked, Alias::new("ranked"))
        .and_where(Expr::col(rank).lte(i64::from(first) + 1))
        .order_by(order::Column::UserId, SortOrder::Asc)
        .order_by(order::Column::Id, SortOrder::Asc)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use sea_orm::DbBackend;

    use super::*;

    #[test]
    fn the_batch_query_ranks_each_users_orders_with_a_window_function() {
        let users = [Uuid::nil(), Uuid::max()];
        let sql = DbBackend::Postgres.build(&first_orders_of_users(&users, 20, Some(Uuid::nil()))).to_string();
        assert!(
            sql.contains(r#"ROW_NUMBER() OVER ( PARTITION BY "user_id" ORDER BY "id" ASC ) AS "row_rank""#),
            "{sql}"
        );
        assert!(sql.contains(r#"WHERE "row_rank" <= 21"#), "{sql}");
        assert!(sql.contains(r#""user_id" IN ("#), "{sql}");
        assert!(sql.contains(r#""id" > "#), "{sql}");
        let sqlite = DbBackend::Sqlite.build(&first_orders_of_users(&users, 0, None)).to_string();
        assert!(sqlite.contains(r#"WHERE "row_rank" <= 1"#), "{sqlite}");
    }
}
