//! A RabbitMQ cluster of a test's own: several nodes on this machine, for tests that lose a
//! node. Each node is started as [`crate::PrivateRabbitMq`] starts its one (the machine's
//! `rabbitmq-server` with its own node name, ports, data and log folders and an empty plugin
//! list), then every node but the first joins the first. Nodes of one machine share the Erlang
//! cookie of the `rabbitmq` user, so they may cluster.
//!
//! [`PrivateRabbitMqCluster::kill`] kills one node hard (`kill -9` of its `beam.smp`, found by
//! its pid file and checked to be that node's), as a crash or a lost machine would. Dropping the
//! cluster stops every node left and removes their folders, also after a panic; the machine's
//! broker is never touched.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

/// How long one node may take to boot, or to rejoin after `start_app`: three Erlang nodes on a
/// busy two-core machine are slow.
const NODE_STARTUP: Duration = Duration::from_secs(120);
/// How long the cluster may take to show every node running, once they all joined.
const CLUSTER_FORMATION: Duration = Duration::from_secs(120);
/// The most one `rabbitmqctl` may take before the test gives up on it.
const CTL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a killed node's process and listener may take to go.
const KILL_TIMEOUT: Duration = Duration::from_secs(30);
/// Between two looks at something the test waits for.
const POLL: Duration = Duration::from_millis(200);

pub struct PrivateRabbitMqCluster {
    nodes: Vec<Node>,
}

struct Node {
    /// The node's Erlang name, `gqlmq-node-<run>-<id>@localhost` (scripts/test.sh stops what a
    /// crashed test left by that prefix).
    name: String,
    amqp_port: u16,
    dir: PathBuf,
    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    url: String,
    /// Set once [`PrivateRabbitMqCluster::kill`] killed it: nothing is left to stop.
    killed: AtomicBool,
}

impl PrivateRabbitMqCluster {
    /// Starts `size` nodes, clusters them, and waits until every node accepts connections and
    /// sees all `size` running.
    ///
    /// # Panics
    /// When a node cannot start or join: the test cannot run.
    pub async fn start(size: usize) -> Self {
        assert!(size > 0, "a cluster has at least one node");
        // Made before anything starts, so that dropping it (a panic below) stops what did.
        let cluster = Self { nodes: (0..size).map(|_| Node::prepare()).collect() };
        // All boot at once: on two cores that takes about as long as the slowest.
        for node in &cluster.nodes {
            node.launch();
        }
        for node in &cluster.nodes {
            node.await_startup().await;
        }
        let first = &cluster.nodes[0].name;
        for node in &cluster.nodes[1..] {
            node.ctl(&["stop_app"]).await;
            node.ctl(&["join_cluster", first]).await;
            node.ctl(&["start_app"]).await;
            node.await_startup().await;
        }
        cluster.await_formation().await;
        cluster
    }

