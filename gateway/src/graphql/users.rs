//! The users half of the schema: `User`, its connection, and the users queries and mutations.

use async_graphql::{ComplexObject, Context, InputObject, Object, Result, SimpleObject};
use rpc::users as wire;
use uuid::Uuid;

use super::{
    Gateway,
    error::RpcResultExt,
    orders::OrderConnection,
    pagination::{DEFAULT_FIRST, connection, page_args, page_extras},
    scalars::{DateTime, Nullable, UuidInput},
};

#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct User {
    pub id: Uuid,
    pub nick_name: String,
    pub full_name: String,
    /// 11 digits, no punctuation.
    pub cpf: String,
    /// Lower case.
    pub email: String,
    /// Separators removed, leading + kept.
    pub phone_number: String,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

impl From<wire::User> for User {
    fn from(user: wire::User) -> Self {
        Self {
            id: user.id,
            nick_name: user.nick_name,
            full_name: user.full_name,
            cpf: user.cpf,
            email: user.email,
            phone_number: user.phone_number,
            created_at: DateTime(user.created_at),
            updated_at: DateTime(user.updated_at),
        }
    }
}

#[ComplexObject]
impl User {
    /// This user's orders, oldest first; batched with the other users of the response.
    #[graphql(
        complexity = "crate::graphql::complexity::list_cost_of(__ctx, __variables_definition, __field, child_complexity)"
    )]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(DEFAULT_FIRST)")] first: Option<i64>,
        after: Option<String>,
    ) -> Nullable<OrderConnection> {
        Nullable::of(async {
            let (first, after) = page_args(first, after)?;
            let extras = page_extras(ctx, after);
            let key = rpc::orders::UserOrdersKey { user_id: self.id, first, after, extras };
            let page = Gateway::loaders(ctx)?.user_orders.load_one(key).await.gql()?;
            Ok(page.map(OrderConnection::from))
        })
        .await
    }
}

connection!(UserConnection, UserEdge, User, wire::User);

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// Users, oldest first.
    #[graphql(
        complexity = "crate::graphql::complexity::list_cost_of(__ctx, __variables_definition, __field, child_complexity)"
    )]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(DEFAULT_FIRST)")] first: Option<i64>,
        after: Option<String>,
    ) -> Nullable<UserConnection> {
        Nullable::of(async {
            let (first, after) = page_args(first, after)?;
            let extras = page_extras(ctx, after);
            let (rpc, cache, keys, reads) =
                (Gateway::rpc(ctx)?, Gateway::cache(ctx)?, Gateway::keys(ctx)?, Gateway::reads(ctx)?);
            let page = cache
                .get_one(reads, keys.users_page(first, after, extras), || async move {
                    rpc.call(&wire::ListUsers { first, after, extras }).await
                })
                .await
                .gql()?;
            Ok(Some(page.into()))
        })
        .await
    }

    /// The user with this id; null when there is none.
    async fn user(&self, ctx: &Context<'_>, id: UuidInput) -> Nullable<User> {
        Nullable::of(async {
            let id = id.get("id")?;
            let user = Gateway::loaders(ctx)?.users.load_one(id).await.gql()?;
            Ok(user.map(User::from))
        })
        .await
    }

    /// The user with this nickName, ignoring case; null when there is none.
    async fn user_by_nick_name(&self, ctx: &Context<'_>, nick_name: String) -> Nullable<User> {
        Nullable::of(async {
            // A nickName that breaks the rule (API.md: 3–32 letters, digits, `_ . -`; the users
            // service's own check) is nobody's: null at once, neither sent to the service nor
            // cached. A look-up, not an input, so not an error either; and no text a client
            // sends grows a cache key.
            if !rpc::users::is_nick_name(&nick_name) {
                return Ok(None);
            }
            let (rpc, cache, keys, reads) =
                (Gateway::rpc(ctx)?, Gateway::cache(ctx)?, Gateway::keys(ctx)?, Gateway::reads(ctx)?);
            let key = keys.user_by_nick_name(&nick_name);
            let user = cache
                .get_optional(reads, key, || {
                    let nick_name = nick_name.clone();
                    async move { rpc.call(&wire::GetUserByNickName { nick_name }).await }
                })
                .await
                .gql()?;
            Ok(user.map(User::from))
        })
        .await
    }
}

#[derive(InputObject)]
pub struct CreateUserInput {
    pub nick_name: String,
    pub full_name: String,
    pub password: String,
    pub cpf: String,
    pub email: String,
    pub phone_number: String,
}

#[derive(InputObject)]
pub struct UpdateUserInput {
    pub nick_name: Option<String>,
    pub full_name: Option<String>,
    pub cpf: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Creates a user. The password is stored only as an argon2id hash and never shown again.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Result<User> {
        // Chosen here, so a redelivered request finds its own row instead of making another.
        let id = Uuid::now_v7();
        let request = wire::CreateUser {
            id,
            nick_name: input.nick_name,
            full_name: input.full_name,
            password: input.password,
            cpf: input.cpf,
            email: input.email,
            phone_number: input.phone_number,
        };
        // Anyone may sign up, also with a token that expired.
        let rpc = Gateway::public_rpc(ctx)?;
        Ok(Gateway::write_with(ctx, rpc, &request, |keys| keys.user_written(id)).await?.into())
    }

    /// Changes the given fields; the others stay.
    async fn update_user(&self, ctx: &Context<'_>, id: UuidInput, input: UpdateUserInput) -> Result<User> {
        let id = id.get("id")?;
        let request = wire::UpdateUser {
            id,
            nick_name: input.nick_name,
            full_name: input.full_name,
            cpf: input.cpf,
            email: input.email,
            phone_number: input.phone_number,
        };
        Ok(Gateway::write(ctx, &request, |keys| keys.user_written(id)).await?.into())
    }

    /// Replaces the password when currentPassword is right (UNAUTHENTICATED otherwise), and
    /// ends every token of the user, this one too: sign in again with the new password.
    /// Failed attempts are limited as `login`'s are (TOO_MANY_REQUESTS).
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        id: UuidInput,
        current_password: String,
        new_password: String,
    ) -> Result<bool> {
        let id = id.get("id")?;
        let client = Gateway::requester(ctx)?.auth.client.clone();
        // A redelivery of this request is told by this id, never by trying newPassword.
        let request_id = Uuid::now_v7();
        let request = wire::ChangePassword { id, current_password, new_password, request_id, client };
        let changed = Gateway::write(ctx, &request, |keys| keys.user_written(id)).await?;
        // This gateway stops taking the user's tokens now; the others on `user.sessions_ended`.
        Gateway::auth(ctx)?.sessions().user_changed(id);
        Ok(changed)
    }

    /// Deletes a user, and every token of theirs; their orders follow within seconds.
    async fn delete_user(&self, ctx: &Context<'_>, id: UuidInput) -> Result<bool> {
        let id = id.get("id")?;
        let deleted = Gateway::write(ctx, &wire::DeleteUser { id }, |keys| keys.user_written(id)).await?;
        Gateway::auth(ctx)?.sessions().user_changed(id);
        Ok(deleted)
    }
}
