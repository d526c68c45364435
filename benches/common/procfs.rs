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
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .filter_map(|s| name_and_cpu(&s))
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

/// Context switches (voluntary + involuntary) of each live thread of this
/// process, by thread name: about one per wake-up, which is what a paced
/// run pays for more than for its messages.
pub fn thread_switches() -> Vec<(String, u64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| {
            let name = std::fs::read_to_string(t.path().join("comm")).ok()?;
            let status = std::fs::read_to_string(t.path().join("status")).ok()?;
            let switches = status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
            Some((name.trim().to_string(), switches))
        })
        .collect()
}
