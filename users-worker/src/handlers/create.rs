//! `users.create`: parse, answer a redelivered request as the first time, or hash and insert.

use entities::{inbox, users, write::Write};
use rpc::{
    Envelope, RpcResult,
    error::OrInternal,
    events,
    users::{CreateUser, User},
};
use sea_orm::{ActiveModelTrait, Set};

use super::{UniqueViolation, conflict, find, to_user, unique_violation};
use crate::{
    Context, password,
    validation::{Cpf, Email, FullName, NickName, Password, PhoneNumber, field},
};

/// Creates the user `req.id`, or answers what a previous delivery of the same request
/// answered (without announcing `user.created` again).
pub async fn create(req: CreateUser, ctx: Context) -> RpcResult<User> {
    // The contract's order: the first failing field is the one reported.
    let nick_name = NickName::parse(&req.nick_name)?;
    let full_name = FullName::parse(&req.full_name)?;
    let password = Password::parse(field::PASSWORD, req.password)?;
    let cpf = Cpf::parse(&req.cpf)?;
    let email = Email::parse(&req.email)?;
    let phone_number = PhoneNumber::parse(&req.phone_number)?;

    if let Some(answer) = inbox::replay::<CreateUser>(&ctx.db, &ctx.request).await? {
        return Ok(answer);
    }
    let password_hash = password::hash(password).await.or_internal("hashing a password")?;
    let now = entities::now();
    let row = users::ActiveModel {
        id: Set(req.id),
        nick_name_key: Set(nick_name.key()),
        nick_name: Set(nick_name.into()),
        full_name: Set(full_name.into()),
        password_hash: Set(password_hash),
        cpf: Set(cpf.into()),
        email: Set(email.into()),
        phone_number: Set(phone_number.into()),
        created_at: Set(now),
        updated_at: Set(now),
        admin: Set(false),
        password_request_id: Set(None),
    };
    let mut write = Write::begin::<CreateUser>(&ctx.db, &ctx.outbox, &ctx.request).await?;
    let error = match row.insert(&*write).await {
        Ok(row) => {
            write.announce(Envelope::new(events::USER_CREATED, row.id, None));
            return write.commit(to_user(row)).await;
        }
        Err(error) => error,
    };
    // The transaction is spoilt (on PostgreSQL): what follows reads outside it.
    drop(write);
    if unique_violation(&error).is_some()
        && let Some(answer) = inbox::answered::<CreateUser>(&ctx.db, &ctx.request).await?
    {
        // A client's retry ran while this request did, and took the values first.
        return Ok(answer);
    }
    match unique_violation(&error) {
        // A row with our id means a twin delivery of this request committed first, whichever
        // index the database names: when every value clashes, SQLite reports `users.email`
        // as readily as `users.id`.
        Some(violation) => match (find(&ctx.db, req.id).await?, violation) {
            (Some(row), _) => Ok(to_user(row)),
            (None, UniqueViolation::Field(field)) => Err(conflict(field)),
            (None, UniqueViolation::PrimaryKey) => {
                Err(error).or_internal("inserting a user whose id clashed, then vanished")
            }
        },
        None => Err(error).or_internal("inserting a user"),
    }
}
