//! Embedded mode keeps its data across a restart.

use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_data_survives_a_restart() {
    let data_dir = tempfile::tempdir().unwrap();
    let path = data_dir.path().to_owned();
    let app = spawn_app_with(Backend::Embedded, |config| config.data_dir = path.clone()).await;
    let user = create_user(&app).await;
    let order = create_order(&app, user["id"].as_str().unwrap(), 3, "19.9").await;
    app.stop().await;

    let app = spawn_app_with(Backend::Embedded, |config| config.data_dir = path.clone()).await;
    let body = app
        .graphql(
            &format!(
                "query($u: UUID!, $o: UUID!) {{ user(id: $u) {{ {USER_FIELDS} }} order(id: $o) {{ {ORDER_FIELDS} }} }}"
            ),
            json!({ "u": user["id"], "o": order["id"] }),
        )
        .await;
    assert_eq!(body["data"]["user"], user, "{body}");
    assert_eq!(body["data"]["order"], order);
    assert!(path.join("users.db").exists() && path.join("orders.db").exists());
    app.stop().await;
}
