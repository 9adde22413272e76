use serde_json::json;

use crate::helpers::*;

pub async fn a_created_user_comes_back_normalised_and_without_a_password(app: &TestApp) {
    let mut input = new_user_input();
    input["cpf"] = json!("529.982.247-25");
    input["email"] = json!("  Mixed.Case@Example.COM ");
    input["phoneNumber"] = json!("+55 (11) 98765-4321");
    input["fullName"] = json!("  Ana Maria  ");
    let body = app
        .graphql(
            &format!("mutation($input: CreateUserInput!) {{ createUser(input: $input) {{ {USER_FIELDS} }} }}"),
            json!({ "input": input }),
        )
        .await;
    let user = &body["data"]["createUser"];
    assert_eq!(user["cpf"], "52998224725", "{body}");
    assert_eq!(user["email"], "mixed.case@example.com");
    assert_eq!(user["phoneNumber"], "+5511987654321");
    assert_eq!(user["fullName"], "Ana Maria");
    let id: uuid::Uuid = user["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(id.get_version_num(), 7, "ids are UUIDv7");
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
    let text = body.to_string();
    assert!(!text.contains("correct horse") && !text.contains("argon2"), "{text}");

    let fetched = app.graphql(&format!("{{ user(id: \"{id}\") {{ {USER_FIELDS} }} }}"), json!({})).await;
    assert_eq!(&fetched["data"]["user"], user);
}

pub async fn every_invalid_user_field_is_refused_with_its_field_and_nothing_is_created(app: &TestApp) {
    let cases = [
        ("nickName", json!("ab")),
        ("nickName", json!("has space")),
        ("nickName", json!("x".repeat(33))),
        ("fullName", json!("   ")),
        ("fullName", json!("x".repeat(121))),
        ("password", json!("short")),
        ("password", json!("x".repeat(129))),
        ("cpf", json!("529.982.247-26")),
        ("cpf", json!("111.111.111-11")),
        ("cpf", json!("1234567890")),
        ("email", json!("no-at-sign.com")),
        ("email", json!("two@@example.com")),
        ("email", json!("user@localhost")),
        ("email", json!(format!("{}@example.com", "x".repeat(250)))),
        ("phoneNumber", json!("12345")),
        ("phoneNumber", json!("+55 11 9876 5432 1234 5")),
        ("phoneNumber", json!("phone")),
        ("email", json!(5)),
        ("fullName", json!(null)),
    ];
    for (field, value) in cases {
        let mut input = new_user_input();
        input[field] = value.clone();
        let body = try_create_user(app, &input).await;
        assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), Some(field.into())), "{field} = {value}: {body}");
        assert!(body["data"].is_null());
    }
    // A field left out, and one the input does not have (a typo), are named too.
    let mut missing = new_user_input();
    missing.as_object_mut().unwrap().remove("cpf");
    let mut misspelt = new_user_input();
    misspelt["phoneNumbr"] = json!("+55 11 91234-5678");
    for (field, input) in [("cpf", missing), ("phoneNumbr", misspelt)] {
        let body = try_create_user(app, &input).await;
        assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), Some(field.into())), "{field}: {body}");
    }
    let body = app.graphql("{ users { totalCount } }", json!({})).await;
    assert_eq!(body["data"]["users"]["totalCount"], ADMINS, "refused writes change nothing");
}

pub async fn taken_nick_names_cpfs_and_emails_conflict(app: &TestApp) {
    let first = new_user_input();
    let created = try_create_user(app, &first).await;
    assert!(created.get("errors").is_none(), "{created}");
    let nick_upper = first["nickName"].as_str().unwrap().to_uppercase();
    for (field, value) in
        [("nickName", json!(nick_upper)), ("cpf", first["cpf"].clone()), ("email", first["email"].clone())]
    {
        let mut input = new_user_input();
        input[field] = value;
        let body = try_create_user(app, &input).await;
        assert_eq!(error_of(&body), ("CONFLICT".into(), Some(field.into())), "{body}");
    }
    let body = app.graphql("{ users { totalCount } }", json!({})).await;
    assert_eq!(body["data"]["users"]["totalCount"], ADMINS + 1);
}

