//! What the kernel says about the processes of a run: CPU seconds (/proc/<pid>/stat) and memory
//! (/proc/<pid>/status), and which children of this process are the control-plane components.

use std::fs;
use std::path::Path;

/// CPU seconds (user + system) of a process, or None once it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    stat_fields(&format!("/proc/{pid}/stat")).map(|f| ticks(&f, 11) + ticks(&f, 12))
}

/// CPU seconds of the children this process has reaped (cutime + cstime): the process kubelet's
/// pod processes when it runs in this process.
pub fn reaped_children_cpu_seconds() -> f64 {
    stat_fields("/proc/self/stat").map_or(0.0, |f| ticks(&f, 13) + ticks(&f, 14))
}

/// CPU seconds of this process's threads whose name starts with `prefix` (the process kubelet's
/// runtime threads are named `kwf-testenv`).
pub fn threads_cpu_seconds(prefix: &str) -> f64 {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|task| {
            fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.starts_with(prefix))
        })
        .filter_map(|task| stat_fields(&task.path().join("stat").to_string_lossy()))
        .map(|f| ticks(&f, 11) + ticks(&f, 12))
        .sum()
}

/// Resident memory now and at its peak (VmRSS, VmHWM), in bytes.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some(Memory {
        rss: kib("VmRSS:")? * 1024,
        peak_rss: kib("VmHWM:")? * 1024,
    })
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub rss: u64,
    pub peak_rss: u64,
}

/// The live children of this process whose command name (`comm`, at most 15 bytes) starts with
/// `name`'s first 15 bytes.
pub fn children_named(name: &str) -> Vec<u32> {
    let me = std::process::id();
    let comm_prefix = &name[..name.len().min(15)];
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let dir = Path::new("/proc").join(pid.to_string());
            let parent = stat_fields(&dir.join("stat").to_string_lossy())
                .and_then(|f| f.get(1).and_then(|p| p.parse::<u32>().ok()));
            parent == Some(me)
                && fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim() == comm_prefix)
        })
        .collect()
}

/// The machine: logical CPUs and total memory in bytes.
pub fn machine() -> (usize, u64) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024);
    (cores, memory)
}

/// The 1-minute load average: how busy the machine was (other work skews every figure).
pub fn load_average() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The fields of a stat line after the command name (which may hold spaces): index 0 is the
/// state, 1 the parent pid, 11/12 utime/stime, 13/14 cutime/cstime (field numbers 3.. of proc(5)).
fn stat_fields(path: &str) -> Option<Vec<String>> {
    let text = fs::read_to_string(path).ok()?;
    let after_name = &text[text.rfind(')')? + 1..];
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

fn ticks(fields: &[String], index: usize) -> f64 {
    let ticks: f64 = fields
        .get(index)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    ticks / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        // Burn a little CPU so the counter has moved past zero on any clock.
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let me = std::process::id();
        assert!(cpu_seconds(me).is_some_and(|s| s > 0.0));
        let memory = memory(me).expect("status of this process");
        assert!(memory.rss > 0 && memory.peak_rss >= memory.rss);
    }

    #[test]
    fn a_spawned_child_is_found_by_its_name() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep");
        let found = children_named("sleep");
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.contains(&child.id()), "{found:?}");
    }

    #[test]
    fn the_machine_has_cores_and_memory() {
        let (cores, memory) = machine();
        assert!(cores >= 1 && memory > 0);
    }
}
