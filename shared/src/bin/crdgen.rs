//! Writes the Workflow CRD, generated from the types, as YAML: to stdout, or to the path
//! given as the only argument. `crd/workflow.yaml` is its output:
//! `cargo run -p kwf-api --bin crdgen > crd/workflow.yaml`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let yaml = match kwf_api::crd_yaml() {
        Ok(yaml) => yaml,
        Err(err) => {
            eprintln!("crdgen: cannot render the CRD as YAML: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next()) {
        (None, _) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        (Some(path), None) => match std::fs::write(&path, yaml) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("crdgen: cannot write {}: {err}", path.to_string_lossy());
                ExitCode::FAILURE
            }
        },
        (Some(_), Some(_)) => {
            eprintln!(
                "crdgen: too many arguments: usage: crdgen [OUTPUT.yaml] (stdout without one)"
            );
            ExitCode::FAILURE
        }
    }
}
