//! The real binary, running in the background on a loopback port, with its
//! log collected as it is written.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tencentcloud-partner-exporter");

/// A running exporter process; killed when dropped.
pub struct Binary {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Binary {
    /// Starts the binary with `args` and waits until it accepts connections.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with(args, &[])
    }

    /// Starts the binary with `args` and environment `env`.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::launch(Command::new(BIN), args, env)
    }

    /// Starts the binary as [`Binary::start_with`] does, unable to write a
    /// file larger than `kib` KiB: each write beyond fails as on a full disk.
    pub fn start_with_file_size_limit(args: &[&str], env: &[(&str, &str)], kib: u64) -> Self {
        // SIGXFSZ ignored, a write beyond the limit fails with EFBIG; the
        // ignored signal and the limit both survive the exec.
        Self::start_after(&format!("trap '' XFSZ; ulimit -f {kib}"), args, env)
    }

    /// Starts the binary as [`Binary::start`] does, able to open at most
    /// `files` files and sockets (soft and hard limit alike).
    pub fn start_with_open_file_limit(args: &[&str], files: u64) -> Self {
        Self::start_after(&format!("ulimit -n {files}"), args, &[])
    }

    /// Starts the binary from a shell that first runs `prelude`.
    fn start_after(prelude: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new("bash");
        command.args(["-c", &format!("{prelude}; exec \"$0\" \"$@\""), BIN]);
        Self::launch(command, args, env)
    }

    fn launch(mut command: Command, args: &[&str], env: &[(&str, &str)]) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        command
            .args(args)
            .arg(format!("--web.listen-address={addr}"))
            .env_remove("TENCENTCLOUD_SECRET_ID")
            .env_remove("TENCENTCLOUD_SECRET_KEY")
            .env_remove("TENCENTCLOUD_SESSION_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the binary starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let binary = Self { child, addr, log };
        binary.wait_listening();
        binary
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(self.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "not listening within 20 s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Everything the process wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a log line contains `text`.
    pub fn wait_for_log(&self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in the log within {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal (`HUP`, `TERM`) to the process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The process's resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// Stops the process with SIGTERM and waits for it to exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The process id, for reading its CPU time and memory from /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
