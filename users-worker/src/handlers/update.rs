//! `users.update`: change the given fields of one user.

use entities::users;
use rpc::{
    Envelope, RpcResult, events,
    users::{UpdateUser, User},
};
use sea_orm::{ActiveModelTrait, DbErr, IntoActiveModel, Set};

use super::{UniqueViolation, conflict, find, internal, not_found, to_user, unique_violation};
use crate::{Context, validation};

/// Validates the given fields (in the contract's order), writes those that differ, and
/// answers the user. Nothing changes, `updated_at` included, when no value differs; then no
/// `user.updated` is published either.
pub async fn update(req: UpdateUser, ctx: Context) -> RpcResult<User> {
    let current = find(&ctx.db, req.id).await?.ok_or_else(|| not_found(req.id))?;
    let nick_name = req.nick_name.as_deref().map(validation::nick_name).transpose()?;
    let full_name = req.full_name.as_deref().map(validation::full_name).transpose()?;
    let cpf = req.cpf.as_deref().map(validation::cpf).transpose()?;
    let email = req.email.as_deref().map(validation::email).transpose()?;
    let phone_number = req.phone_number.as_deref().map(validation::phone_number).transpose()?;

    // Only differing values are set, so the UPDATE touches only them: a concurrent update of
    // other fields is not undone by stale values read above.
    let mut row = current.clone().into_active_model();
    if let Some(nick_name) = nick_name.filter(|value| *value != current.nick_name) {
        row.nick_name_key = Set(users::nick_name_key(&nick_name));
        row.nick_name = Set(nick_name);
    }
    if let Some(full_name) = full_name.filter(|value| *value != current.full_name) {
        row.full_name = Set(full_name);
    }
    if let Some(cpf) = cpf.filter(|value| *value != current.cpf) {
        row.cpf = Set(cpf);
    }
    if let Some(email) = email.filter(|value| *value != current.email) {
        row.email = Set(email);
    }
    if let Some(phone_number) = phone_number.filter(|value| *value != current.phone_number) {
        row.phone_number = Set(phone_number);
    }
    if !row.is_changed() {
        return Ok(to_user(current));
    }
    row.updated_at = Set(users::now());

    match row.update(&ctx.db).await {
        Ok(row) => {
            ctx.events.publish(Envelope::new(events::USER_UPDATED, row.id, None)).await;
            Ok(to_user(row))
        }
        // Deleted since we read it.
        Err(DbErr::RecordNotUpdated) => Err(not_found(req.id)),
        Err(error) => match unique_violation(&error) {
            Some(UniqueViolation::Field(field)) => Err(conflict(field)),
            _ => Err(internal("cannot update a user", error)),
        },
    }
}
