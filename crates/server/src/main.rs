use std::process::ExitCode;

use clap::Parser;
use latchkey_server::cli::{
    Cli, ClientCommand, Command, JoinLinkCommand, KeysCommand, TeamCommand, UserCommand,
};
use latchkey_server::config::{Config, Settings};
use latchkey_server::errors::{CliError, StartError};
use latchkey_server::{
    client_commands, commands, connection_commands, issuer_commands, resource_commands,
    saml_cert_commands, saml_commands, serve, team_commands, telemetry, user_commands,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Config::load(cli.config.as_deref()).and_then(Config::check) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("latchkey: configuration: {error}");
            return ExitCode::from(2);
        }
    };
    let quiet_migrations = !matches!(cli.command, Command::Serve | Command::Migrate);
    telemetry::init(settings.log_format, &settings.log_level, quiet_migrations);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("latchkey: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => serve(&settings).await.map_err(|e| e.to_string()),
            command => run(command, &settings, cli.json)
                .await
                .map_err(|e| e.to_string()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("latchkey: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: &Settings) -> Result<(), StartError> {
    let stop = serve::shutdown_signal();
    serve::start(settings).await?.serve_until(stop).await
}

/// A one-shot command.
async fn run(command: Command, settings: &Settings, json: bool) -> Result<(), CliError> {
    match command {
        // Not a one-shot command: `main` serves.
        Command::Serve => Ok(()),
        Command::Migrate => commands::migrate(settings, json).await,
        Command::Probe => commands::probe(settings).await,
        Command::Keys(KeysCommand::List) => commands::keys_list(settings, json).await,
        Command::Keys(KeysCommand::Rotate) => commands::keys_rotate(settings, json).await,
        Command::Keys(KeysCommand::RotateMaster) => {
            commands::keys_rotate_master(settings, json).await
        }
        Command::Client(ClientCommand::Create(args)) => {
            client_commands::create(settings, *args, json).await
        }
        Command::Client(ClientCommand::List) => client_commands::list(settings, json).await,
        Command::Client(ClientCommand::Delete { client_id }) => {
            client_commands::delete(settings, &client_id, json).await
        }
        Command::Client(ClientCommand::RotateSecret { client_id, grace }) => {
            client_commands::rotate_secret(settings, &client_id, grace, json).await
        }
        Command::Team(TeamCommand::Create { name, admin }) => {
            team_commands::create(settings, &name, &admin, json).await
        }
        Command::Team(TeamCommand::Members { team }) => {
            team_commands::members(settings, &team, json).await
        }
        Command::JoinLink(JoinLinkCommand::Create(args)) => {
            team_commands::create_join_link(settings, args, json).await
        }
        Command::Audit(args) => team_commands::audit(settings, args, json).await,
        Command::Issuer(command) => issuer_commands::run(settings, command, json).await,
        Command::Connection(command) => connection_commands::run(settings, command, json).await,
        Command::User(UserCommand::SetName { email, name }) => {
            user_commands::set_name(settings, &email, &name, json).await
        }
        Command::Resource(command) => resource_commands::run(settings, command, json).await,
        Command::SamlSp(command) => saml_commands::run(settings, command, json).await,
        Command::SamlCert(command) => saml_cert_commands::run(settings, command, json).await,
    }
}
