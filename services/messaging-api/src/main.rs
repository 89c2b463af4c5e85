//! `messaging-api` binary: `serve` (the default), `migrate`, and `admin` commands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use messaging_api::admin::{self, dlq};
use messaging_api::{Application, Config};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Parser)]
#[command(name = "messaging-api", about = "Nudge's merchant API", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI 3.1 description (YAML) and exit; docs/openapi.yaml is this.
    Openapi,
    /// Operator commands.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a tenant and print {"tenant_id", "api_key", "sender_numbers"} as JSON (the
    /// key is shown once).
    CreateTenant {
        #[arg(long)]
        name: String,
        /// A sender number (E.164) to give the tenant; repeatable. See `admin numbers`.
        #[arg(long = "number")]
        numbers: Vec<String>,
        /// Approved at once, instead of starting in the sandbox (verified numbers only,
        /// 50 messages a day) until `admin tenants approve`.
        #[arg(long)]
        approved: bool,
    },
    /// A tenant's sandbox and the countries it may text.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Sender numbers: each belongs to exactly one tenant, and a shop may send only
    /// from its tenant's numbers.
    Numbers {
        #[command(subcommand)]
        command: NumbersCommand,
    },
    /// Tenants' own provider accounts (Twilio subaccounts); tokens are read from
    /// standard input and stored sealed with SECRETS_KEYRING.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Change a tenant's limits (requests per minute per API key, messages per UTC day,
    /// lead-search provider queries per UTC day).
    SetLimits {
        #[arg(long)]
        tenant: nudge_domain::TenantId,
        #[arg(long)]
        requests_per_minute: Option<u16>,
        #[arg(long)]
        daily_messages: Option<u32>,
        /// A number, or `default` for the lead-search worker's LEAD_SEARCH_TENANT_DAILY_QUERIES.
        #[arg(long)]
        lead_search_daily_queries: Option<String>,
    },
    /// Create a console account in a tenant, its address taken as confirmed. Reads the
    /// password from standard input; prints {"user_id", "email", "role"}.
    CreateConsoleUser {
        #[arg(long)]
        tenant: nudge_domain::TenantId,
        #[arg(long)]
        email: String,
        /// owner, marketer or care_agent
        #[arg(long, default_value = "owner")]
        role: String,
    },
    /// Dead-letter queues: what is in them and why; moving messages back after a fix.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
}