    /// One AMQP URL per node, in the nodes' order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|node| node.url.clone()).collect()
    }

    /// Every node's URL, comma-separated, node 0 first: an `AMQP_URL` that fails over.
    pub fn url_list(&self) -> String {
        self.urls().join(",")
    }

    /// The Erlang name of node `index`.
    pub fn node_name(&self, index: usize) -> &str {
        &self.nodes[index].name
    }

    /// `rabbitmqctl -n <node index> args`: its output, or what went wrong. For a test to show
    /// what the cluster holds (`list_queues`, `list_consumers`...) when something fails.
    pub async fn rabbitmqctl(&self, index: usize, args: &[&str]) -> Result<String, String> {
        self.nodes[index].run_ctl(args).await
    }

    /// Kills node `index` hard (`kill -9` of its `beam.smp`) and waits until its process is
    /// gone and its AMQP port refuses connections. No other process is touched: the pid comes
    /// from the node's pid file and is checked to be that node's before the signal.
    ///
    /// # Panics
    /// When the node is not running or does not die.
    pub async fn kill(&self, index: usize) {
        let node = &self.nodes[index];
        assert!(!node.killed.load(Ordering::SeqCst), "node {} was already killed", node.name);
        let pid = node.pid().unwrap_or_else(|| panic!("node {} has no pid file", node.name));
        assert!(is_node_process(pid, &node.name), "pid {pid} is not node {}'s beam.smp", node.name);
        let status = Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill runs");
        assert!(status.success(), "kill -9 {pid} (node {}) failed", node.name);
        node.killed.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + KILL_TIMEOUT;
        while is_node_process(pid, &node.name) || port_open(node.amqp_port).await {
            assert!(tokio::time::Instant::now() < deadline, "node {} still runs after kill -9 {pid}", node.name);
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `rabbitmqctl cluster_status` of every node lists every node as running.
    async fn await_formation(&self) {
        let names: Vec<&str> = self.nodes.iter().map(|node| node.name.as_str()).collect();
        let deadline = tokio::time::Instant::now() + CLUSTER_FORMATION;
        for node in &self.nodes {
            loop {
                let status = node.try_ctl(&["cluster_status", "--formatter", "json"]).await;
                let running = status.as_deref().map(running_nodes).unwrap_or_default();
                if names.iter().all(|name| running.iter().any(|running| running == name)) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "node {} never saw all {} nodes running; it saw {running:?} ({status:?})",
                    node.name,
                    names.len()
                );
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

impl Drop for PrivateRabbitMqCluster {
    /// Stops every node not killed, all at once, then removes every node's folder. A node that
    /// does not stop in time is killed; failures are let go (a panic while a test's panic
    /// unwinds would abort the run, and scripts/test.sh stops what is left).
    fn drop(&mut self) {
        std::thread::scope(|scope| {
            for node in &self.nodes {
                scope.spawn(move || node.stop());
            }
        });
        for node in &self.nodes {
            let _ = std::fs::remove_dir_all(&node.dir);
        }
    }
}

impl Node {
    /// A node's folder with its configuration and plugin list, not started yet.
    fn prepare() -> Self {
        let base = crate::unique_name("gqlmq-node", '-');
        let dir = std::env::temp_dir().join(&base);
        std::fs::create_dir_all(&dir).expect("a folder for the private node");
        let amqp_port = crate::free_port();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("the plugin list");
        std::fs::write(dir.join("rabbitmq.conf"), format!("listeners.tcp.1 = 127.0.0.1:{amqp_port}\n"))
            .expect("the node's configuration");
        // rabbitmq-server drops to the `rabbitmq` user when started as root: it must own its folder.
        let _ = Command::new("chown").args(["-R", "rabbitmq:rabbitmq"]).arg(&dir).status();
        Self {
            name: format!("{base}@localhost"),
            url: format!("amqp://guest:guest@127.0.0.1:{amqp_port}/%2f"),
            amqp_port,
            dir,
            killed: AtomicBool::new(false),
        }
    }

    /// `rabbitmq-server -detached`: returns once the node is on its way up.
    fn launch(&self) {
        let status = Command::new("rabbitmq-server")
            .arg("-detached")
            .envs(self.environment(crate::free_port()))
            .status()
            .expect("rabbitmq-server runs");
        assert!(status.success(), "rabbitmq-server -detached failed for {}", self.name);
    }

    fn environment(&self, dist_port: u16) -> Vec<(&'static str, String)> {
        crate::private_rabbitmq::node_environment(&self.name, &self.dir, self.amqp_port, dist_port)
    }

    /// Waits until the node accepts AMQP connections: its listener opens last, once it has
    /// booted (`rabbitmqctl await_startup` fails at once while a detached node has not yet
    /// registered its name).
    async fn await_startup(&self) {
        let deadline = tokio::time::Instant::now() + NODE_STARTUP;
        while !port_open(self.amqp_port).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the private RabbitMQ node {} did not start within {NODE_STARTUP:?}; its log is in {}",
                self.name,
                self.dir.join("log").display()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The pid its pid file holds, if any.
    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("pid")).ok()?.trim().parse().ok()
    }

    /// `rabbitmqctl -n <node> args`: its output. Panics when it fails.
    async fn ctl(&self, args: &[&str]) -> String {
        match self.run_ctl(args).await {
            Ok(stdout) => stdout,
            Err(error) => panic!("rabbitmqctl -n {} {args:?}: {error}", self.name),
        }
    }

    /// `rabbitmqctl -n <node> args`: its output, or none when it fails.
    async fn try_ctl(&self, args: &[&str]) -> Option<String> {
        self.run_ctl(args).await.ok()
    }

    async fn run_ctl(&self, args: &[&str]) -> Result<String, String> {
        let command = tokio::process::Command::new("rabbitmqctl")
            .args(["-n", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(CTL_TIMEOUT, command)
            .await
            .map_err(|_| format!("no answer within {CTL_TIMEOUT:?}"))?
            .map_err(|error| format!("cannot run: {error}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr)))
        }
    }

    /// Stops the node unless it was killed; kills it when it is still up after that.
    fn stop(&self) {
        if self.killed.load(Ordering::SeqCst) {
            return;
        }
        let mut stop = Command::new("rabbitmqctl");
        stop.args(["-n", &self.name, "stop"]);
        run_for(stop, Duration::from_secs(60));
        if let Some(pid) = self.pid().filter(|&pid| is_node_process(pid, &self.name)) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// The names in `"running_nodes":[...]` of `rabbitmqctl cluster_status --formatter json`.
fn running_nodes(status: &str) -> Vec<String> {
    const KEY: &str = "\"running_nodes\":[";
    let Some(start) = status.find(KEY).map(|at| at + KEY.len()) else { return Vec::new() };
    let Some(length) = status[start..].find(']') else { return Vec::new() };
    status[start..start + length]
        .split(',')
        .map(|name| name.trim().trim_matches('"').to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

/// Whether `pid` is a live `beam.smp` started as node `name`: its environment names the node (a
/// 3.10 node's command line does not). A zombie or another process is not.
fn is_node_process(pid: u32, name: &str) -> bool {
    let proc = Path::new("/proc").join(pid.to_string());
    let is_beam = std::fs::read_to_string(proc.join("comm")).is_ok_and(|comm| comm.trim() == "beam.smp");
    let wanted = format!("RABBITMQ_NODENAME={name}");
    is_beam
        && std::fs::read(proc.join("environ"))
            .is_ok_and(|environ| environ.split(|&byte| byte == 0).any(|entry| entry == wanted.as_bytes()))
}

/// Runs `command` (output discarded), killing it after `limit`; what it did is let go.
fn run_for(mut command: Command, limit: Duration) {
    let Ok(mut child) = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn() else {
        return;
    };
    let deadline = std::time::Instant::now() + limit;
    while matches!(child.try_wait(), Ok(None)) {
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn port_open(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_nodes_are_read_from_the_json_status() {
        let status = r#"{"disk_nodes":["a@localhost","b@localhost"],"running_nodes":["b@localhost","a@localhost"],"versions":{}}"#;
        assert_eq!(running_nodes(status), ["b@localhost", "a@localhost"]);
        assert!(running_nodes(r#"{"running_nodes":[]}"#).is_empty());
        assert!(running_nodes("Error: unable to perform an operation").is_empty());
    }
}
