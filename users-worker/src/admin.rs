//! The operator's commands `grant-admin` and `revoke-admin`: the only way a user becomes an
//! admin or stops being one. Nothing in the API can.

use entities::users;
use rpc::{Envelope, EventPublisher, events};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, Set};

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

/// Makes the user with `nick_name` (ignoring case) an admin, or not. Gateways hear of it
/// through `user.updated` when `events` reaches them (they look the user's sessions up again);
/// without events, within the time they keep a session (`SESSION_CHECK_SECONDS`).
pub async fn set_admin(
    db: &DatabaseConnection,
    events: Option<&dyn EventPublisher>,
    nick_name: &str,
    admin: bool,
) -> anyhow::Result<Outcome> {
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
    row.update(db).await?;
    if let Some(events) = events {
        events.publish(Envelope::new(events::USER_UPDATED, id, None)).await;
    }
    Ok(Outcome::Changed { nick_name })
}

/// Runs a command the way both binaries (`users-worker`, and `gateway` in embedded mode) do:
/// prints what it did; `Ok(false)` when there is no such user (exit code 1).
pub async fn run(
    db: &DatabaseConnection,
    events: Option<&dyn EventPublisher>,
    nick_name: &str,
    admin: bool,
) -> anyhow::Result<bool> {
    let outcome = set_admin(db, events, nick_name, admin).await?;
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
