//! The real release binaries as child processes: a [`Stack`] of gateways and workers started
//! with one deployment's environment, each of which a fault may kill (SIGKILL), pause
//! (SIGSTOP), resume (SIGCONT) and start again with the same environment and address. Each
//! process writes to a log file of its own, appended to across restarts and kept after the run.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::Context as _;
use tokio::process::{Child, Command};

use crate::{api::Api, instances::free_port};

/// What every process of the run is given.
pub struct Deployment {
    /// Where `gateway`, `users-worker` and `orders-worker` are.
    pub binaries: PathBuf,
    pub amqp_url: String,
    pub users_database_url: String,
    pub orders_database_url: String,
    pub redis_url: String,
    pub auth_secret: String,
    /// One folder per stack under it.
    pub log_root: PathBuf,
}

/// The gateways' and the workers' `RPC_TIMEOUT_MS`, unless a scenario says otherwise.
pub const RPC_TIMEOUT: Duration = Duration::from_millis(2000);

#[derive(Clone, Copy)]
enum Binary {
    Gateway,
    UsersWorker,
    OrdersWorker,
}

impl Binary {
    fn file_name(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::UsersWorker => "users-worker",
            Self::OrdersWorker => "orders-worker",
        }
    }
}

/// One process of a stack, running or not: what it runs with, so that it can be started again.
pub struct Member {
    pub name: String,
    program: PathBuf,
    env: Vec<(&'static str, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Member {
    fn new(
        deployment: &Deployment,
        binary: Binary,
        name: String,
        env: Vec<(&'static str, String)>,
        logs: &Path,
    ) -> Self {
        let log = logs.join(format!("{name}.log"));
        Self { program: deployment.binaries.join(binary.file_name()), env, log, name, child: None }
    }

    /// Starts the process (again); it must not be running.
    pub fn start(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "{} is already running", self.name);
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        use std::io::Write as _;
        writeln!(log, "===== faults: starting {} at {} =====", self.name, chrono::Utc::now().to_rfc3339())?;
        let child = Command::new(&self.program)
            // Nothing from the caller's environment (an AMQP_URL, a DATABASE_URL) leaks in.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(name, value)| (*name, value.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // If the harness dies or is interrupted, its processes do too.
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} ({})", self.name, self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    fn pid(&self) -> anyhow::Result<u32> {
        self.child.as_ref().and_then(Child::id).with_context(|| format!("{} is not running", self.name))
    }

    /// SIGKILL, and reaps it.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().with_context(|| format!("{} is not running", self.name))?;
        child.kill().await.with_context(|| format!("killing {}", self.name))
    }

    /// SIGSTOP: the process holds its connections and messages but does nothing.
    pub async fn pause(&self) -> anyhow::Result<()> {
        self.signal("STOP").await
    }

    /// SIGCONT.
    pub async fn resume(&self) -> anyhow::Result<()> {
        self.signal("CONT").await
    }

    async fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.pid()?.to_string();
        let status = Command::new("kill").args(["-s", signal, &pid]).status().await.context("running kill")?;
        anyhow::ensure!(status.success(), "kill -s {signal} {} ({pid}) failed", self.name);
        Ok(())
    }

    /// SIGTERM (after a SIGCONT, in case it is paused), then SIGKILL if it has not exited
    /// within 15 s, after its threads' stacks went to its log. Whether it exited by itself is
    /// the answer.
    async fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else { return true };
        let pid = child.id().map(|pid| pid.to_string()).unwrap_or_default();
        for signal in ["CONT", "TERM"] {
            let _ = Command::new("kill").args(["-s", signal, &pid]).status().await;
        }
        if tokio::time::timeout(Duration::from_secs(15), child.wait()).await.is_ok() {
            return true;
        }
        self.dump_stacks(&pid).await;
        let _ = child.kill().await;
        false
    }

    /// Appends every thread's backtrace to the log, with gdb when it is installed: where a
    /// process that does not stop is stuck.
    async fn dump_stacks(&self, pid: &str) {
        let Ok(log) = std::fs::OpenOptions::new().append(true).open(&self.log) else { return };
        let Ok(err) = log.try_clone() else { return };
        let gdb = Command::new("gdb")
            .args(["-p", pid, "-batch", "-ex", "thread apply all bt"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .kill_on_drop(true)
            .status();
        let _ = tokio::time::timeout(Duration::from_secs(60), gdb).await;
    }

    /// The exit status, when the process has ended on its own.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|child| child.try_wait().ok().flatten())
    }
}

/// A gateway: its process and the address it keeps across restarts.
pub struct Gateway {
    pub member: Member,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Whether it counts when the stack says it is ready: a gateway given a timeout far below
    /// what the services need is not expected to be.
    pub normal: bool,
}

/// How many of each a stack runs, and each gateway's `RPC_TIMEOUT_MS`.
pub struct StackSpec {
    pub gateway_timeouts: Vec<Duration>,
    pub users_workers: usize,
    pub orders_workers: usize,
}

impl StackSpec {
    /// One of each.
    pub fn single() -> Self {
        Self { gateway_timeouts: vec![RPC_TIMEOUT], users_workers: 1, orders_workers: 1 }
    }
}

pub struct Stack {
    /// Its log folder's name and its cache key prefix's last part.
    pub name: String,
    pub gateways: Vec<Gateway>,
    pub users_workers: Vec<Member>,
    pub orders_workers: Vec<Member>,
    pub logs: PathBuf,
}

