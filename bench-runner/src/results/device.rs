//! The host fingerprint: what machine ran edgebench (and, for in-process backends, the model).

use serde::{Deserialize, Serialize};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostFingerprint {
    pub hostname: String,
    pub cpu_model: String,
    pub cpu_arch: String,
    pub physical_cores: Option<usize>,
    pub logical_cpus: usize,
    pub memory_bytes: u64,
    pub os: String,
    pub kernel: String,
    /// STREAM-like copy bandwidth in GB/s, measured with `--probe` (see `bandwidth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bandwidth_gbs: Option<f64>,
}

impl HostFingerprint {
    pub fn read() -> Self {
        let sys = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        )
        .ok();
        let cpu_model = sys
            .as_ref()
            .and_then(|s| s.cpus().first().map(|c| c.brand().trim().to_string()))
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "unknown".into());
        HostFingerprint {
            hostname: System::host_name().unwrap_or_default(),
            cpu_model,
            cpu_arch: System::cpu_arch(),
            physical_cores: System::physical_core_count().ok(),
            logical_cpus: sys.as_ref().map_or(0, |s| s.cpus().len()),
            memory_bytes: sys.as_ref().map_or(0, System::total_memory),
            os: System::long_os_version().unwrap_or_else(|_| std::env::consts::OS.into()),
            kernel: System::kernel_version().unwrap_or_default(),
            memory_bandwidth_gbs: None,
        }
    }

    /// A default device label when the user gives none: the host name.
    pub fn default_label(&self) -> String {
        if self.hostname.is_empty() {
            "localhost".into()
        } else {
            self.hostname.clone()
        }
    }

    /// The device label of a run (run.json's `device`), decided the way each backend's rows
    /// decide theirs (`--label`, else the backend's `device`, else this one), so that run.json
    /// and the series of a report name the same device: the label, else the one device all
    /// `backend_devices` name, else the host name (where some backends name none, or several
    /// name different ones, the rows carry each backend's own).
    pub fn run_label(&self, label: Option<&str>, backend_devices: &[Option<&str>]) -> String {
        if let Some(l) = label {
            return l.to_string();
        }
        match backend_devices.split_first() {
            Some((Some(first), rest)) if rest.iter().all(|d| *d == Some(*first)) => {
                (*first).to_string()
            }
            _ => self.default_label(),
        }
    }

    pub fn render(&self) -> String {
        let bw = self.memory_bandwidth_gbs.map_or(String::new(), |b| {
            format!("membw:   {b:.1} GB/s (one-thread STREAM-like copy)\n")
        });
        format!(
            "host:    {}\ncpu:     {} ({})\ncores:   {} physical, {} logical\nmemory:  {:.1} GiB\nos:      {}\nkernel:  {}\n",
            self.hostname,
            self.cpu_model,
            self.cpu_arch,
            self.physical_cores.map_or("?".into(), |c| c.to_string()),
            self.logical_cpus,
            self.memory_bytes as f64 / (1u64 << 30) as f64,
            self.os,
            self.kernel
        ) + &bw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_label_is_the_backends_device() {
        let host = HostFingerprint {
            hostname: "vm".into(),
            ..Default::default()
        };
        assert_eq!(host.run_label(None, &[Some("local")]), "local");
        assert_eq!(
            host.run_label(None, &[Some("local"), Some("local")]),
            "local"
        );
        assert_eq!(host.run_label(Some("phone"), &[Some("local")]), "phone");
        assert_eq!(host.run_label(None, &[None]), "vm");
        assert_eq!(host.run_label(None, &[Some("a"), Some("b")]), "vm");
        assert_eq!(host.run_label(None, &[]), "vm");
    }
}
