//! Identity and access (`API.md`): who may do what, over both back ends, for four callers:
//! signed out, the owner of the records, another user, and an admin. Every query, mutation and
//! field of the schema is in [`the_access_table_holds_for_every_field`]; a write refused is
//! checked to have changed nothing.

use serde_json::{Value, json};

use crate::helpers::{ORDER_FIELDS, TestApp, USER_FIELDS, create_order, error_of};

/// The four callers of the table.
struct Callers {
    owner: (Value, String),
    other: (Value, String),
    admin: String,
}

impl Callers {
    async fn new(app: &TestApp) -> Self {
        Self { owner: app.sign_up().await, other: app.sign_up().await, admin: app.admin_token.clone() }
    }

    /// (name, token) of each caller, in the table's order.
    fn each(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("anonymous", None),
            ("owner", Some(self.owner.1.as_str())),
            ("other", Some(self.other.1.as_str())),
            ("admin", Some(self.admin.as_str())),
        ]
    }
}

/// What one caller gets from one operation.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    /// `data` at this path is this value, with no error.
    Data(&'static str, Value),
    /// The first error has this code (and `data` at the path is null, when there is data).
    Code(&'static str),
}

use Answer::{Code, Data};

/// Asserts `answer` of `body` for `who` running `what`.
#[track_caller]
fn assert_answer(body: &Value, answer: &Answer, who: &str, what: &str) {
    match answer {
        Data(path, expected) => {
            assert!(body.get("errors").is_none(), "{who} {what}: {body}");
            assert_eq!(&body["data"].pointer(path).cloned().unwrap_or(Value::Null), expected, "{who} {what}: {body}");
        }
        Code(code) => assert_eq!(error_of(body).0, *code, "{who} {what}: {body}"),
    }
}

/// The ids of a connection's nodes, in order.
fn ids(body: &Value, path: &str) -> Vec<String> {
    body["data"]
        .pointer(path)
        .and_then(Value::as_array)
        .map_or_else(Vec::new, |nodes| nodes.iter().map(|node| node["id"].as_str().unwrap().to_owned()).collect())
}

/// Every field of the schema, by every caller: exactly what `API.md`'s table allows.
pub async fn the_access_table_holds_for_every_field(app: &TestApp) {
    let callers = Callers::new(app).await;
    let (owner, other) = (&callers.owner.0, &callers.other.0);
    let (owner_id, other_id) = (owner["id"].as_str().unwrap(), other["id"].as_str().unwrap());
    let owners_order = create_order(app, owner_id, 2, "10.00").await;
    let others_order = create_order(app, other_id, 1, "5.00").await;
    let order_id = owners_order["id"].as_str().unwrap();
    let unauthenticated = Code("UNAUTHENTICATED");
    let admin = app.graphql("{ viewer { id nickName } }", json!({})).await;
    let admin_id = admin["data"]["viewer"]["id"].as_str().unwrap().to_owned();
    assert!(admin["data"]["viewer"]["nickName"].as_str().unwrap().starts_with("operator_"), "{admin}");

    // ---- reads: (query, variables, anonymous, owner, other, admin)
    let user_of_owner = json!({ "id": owner_id, "cpf": owner["cpf"], "email": owner["email"] });
    let reads: Vec<(&str, Value, [Answer; 4])> = vec![
        ("{ __typename }", json!({}), std::array::from_fn(|_| Data("/__typename", json!("Query")))),
        (
            "{ __schema { queryType { name } } }",
            json!({}),
            std::array::from_fn(|_| Data("/__schema/queryType/name", json!("Query"))),
        ),
        (
            "query($id: UUID!) { user(id: $id) { id cpf email } }",
            json!({ "id": owner_id }),
            [
                unauthenticated.clone(),
                Data("/user", user_of_owner.clone()),
                Data("/user", Value::Null),
                Data("/user", user_of_owner.clone()),
            ],
        ),
        (
            "query($n: String!) { userByNickName(nickName: $n) { id cpf email } }",
            json!({ "n": owner["nickName"].as_str().unwrap().to_uppercase() }),
            [
                unauthenticated.clone(),
                Data("/userByNickName", user_of_owner.clone()),
                Data("/userByNickName", Value::Null),
                Data("/userByNickName", user_of_owner.clone()),
            ],
        ),
        (
            "{ users { totalCount } }",
            json!({}),
            [unauthenticated.clone(), Code("FORBIDDEN"), Code("FORBIDDEN"), Data("/users/totalCount", json!(3))],
        ),
        (
            "query($id: UUID!) { order(id: $id) { id userId totalValue } }",
            json!({ "id": order_id }),
            [
                unauthenticated.clone(),
                Data("/order", json!({ "id": order_id, "userId": owner_id, "totalValue": "20.00" })),
                Data("/order", Value::Null),
                Data("/order", json!({ "id": order_id, "userId": owner_id, "totalValue": "20.00" })),
            ],
        ),
        (
            "query($id: UUID!) { order(id: $id) { user { id } } }",
            json!({ "id": order_id }),
            [
                unauthenticated.clone(),
                Data("/order/user/id", json!(owner_id)),
                Data("/order", Value::Null),
                Data("/order/user/id", json!(owner_id)),
            ],
        ),
        (
            "query($id: UUID!) { user(id: $id) { orders { totalCount nodes { id } } } }",
            json!({ "id": owner_id }),
            [
                unauthenticated.clone(),
                Data("/user/orders", json!({ "totalCount": 1, "nodes": [{ "id": order_id }] })),
                Data("/user", Value::Null),
                Data("/user/orders", json!({ "totalCount": 1, "nodes": [{ "id": order_id }] })),
            ],
        ),
        (
            "query($id: UUID!) { orders(userId: $id) { totalCount nodes { id } } }",
            json!({ "id": owner_id }),
            [
                unauthenticated.clone(),
                Data("/orders", json!({ "totalCount": 1, "nodes": [{ "id": order_id }] })),
                Data("/orders", json!({ "totalCount": 0, "nodes": [] })),
                Data("/orders", json!({ "totalCount": 1, "nodes": [{ "id": order_id }] })),
            ],
        ),
        (
            "{ viewer { id } }",
            json!({}),
            [
                Data("/viewer", Value::Null),
                Data("/viewer/id", json!(owner_id)),
                Data("/viewer/id", json!(other_id)),
                Data("/viewer/id", json!(admin_id)),
            ],
        ),
    ];
    for (query, variables, answers) in &reads {
        for ((who, token), answer) in callers.each().into_iter().zip(answers) {
            let body = app.graphql_as(token, query, variables.clone()).await;
            assert_answer(&body, answer, who, query);
        }
    }
    // `orders` without `userId`: a user lists their own only, an admin everyone's.
    let all_orders = "{ orders(first: 100) { nodes { id } } }";
    assert_eq!(error_of(&app.graphql_as(None, all_orders, json!({})).await).0, "UNAUTHENTICATED");
    let listed = |body: Value| ids(&body, "/orders/nodes");
    assert_eq!(listed(app.graphql_as(Some(&callers.owner.1), all_orders, json!({})).await), vec![order_id]);
    let others_id = others_order["id"].as_str().unwrap();
    assert_eq!(listed(app.graphql_as(Some(&callers.other.1), all_orders, json!({})).await), vec![others_id]);
    let everyone = listed(app.graphql_as(Some(&callers.admin), all_orders, json!({})).await);
    assert!(everyone.contains(&order_id.to_owned()) && everyone.contains(&others_id.to_owned()), "{everyone:?}");

    // ---- writes of the owner's records by those who may not: refused, and nothing changes.
    let snapshot = format!(
        "query($u: UUID!, $o: UUID!) {{ user(id: $u) {{ {USER_FIELDS} }} order(id: $o) {{ {ORDER_FIELDS} }} \
         orders(userId: $u) {{ totalCount }} }}"
    );
    let before = app.graphql(&snapshot, json!({ "u": owner_id, "o": order_id })).await;
    let refused_writes: Vec<(&str, Value, &str)> = vec![
        (
            "mutation($id: UUID!) { updateUser(id: $id, input: { fullName: \"Taken Over\" }) { id } }",
            json!({ "id": owner_id }),
            "NOT_FOUND",
        ),
        (
            "mutation($id: UUID!) { changePassword(id: $id, currentPassword: \"correct horse battery\", newPassword: \"mine now, thanks\") }",
            json!({ "id": owner_id }),
            "NOT_FOUND",
        ),
        ("mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": owner_id }), "NOT_FOUND"),
        (
            "mutation($id: UUID!) { createOrder(input: { userId: $id, itemDescription: \"x\", itemQuantity: 1, itemPrice: \"0.00\" }) { id } }",
            json!({ "id": owner_id }),
            "BAD_USER_INPUT",
        ),
        (
            "mutation($id: UUID!) { updateOrder(id: $id, input: { itemPrice: \"0.00\" }) { id } }",
            json!({ "id": order_id }),
            "NOT_FOUND",
        ),
        ("mutation($id: UUID!) { deleteOrder(id: $id) }", json!({ "id": order_id }), "NOT_FOUND"),
    ];
    for (query, variables, others_code) in &refused_writes {
        let anonymous = app.graphql_as(None, query, variables.clone()).await;
        assert_eq!(error_of(&anonymous).0, "UNAUTHENTICATED", "anonymous {query}: {anonymous}");
        let other = app.graphql_as(Some(&callers.other.1), query, variables.clone()).await;
        assert_eq!(error_of(&other).0, *others_code, "other {query}: {other}");
    }
    // Someone else's order is refused as one for no user is: on `userId`.
    let other = app.graphql_as(Some(&callers.other.1), refused_writes[3].0, refused_writes[3].1.clone()).await;
    assert_eq!(error_of(&other).1.as_deref(), Some("userId"), "{other}");
    let after = app.graphql(&snapshot, json!({ "u": owner_id, "o": order_id })).await;
    assert_eq!(after, before, "nothing refused changed anything");
    assert!(app.login(owner["nickName"].as_str().unwrap(), "correct horse battery").await.len() > 20);
    // `logout` signed out: nothing to end.
    assert_eq!(error_of(&app.graphql_as(None, "mutation { logout }", json!({})).await).0, "UNAUTHENTICATED");

    // ---- the writes the table allows: the owner's own, and an admin's of anyone's.
    let create = "mutation($id: UUID!) { createOrder(input: { userId: $id, itemDescription: \"mine\", itemQuantity: 3, itemPrice: \"1.10\" }) { id userId totalValue } }";
    for token in [&callers.owner.1, &callers.admin] {
        let body = app.graphql_as(Some(token), create, json!({ "id": owner_id })).await;
        assert_eq!(body["data"]["createOrder"]["totalValue"], "3.30", "{body}");
        let id = body["data"]["createOrder"]["id"].clone();
        let update = "mutation($id: UUID!) { updateOrder(id: $id, input: { itemQuantity: 1 }) { totalValue } }";
        let body = app.graphql_as(Some(token), update, json!({ "id": id })).await;
        assert_eq!(body["data"]["updateOrder"]["totalValue"], "1.10", "{body}");
        let body =
            app.graphql_as(Some(token), "mutation($id: UUID!) { deleteOrder(id: $id) }", json!({ "id": id })).await;
        assert_eq!(body["data"]["deleteOrder"], true, "{body}");
    }
    for (token, name) in [(&callers.owner.1, "By Myself"), (&callers.admin, "By The Admin")] {
        let update =
            "mutation($id: UUID!, $name: String!) { updateUser(id: $id, input: { fullName: $name }) { fullName } }";
        let body = app.graphql_as(Some(token), update, json!({ "id": owner_id, "name": name })).await;
        assert_eq!(body["data"]["updateUser"]["fullName"], name, "{body}");
    }
    // Anyone may sign up, also with a token.
    let input = crate::helpers::new_user_input();
    let signed_up = app
        .graphql_as(
            Some(&callers.other.1),
            "mutation($input: CreateUserInput!) { createUser(input: $input) { nickName } }",
            json!({ "input": input }),
        )
        .await;
    assert_eq!(signed_up["data"]["createUser"]["nickName"], input["nickName"], "{signed_up}");
    // An admin deletes anyone; a user themself.
    let body = app
        .graphql_as(Some(&callers.admin), "mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": other_id }))
        .await;
    assert_eq!(body["data"]["deleteUser"], true, "{body}");
    let body = app
        .graphql_as(Some(&callers.owner.1), "mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": owner_id }))
        .await;
    assert_eq!(body["data"]["deleteUser"], true, "{body}");
}