pub async fn users_are_found_by_id_and_by_nick_name_ignoring_case(app: &TestApp) {
    let user = create_user(app).await;
    let nick = user["nickName"].as_str().unwrap().to_uppercase();
    let body = app
        .graphql(
            "query($nick: String!, $missing: UUID!) { userByNickName(nickName: $nick) { id } user(id: $missing) { id } nobody: userByNickName(nickName: \"nobody_here\") { id } }",
            json!({ "nick": nick, "missing": uuid::Uuid::now_v7() }),
        )
        .await;
    assert_eq!(body["data"]["userByNickName"]["id"], user["id"], "{body}");
    assert!(body["data"]["user"].is_null());
    assert!(body["data"]["nobody"].is_null());
    assert!(body.get("errors").is_none());
}

pub async fn users_are_listed_oldest_first_in_pages(app: &TestApp) {
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(create_user(app).await["id"].clone());
    }
    let query = "query($after: String) { users(first: 2, after: $after) { totalCount nodes { id } edges { cursor node { id } } pageInfo { hasPreviousPage hasNextPage startCursor endCursor } } }";
    let mut seen = Vec::new();
    let mut after = serde_json::Value::Null;
    for page in 0..3 {
        let body = app.graphql(query, json!({ "after": after })).await;
        let users = &body["data"]["users"];
        assert_eq!(users["totalCount"], ADMINS + 5, "{body}");
        assert_eq!(users["pageInfo"]["hasPreviousPage"], page > 0);
        assert_eq!(users["pageInfo"]["hasNextPage"], page < 2);
        assert_eq!(users["edges"][0]["cursor"], users["pageInfo"]["startCursor"]);
        for (node, edge) in users["nodes"].as_array().unwrap().iter().zip(users["edges"].as_array().unwrap()) {
            assert_eq!(node["id"], edge["node"]["id"]);
            seen.push(node["id"].clone());
        }
        after = users["pageInfo"]["endCursor"].clone();
    }
    // The app's admin came first.
    assert_eq!(seen[ADMINS as usize..], ids, "every user once, oldest first");
    let body = app.graphql("{ users { nodes { id } } }", json!({})).await;
    assert_eq!(body["data"]["users"]["nodes"].as_array().unwrap().len(), ADMINS as usize + 5, "first defaults to 20");
}

pub async fn page_arguments_out_of_bounds_are_refused(app: &TestApp) {
    for (query, field) in [
        ("{ users(first: 101) { totalCount } }", "first"),
        ("{ users(first: -1) { totalCount } }", "first"),
        ("{ orders(first: 101) { totalCount } }", "first"),
        ("{ orders(first: 99999999999) { totalCount } }", "first"),
        ("{ users(first: -99999999999) { totalCount } }", "first"),
        ("{ users(after: \"not-a-cursor\") { totalCount } }", "after"),
    ] {
        let body = app.graphql(query, json!({})).await;
        assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), Some(field.into())), "{query}: {body}");
    }
    let body = app.graphql("{ users(first: 0) { totalCount nodes { id } } }", json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
}

pub async fn an_update_changes_only_the_given_fields(app: &TestApp) {
    let user = create_user(app).await;
    let body = app
        .graphql(
            &format!("mutation($id: UUID!) {{ updateUser(id: $id, input: {{ fullName: \"New Name\", email: \"NEW-{}@x.org\" }}) {{ {USER_FIELDS} }} }}", user["nickName"].as_str().unwrap()),
            json!({ "id": user["id"] }),
        )
        .await;
    let updated = &body["data"]["updateUser"];
    assert_eq!(updated["fullName"], "New Name", "{body}");
    assert_eq!(updated["email"], format!("new-{}@x.org", user["nickName"].as_str().unwrap()));
    assert_eq!(updated["cpf"], user["cpf"]);
    assert_eq!(updated["createdAt"], user["createdAt"]);
    assert_ne!(updated["updatedAt"], user["updatedAt"]);
    let fetched = app
        .graphql(&format!("{{ user(id: \"{}\") {{ {USER_FIELDS} }} }}", user["id"].as_str().unwrap()), json!({}))
        .await;
    assert_eq!(&fetched["data"]["user"], updated);
}

