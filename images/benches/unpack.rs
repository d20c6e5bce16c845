//! Unpack speed of a ~100 MB synthetic image against GNU `tar -x` of the
//! same layer tars, measured side by side in one run.
//!
//! `cargo bench -p paddock-images` (size: `PADDOCK_BENCH_MB`, default 100;
//! rounds: `PADDOCK_BENCH_ROUNDS`, default 3). Prints MB/s of layer tar
//! bytes for each way and the ratio to `tar -x`; the median of the rounds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use paddock_images::digest::HashingReader;
use paddock_images::unpack::{decompress, unpack_tar, UnpackOptions};

/// xorshift64*: deterministic "random-ish" bytes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, buf: &mut [u8], compressible: bool) {
        if compressible {
            const WORDS: &[&[u8]] = &[
                b"lib",
                b"usr ",
                b"share\n",
                b"config=",
                b"0123",
                b"paddock ",
                b"\t",
            ];
            let mut i = 0;
            while i < buf.len() {
                let w = WORDS[(self.next() % WORDS.len() as u64) as usize];
                let n = w.len().min(buf.len() - i);
                buf[i..i + n].copy_from_slice(&w[..n]);
                i += n;
            }
        } else {
            for chunk in buf.chunks_mut(8) {
                let v = self.next().to_le_bytes();
                chunk.copy_from_slice(&v[..chunk.len()]);
            }
        }
    }
}

