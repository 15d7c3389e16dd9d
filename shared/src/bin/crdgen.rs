//! Writes the CRDs of kwf, generated from the types, as YAML: every file into the directory
//! given as the only argument (`crd/` is its output: `cargo run -p kwf-api --bin crdgen -- crd`),
//! or all of them to stdout as one stream of documents without one.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut files = Vec::new();
    for (file, crd) in kwf_api::crd::crds() {
        match kwf_api::crd::to_yaml(&crd) {
            Ok(yaml) => files.push((file, yaml)),
            Err(err) => {
                eprintln!("crdgen: cannot render {file} as YAML: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next()) {
        (None, _) => {
            let stream: Vec<String> = files.into_iter().map(|(_, yaml)| yaml).collect();
            print!("{}", stream.join("---\n"));
            ExitCode::SUCCESS
        }
        (Some(dir), None) => {
            let dir = Path::new(&dir);
            for (file, yaml) in files {
                let path = dir.join(file);
                if let Err(err) = std::fs::write(&path, yaml) {
                    eprintln!("crdgen: cannot write {}: {err}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        (Some(_), Some(_)) => {
            eprintln!("crdgen: too many arguments: usage: crdgen [DIR] (stdout without one)");
            ExitCode::FAILURE
        }
    }
}
