use clap::Parser;
use gateway::{Application, Config, config::Command, graphql};

/// glibc's allocator shows up in profiles under concurrency; mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if let Some(Command::PrintSchema) = config.command {
        print!("{}", graphql::sdl());
        return Ok(());
    }
    rpc::process::init_tracing();
    gateway::serve::raise_open_file_limit();
    let shutdown = rpc::process::shutdown_on_signal();
    let app = Application::build(config, shutdown).await?;
    app.run_until_stopped().await
}