/// One layer: dirs of files from 512 B to 2 MB, half of them text-like.
fn make_layer(rng: &mut Rng, index: usize, bytes: u64) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::with_capacity(bytes as usize + (1 << 20)));
    let mut written = 0u64;
    let mut n = 0usize;
    while written < bytes {
        let size = match rng.next() % 10 {
            0..=5 => 512 + rng.next() % 8192,
            6..=8 => 16_384 + rng.next() % 262_144,
            _ => 1_048_576 + rng.next() % 1_048_576,
        } as usize;
        let mut data = vec![0u8; size];
        rng.fill(&mut data, n.is_multiple_of(2));
        let mut h = tar::Header::new_gnu();
        h.set_size(size as u64);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        let path = format!("layer{index}/d{:03}/f{n:06}", n % 97);
        b.append_data(&mut h, &path, &data[..])
            .expect("in-memory tar");
        if n.is_multiple_of(50) {
            let mut s = tar::Header::new_gnu();
            s.set_entry_type(tar::EntryType::Symlink);
            s.set_size(0);
            s.set_mode(0o777);
            b.append_link(
                &mut s,
                format!("layer{index}/link{n}"),
                format!("d{:03}/f{n:06}", n % 97),
            )
            .expect("in-memory tar");
        }
        written += size as u64;
        n += 1;
    }
    b.into_inner().expect("in-memory tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

fn fresh(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("mkdir");
    dir.to_path_buf()
}

fn time<F: FnMut()>(mut f: F) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Pushes the layers as one image to a local registry and times `pull`
/// into a fresh store, `rounds` times. `None` (with a note) without the tools.
fn pull_rounds(tars: &[PathBuf], rounds: usize, work: &Path) -> Option<Vec<Duration>> {
    use paddock_images::testing::{LocalRegistry, TestImage};
    let reg = match LocalRegistry::start() {
        Ok(r) => r,
        Err(e) => {
            println!("  (pull bench skipped: {e})");
            return None;
        }
    };
    let layers = tars
        .iter()
        .map(|p| std::fs::read(p).expect("read layer"))
        .collect();
    let image = TestImage::new(layers);
    let reference = match reg.push_image(&image, "bench:big") {
        Ok(r) => r,
        Err(e) => {
            println!("  (pull bench skipped: {e})");
            return None;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut v = Vec::new();
    for i in 0..rounds {
        let root = work.join(format!("store{i}"));
        let store = paddock_images::ImageStore::open(&root).expect("open store");
        v.push(time(|| {
            rt.block_on(store.pull(&reference, None)).expect("pull");
        }));
        let _ = std::fs::remove_dir_all(&root);
    }
    Some(v)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // useful. Either way run once, small when under test.
    let under_test = !std::env::args().any(|a| a == "--bench");
    let mb: u64 = std::env::var("PADDOCK_BENCH_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if under_test { 4 } else { 100 });
    let rounds: usize = std::env::var("PADDOCK_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if under_test { 1 } else { 3 });
    let layers = 4;
    let work = tempfile::Builder::new()
        .prefix("paddock-unpack-bench")
        .tempdir_in("/var/tmp")
        .expect("tempdir");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut tars = Vec::new();
    let mut gz = Vec::new();
    for i in 0..layers {
        let t = make_layer(&mut rng, i, mb * 1024 * 1024 / layers as u64);
        let p = work.path().join(format!("layer{i}.tar"));
        std::fs::write(&p, &t).expect("write layer");
        let g = work.path().join(format!("layer{i}.tar.gz"));
        std::fs::write(&g, gzip(&t)).expect("write layer");
        tars.push(p);
        gz.push(g);
    }
    let total: u64 = tars
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let total_gz: u64 = gz
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let opts = UnpackOptions::for_current_user();
    let out = work.path().join("out");

    let paddock = |files: &[PathBuf], hash: bool| {
        let root = fresh(&out);
        for (i, f) in files.iter().enumerate() {
            let dir = fresh(&root.join(format!("l{i}")));
            let file = std::fs::File::open(f).expect("open layer");
            let reader = decompress(file).expect("decompress");
            if hash {
                let (_, r) =
                    unpack_tar(HashingReader::new(reader), &dir, &opts, "bench").expect("unpack");
                r.finish().expect("hash");
            } else {
                unpack_tar(reader, &dir, &opts, "bench").expect("unpack");
            }
        }
    };
    let gnu_tar = |files: &[PathBuf], flags: &str| {
        let root = fresh(&out);
        for (i, f) in files.iter().enumerate() {
            let dir = fresh(&root.join(format!("l{i}")));
            let st = Command::new("tar")
                .arg(flags)
                .arg(f)
                .arg("-C")
                .arg(&dir)
                .status()
                .expect("run tar");
            assert!(st.success(), "tar failed");
        }
    };

    let mut results: Vec<(&str, Vec<Duration>)> = vec![
        ("tar -xf (uncompressed)", vec![]),
        ("paddock unpack (uncompressed)", vec![]),
        ("paddock unpack + diff_id sha256", vec![]),
        ("tar -xzf (gzip)", vec![]),
        ("paddock unpack + sha256 (gzip)", vec![]),
    ];
    for _ in 0..rounds {
        results[0].1.push(time(|| gnu_tar(&tars, "-xf")));
        results[1].1.push(time(|| paddock(&tars, false)));
        results[2].1.push(time(|| paddock(&tars, true)));
        results[3].1.push(time(|| gnu_tar(&gz, "-xzf")));
        results[4].1.push(time(|| paddock(&gz, true)));
    }
    // Pull + unpack from a local docker-registry (gzip layers), when the
    // registry tools are installed.
    let pulled = pull_rounds(&tars, rounds, work.path());
    if let Some(v) = pulled {
        results.push(("paddock pull + unpack (gzip, registry)", v));
    }
    let med: Vec<(&str, Duration)> = results.into_iter().map(|(n, v)| (n, median(v))).collect();
    let mbps = |d: Duration| total as f64 / (1024.0 * 1024.0) / d.as_secs_f64();
    println!(
        "unpack bench: {layers} layers, {:.1} MiB of layer tars ({:.1} MiB gzip), median of {rounds} rounds",
        total as f64 / 1048576.0,
        total_gz as f64 / 1048576.0
    );
    for (i, (name, d)) in med.iter().enumerate() {
        let base = if i < 3 { med[0].1 } else { med[3].1 };
        // tar -xzf is the baseline of the gzip rows, pull included.
        println!(
            "  {name:<40} {:>8.1} ms  {:>7.1} MB/s  x{:.2} of tar",
            d.as_secs_f64() * 1000.0,
            mbps(*d),
            base.as_secs_f64() / d.as_secs_f64()
        );
    }
}
