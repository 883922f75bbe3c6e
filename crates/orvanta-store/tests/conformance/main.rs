//! The storage conformance suite: one set of tests, written once against
//! `Arc<dyn Store>`, run unchanged on SQLite and on PostgreSQL.
//!
//! Each test is an `async fn(Arc<dyn Store>)` in one of the modules below;
//! [`conformance!`] instantiates it twice, as `sqlite::<name>` and
//! `postgres::<name>`, each on a fresh, empty store (see [`harness`]). Run one
//! backend with `cargo test -p orvanta-store --test conformance sqlite::`.
//! Tests that only make sense for PostgreSQL (opening errors, the listener
//! surviving a server restart) live in [`pg_only`].

mod access;
mod accounts;
mod config;
mod events;
mod fixtures;
mod flow_runs;
mod flows;
mod harness;
mod hooks;
mod instance;
mod notices;
mod outbox;
mod outputs;
mod pg_only;
mod queue;
mod scripts;

/// Instantiates every listed test once per backend.
macro_rules! conformance {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = crate::harness::Db::sqlite().await;
                    crate::$module::$name(db.store()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = crate::harness::Db::postgres().await;
                    crate::$module::$name(db.store()).await;
                }
            )*
        }
    };
}

conformance! {
    hooks::definitions,
    hooks::events_jobs_and_deliveries,
    hooks::waits_commit_with_the_flow_and_end_once,
    hooks::a_batch_of_events_commits_together_and_dedupes_within,
    hooks::a_large_batch_sees_the_waits_and_a_taken_job_id_is_existing,
    hooks::an_ended_runs_key_is_freed_only_by_an_acting_event,
    access::users_by_email_update_and_delete,
    access::members_list_and_removal,
    access::groups_and_their_members,
    access::folders_and_item_perms,
    access::invites_are_accepted_once,
    config::variables_are_created_renamed_and_deleted,
    outbox::changes_record_their_events_and_deliveries_go_in_order,
    outbox::users_joining_record_instance_events,
    outbox::scripts_flows_and_folders_record_their_events,
    outbox::runs_hold_the_workspace_and_stop_where_order_requires,
    outbox::a_run_continues_under_its_claim_with_what_was_recorded_meanwhile,
    outbox::commits_that_record_events_wake_the_dispatcher,
    outbox::settled_events_are_purged_with_age_pending_ones_never,
    config::resources_and_their_types,
    config::http_triggers_are_saved_renamed_listed_and_deleted,
    config::apps_keep_every_version,
    accounts::backend_answers,
    accounts::workspaces,
    accounts::users_and_members,
    accounts::member_of_unknown_workspace_or_user,
    accounts::tokens,
    notices::sweep_records_notices_and_events,
    notices::sweeps_take_a_limited_batch,
    notices::concurrent_sweeps_notice_each_token_once,
    notices::outbox_claims_and_outcomes,
    notices::concurrent_claims_take_each_notice_once,
    notices::settled_notices_are_purged_with_age,
    instance::settings_first_writer_wins,
    instance::worker_slots,
    instance::worker_tags,
    scripts::versions_chain,
    scripts::stale_parent_conflicts,
    scripts::hash_clash_conflicts,
    scripts::concurrent_saves_one_wins,
    scripts::list_archive_delete,
    flows::versions_increase_across_the_instance,
    flows::concurrent_saves_get_distinct_versions,
    flows::flows_list_archive_delete,
    flows::rename_moves_every_version,
    queue::enqueue_round_trip,
    queue::idempotency_keys,
    queue::idempotency_key_expires,
    queue::ended_idempotency_keys_are_purged,
    queue::caller_chosen_id_twice,
    queue::claim_order,
    queue::claim_tags,
    queue::concurrent_claimers,
    queue::concurrency_limits_hold_across_claimers,
    queue::complete_and_claim_is_a_slots_turn,
    queue::concurrent_sweepers,
    queue::lease_renewal,
    queue::complete_by_worker_only,
    queue::sweep_requeues_once_then_fails,
    queue::a_canceled_job_whose_worker_vanished_is_not_run_again,
    queue::cancel_outcomes,
    outputs::logs_from_offsets,
    outputs::stream_apart_from_logs,
    outputs::job_with_its_stream,
    outputs::purge,
    outputs::list_filters,
    outputs::list_paging,
    flow_runs::a_step_and_the_next_commit_together,
    flow_runs::large_values_come_back_as_written,
    flow_runs::a_stale_state_or_a_lost_step_writes_nothing,
    flow_runs::parked_iterations_wait_for_activation,
    flow_runs::canceling_a_flow_cancels_what_it_started,
    flow_runs::wake_times_come_due,
    flow_runs::flow_runs_are_claimed_many_at_once,
    events::enqueue_then_complete,
    events::claim_cancel_progress,
}
