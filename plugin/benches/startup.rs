//! Start-up time of the `kubectl-workflow` executable (target: under 20 ms), measured by
//! spawning the binary Cargo built for this bench (the bench profile: optimised).
//!
//! `cargo bench -p kubectl-workflow --bench startup`

use std::path::PathBuf;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-workflow");

fn run(args: &[&str], kubeconfig: &PathBuf, expect_success: bool) {
    let output = Command::new(BIN)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("spawn kubectl-workflow");
    assert_eq!(
        output.status.success(),
        expect_success,
        "{args:?}: {output:?}"
    );
}

fn startup(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("kwf-startup-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/diamond.yaml");
    let example = example.to_str().expect("utf-8 path");

    // Offline commands never read a kubeconfig: point KUBECONFIG at nothing to prove it.
    let nowhere = dir.join("absent");
    let mut group = c.benchmark_group("startup");
    group.bench_function("version", |b| b.iter(|| run(&["version"], &nowhere, true)));
    group.bench_function("help", |b| b.iter(|| run(&["--help"], &nowhere, true)));
    group.bench_function("validate examples/diamond.yaml", |b| {
        b.iter(|| run(&["validate", "-f", example], &nowhere, true))
    });

    // Up to the first request: read a kubeconfig, build the TLS client, connect (refused at
    // once by a closed loopback port), map the error.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{closed_port}\n\
             users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n\
             current-context: c\n"
        ),
    )
    .expect("write kubeconfig");
    group.bench_function("list up to the first request", |b| {
        b.iter(|| run(&["list"], &kubeconfig, false))
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, startup);
criterion_main!(benches);
