//! `orders.of_users`: the `User.orders` DataLoader's batch, one page per key.
//!
//! The usual batch is many users with the same `first` and no `after` (one page of users,
//! each showing its first orders). Keys are grouped by `(first, after)` and each group costs
//! two queries whatever its number of users: the first `first + 1` orders of every user at
//! once, ranked with `ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY id)`, and their counts
//! with one `GROUP BY user_id`. A group with `after` adds one query for `has_previous`.
//! Window functions work on PostgreSQL and on SQLite from 3.25.

use std::collections::{BTreeSet, HashMap, HashSet};

use entities::orders::order;
use rpc::{
    Page, RpcError, RpcResult,
    orders::{Order, OrdersOfUsers, UserOrdersKey},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, Iterable, QueryFilter, QuerySelect,
    sea_query::{Alias, Expr, ExprTrait, Func, Order as SortOrder, Query, SelectStatement, WindowStatement},
};
use uuid::Uuid;

use super::{OrInternal, begin_snapshot, to_wire};
use crate::{Context, validation};

pub async fn orders_of_users(req: OrdersOfUsers, ctx: Context) -> RpcResult<Vec<Page<Order>>> {
    validation::batch_size("keys", req.keys.len())?;
    // The users of each (first, after), each once; ordered so the queries are deterministic.
    let mut groups: HashMap<(u32, Option<Uuid>), BTreeSet<Uuid>> = HashMap::new();
    for key in &req.keys {
        validation::page_size(key.first)?;
        groups.entry((key.first, key.after)).or_default().insert(key.user_id);
    }
    if groups.is_empty() {
        return Ok(Vec::new());
    }

    let txn = begin_snapshot(&ctx.db).await.or_internal("beginning a batch of orders")?;
    let mut pages: HashMap<UserOrdersKey, Page<Order>> = HashMap::with_capacity(req.keys.len());
    for ((first, after), users) in groups {
        let users: Vec<Uuid> = users.into_iter().collect();
        for (user_id, page) in pages_of_group(&txn, &users, first, after).await? {
            pages.insert(UserOrdersKey { user_id, first, after }, page);
        }
    }
    txn.commit().await.or_internal("ending a batch of orders")?;

    // Keys may repeat: clone each page for every key that asked for it, in key order.
    req.keys
        .iter()
        .map(|key| {
            pages.get(key).cloned().ok_or_else(|| {
                tracing::error!(?key, "a key of orders.of_users got no page");
                RpcError::internal()
            })
        })
        .collect()
}

/// The pages of `users` (distinct) for one `(first, after)`.
async fn pages_of_group(
    txn: &DatabaseTransaction,
    users: &[Uuid],
    first: u32,
    after: Option<Uuid>,
) -> RpcResult<Vec<(Uuid, Page<Order>)>> {
    let backend = txn.get_database_backend();
    let rows = order::Entity::find()
        .from_raw_sql(backend.build(&first_orders_of_users(users, first, after)))
        .all(txn)
        .await
        .or_internal("listing the orders of users")?;

    let counts: HashMap<Uuid, i64> = order::Entity::find()
        .select_only()
        .column(order::Column::UserId)
        .column_as(Expr::col(order::Column::Id).count(), "count")
        .filter(order::Column::UserId.is_in(users.iter().copied()))
        .group_by(order::Column::UserId)
        .into_tuple::<(Uuid, i64)>()
        .all(txn)
        .await
        .or_internal("counting the orders of users")?
        .into_iter()
        .collect();

    let with_previous: HashSet<Uuid> = match after {
        Some(after) => order::Entity::find()
            .select_only()
            .column(order::Column::UserId)
            .filter(order::Column::UserId.is_in(users.iter().copied()))
            .filter(order::Column::Id.lte(after))
            .group_by(order::Column::UserId)
            .into_tuple::<Uuid>()
            .all(txn)
            .await
            .or_internal("looking for earlier orders of users")?
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
                total_count: counts.get(user_id).copied().unwrap_or(0).try_into().unwrap_or(0),
            };
            (*user_id, page)
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