impl Stack {
    /// Starts the workers, then the gateways, and waits until every normal gateway is ready.
    /// `name` names the log folder and the cache key prefix, so stacks never share cache
    /// entries or their invalidation queue.
    pub async fn start(deployment: &Deployment, spec: StackSpec, name: &str, api: &Api) -> anyhow::Result<Self> {
        let logs = deployment.log_root.join(name);
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let common = |timeout: Duration| {
            vec![
                ("AMQP_URL", deployment.amqp_url.clone()),
                ("RPC_TIMEOUT_MS", timeout.as_millis().to_string()),
                // FAULTS_RUST_LOG: another filter, to see more of what a process did.
                ("RUST_LOG", std::env::var("FAULTS_RUST_LOG").unwrap_or_else(|_| "warn".to_owned())),
                // Plain text in the log files.
                ("NO_COLOR", "1".to_owned()),
                // Never used with AMQP_URL; set so that nothing could land in the checkout.
                ("DATA_DIR", logs.display().to_string()),
            ]
        };
        let users_workers = (1..=spec.users_workers)
            .map(|n| {
                let mut env = common(RPC_TIMEOUT);
                env.push(("USERS_DATABASE_URL", deployment.users_database_url.clone()));
                Member::new(deployment, Binary::UsersWorker, format!("users-worker-{n}"), env, &logs)
            })
            .collect();
        let orders_workers = (1..=spec.orders_workers)
            .map(|n| {
                let mut env = common(RPC_TIMEOUT);
                env.push(("ORDERS_DATABASE_URL", deployment.orders_database_url.clone()));
                Member::new(deployment, Binary::OrdersWorker, format!("orders-worker-{n}"), env, &logs)
            })
            .collect();
        let mut gateways = Vec::new();
        for (n, timeout) in (1..).zip(&spec.gateway_timeouts) {
            let port = free_port()?;
            let mut env = common(*timeout);
            env.extend([
                ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
                ("REDIS_URL", deployment.redis_url.clone()),
                ("AUTH_SECRET", deployment.auth_secret.clone()),
                ("CACHE_TTL_SECONDS", "30".to_owned()),
                ("CACHE_KEY_PREFIX", format!("gqlmq:faults:{name}")),
            ]);
            let member = Member::new(deployment, Binary::Gateway, format!("gateway-{n}"), env, &logs);
            gateways.push(Gateway { member, url: format!("http://127.0.0.1:{port}"), normal: *timeout >= RPC_TIMEOUT });
        }
        let mut stack = Self { name: name.to_owned(), gateways, users_workers, orders_workers, logs };
        for member in stack.members() {
            member.start()?;
        }
        stack.wait_until_ready(api, Duration::from_secs(120)).await?;
        Ok(stack)
    }

    /// Every process, the workers first.
    pub fn members(&mut self) -> impl Iterator<Item = &mut Member> {
        self.users_workers
            .iter_mut()
            .chain(self.orders_workers.iter_mut())
            .chain(self.gateways.iter_mut().map(|gateway| &mut gateway.member))
    }

    /// The addresses of every gateway, in order.
    pub fn urls(&self) -> Vec<String> {
        self.gateways.iter().map(|gateway| gateway.url.clone()).collect()
    }

    /// The addresses of the normal gateways.
    pub fn normal_urls(&self) -> Vec<String> {
        self.gateways.iter().filter(|gateway| gateway.normal).map(|gateway| gateway.url.clone()).collect()
    }

    /// Polls until every normal gateway's `/readyz` is 200 (and every other gateway's
    /// `/healthz`); fails after `within`, or at once when a process has exited.
    pub async fn wait_until_ready(&mut self, api: &Api, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let mut ready = true;
            for gateway in &self.gateways {
                let up = if gateway.normal { api.ready(&gateway.url).await } else { api.healthy(&gateway.url).await };
                ready &= up;
            }
            if ready {
                return Ok(());
            }
            for member in self.members() {
                if let Some(status) = member.exited() {
                    anyhow::bail!("{} exited ({status}) while the stack started; see its log", member.name);
                }
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the stack was not ready within {within:?}; see the logs under {}",
                self.logs.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops every process: the gateways first, then the workers. The names of those that had
    /// to be killed.
    pub async fn stop(mut self) -> Vec<String> {
        let mut killed = stop_all(self.gateways.iter_mut().map(|gateway| &mut gateway.member).collect()).await;
        killed.extend(stop_all(self.users_workers.iter_mut().chain(self.orders_workers.iter_mut()).collect()).await);
        killed
    }
}

/// Stops `members` at once; the names of those that had to be killed.
async fn stop_all(members: Vec<&mut Member>) -> Vec<String> {
    let stops = members.into_iter().map(|member| async move { (!member.stop().await).then(|| member.name.clone()) });
    futures_util::future::join_all(stops).await.into_iter().flatten().collect()
}

/// Per log file of `folder`, its ERROR and panic lines: how many, and the first.
pub fn log_errors(folder: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(folder) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.filter_map(|entry| Some(entry.ok()?.path())).collect();
    files.sort();
    let mut notes = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let errors: Vec<&str> =
            text.lines().filter(|line| line.contains("ERROR") || line.contains("panicked")).collect();
        let warnings = text.lines().filter(|line| line.contains("WARN")).count();
        if let Some(first) = errors.first() {
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            let first: String = first.chars().take(300).collect();
            notes.push(format!("{name}: {} ERROR/panic lines, {warnings} WARN; first: {first}", errors.len()));
        }
    }
    notes
}

/// Runs `users-worker grant-admin <nick_name>`, as an operator would.
pub async fn grant_admin(deployment: &Deployment, nick_name: &str) -> anyhow::Result<()> {
    let program = deployment.binaries.join(Binary::UsersWorker.file_name());
    let output = Command::new(&program)
        .args(["grant-admin", nick_name])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("USERS_DATABASE_URL", &deployment.users_database_url)
        .env("AMQP_URL", &deployment.amqp_url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .with_context(|| format!("running {} grant-admin", program.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "users-worker grant-admin {nick_name}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
