//! A private Kamailio for one test: its own loopback ports, its own temp dir
//! (list files, pid file, FIFO, sockets, log), started from
//! `tests/fixtures/kamailio/kamailio.cfg` and stopped when dropped.
//!
//! Debian's `kamailio` package must be installed (`scripts/test-deps.sh`).

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rayan::kamailio::KamailioRpc;

const CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kamailio/kamailio.cfg"
);
const START_TIMEOUT: Duration = Duration::from_secs(15);
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Kamailio {
    dir: tempfile::TempDir,
    pub sip_port: u16,
    pub http_port: u16,
    /// Kamailio's `reload_delta` for dispatcher and permissions, in seconds.
    pub reload_delta: u64,
    process: Option<Child>,
}

impl Kamailio {
    /// Picks free loopback ports and writes the two list files; does not start.
    pub fn prepare(reload_delta: u64, dispatcher_list: &str, address_list: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rayan-kamailio-")
            .tempdir()
            .expect("temp dir");
        let lab = Self {
            dir,
            sip_port: free_udp_port(),
            http_port: free_tcp_port(),
            reload_delta,
            process: None,
        };
        write_atomic(&lab.dispatcher_path(), dispatcher_list);
        write_atomic(&lab.address_path(), address_list);
        lab
    }

    /// Prepares and starts.
    pub async fn start(reload_delta: u64, dispatcher_list: &str, address_list: &str) -> Self {
        let mut lab = Self::prepare(reload_delta, dispatcher_list, address_list);
        lab.run().await;
        lab
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn dispatcher_path(&self) -> PathBuf {
        self.dir().join("dispatcher.list")
    }

    pub fn address_path(&self) -> PathBuf {
        self.dir().join("address.list")
    }

    fn log_path(&self) -> PathBuf {
        self.dir().join("kamailio.log")
    }

    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}/RPC", self.http_port)
    }

    /// A client whose rate-limit window matches this instance's `reload_delta`.
    pub fn rpc(&self) -> KamailioRpc {
        KamailioRpc::new(&self.rpc_url(), RPC_TIMEOUT)
            .expect("rpc client")
            .with_reload_window(Duration::from_secs(self.reload_delta))
    }

    pub fn write_dispatcher_list(&self, text: &str) {
        write_atomic(&self.dispatcher_path(), text);
    }

    pub fn write_address_list(&self, text: &str) {
        write_atomic(&self.address_path(), text);
    }

    /// The last lines Kamailio logged, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Starts Kamailio in the foreground (`-DD -E`) and waits until it answers
    /// `core.version`.
    pub async fn run(&mut self) {
        assert!(self.process.is_none(), "already running");
        let binary = which_kamailio();
        let dir = self.dir().display().to_string();
        let quoted = |value: String| format!("\"{value}\"");
        let defines = [
            ("SIP_ADDR", quoted(format!("127.0.0.1:{}", self.sip_port))),
            ("SIP_LISTEN", format!("udp:127.0.0.1:{}", self.sip_port)),
            ("HTTP_LISTEN", format!("tcp:127.0.0.1:{}", self.http_port)),
            ("RUN_DIR", quoted(dir.clone())),
            ("RPC_FIFO", quoted(format!("{dir}/kamailio_rpc.fifo"))),
            ("RPC_DGRAM", quoted(format!("{dir}/kamailio_rpc.sock"))),
            ("CTL_SOCKET", quoted(format!("unix:{dir}/kamailio_ctl"))),
            (
                "DS_LIST_FILE",
                quoted(self.dispatcher_path().display().to_string()),
            ),
            (
                "ADDRESS_FILE",
                quoted(self.address_path().display().to_string()),
            ),
            (
                "PING_FROM",
                quoted(format!("sip:dispatcher@127.0.0.1:{}", self.sip_port)),
            ),
            ("RELOAD_DELTA", self.reload_delta.to_string()),
        ];
        let log = fs::File::create(self.log_path()).expect("log file");
        let mut command = Command::new(binary);
        command
            .args(["-f", CONFIG, "-DD", "-E", "-m", "64", "-M", "8"])
            .arg("-P")
            .arg(self.dir().join("kamailio.pid"));
        for (name, value) in defines {
            command.arg("-A").arg(format!("{name}={value}"));
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            // Its own process group, so a stuck child process can be ended with it.
            .process_group(0)
            .spawn()
            .expect("start kamailio");
        self.process = Some(child);

        let rpc = self.rpc();
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .process
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.process = None;
                panic!(
                    "kamailio exited during start ({status}):\n{}",
                    self.log_tail()
                );
            }
            if rpc.version().await.is_ok() {
                return;
            }
            if started.elapsed() > START_TIMEOUT {
                self.stop();
                panic!(
                    "kamailio did not answer within {START_TIMEOUT:?}:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks Kamailio to stop (SIGTERM to the main process, which stops its
    /// children), then kills what is left of its process group.
    pub fn stop(&mut self) {
        let Some(mut child) = self.process.take() else {
            return;
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
        let _ = child.wait();
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
    }
}

fn which_kamailio() -> PathBuf {
    for candidate in ["/usr/sbin/kamailio", "/usr/local/sbin/kamailio"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!("kamailio is not installed: run scripts/test-deps.sh");
}

/// Temp file in the same directory, then rename: Kamailio never sees a half file.
pub fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp).expect("create temp list file");
    file.write_all(text.as_bytes()).expect("write list file");
    file.sync_all().expect("sync list file");
    fs::rename(&tmp, path).expect("rename list file");
}

pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free tcp port")
        .port()
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free udp port")
        .port()
}

/// Sends `OPTIONS sip:<kamailio>` from `source` and answers the status line.
pub fn options_from(source: &str, kamailio_port: u16) -> String {
    let socket = std::net::UdpSocket::bind((source, 0)).expect("bind the source address");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .expect("timeout");
    let local = socket.local_addr().expect("local");
    let request = format!(
        "OPTIONS sip:127.0.0.1:{kamailio_port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{port}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@{source}>;tag=1\r\nTo: <sip:127.0.0.1:{kamailio_port}>\r\nCall-ID: block-{port}@{source}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        port = local.port()
    );
    socket
        .send_to(request.as_bytes(), ("127.0.0.1", kamailio_port))
        .expect("send");
    let mut buf = [0u8; 2048];
    let (n, _) = socket.recv_from(&mut buf).expect("an answer");
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}