pub async fn updates_of_missing_users_invalid_values_and_taken_values_are_refused(app: &TestApp) {
    let (a, b) = (create_user(app).await, create_user(app).await);
    let update = "mutation($id: UUID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id } }";
    let body = app.graphql(update, json!({ "id": uuid::Uuid::now_v7(), "input": { "fullName": "X" } })).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND", "{body}");
    let body = app.graphql(update, json!({ "id": a["id"], "input": { "cpf": "123" } })).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), Some("cpf".into())));
    let body =
        app.graphql(update, json!({ "id": a["id"], "input": { "fullName": "Changed", "email": b["email"] } })).await;
    assert_eq!(error_of(&body), ("CONFLICT".into(), Some("email".into())));
    let fetched =
        app.graphql(&format!("{{ user(id: \"{}\") {{ {USER_FIELDS} }} }}", a["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(fetched["data"]["user"], a, "a refused update changes nothing");
}

pub async fn a_password_changes_only_with_the_current_one(app: &TestApp) {
    let user = create_user(app).await;
    let change = "mutation($id: UUID!, $current: String!, $new: String!) { changePassword(id: $id, currentPassword: $current, newPassword: $new) }";
    let body =
        app.graphql(change, json!({ "id": user["id"], "current": "wrong password", "new": "another long one" })).await;
    assert_eq!(error_of(&body).0, "UNAUTHENTICATED", "{body}");
    let body =
        app.graphql(change, json!({ "id": user["id"], "current": "correct horse battery", "new": "short" })).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), Some("newPassword".into())));
    let body =
        app.graphql(change, json!({ "id": uuid::Uuid::now_v7(), "current": "x", "new": "another long one" })).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND");
    let body = app
        .graphql(change, json!({ "id": user["id"], "current": "correct horse battery", "new": "another long one" }))
        .await;
    assert_eq!(body["data"]["changePassword"], true, "{body}");
    // The old password no longer works; the new one does.
    let body = app
        .graphql(change, json!({ "id": user["id"], "current": "correct horse battery", "new": "third password" }))
        .await;
    assert_eq!(error_of(&body).0, "UNAUTHENTICATED");
    let body =
        app.graphql(change, json!({ "id": user["id"], "current": "another long one", "new": "third password" })).await;
    assert_eq!(body["data"]["changePassword"], true);
}

pub async fn a_deleted_user_is_gone(app: &TestApp) {
    let user = create_user(app).await;
    let delete = "mutation($id: UUID!) { deleteUser(id: $id) }";
    let body = app.graphql(delete, json!({ "id": user["id"] })).await;
    assert_eq!(body["data"]["deleteUser"], true, "{body}");
    let body = app.graphql(delete, json!({ "id": user["id"] })).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND");
    let body = app
        .graphql(
            &format!("{{ user(id: \"{}\") {{ id }} users {{ totalCount }} }}", user["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert!(body["data"]["user"].is_null());
    assert_eq!(body["data"]["users"]["totalCount"], ADMINS);
}

/// Look-ups by id that crowd in are merged across requests (`RPC_LOOKUPS_IN_FLIGHT`); each
/// request must still get exactly the users it asked for, and no more RPCs than requests.
pub async fn concurrent_reads_of_different_users_each_get_their_own(app: &TestApp) {
    let mut users = Vec::new();
    for _ in 0..24 {
        users.push(create_user(app).await);
    }
    let before = app.rpc_count("users", "users.get").await;
    let query = "query($a: UUID!, $b: UUID!) { a: user(id: $a) { id nickName } b: user(id: $b) { id nickName } }";
    let reads = (0..users.len()).map(|i| {
        let (a, b) = (&users[i], &users[(i + 7) % users.len()]);
        async move { (app.graphql(query, json!({ "a": a["id"], "b": b["id"] })).await, a, b) }
    });
    for (body, a, b) in futures_util::future::join_all(reads).await {
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["a"]["id"], a["id"], "{body}");
        assert_eq!(body["data"]["a"]["nickName"], a["nickName"], "{body}");
        assert_eq!(body["data"]["b"]["id"], b["id"], "{body}");
        assert_eq!(body["data"]["b"]["nickName"], b["nickName"], "{body}");
    }
    let calls = app.rpc_count("users", "users.get").await - before;
    assert!((1.0..=24.0).contains(&calls), "{calls} users.get for 24 requests");
}
