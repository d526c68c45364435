//! What the benches read from /proc about their own process: peak RSS and
//! CPU seconds per thread (load-independent figures on a shared machine).
//! Included by each bench with `#[path]`; not every bench uses every item.
#![allow(dead_code)]

/// Peak resident set size of this process (`VmHWM`), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// (name, user + system CPU seconds) from a `stat` file's text.
fn name_and_cpu(stat: &str) -> Option<(String, f64)> {
    // "pid (comm) state ... utime stime": fields after the ')' from 3 on.
    let open = stat.find('(')?;
    let (head, rest) = stat.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some((
        head[open + 1..].to_string(),
        (field(11) + field(12)) as f64 / 100.0,
    ))
}

/// CPU seconds of the whole process so far.
pub fn process_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| name_and_cpu(&s))
        .map_or(0.0, |(_, secs)| secs)
}

/// CPU seconds of each live thread of this process, by thread name.
pub fn thread_cpu_secs() -> Vec<(String, f64)> {
    thread_samples()
        .into_iter()
        .map(|t| (t.name, t.cpu_secs))
        .collect()
}

/// CPU seconds of the live threads with this name, summed.
pub fn named_threads_cpu_secs(name: &str) -> f64 {
    thread_cpu_secs()
        .into_iter()
        .filter(|(n, _)| n == name)
        .map(|(_, s)| s)
        .sum()
}

/// One thread's counters at a moment: its id, name, CPU seconds and
/// context switches, so two samples can be told apart by thread.
#[derive(Clone, Debug)]
pub struct ThreadSample {
    pub tid: u64,
    pub name: String,
    pub cpu_secs: f64,
    pub switches: u64,
}

/// A sample of every live thread of this process.
pub fn thread_samples() -> Vec<ThreadSample> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| {
            let tid = t.file_name().to_str()?.parse().ok()?;
            let (name, cpu_secs) =
                name_and_cpu(&std::fs::read_to_string(t.path().join("stat")).ok()?)?;
            let status = std::fs::read_to_string(t.path().join("status")).ok()?;
            let switches = switches_in(&status);
            Some(ThreadSample {
                tid,
                name,
                cpu_secs,
                switches,
            })
        })
        .collect()
}

/// Each thread's CPU seconds and switches since `base` (threads started
/// since count from zero; threads gone since are left out).
pub fn thread_samples_since(base: &[ThreadSample]) -> Vec<ThreadSample> {
    thread_samples()
        .into_iter()
        .map(|mut t| {
            if let Some(b) = base.iter().find(|b| b.tid == t.tid) {
                t.cpu_secs -= b.cpu_secs;
                t.switches = t.switches.saturating_sub(b.switches);
            }
            t
        })
        .collect()
}

fn switches_in(status: &str) -> u64 {
    status
        .lines()
        .filter(|l| l.contains("ctxt_switches:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}
