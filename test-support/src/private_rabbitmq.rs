//! A RabbitMQ node of a test's own, on ports of its own, for tests that stop or restart the
//! broker: the machine's broker serves every other test and must never be touched.
//!
//! It is the machine's `rabbitmq-server` started with its own node name, ports, data and log
//! folders and an empty plugin list; `rabbitmqctl -n <node>` drives it. Dropping it stops the
//! node and removes its folder, also after a panic.

use std::{path::PathBuf, process::Command, time::Duration};

pub struct PrivateRabbitMq {
    /// The node's Erlang name, `gqlmq-node-<run>-<id>@localhost`.
    node: String,
    amqp_port: u16,
    dir: PathBuf,
    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub url: String,
}

impl PrivateRabbitMq {
    /// Starts a node and waits until it accepts connections.
    ///
    /// # Panics
    /// When the node cannot start: the test cannot run.
    pub async fn start() -> Self {
        // The run's id in the name: scripts/test.sh stops what a crashed test left.
        let name = crate::unique_name("gqlmq-node", '-');
        let node = format!("{name}@localhost");
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("a folder for the private node");
        let (amqp_port, dist_port) = (crate::free_port(), crate::free_port());
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("the plugin list");
        std::fs::write(dir.join("rabbitmq.conf"), format!("listeners.tcp.1 = 127.0.0.1:{amqp_port}\n"))
            .expect("the node's configuration");
        // rabbitmq-server drops to the `rabbitmq` user when started as root: it must own its folder.
        let _ = Command::new("chown").args(["-R", "rabbitmq:rabbitmq"]).arg(&dir).status();
        let broker = Self { url: format!("amqp://guest:guest@127.0.0.1:{amqp_port}/%2f"), node, amqp_port, dir };
        let status = Command::new("rabbitmq-server")
            .arg("-detached")
            .envs(broker.environment(amqp_port, dist_port))
            .status()
            .expect("rabbitmq-server runs");
        assert!(status.success(), "rabbitmq-server -detached failed for {}", broker.node);
        broker.await_startup().await;
        broker
    }

    fn environment(&self, amqp_port: u16, dist_port: u16) -> Vec<(&'static str, String)> {
        node_environment(&self.node, &self.dir, amqp_port, dist_port)
    }

    /// Stops the broker application; the node stays, so [`Self::start_app`] brings it back with
    /// its queues.
    pub async fn stop_app(&self) {
        self.ctl(&["stop_app"]).await;
    }

    /// Starts the broker application again and waits until it accepts connections.
    pub async fn start_app(&self) {
        self.ctl(&["start_app"]).await;
        self.await_startup().await;
    }

    /// Waits until the node accepts AMQP connections: its listener opens last, once it has
    /// booted. (`rabbitmqctl await_startup` fails at once while a detached node has not yet
    /// registered its name, which takes seconds.)
    async fn await_startup(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.amqp_port)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "the private RabbitMQ node {} did not start", self.node);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn ctl(&self, args: &[&str]) {
        let output = tokio::process::Command::new("rabbitmqctl")
            .args(["-n", &self.node])
            .args(args)
            .output()
            .await
            .expect("rabbitmqctl runs");
        assert!(
            output.status.success(),
            "rabbitmqctl -n {} {args:?}: {}",
            self.node,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PrivateRabbitMq {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").args(["-n", &self.node, "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The environment that makes `rabbitmq-server` a private node named `node`, on these ports,
/// keeping everything under `dir`: what [`PrivateRabbitMq`] and every node of a
/// [`crate::PrivateRabbitMqCluster`] start with.
pub(crate) fn node_environment(
    node: &str,
    dir: &std::path::Path,
    amqp_port: u16,
    dist_port: u16,
) -> Vec<(&'static str, String)> {
    let path = |name: &str| dir.join(name).display().to_string();
    vec![
        ("RABBITMQ_NODENAME", node.to_owned()),
        ("RABBITMQ_NODE_PORT", amqp_port.to_string()),
        ("RABBITMQ_DIST_PORT", dist_port.to_string()),
        ("RABBITMQ_MNESIA_BASE", path("mnesia")),
        ("RABBITMQ_LOG_BASE", path("log")),
        ("RABBITMQ_PID_FILE", path("pid")),
        ("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins")),
        // Without its extension: the server adds `.conf`.
        ("RABBITMQ_CONFIG_FILE", path("rabbitmq")),
        // Not the machine's rabbitmq-env.conf, which names the machine's node.
        ("RABBITMQ_CONF_ENV_FILE", path("no-env.conf")),
    ]
}
