//! [`on_both_backends!`](crate::on_both_backends): every suite runs its scenarios twice, once
//! per back end, as tests named `BACKEND::SCENARIO`.

/// Declares each scenario as two tests, one in a module per back end, that call
/// `run(backend, scenario)`: `run` gives the scenario what it needs on that back end (a
/// database, a whole app) and removes it afterwards. Invoke it at the test crate's root, where
/// the scenarios' paths start.
///
/// ```text
/// test_support::on_both_backends! {
///     run: crate::run,
///     sqlite => crate::Backend::Sqlite,
///     postgres => crate::Backend::Postgres;
///     creates_are_stored, // a function at the test crate's root...
///     users::a_deleted_user_is_gone, // ...or in one of its modules
/// }
/// ```
#[macro_export]
macro_rules! on_both_backends {
    (
        run: $run:path,
        $first:ident => $first_backend:expr,
        $second:ident => $second_backend:expr;
        $($scenarios:tt)*
    ) => {
        $crate::on_both_backends!(@module $first, $first_backend, $run; $($scenarios)*);
        $crate::on_both_backends!(@module $second, $second_backend, $run; $($scenarios)*);
    };
    (@module $module:ident, $backend:expr, $run:path; $($scope:ident :: $name:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $run($backend, super::$scope::$name).await;
                }
            )*
        }
    };
    (@module $module:ident, $backend:expr, $run:path; $($name:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $run($backend, super::$name).await;
                }
            )*
        }
    };
}
