//! `users.update`: change the given fields of one user.

use entities::{inbox, users, write::Write};
use rpc::{
    Envelope, RpcResult,
    error::OrInternal,
    events,
    users::{UpdateUser, User},
};
use sea_orm::{ActiveModelTrait, DbErr, EntityTrait, IntoActiveModel, QuerySelect, Set};

use super::{UniqueViolation, conflict, not_found, to_user, unique_violation};
use crate::{
    Context,
    validation::{Cpf, Email, FullName, NickName, PhoneNumber},
};

/// Parses the given fields (in the contract's order), writes those that differ, and
/// answers the user. Nothing changes, `updated_at` included, when no value differs; then no
/// `user.updated` is published either.
pub async fn update(req: UpdateUser, ctx: Context) -> RpcResult<User> {
    if !ctx.caller.may_touch(req.id)? {
        return Err(not_found(req.id));
    }
    let nick_name = req.nick_name.as_deref().map(NickName::parse).transpose()?;
    let full_name = req.full_name.as_deref().map(FullName::parse).transpose()?;
    let cpf = req.cpf.as_deref().map(Cpf::parse).transpose()?;
    let email = req.email.as_deref().map(Email::parse).transpose()?;
    let phone_number = req.phone_number.as_deref().map(PhoneNumber::parse).transpose()?;
    if let Some(answer) = inbox::replay::<UpdateUser>(&ctx.db, &ctx.request).await? {
        return Ok(answer);
    }
    let mut write = Write::begin::<UpdateUser>(&ctx.db, &ctx.outbox, &ctx.request).await?;
    // FOR UPDATE on PostgreSQL: the answer is the row as this update left it.
    let current = users::Entity::find_by_id(req.id)
        .lock_exclusive()
        .one(&*write)
        .await
        .or_internal("reading a user to update")?
        .ok_or_else(|| not_found(req.id))?;

    // Only differing values are set, so the UPDATE touches only them: a concurrent update of
    // other fields is not undone by stale values read above.
    let mut row = current.clone().into_active_model();
    if let Some(nick_name) = nick_name.filter(|value| value.as_str() != current.nick_name) {
        row.nick_name_key = Set(nick_name.key());
        row.nick_name = Set(nick_name.into());
    }
    if let Some(full_name) = full_name.filter(|value| value.as_str() != current.full_name) {
        row.full_name = Set(full_name.into());
    }
    if let Some(cpf) = cpf.filter(|value| value.as_str() != current.cpf) {
        row.cpf = Set(cpf.into());
    }
    if let Some(email) = email.filter(|value| value.as_str() != current.email) {
        row.email = Set(email.into());
    }
    if let Some(phone_number) = phone_number.filter(|value| value.as_str() != current.phone_number) {
        row.phone_number = Set(phone_number.into());
    }
    if !row.is_changed() {
        return Ok(to_user(current));
    }
    row.updated_at = Set(entities::now());

    match row.update(&*write).await {
        Ok(row) => {
            write.announce(Envelope::new(events::USER_UPDATED, row.id, None));
            write.commit(to_user(row)).await
        }
        // Deleted since we read it.
        Err(DbErr::RecordNotUpdated) => Err(not_found(req.id)),
        Err(error) => match unique_violation(&error) {
            Some(UniqueViolation::Field(field)) => Err(conflict(field)),
            _ => Err(error).or_internal("updating a user"),
        },
    }
}
