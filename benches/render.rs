//! Rendering and writing benchmark. Prints medians and allocation figures.
//!
//! Goals (issue 3): rendering and writing 10,000 extensions, 200 trunks and 500 routes in
//! at most 50 ms (median); replacing one block in a 10,000-block pjsip.conf in at most
//! 10 ms; memory proportional to the file.
//!
//! The files go to a temporary directory under `TMPDIR`: on a disk the write figures
//! include its fsync latency (printed as a floor); `TMPDIR=/dev/shm` shows them without.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use rayan::model::{Extension, ExtensionAuth, InboundRoute, OutboundRoute, Trunk};
use rayan::render::{
    ConfigSnapshot, FileSync, ManagedBlock, ManagedFile, RenderSettings, WriteOptions, edit_file,
    plan_file, render_all, sync_files,
};
use rayan::templates::{ProviderTemplate, builtin_provider_templates};

/// Counts live and peak heap bytes, and bytes allocated in total.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static TOTAL: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
            TOTAL.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size > layout.size() {
                let grow = new_size - layout.size();
                let live = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(live, Ordering::Relaxed);
                TOTAL.fetch_add(grow, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` once and returns (peak bytes above the live bytes at the start, bytes allocated).
fn measure_memory<T>(f: impl FnOnce() -> T) -> (usize, usize, T) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let total = TOTAL.load(Ordering::Relaxed);
    let out = f();
    (
        PEAK.load(Ordering::Relaxed) - base,
        TOTAL.load(Ordering::Relaxed) - total,
        out,
    )
}

/// CPU time of the process (all threads: rendering runs on every core): on a machine
/// shared with other work, wall-clock figures also measure the neighbours, so both are
/// printed.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One timed run: wall clock and process CPU time.
struct Sample(Duration, Duration);

fn timed<T>(f: impl FnOnce() -> T) -> (Sample, T) {
    let (wall, cpu) = (Instant::now(), process_cpu());
    let out = f();
    (Sample(wall.elapsed(), process_cpu() - cpu), out)
}

fn median(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    (
        samples[0],
        samples[samples.len() / 2],
        samples[samples.len() - 1],
    )
}

fn report(name: &str, samples: Vec<Sample>, goal: Option<Duration>) {
    let runs = samples.len();
    let (wall_min, wall, wall_max) = median(samples.iter().map(|s| s.0).collect());
    let (_, cpu, _) = median(samples.iter().map(|s| s.1).collect());
    let verdict = match goal {
        Some(goal) => format!(
            " | goal <= {goal:?}: wall {}, cpu {}",
            if wall <= goal { "met" } else { "MISSED" },
            if cpu <= goal { "met" } else { "MISSED" }
        ),
        None => String::new(),
    };
    println!(
        "{name:<56} median wall {wall:>9.3?} (min {wall_min:>9.3?}, max {wall_max:>9.3?}), median cpu {cpu:>9.3?}, {runs} runs{verdict}"
    );
}

fn snapshot(providers: &[ProviderTemplate]) -> ConfigSnapshot {
    let at = Utc
        .with_ymd_and_hms(2026, 11, 21, 16, 0, 0)
        .single()
        .unwrap_or_default();
    let templates = ["basic", "advanced", "mobile", "webrtc"];
    let extensions = (0..10_000)
        .map(|i| {
            let number = (10_000 + i).to_string();
            Extension {
                id: i as i64,
                auth: ExtensionAuth::from_password(&number, "asterisk", "Bench-pass-1"),
                name: (i % 3 == 0).then(|| format!("User {i}")),
                template: templates[i % 4].to_owned(),
                context: if i % 10 == 0 {
                    "sales".to_owned()
                } else {
                    "from-internal".to_owned()
                },
                codecs: None,
                max_contacts: None,
                caller_id: None,
                enabled: i % 50 != 7,
                options: Default::default(),
                transport: None,
                created_at: at,
                updated_at: at,
                number,
            }
        })
        .collect();
    let trunks: Vec<Trunk> = (0..200)
        .map(|i| {
            let template = &providers[i % providers.len()];
            let ip = template.auth_type == rayan::templates::AuthType::Ip;
            Trunk {
                id: i as i64,
                name: format!("trunk_{i:03}"),
                provider: template.id.clone(),
                username: (!ip).then(|| format!("user{i}")),
                password: (!ip).then(|| format!("Pass-{i}-secret")),
                server: Some(format!("sip{i}.example.com")),
                port: None,
                did: Some(format!("+1555{i:07}")),
                context: "from-trunk".to_owned(),
                codecs: None,
                match_addresses: vec![format!("198.51.100.{}", i % 250 + 1)],
                enabled: true,
                options: Default::default(),
                transport: None,
                created_at: at,
                updated_at: at,
            }
        })
        .collect();
    let patterns = ["_1NXXNXXXXXX", "_NXXNXXXXXX", "_011.", "_9X.", "_[2-9]XX"];
    let outbound_routes = (0..300)
        .map(|i| OutboundRoute {
            id: i as i64,
            name: format!("route_{i:03}"),
            pattern: patterns[i % patterns.len()].to_owned(),
            trunk: format!("trunk_{:03}", i % 200),
            strip: (i % 2) as u32,
            prepend: if i % 3 == 0 {
                "+".to_owned()
            } else {
                String::new()
            },
            priority: (i % 17) as i32,
            context: if i % 2 == 0 {
                "from-internal".to_owned()
            } else {
                "sales".to_owned()
            },
        })
        .collect();
    let inbound_routes = (0..200)
        .map(|i| InboundRoute {
            id: i as i64,
            did: format!("+1666{i:07}"),
            trunk: (i % 2 == 0).then(|| format!("trunk_{:03}", i % 200)),
            extension: (10_000 + i * 3).to_string(),
        })
        .collect();
    ConfigSnapshot {
        blocked: Vec::new(),
        extensions,
        trunks,
        transports: Vec::new(),
        inbound_routes,
        outbound_routes,
    }
}

fn admin_text() -> String {
    "[global]\ntype=global\n\n[transport-udp]\ntype=transport\nprotocol=udp\nbind=0.0.0.0:5060\n\n#include custom.conf\n"
        .to_owned()
}

fn main() {
    let providers = match builtin_provider_templates() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot load provider templates: {e}");
            std::process::exit(1);
        }
    };
    let settings = RenderSettings {
        blocklist_in_asterisk: true,
        wss_transport: Some("transport-wss".to_owned()),
        ..RenderSettings::default()
    };
    let mut snapshot = snapshot(&providers);
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot create a temporary directory: {e}");
            std::process::exit(1);
        }
    };
    let pjsip = dir.path().join("pjsip.conf");
    let extensions = dir.path().join("extensions.conf");
    let write = |path: &Path, text: &str| {
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
    };
    write(&pjsip, &admin_text());
    write(&extensions, "[general]\nstatic=yes\n");
    let options = WriteOptions {
        keep_backups: 3,
        with_diff: false,
        ..WriteOptions::default()
    };
    let run = |snapshot: &ConfigSnapshot| {
        let rendered =
            render_all(snapshot, &providers, &settings).unwrap_or_else(|e| panic!("render: {e}"));
        let files = [
            FileSync {
                path: &pjsip,
                leader: ";",
                blocks: &rendered.pjsip,
                keep: &[],
                owns: rayan::render::owns_every_block,
            },
            FileSync {
                path: &extensions,
                leader: ";",
                blocks: &rendered.extensions,
                keep: &[],
                owns: rayan::render::owns_every_block,
            },
        ];
        let synced = sync_files(&files, &options).unwrap_or_else(|e| panic!("sync: {e}"));
        let changed = synced.iter().any(|s| s.changed);
        (rendered, changed)
    };
    let (rendered, _) = run(&snapshot);
    let pjsip_size = std::fs::metadata(&pjsip).map(|m| m.len()).unwrap_or(0) as usize;
    let extensions_size = std::fs::metadata(&extensions).map(|m| m.len()).unwrap_or(0) as usize;
    println!(
        "workload: {} extensions, {} trunks, {} outbound + {} inbound routes -> {} pjsip blocks ({} bytes), {} dialplan blocks ({} bytes)",
        snapshot.extensions.len(),
        snapshot.trunks.len(),
        snapshot.outbound_routes.len(),
        snapshot.inbound_routes.len(),
        rendered.pjsip.len(),
        pjsip_size,
        rendered.extensions.len(),
        extensions_size
    );
    println!("files in {}", dir.path().display());

    const RUNS: usize = 31;
    let samples = (0..RUNS)
        .map(|_| timed(|| render_all(&snapshot, &providers, &settings).is_ok()).0)
        .collect();
    report("render_all (both files, in memory)", samples, None);

    let samples = (0..RUNS)
        .map(|i| {
            // One real change per run so that pjsip.conf is rewritten (every 50th
            // extension is enabled: the disabled ones are those with i % 50 == 7).
            snapshot.extensions[(i * 50) % 10_000].caller_id = Some(format!("\"Run {i}\" <1>"));
            let (sample, (_, changed)) = timed(|| run(&snapshot));
            assert!(changed);
            sample
        })
        .collect();
    report(
        "render_all + sync both files (one change, fsync, backup)",
        samples,
        Some(Duration::from_millis(50)),
    );

    let samples = (0..RUNS)
        .map(|_| {
            let (sample, (_, changed)) = timed(|| run(&snapshot));
            assert!(!changed);
            sample
        })
        .collect();
    report(
        "render_all + sync both files (nothing changed, no write)",
        samples,
        None,
    );

    // One block in a 10,000-block pjsip.conf (18 lines per block after 9 admin lines).
    let mut big = admin_text();
    for n in 0..10_000 {
        big.push_str(&format!(
            "; BEGIN MANAGED - Extension {n}\n[{n}]\ntype=endpoint\ncontext=from-internal\ndisallow=all\nallow=ulaw,alaw\nauth={n}\naors={n}\n[{n}]\ntype=auth\nauth_type=md5\nusername={n}\nrealm=asterisk\nmd5_cred=0123456789abcdef0123456789abcdef\n[{n}]\ntype=aor\nmax_contacts=1\n; END MANAGED - Extension {n}\n"
        ));
    }
    let big_path = dir.path().join("big-pjsip.conf");
    write(&big_path, &big);
    println!("10,000-block pjsip.conf: {} bytes", big.len());
    let samples = (0..RUNS)
        .map(|i| {
            let block = ManagedBlock::new(
                "Extension 5000",
                format!("[5000]\ntype=aor\nmax_contacts={}\n", i % 7 + 1),
            );
            let (sample, len) = timed(|| {
                let mut file = ManagedFile::parse(&big, ";").unwrap_or_else(|e| panic!("{e}"));
                file.upsert(&block).unwrap_or_else(|e| panic!("{e}"));
                file.render().len()
            });
            assert!(len > big.len() / 2);
            sample
        })
        .collect();
    report(
        "replace 1 of 10,000 blocks (parse + edit + render)",
        samples,
        Some(Duration::from_millis(10)),
    );

    let samples = (0..RUNS)
        .map(|i| {
            let block = ManagedBlock::new(
                "Extension 5000",
                format!("[5000]\ntype=aor\nmax_contacts={}\n", i % 2 + 1),
            );
            let (sample, outcome) = timed(|| {
                edit_file(&big_path, ";", &options, |file| file.upsert(&block))
                    .unwrap_or_else(|e| panic!("{e}"))
            });
            assert!(outcome.changed);
            sample
        })
        .collect();
    report(
        "replace 1 of 10,000 blocks (edit_file: read, edit, write)",
        samples,
        Some(Duration::from_millis(10)),
    );

    // The storage floor under the figure above: the same bytes written, synced and renamed
    // with nothing else around them.
    let samples = (0..RUNS)
        .map(|_| {
            let temp = dir.path().join("floor.tmp");
            timed(|| {
                let mut file = std::fs::File::create(&temp).unwrap_or_else(|e| panic!("{e}"));
                std::io::Write::write_all(&mut file, big.as_bytes())
                    .unwrap_or_else(|e| panic!("{e}"));
                file.sync_all().unwrap_or_else(|e| panic!("{e}"));
                std::fs::rename(&temp, dir.path().join("floor.conf"))
                    .unwrap_or_else(|e| panic!("{e}"));
                std::fs::File::open(dir.path())
                    .and_then(|d| d.sync_all())
                    .unwrap_or_else(|e| panic!("{e}"));
            })
            .0
        })
        .collect();
    report(
        "floor: write + fsync + rename + fsync dir of that file",
        samples,
        None,
    );

    let samples = (0..11)
        .map(|i| {
            snapshot.extensions[0].caller_id = Some(format!("\"Plan {i}\" <1>"));
            let rendered =
                render_all(&snapshot, &providers, &settings).unwrap_or_else(|e| panic!("{e}"));
            let (sample, plan) =
                timed(|| plan_file(&pjsip, ";", &rendered.pjsip).unwrap_or_else(|e| panic!("{e}")));
            assert!(plan.changed && !plan.diff.is_empty());
            sample
        })
        .collect();
    report(
        "dry run of pjsip.conf (drift + masked unified diff)",
        samples,
        None,
    );

    // Memory.
    snapshot.extensions[1].caller_id = Some("\"Memory\" <1>".to_owned());
    let (peak, total, _) = measure_memory(|| run(&snapshot));
    let files = pjsip_size + extensions_size;
    println!(
        "memory, render + sync both files: peak {:.1} MiB above baseline ({:.2}x the {:.1} MiB written), {:.1} MiB allocated in total",
        peak as f64 / 1048576.0,
        peak as f64 / files as f64,
        files as f64 / 1048576.0,
        total as f64 / 1048576.0
    );
    for blocks in [1_000usize, 10_000] {
        let text: String = big.split_inclusive('\n').take(9 + blocks * 18).collect();
        let (peak, total, _) = measure_memory(|| {
            let mut file = ManagedFile::parse(&text, ";").unwrap_or_else(|e| panic!("{e}"));
            file.upsert(&ManagedBlock::new("Extension 500", "[500]\ntype=aor\n"))
                .unwrap_or_else(|e| panic!("{e}"));
            file.render().len()
        });
        println!(
            "memory, replace 1 block of {blocks:>6} ({:>5.2} MiB file): peak {:>5.2} MiB ({:.2}x file), {:.2} MiB allocated",
            text.len() as f64 / 1048576.0,
            peak as f64 / 1048576.0,
            peak as f64 / text.len() as f64,
            total as f64 / 1048576.0
        );
    }
}
