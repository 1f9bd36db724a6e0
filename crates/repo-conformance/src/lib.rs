//! The repository contract of manager.md 14.1 as executable checks, run
//! by every `Repository` backend against a fresh, empty store per check.
//!
//! ```ignore
//! async fn fresh() -> (Arc<dyn Repository>, TempDir) { /* … */ }
//! gthulhu_repo_conformance::repository_conformance_tests!(fresh());
//! ```
//!
//! A factory without its backend (no database configured) yields
//! `Err(Missing::Required(reason))`: the check says `SKIPPED <reason>`
//! locally and fails under CI.
//!
//! The expansion holds one `#[tokio::test]` per check, so the calling crate
//! needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.

use std::future::Future;
use std::sync::Arc;

use gthulhu_domain::manager::Repository;
use gthulhu_test_support::precondition;

pub mod checks;
pub mod fixtures;

/// What a backend's factory yields for one check: the repository, plus
/// whatever must outlive the check (a temporary directory, a container).
pub trait Fixture {
    /// `Err` skips the check, or fails it under CI (see [`Missing`]).
    fn repository(&self) -> Result<Arc<dyn Repository>, &Missing>;
}

/// Why a factory has no repository for a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// A precondition CI provides (e.g. `MONGODB_URI`): the check is
    /// skipped locally and fails under CI.
    Required(String),
    /// Extra coverage CI does not provide (e.g. a Docker engine): the
    /// check is skipped everywhere.
    Optional(String),
}

impl Missing {
    /// Says why the test did not run; fails it when CI should have run it.
    pub fn report(&self) {
        match self {
            Self::Required(reason) => precondition::skip_or_fail(reason),
            Self::Optional(reason) => precondition::skip(reason),
        }
    }
}

impl Fixture for Arc<dyn Repository> {
    fn repository(&self) -> Result<Arc<dyn Repository>, &Missing> {
        Ok(Arc::clone(self))
    }
}

impl<F: Fixture> Fixture for Result<F, Missing> {
    fn repository(&self) -> Result<Arc<dyn Repository>, &Missing> {
        self.as_ref()?.repository()
    }
}

/// The second element is kept alive until the check has finished.
impl<F: Fixture, G> Fixture for (F, G) {
    fn repository(&self) -> Result<Arc<dyn Repository>, &Missing> {
        self.0.repository()
    }
}

/// Runs one check against the fixture's repository, then drops the fixture.
pub async fn run<F, C, Fut>(fixture: F, check: C)
where
    F: Fixture,
    C: FnOnce(Arc<dyn Repository>) -> Fut,
    Fut: Future<Output = ()>,
{
    match fixture.repository() {
        Ok(repo) => check(repo).await,
        Err(missing) => missing.report(),
    }
    drop(fixture);
}

/// Expands to one `#[tokio::test]` per conformance check. `$factory` is an
/// expression evaluated once per test to a future whose output implements
/// [`Fixture`] and holds a fresh, empty repository.
#[macro_export]
macro_rules! repository_conformance_tests {
    ($factory:expr) => {
        $crate::__conformance_tests!(
            $factory;
            ping_succeeds,
            users_create_get_and_list_in_id_order,
            users_duplicate_username_conflicts,
            users_unknown_ids_are_not_found,
            users_update_replaces_only_mutable_fields,
            users_count_with_role,
            users_rename_role_everywhere,
            roles_create_get_and_list_in_id_order,
            roles_duplicate_name_conflicts,
            roles_get_by_names_skips_unknown,
            roles_update_and_rename,
            roles_update_onto_taken_name_conflicts,
            roles_unknown_ids_are_not_found,
            roles_delete_frees_the_name,
            permissions_upsert_keeps_order_and_updates,
            strategies_insert_get_and_list,
            strategies_insert_is_atomic,
            strategies_replace_swaps_all_intents,
            strategies_replace_is_atomic,
            strategies_unknown_ids_are_not_found,
            strategies_delete_returns_its_intents,
            strategies_list_follows_every_write,
            intents_get_skips_unknown,
            intents_list_by_creator_strategy_and_node,
            intents_list_by_pods,
            intents_apply_changes,
            intents_insert_duplicate_pair_conflicts,
            intents_update_replaces_fields_and_indexes,
            intents_update_onto_taken_pair_conflicts,
            intents_delete_skips_unknown,
            intents_set_state,
            audit_newest_first_with_limit,
            audit_filters,
            audit_cursor_pages,
            migrations_record_is_idempotent,
            concurrent_distinct_users_all_succeed,
            concurrent_same_username_one_wins,
            concurrent_strategy_inserts_are_isolated,
            sessions_insert_get_and_unknown_ids,
            sessions_rotate_is_a_compare_and_set,
            sessions_revoke_is_idempotent_and_keeps_the_first_reason,
            sessions_revoke_every_family_of_a_user_but_one,
            sessions_list_live_least_recently_used_first,
            sessions_delete_expired_revoked_or_not,
            concurrent_rotations_of_one_jti_one_wins,
            users_token_version_bumps_atomically_and_survives_updates,
            runtime_configs_upsert_and_get_round_trip,
            runtime_configs_upsert_replaces_and_keeps_the_id,
            runtime_configs_unknown_nodes_are_not_found,
            runtime_configs_list_sorted_by_node_name,
            runtime_configs_record_apply_sets_only_its_fields,
            runtime_configs_delete_counts_and_skips_unknown,
            concurrent_runtime_config_upserts_of_one_node_leave_one_record,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($factory:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::run($factory.await, $crate::checks::$check).await;
            }
        )+
    };
}
