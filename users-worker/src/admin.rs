//! The operator's commands `grant-admin` and `revoke-admin`: the only way a user becomes an
//! admin or stops being one. Nothing in the API can.

use std::sync::Arc;

use entities::{outbox::Outbox, users};
use rpc::{Envelope, EventPublisher, events};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, Set, TransactionTrait,
};

/// What a command did, for the operator to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No user has that nickName (ignoring case).
    NoSuchUser,
    /// The user was already so.
    Unchanged {
        nick_name: String,
    },
    Changed {
        nick_name: String,
    },
}

/// Makes the user with `nick_name` (ignoring case) an admin, or not, and puts `user.updated`
/// in the outbox. Gateways hear of it once a relay publishes it (they look the user's sessions
/// up again): this command's own with `events`, else a running worker's; and within the time
/// they keep a session (`SESSION_CHECK_SECONDS`) whatever happens.
pub async fn set_admin(db: &DatabaseConnection, nick_name: &str, admin: bool) -> anyhow::Result<Outcome> {
    let key = users::nick_name_key(nick_name.trim());
    let Some(row) = users::Entity::find().filter(users::Column::NickNameKey.eq(key)).one(db).await? else {
        return Ok(Outcome::NoSuchUser);
    };
    let nick_name = row.nick_name.clone();
    if row.admin == admin {
        return Ok(Outcome::Unchanged { nick_name });
    }
    let id = row.id;
    let mut row = row.into_active_model();
    row.admin = Set(admin);
    let txn = db.begin().await?;
    row.update(&txn).await?;
    entities::outbox::add(&txn, &[Envelope::new(events::USER_UPDATED, id, None)]).await?;
    txn.commit().await?;
    Ok(Outcome::Changed { nick_name })
}

/// Runs a command the way both binaries (`users-worker`, and `gateway` in embedded mode) do:
/// prints what it did; `Ok(false)` when there is no such user (exit code 1).
pub async fn run(
    db: &DatabaseConnection,
    events: Option<Arc<dyn EventPublisher>>,
    nick_name: &str,
    admin: bool,
) -> anyhow::Result<bool> {
    let outcome = set_admin(db, nick_name, admin).await?;
    if let (Some(events), Outcome::Changed { .. }) = (events, &outcome) {
        let outbox = Outbox::new(db.clone(), events, crate::OUTBOX_LOCK_KEY);
        if let Err(error) = outbox.flush().await {
            eprintln!("could not announce it now ({error:#}); a running users-worker will");
        }
    }
    let what = if admin { "an admin" } else { "not an admin" };
    match outcome {
        Outcome::NoSuchUser => {
            eprintln!("no user has the nickName {nick_name:?}");
            return Ok(false);
        }
        Outcome::Unchanged { nick_name } => println!("{nick_name} was {what} already; nothing changed"),
        Outcome::Changed { nick_name } => println!("{nick_name} is now {what}"),
    }
    Ok(true)
}