/// The cache never serves one caller what another may not see: a user read by its owner and
/// by an admin (cached both times) still reads as absent to another user.
pub async fn a_cached_record_is_never_served_to_a_caller_who_may_not_see_it(app: &TestApp) {
    let callers = Callers::new(app).await;
    let owner_id = callers.owner.0["id"].as_str().unwrap();
    let order = create_order(app, owner_id, 1, "1.00").await;
    let query = "query($u: UUID!, $o: UUID!) { user(id: $u) { id email orders { nodes { id } } } order(id: $o) { id user { id } } }";
    let variables = json!({ "u": owner_id, "o": order["id"] });
    for _ in 0..2 {
        for token in [&callers.owner.1, &callers.admin] {
            let body = app.graphql_as(Some(token), query, variables.clone()).await;
            assert_eq!(body["data"]["user"]["id"], owner_id, "{body}");
            assert_eq!(body["data"]["order"]["user"]["id"], owner_id, "{body}");
        }
        let body = app.graphql_as(Some(&callers.other.1), query, variables.clone()).await;
        assert_eq!(body["data"], json!({ "user": null, "order": null }), "{body}");
        let body = app.graphql_as(None, query, variables.clone()).await;
        assert_eq!(error_of(&body).0, "UNAUTHENTICATED", "{body}");
    }
}
