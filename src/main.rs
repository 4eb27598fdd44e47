use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use gateway::auth::{mint_hs256, unix_now, Claims, Role};
use gateway::configuration::{
    Cli, Command, DatabaseSettings, Settings, SyncArgs, TokenArgs, TokenRole, WorkerProcessSettings,
};
use gateway::db::Db;
use gateway::domain::OrganizerId;
use gateway::domain::RunStatus;
use gateway::services::sync::SyncRunResponse;
use gateway::startup::{migrate, reconcile_now, Application};
use gateway::telemetry;

fn main() -> ExitCode {
    // A missing .env is normal; the environment and flags still apply.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    telemetry::init(&cli.log);
    let result = match cli.command {
        Command::Serve(args) => Settings::from_args(*args)
            .map_err(anyhow::Error::from)
            .and_then(serve),
        Command::Migrate(database) => run_migrations(database),
        Command::Worker(args) => WorkerProcessSettings::from_args(args)
            .map_err(anyhow::Error::from)
            .and_then(|settings| {
                actix_web::rt::System::new().block_on(gateway::startup::run_workers(settings))
            }),
        Command::Sync(args) => match args.org {
            Some(org) => reconcile(args, Some(org)),
            None => Err(anyhow::anyhow!(
                "`sync` needs --org <organizer id>; `reconcile` runs every organizer"
            )),
        },
        Command::Reconcile(args) => reconcile(args, None),
        Command::Token(args) => token(args),
        Command::Openapi => {
            print!("{}", gateway::openapi::document_yaml());
            Ok(())
        }
        Command::Distribute => {
            print!("{}", gateway::db::distribution::citus_sql());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let application = Application::build(settings).await?;
        application.run_until_stopped().await?;
        Ok(())
    })
}

/// Prints each run as the API shows it, one JSON object per organizer; fails when a run did.
fn reconcile(args: SyncArgs, only: Option<OrganizerId>) -> anyhow::Result<()> {
    let runs = actix_web::rt::System::new().block_on(reconcile_now(args, only))?;
    let mut failed = 0;
    for run in runs {
        if run.status != RunStatus::Succeeded {
            failed += 1;
        }
        let shown = SyncRunResponse::read(run)
            .map_err(|err| anyhow::anyhow!("a run could not be shown: {err}"))?;
        println!("{}", serde_json::to_string_pretty(&shown)?);
    }
    if failed > 0 {
        anyhow::bail!("{failed} run(s) did not succeed");
    }
    Ok(())
}

fn run_migrations(database: DatabaseSettings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let db = Db::connect(&database.database_url, 1, database.connect_timeout())
            .with_context(|| format!("cannot open the database at {}", database.database_url))?;
        let applied = migrate(&db).await?;
        if applied.is_empty() {
            println!("no pending migrations ({})", database.database_url);
        }
        for version in applied {
            println!("applied {version}");
        }
        Ok(())
    })
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let secret = args.auth.jwt_secret.ok_or_else(|| {
        anyhow::anyhow!("JWT_SECRET is not set: `token` signs HS256 tokens with it")
    })?;
    let now = unix_now();
    let claims = Claims {
        sub: args.sub,
        exp: now + args.ttl_secs,
        iat: Some(now),
        role: match args.role {
            TokenRole::Admin => Role::Admin,
            TokenRole::Organizer => Role::Organizer,
        },
        org: args.org.map(|org| org.to_string()),
        iss: args.auth.jwt_issuer,
        aud: args.auth.jwt_audience,
    };
    println!("{}", mint_hs256(&secret, &claims)?);
    Ok(())
}
