//! `users.create`: validate, find a redelivered request's row, or hash and insert.

use entities::users;
use rpc::{
    Envelope, RpcResult, events,
    users::{CreateUser, User},
};
use sea_orm::{ActiveModelTrait, Set};

use super::{UniqueViolation, conflict, find, internal, to_user, unique_violation};
use crate::{
    Context, password,
    validation::{self, field},
};

/// Creates the user `req.id`, or answers the row a previous delivery of the same request
/// created (without publishing `user.created` again).
pub async fn create(req: CreateUser, ctx: Context) -> RpcResult<User> {
    // The contract's order: the first failing field is the one reported.
    let nick_name = validation::nick_name(&req.nick_name)?;
    let full_name = validation::full_name(&req.full_name)?;
    validation::password(field::PASSWORD, &req.password)?;
    let cpf = validation::cpf(&req.cpf)?;
    let email = validation::email(&req.email)?;
    let phone_number = validation::phone_number(&req.phone_number)?;

    if let Some(row) = find(&ctx.db, req.id).await? {
        return Ok(to_user(row));
    }
    let password_hash =
        password::hash(req.password).await.map_err(|error| internal("cannot hash a password", error))?;
    let now = users::now();
    let row = users::ActiveModel {
        id: Set(req.id),
        nick_name_key: Set(users::nick_name_key(&nick_name)),
        nick_name: Set(nick_name),
        full_name: Set(full_name),
        password_hash: Set(password_hash),
        cpf: Set(cpf),
        email: Set(email),
        phone_number: Set(phone_number),
        created_at: Set(now),
        updated_at: Set(now),
    };
    match row.insert(&ctx.db).await {
        Ok(row) => {
            ctx.events.publish(Envelope::new(events::USER_CREATED, row.id, None)).await;
            Ok(to_user(row))
        }
        Err(error) => match unique_violation(&error) {
            // A row with our id means a twin delivery of this request committed first, whichever
            // index the database names: when every value clashes, SQLite reports `users.email`
            // as readily as `users.id`.
            Some(violation) => match (find(&ctx.db, req.id).await?, violation) {
                (Some(row), _) => Ok(to_user(row)),
                (None, UniqueViolation::Field(field)) => Err(conflict(field)),
                (None, UniqueViolation::PrimaryKey) => Err(internal("a user id clashed, then vanished", error)),
            },
            None => Err(internal("cannot insert a user", error)),
        },
    }
}
