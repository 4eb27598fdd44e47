//! The CLI's runs (`sync`, `reconcile`): reconciliation now, in this process.

use super::background::{self, Background};
use super::{app_state, open_database, StateOptions, SHUTDOWN_GRACE};
use crate::jobs::Runner;
use crate::services::sync;
use crate::stripe::Stripe;

/// The `sync` and `reconcile` subcommands: runs now, in this process, one per organizer (`org`,
/// or every active, connected one), each under its account's lease like any run. Returns the
/// finished runs. While a run goes, its progress is shown on stderr when that is a terminal.
pub async fn reconcile_now(
    args: crate::configuration::SyncArgs,
    only: Option<crate::domain::OrganizerId>,
) -> anyhow::Result<Vec<crate::db::models::sync::SyncRun>> {
    use crate::db::models::Organizer;
    use crate::db::DbError;
    use crate::domain::RunTrigger;

    let db = open_database(&args.database)?;
    let stripe = Stripe::new(&crate::configuration::StripeSettings::from_args(
        args.stripe,
    )?)?;
    let mut runner = Runner::new();
    let state = app_state(
        db,
        stripe,
        crate::configuration::audit_hash_key(args.audit)?,
        runner.jobs(),
        StateOptions {
            read_runners: args.database.database_read_runners,
            create_wait: std::time::Duration::ZERO,
            backfill_on_register: false,
            reconcile_every: None,
            targets: crate::notify::target::Targets::default(),
        },
    )?;
    let organizers = match only {
        Some(id) => {
            let key = id.to_string();
            let organizer = state
                .db
                .run(move |conn| Ok::<_, DbError>(Organizer::find_by_id(conn, &key)?))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no organizer {id}"))?;
            if organizer.stripe_account_id.is_none() {
                anyhow::bail!(
                    "organizer {id} has no Stripe account yet: there is nothing to reconcile"
                );
            }
            vec![organizer]
        }
        None => {
            state
                .db
                .run(|conn| Ok::<_, DbError>(crate::db::models::Organizer::list_connected(conn)?))
                .await?
        }
    };
    // This process calls Stripe too: it takes its share of the budget like any instance.
    background::register(
        &mut runner,
        &state,
        Background {
            inbox: None,
            sweep: None,
            purges: None,
            deliveries: None,
            metrics: false,
        },
    );
    let jobs = runner.start();
    let progress = match &organizers[..] {
        [only] => Some(tokio::spawn(sync::show_progress(
            state.clone(),
            only.data_account().to_string(),
        ))),
        _ => None,
    };
    let finished = sync::schedule::run_all(
        &state,
        organizers,
        RunTrigger::Cli,
        args.dry_run,
        args.concurrency,
    )
    .await;
    if let Some(progress) = progress {
        progress.abort();
    }
    jobs.shutdown(SHUTDOWN_GRACE).await;
    let finished = finished?;
    Ok(finished)
}
