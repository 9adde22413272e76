//! The end-to-end suite: the same scenarios over two back ends, embedded (in-process
//! transport, SQLite) and distributed (RabbitMQ, PostgreSQL, both workers' real code).
//! Embedded mode is a cargo feature of the gateway (the default): without it there is no suite.
#![cfg(feature = "embedded")]
#![allow(clippy::unwrap_used)]

mod access;
mod answers;
mod broker_restart;
mod cache;
mod cluster;
mod connections;
mod cors;
mod database_restart;
mod field_errors;
mod graphiql;
mod hardening;
mod helpers;
mod http;
mod live_client;
mod nick_names;
mod orders;
mod outages;
mod persisted_queries;
mod persistence;
mod reliability;
mod routes;
mod schema;
mod subscriptions;
mod throttling;
mod tokens;
mod users;

/// Runs `scenario` against a fresh app on `backend`, then stops the app.
async fn run(backend: helpers::Backend, scenario: impl AsyncFnOnce(&helpers::TestApp)) {
    let app = helpers::spawn_app(backend).await;
    scenario(&app).await;
    app.stop().await;
}

// Each scenario as `embedded::NAME` and `rabbitmq::NAME`.
test_support::on_both_backends! {
    run: crate::run,
    embedded => crate::helpers::Backend::Embedded,
    rabbitmq => crate::helpers::Backend::RabbitMq;
    cache::a_cache_hit_skips_the_broker,
    answers::a_repeated_query_is_answered_whole_without_reading_a_field,
    answers::whole_answers_are_never_stale_after_a_hundred_writes,
    answers::whole_answers_of_many_records_are_never_stale_after_a_hundred_writes,
    answers::whole_answers_are_never_stale_after_the_cascade,
    answers::an_answer_is_never_served_to_another_caller,
    answers::mutations_and_failed_queries_are_never_stored,
    reliability::a_create_order_retried_with_one_key_makes_one_order,
    reliability::a_delete_retried_with_its_key_answers_true_again,
    reliability::a_malformed_idempotency_key_is_a_bad_request,
    cache::a_hundred_updates_are_each_read_back_fresh,
    cache::lists_and_user_orders_are_fresh_after_creates,
    cache::a_cold_key_read_by_32_at_once_costs_one_rpc,
    cache::the_cascade_reaches_a_warm_cache,
    cache::a_page_cached_without_its_count_still_answers_the_count_later,
    users::a_created_user_comes_back_normalised_and_without_a_password,
    users::every_invalid_user_field_is_refused_with_its_field_and_nothing_is_created,
    users::taken_nick_names_cpfs_and_emails_conflict,
    users::users_are_found_by_id_and_by_nick_name_ignoring_case,
    users::concurrent_reads_of_different_users_each_get_their_own,
    users::users_are_listed_oldest_first_in_pages,
    users::page_arguments_out_of_bounds_are_refused,
    users::an_update_changes_only_the_given_fields,
    users::updates_of_missing_users_invalid_values_and_taken_values_are_refused,
    users::a_password_changes_only_with_the_current_one,
    users::a_deleted_user_is_gone,
    orders::an_order_totals_exactly,
    orders::money_stays_exact_at_the_bounds,
    orders::every_invalid_order_field_is_refused_and_nothing_is_created,
    orders::an_order_for_a_missing_user_is_refused_on_user_id,
    orders::orders_are_listed_filtered_and_paged,
    orders::an_order_update_recomputes_the_total,
    orders::a_deleted_order_is_gone,
    orders::a_hundred_orders_with_their_users_cost_one_rpc_each,
    orders::users_with_their_orders_cost_one_orders_rpc,
    orders::deleting_a_user_deletes_their_orders_within_two_seconds,
    http::responses_follow_the_accept_header,
    http::a_body_that_is_not_json_is_a_bad_request,
    http::a_mutation_over_get_is_not_allowed,
    http::graphiql_is_served_to_browsers,
    http::health_readiness_and_metrics_answer,
    http::a_malformed_uuid_is_bad_user_input_on_its_field,
    http::no_output_type_has_a_password_field,
    http::fields_come_back_in_the_order_the_query_selected_them,
    persisted_queries::an_unknown_hash_is_not_found_over_post_and_get,
    persisted_queries::a_query_sent_with_its_hash_is_registered_then_runs_by_its_hash,
    persisted_queries::a_hash_that_does_not_match_its_query_is_a_bad_request_and_nothing_runs,
    persisted_queries::a_version_other_than_1_is_a_bad_request_and_other_extensions_are_ignored,
    persisted_queries::a_mutation_by_its_hash_over_get_is_not_allowed,
    persisted_queries::a_query_text_over_max_query_bytes_is_refused_before_it_is_read,
    field_errors::a_failing_user_orders_is_null_and_its_user_stays_in_the_list,
    field_errors::a_variable_of_the_wrong_kind_is_one_error_with_its_field,
    nick_names::a_nick_name_nobody_has_is_null_every_time_until_somebody_takes_it,
    nick_names::a_nick_name_that_breaks_the_rule_is_null_and_neither_sent_nor_cached,
    routes::a_failed_non_null_root_mutation_field_makes_data_null,
    routes::a_uuid_argument_of_any_wrong_kind_is_null_with_an_error_on_its_field,
    access::the_access_table_holds_for_every_field,
    access::a_cached_record_is_never_served_to_a_caller_who_may_not_see_it,
    tokens::forged_tampered_and_malformed_tokens_are_unauthenticated,
    throttling::the_attempt_past_the_limit_on_an_account_is_too_many_requests,
    throttling::failed_password_changes_are_limited_too,
    throttling::every_attempt_of_a_batch_and_of_aliases_counts,
}

#[tokio::test]
async fn embedded_an_expired_token_is_unauthenticated() {
    tokens::an_expired_token_is_unauthenticated(helpers::Backend::Embedded).await;
}

#[tokio::test]
async fn rabbitmq_an_expired_token_is_unauthenticated() {
    tokens::an_expired_token_is_unauthenticated(helpers::Backend::RabbitMq).await;
}
