//! Managed servers: pick a free loopback port, start the server, wait until its health
//! endpoint answers, keep its log beside the results, and stop it at the end.
//!
//! The server is stopped in `Drop`, so it goes away on success, on errors and when the run
//! future is dropped on Ctrl-C alike: SIGTERM first (llama-server then frees its slots and
//! exits), SIGKILL if it is still there after a grace period.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::config::LaunchConfig;
use crate::error::{Error, Result};

/// What was launched, for the run manifest.
#[derive(Debug, Clone, Serialize)]
pub struct LaunchFacts {
    pub command: String,
    pub args: Vec<String>,
    pub port: u16,
    pub pid: u32,
    pub log: PathBuf,
    /// Seconds from spawn until the health endpoint answered 200.
    pub startup_s: f64,
}

pub struct LaunchedServer {
    child: Child,
    pub facts: LaunchFacts,
    /// False once a restarted server writes to the same log: the last one scrubs it.
    scrub_log: bool,
}

/// Asks the OS for a free loopback port. There is a small window in which another process
/// could take it; the health check then fails with the server's own message in the log.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn fill(template: &str, port: u16, model: Option<&Path>) -> String {
    let mut s = template.replace("{port}", &port.to_string());
    if let Some(m) = model {
        s = s.replace("{model}", &m.to_string_lossy());
    }
    s
}

impl LaunchedServer {
    pub async fn start(backend: &str, cfg: &LaunchConfig, log_path: &Path) -> Result<Self> {
        let port = free_port().map_err(|e| Error::backend_cause(backend, "no free port", e))?;
        Self::start_on(backend, cfg, log_path, port, false).await
    }

    /// Starts the server on a given port; `append` keeps the earlier log (a restart).
    pub async fn start_on(
        backend: &str,
        cfg: &LaunchConfig,
        log_path: &Path,
        port: u16,
        append: bool,
    ) -> Result<Self> {
        let model = cfg.model.as_deref();
        if let Some(m) = model {
            if !m.exists() {
                return Err(Error::backend(
                    backend,
                    format!(
                        "model file {} does not exist (run scripts/setup)",
                        m.display()
                    ),
                ));
            }
        }
        if cfg.args.iter().any(|a| a.contains("{model}")) && model.is_none() {
            return Err(Error::backend(
                backend,
                "launch.args uses {model} but launch.model is not set",
            ));
        }
        let args: Vec<String> = cfg
            .args
            .iter()
            .map(|a| {
                let a = fill(a, port, model);
                match &cfg.mmproj {
                    Some(p) => a.replace("{mmproj}", &p.to_string_lossy()),
                    None => a,
                }
            })
            .collect();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(log_path)
            .map_err(|e| Error::write(log_path, e))?;
        let log2 = log.try_clone().map_err(|e| Error::write(log_path, e))?;
        let spawned = Instant::now();
        let mut cmd = Command::new(&cfg.command);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| {
            let doing = format!("cannot start {} (run scripts/setup)", cfg.command.display());
            Error::backend_cause(backend, doing, e)
        })?;
        let mut server = LaunchedServer {
            facts: LaunchFacts {
                command: cfg.command.to_string_lossy().into_owned(),
                args,
                port,
                pid: child.id(),
                log: log_path.to_path_buf(),
                startup_s: 0.0,
            },
            child,
            scrub_log: true,
        };
        let health = fill(&cfg.health_url, port, model);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::backend_cause(backend, "cannot make an HTTP client", e))?;
        let deadline = spawned + Duration::from_secs_f64(cfg.startup_timeout_s);
        // A big model loads for minutes: say so now and then, so it never looks hung.
        let mut notice_at = spawned + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(Error::backend(
                    backend,
                    format!(
                        "server exited during start-up ({status}); last lines of {}:\n{}",
                        log_path.display(),
                        tail(log_path, 15)
                    ),
                ));
            }
            if let Ok(r) = client.get(&health).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err(Error::backend(
                    backend,
                    format!(
                        "server not healthy at {health} after {:.0} s; last lines of {}:\n{}",
                        cfg.startup_timeout_s,
                        log_path.display(),
                        tail(log_path, 15)
                    ),
                ));
            }
            if Instant::now() >= notice_at {
                crate::backend::wait::wait_notice(&format!(
                    "waiting for {backend} to start: {health} not ready after {:.0} s (gives up after {:.0} s)",
                    spawned.elapsed().as_secs_f64(),
                    cfg.startup_timeout_s
                ));
                notice_at += Duration::from_secs(30);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server.facts.startup_s = spawned.elapsed().as_secs_f64();
        Ok(server)
    }

    /// A restarted server took over the log (appending to it): leave it to that one to scrub.
    pub fn hand_over_log(&mut self) {
        self.scrub_log = false;
    }

    pub fn port(&self) -> u16 {
        self.facts.port
    }

    /// `Some(status)` once the server process has exited.
    pub fn exit_status(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(s.to_string()),
            _ => None,
        }
    }

    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the server: SIGTERM, then SIGKILL after `grace`; then scrubs its log.
    pub fn stop(&mut self, grace: Duration) {
        self.stop_process(grace);
        if !self.scrub_log {
            return;
        }
        // The server had the key in its environment and saw it in every request: a server
        // that logs either must not leave it in the log kept beside the results. (The log
        // is written by the server itself, so this happens once it has stopped.)
        if let Err(e) = crate::secret::scrub_file(&self.facts.log) {
            eprintln!(
                "warning: could not scrub secrets from {}: {e}",
                self.facts.log.display()
            );
        }
    }

    fn stop_process(&mut self, grace: Duration) {
        if !self.is_alive() {
            return;
        }
        terminate(self.child.id());
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if !self.is_alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LaunchedServer {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// On Linux the server gets SIGTERM when edgebench dies, however it dies (even SIGKILL):
/// a benchmark must never leave a server running that would skew the next measurement.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent; it runs in the
    // forked child before exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

#[allow(unsafe_code)]
fn terminate(pid: u32) {
    // SAFETY: kill(2) with a pid we spawned and have not yet reaped; no memory is touched.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

/// The last `n` lines of a log file, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(n)..].join("\n");
    crate::secret::scrub(&tail).into_owned()
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::error::Cause;

    #[tokio::test]
    async fn a_server_that_cannot_start_keeps_its_io_cause() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LaunchConfig {
            command: dir.path().join("no-such-server"),
            args: vec![],
            model: None,
            mmproj: None,
            health_url: "http://127.0.0.1:{port}/health".into(),
            startup_timeout_s: 5.0,
            max_restarts: 0,
        };
        let e = match LaunchedServer::start("s", &cfg, &dir.path().join("server.log")).await {
            Err(e) => e,
            Ok(_) => panic!("a missing command cannot start"),
        };
        let Some(Cause::Io(io)) = e.source().and_then(|s| s.downcast_ref::<Cause>()) else {
            panic!("the io error is the cause: {e:?}");
        };
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        let msg = e.to_string();
        assert!(
            msg.starts_with("backend 's': cannot start ") && msg.contains("(run scripts/setup)"),
            "{msg}"
        );
        assert!(msg.ends_with(&io.to_string()), "{msg}");
        assert_eq!(e.exit_code(), 3);
    }
}
