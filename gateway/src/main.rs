use clap::Parser;
use gateway::{Application, Config, config::Command, graphql};

/// glibc's allocator shows up in profiles under concurrency; mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    match &config.command {
        Some(Command::PrintSchema) => {
            print!("{}", graphql::sdl());
            return Ok(());
        }
        #[cfg(feature = "embedded")]
        Some(Command::GrantAdmin { nick_name } | Command::RevokeAdmin { nick_name }) => {
            let admin = matches!(config.command, Some(Command::GrantAdmin { .. }));
            let found = gateway::embedded::set_admin(&config, nick_name, admin).await?;
            std::process::exit(if found { 0 } else { 1 });
        }
        None => {}
    }
    rpc::process::init_tracing();
    gateway::serve::raise_open_file_limit();
    let shutdown = rpc::process::shutdown_on_signal();
    let app = Application::build(config, shutdown).await?;
    app.run_until_stopped().await
}