#[derive(Subcommand)]
enum TenantsCommand {
    /// Take a tenant out of its sandbox.
    Approve {
        #[arg(long)]
        tenant: nudge_domain::TenantId,
    },
    /// The country calling codes a tenant may text: `1,44`, or `default` (those of its
    /// own numbers).
    SetDestinations {
        #[arg(long)]
        tenant: nudge_domain::TenantId,
        #[arg(long)]
        calling_codes: String,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Register a tenant's subaccount; its auth token comes from standard input.
    Add {
        #[arg(long)]
        tenant: nudge_domain::TenantId,
        #[arg(long)]
        account_sid: String,
    },
    /// Replace an account's auth token (standard input).
    SetToken {
        #[arg(long)]
        account_sid: String,
    },
    /// The accounts, never their tokens, one JSON object per line.
    List {
        #[arg(long)]
        tenant: Option<nudge_domain::TenantId>,
    },
    /// Seal every token again with SECRETS_KEYRING's first key (key rotation).
    Reseal,
    /// Put a number in one of its tenant's accounts, or `platform`.
    MoveNumber {
        #[arg(long)]
        number: String,
        /// An account SID of the number's tenant, or `platform`.
        #[arg(long)]
        account: String,
    },
}

#[derive(Subcommand)]
enum NumbersCommand {
    /// Give a number to a tenant (refused if another tenant has it).
    Add {
        #[arg(long)]
        tenant: nudge_domain::TenantId,
        #[arg(long)]
        number: String,
    },
    /// Every number with its tenant and the shops using it, one JSON object per line.
    List {
        #[arg(long)]
        tenant: Option<nudge_domain::TenantId>,
    },
    /// Take a number from its tenant (refused while a shop uses it or messages from it
    /// wait to be sent).
    Remove {
        #[arg(long)]
        number: String,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Show what each dead-letter queue holds, with the reason for every message.
    /// The messages stay where they are.
    List {
        /// A source queue (name or URL) whose DLQ to show; repeatable.
        /// Default: outbound-sms, inbound-sms and lead-searches.
        #[arg(long = "queue")]
        queues: Vec<String>,
        /// Most messages shown per queue.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// JSON (with the message bodies) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Move messages from a queue's DLQ back to the queue.
    Redrive {
        /// The source queue (name or URL).
        #[arg(long)]
        queue: String,
        /// An SQS message id to move, as `list` shows it; repeatable.
        #[arg(
            long = "message-id",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        message_ids: Vec<String>,
        /// Move every message.
        #[arg(long)]
        all: bool,
        /// Most messages looked at.
        #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: u32,
    },
}

/// What the one-shot commands need: only the database.
#[derive(Deserialize)]
struct DatabaseOnly {
    database_url: SecretString,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    nudge_telemetry::main("messaging-api", run(cli.command.unwrap_or(Command::Serve))).await
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Openapi => {
            print!("{}", messaging_api::openapi::yaml()?);
        }
        Command::Serve => {
            let config = Config::from_env()?;
            let aws = nudge_aws::load_config().await;
            let app = Application::build(config, &aws).await?;
            tracing::info!(port = app.port(), "messaging-api listening");
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let db: DatabaseOnly = nudge_domain::config::from_env()?;
            let applied = nudge_db::migrate::run_pending(db.database_url.expose_secret()).await?;
            tracing::info!(applied, "migrations applied");
        }
        Command::Admin {
            command:
                AdminCommand::CreateTenant {
                    name,
                    numbers,
                    approved,
                },
        } => {
            let mut conn = database().await?;
            println!(
                "{}",
                admin::create_tenant(&mut conn, &name, &numbers, approved).await?
            );
        }
        Command::Admin {
            command: AdminCommand::Tenants { command },
        } => {
            let mut conn = database().await?;
            let output = match command {
                TenantsCommand::Approve { tenant } => {
                    admin::tenants::approve(&mut conn, tenant).await?
                }
                TenantsCommand::SetDestinations {
                    tenant,
                    calling_codes,
                } => admin::tenants::set_destinations(&mut conn, tenant, &calling_codes).await?,
            };
            println!("{output}");
        }
        Command::Admin {
            command: AdminCommand::Accounts { command },
        } => {
            let mut conn = database().await?;
            let keyring = || -> anyhow::Result<nudge_domain::sealed::Keyring> {
                nudge_domain::sealed::Keyring::from_config(
                    std::env::var("SECRETS_KEYRING").ok().as_deref(),
                )?
                .ok_or_else(|| anyhow::anyhow!("SECRETS_KEYRING is not set: it seals the tokens"))
            };
            let output = match command {
                AccountsCommand::Add {
                    tenant,
                    account_sid,
                } => {
                    let keyring = keyring()?;
                    let token = read_secret_line()?;
                    admin::accounts::add(&mut conn, &keyring, tenant, &account_sid, &token).await?
                }
                AccountsCommand::SetToken { account_sid } => {
                    let keyring = keyring()?;
                    let token = read_secret_line()?;
                    admin::accounts::set_token(&mut conn, &keyring, &account_sid, &token).await?
                }
                AccountsCommand::List { tenant } => {
                    admin::accounts::list(&mut conn, tenant).await?
                }
                AccountsCommand::Reseal => admin::accounts::reseal(&mut conn, &keyring()?).await?,
                AccountsCommand::MoveNumber { number, account } => {
                    admin::accounts::move_number(&mut conn, &number, &account).await?
                }
            };
            if !output.is_empty() {
                println!("{output}");
            }
        }
        Command::Admin {
            command: AdminCommand::Numbers { command },
        } => {
            let mut conn = database().await?;
            let output = match command {
                NumbersCommand::Add { tenant, number } => {
                    admin::numbers::add(&mut conn, tenant, &number).await?
                }
                NumbersCommand::List { tenant } => admin::numbers::list(&mut conn, tenant).await?,
                NumbersCommand::Remove { number } => {
                    admin::numbers::remove(&mut conn, &number).await?
                }
            };
            if !output.is_empty() {
                println!("{output}");
            }
        }
        Command::Admin {
            command:
                AdminCommand::SetLimits {
                    tenant,
                    requests_per_minute,
                    daily_messages,
                    lead_search_daily_queries,
                },
        } => {
            let mut conn = database().await?;
            let rpm = requests_per_minute.map(i32::from);
            let daily = daily_messages.map(i32::try_from).transpose()?;
            anyhow::ensure!(rpm != Some(0), "--requests-per-minute must be at least 1");
            let lead_budget = lead_search_daily_queries
                .as_deref()
                .map(admin::parse_budget)
                .transpose()?;
            anyhow::ensure!(
                rpm.is_some() || daily.is_some() || lead_budget.is_some(),
                "nothing to change: give --requests-per-minute, --daily-messages or --lead-search-daily-queries"
            );
            if rpm.is_some() || daily.is_some() {
                anyhow::ensure!(
                    nudge_db::tenants::set_limits(&mut conn, tenant, rpm, daily).await?,
                    "no tenant {tenant}"
                );
            }
            if let Some(budget) = lead_budget {
                anyhow::ensure!(
                    nudge_db::tenants::set_lead_search_budget(&mut conn, tenant, budget).await?,
                    "no tenant {tenant}"
                );
            }
            println!("limits updated for tenant {tenant}");
        }
        Command::Admin {
            command:
                AdminCommand::CreateConsoleUser {
                    tenant,
                    email,
                    role,
                },
        } => {
            let mut conn = database().await?;
            let password = read_secret_line()?;
            println!(
                "{}",
                admin::create_console_user(&mut conn, tenant, &email, &role, password).await?
            );
        }
        Command::Admin {
            command: AdminCommand::Dlq { command },
        } => dead_letters(command).await?,
    }
    Ok(())
}

/// A connection to `DATABASE_URL`: what the admin commands work on.
async fn database() -> anyhow::Result<nudge_db::AsyncPgConnection> {
    let db: DatabaseOnly = nudge_domain::config::from_env()?;
    Ok(nudge_db::connect(db.database_url.expose_secret()).await?)
}

/// One line of standard input, without its line ending: how secrets reach the CLI.
fn read_secret_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn dead_letters(command: DlqCommand) -> anyhow::Result<()> {
    let aws = nudge_aws::load_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    match command {
        DlqCommand::List {
            queues,
            limit,
            json,
        } => {
            let mut conn = database().await?;
            let names = if queues.is_empty() {
                dlq::QUEUES.iter().map(|q| (*q).to_owned()).collect()
            } else {
                queues
            };
            let mut listings = Vec::with_capacity(names.len());
            for name in names {
                let source = nudge_queue::SqsQueue::new(sqs.clone(), &name);
                listings.push(dlq::list(&mut conn, &source, limit as usize).await?);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&listings)?);
            } else {
                print!("{}", dlq::table(&listings));
            }
        }
        DlqCommand::Redrive {
            queue,
            message_ids,
            all,
            limit,
        } => {
            let source = nudge_queue::SqsQueue::new(sqs, &queue);
            let selection = if all {
                dlq::Selection::All
            } else {
                dlq::Selection::Ids(message_ids)
            };
            let report = dlq::redrive(&source, &selection, limit as usize).await?;
            println!(
                "moved {} message(s) back to {queue}; {} left in its DLQ",
                report.moved.len(),
                report.kept
            );
            for id in &report.moved {
                println!("  moved {id}");
            }
            for id in &report.duplicated {
                println!("  {id}: sent back, but still in the DLQ too (could not delete it there)");
            }
            if let Some(error) = report.stopped_by {
                anyhow::bail!("redrive stopped early, the rest is still in the DLQ: {error}");
            }
        }
    }
    Ok(())
}
