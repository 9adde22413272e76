//! `orders.create`: parses, checks the user exists (known from `user.created`, else asked),
//! inserts; safe to deliver twice.

use entities::{
    inbox,
    orders::{deleted_user, known_user, order},
    write::Write,
};
use rpc::{
    Envelope, RpcError, RpcResult,
    error::OrInternal,
    events::ORDER_CREATED,
    orders::{CreateOrder, Order},
    users::GetUsers,
};
use sea_orm::{
    ActiveValue::Set,
    ConnectionTrait, EntityTrait,
    sea_query::{DynIden, Expr, ExprTrait, InsertStatement, OnConflict, Query, SeaRc},
};
use uuid::Uuid;

use super::{UserLock, lock_statement, to_wire};
use crate::{
    Context,
    validation::{ItemDescription, PriceCents, Quantity, total_cents},
};

pub async fn create_order(req: CreateOrder, ctx: Context) -> RpcResult<Order> {
    let caller = ctx.caller.signed_in()?;
    let item_description = ItemDescription::parse(&req.item_description)?;
    let item_quantity = Quantity::parse(req.item_quantity)?;
    let item_price = PriceCents::parse(&req.item_price)?;
    let total_value_cents = total_cents(item_quantity.get(), item_price.get())?;

    // A redelivered request, or a client's retry, answers what its first run answered.
    if let Some(answer) = inbox::replay::<CreateOrder>(&ctx.db, &ctx.request).await? {
        return Ok(answer);
    }
    // Someone else's user is refused as no user is: ids cannot be probed.
    if !caller.may_touch(req.user_id)? {
        return Err(no_such_user());
    }

    let created_at = entities::now();
    let row = order::Model {
        id: req.id,
        user_id: req.user_id,
        item_description: item_description.into(),
        item_quantity: item_quantity.get(),
        item_price_cents: item_price.get(),
        total_value_cents,
        created_at,
        updated_at: created_at,
    };
    // Most creates are for a user this service heard of (`known_users`): one statement checks
    // that and the tombstone, and inserts. A user it has not heard of yet is asked for once.
    match insert(&ctx, &row, Check::Known).await? {
        Inserted::Yes(answer) => return Ok(answer),
        Inserted::No => {}
    }
    if is_tombstoned(&ctx.db, req.user_id).await? {
        return Err(no_such_user());
    }
    if let Some(twin) = order::Entity::find_by_id(req.id).one(&ctx.db).await.or_internal("finding an order")? {
        // A twin delivery of the same request (sent with no request id) inserted first:
        // answer its row, which it announces itself.
        return Ok(to_wire(twin));
    }
    // Errors of the users service (SERVICE_UNAVAILABLE above all) reach the caller unchanged:
    // without an answer we cannot know the user exists, so nothing is written.
    let users = ctx.users.call(&GetUsers { ids: vec![req.user_id] }).await?;
    if !users.iter().any(|user| user.id == req.user_id) {
        return Err(no_such_user());
    }
    match insert(&ctx, &row, Check::Confirmed).await? {
        Inserted::Yes(answer) => Ok(answer),
        // Deleted meanwhile (the tombstone), or a twin inserted first.
        Inserted::No => match order::Entity::find_by_id(req.id).one(&ctx.db).await.or_internal("finding an order")? {
            Some(twin) => Ok(to_wire(twin)),
            None => Err(no_such_user()),
        },
    }
}

/// What the insert checks of the user, besides their tombstone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// That `known_users` has them.
    Known,
    /// Nothing: the users service just said they exist. They are added to `known_users`.
    Confirmed,
}

enum Inserted {
    /// The order, inserted and committed with its event.
    Yes(Order),
    /// Nothing written: the user is not known (with [`Check::Known`]), is tombstoned, or a twin
    /// of this request inserted the order first.
    No,
}

/// Inserts `row` in one write, under the user's lock held shared (see [`super::lock_user`]), if the
/// user passes `check` and has no tombstone. The lock makes the cascade wait for this write,
/// or this write see the cascade's tombstone: it is taken before the statement that reads the
/// tombstone, whose snapshot then holds any cascade that committed first.
async fn insert(ctx: &Context, row: &order::Model, check: Check) -> RpcResult<Inserted> {
    let lock = lock_statement(row.user_id, UserLock::Shared);
    let mut write = Write::begin_locking::<CreateOrder>(&ctx.db, &ctx.outbox, &ctx.request, Some(&lock)).await?;
    if check == Check::Confirmed {
        let known = known_user::ActiveModel { user_id: Set(row.user_id) };
        known_user::Entity::insert(known)
            .on_conflict_do_nothing()
            .exec_without_returning(&*write)
            .await
            .or_internal("recording a known user")?;
    }
    let statement = insert_statement(row, check);
    let inserted = write.execute(&statement).await.or_internal("inserting an order")?;
    if inserted.rows_affected() != 1 {
        return Ok(Inserted::No);
    }
    write.announce(Envelope::new(ORDER_CREATED, row.id, Some(row.user_id)));
    Ok(Inserted::Yes(write.commit(to_wire(row.clone())).await?))
}

/// `INSERT INTO orders (...) SELECT <row> WHERE [EXISTS known user] AND NOT EXISTS tombstone
/// ON CONFLICT (id) DO NOTHING`.
fn insert_statement(row: &order::Model, check: Check) -> InsertStatement {
    let of_user = |table: DynIden, column: DynIden| {
        Query::select().expr(Expr::val(1)).from(table).and_where(Expr::col(column).eq(row.user_id)).to_owned()
    };
    let mut select = Query::select();
    select.exprs([
        Expr::val(row.id),
        Expr::val(row.user_id),
        Expr::val(row.item_description.clone()),
        Expr::val(row.item_quantity),
        Expr::val(row.item_price_cents),
        Expr::val(row.total_value_cents),
        Expr::val(row.created_at),
        Expr::val(row.updated_at),
    ]);
    let tombstone = of_user(SeaRc::new(deleted_user::Entity), SeaRc::new(deleted_user::Column::UserId));
    select.and_where(Expr::exists(tombstone).not());
    if check == Check::Known {
        select.and_where(Expr::exists(of_user(SeaRc::new(known_user::Entity), SeaRc::new(known_user::Column::UserId))));
    }
    Query::insert()
        .into_table(order::Entity)
        .columns([
            order::Column::Id,
            order::Column::UserId,
            order::Column::ItemDescription,
            order::Column::ItemQuantity,
            order::Column::ItemPriceCents,
            order::Column::TotalValueCents,
            order::Column::CreatedAt,
            order::Column::UpdatedAt,
        ])
        .select_from(select)
        .expect("as many values as columns")
        .on_conflict(OnConflict::column(order::Column::Id).do_nothing().to_owned())
        .to_owned()
}

fn no_such_user() -> RpcError {
    RpcError::invalid("userId", "no user with this id")
}

async fn is_tombstoned(db: &impl ConnectionTrait, user_id: Uuid) -> RpcResult<bool> {
    let tombstone = deleted_user::Entity::find_by_id(user_id).one(db).await.or_internal("finding a user tombstone")?;
    Ok(tombstone.is_some())
}
