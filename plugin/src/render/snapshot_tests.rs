//! Snapshots of what users see (review each one by eye: `cargo insta review`), and the
//! properties every view keeps whatever the input: colors never move a column, `--ascii`
//! output is ASCII, each step is drawn once and no edge is lost.

use insta::assert_snapshot;
use kwf_api::{Workflow, validate};

use super::fixtures::{self, now};
use super::{
    GraphFormat, ListFormat, Listing, LogTail, Style, describe, failed_logs, graph, problems,
};

const PLAIN: Style = Style {
    color: false,
    ascii: false,
};
const ASCII: Style = Style {
    color: false,
    ascii: true,
};
const COLOR: Style = Style {
    color: true,
    ascii: false,
};
const COLOR_ASCII: Style = Style {
    color: true,
    ascii: true,
};

fn scenarios() -> Vec<(&'static str, Workflow)> {
    vec![
        ("new", fixtures::new()),
        ("started", fixtures::started()),
        ("completed", fixtures::completed()),
        ("failed", fixtures::failed()),
        ("diamond", fixtures::diamond()),
        ("fan_out", fixtures::fan_out()),
        ("invalid", fixtures::invalid()),
        ("matrix", fixtures::retries_and_fan_out()),
    ]
}

fn failed_events() -> Vec<k8s_openapi::api::events::v1::Event> {
    let mut events = fixtures::events(&[
        (
            "Normal",
            "Started",
            2,
            "validated 7 steps; started checkout",
        ),
        (
            "Warning",
            "StepFailed",
            130,
            "step unit-tests failed: container exited with code 2",
        ),
        ("Normal", "StepSucceeded", 95, "step package succeeded"),
    ]);
    events.push(fixtures::repeated_event(
        "Normal",
        "StepStarted",
        7,
        80,
        4,
        "started lint, unit-tests, build, package",
    ));
    events
}

fn tree(wf: &Workflow, style: Style) -> String {
    graph(wf, GraphFormat::Tree, style, now())
}

/// `list` in `format`: in namespace `default`, or across all namespaces.
fn list_as(wfs: &[Workflow], format: ListFormat, all_namespaces: bool, style: Style) -> Listing {
    let namespace = (!all_namespaces).then_some("default");
    super::list(wfs, format, namespace, style, now()).expect("fixtures serialize")
}

/// The `list` table's text.
fn list(wfs: &[Workflow], all_namespaces: bool, style: Style) -> String {
    let listing = list_as(wfs, ListFormat::Table, all_namespaces, style);
    assert_eq!(listing.note, None);
    listing.text
}

#[test]
fn graph_tree_of_every_phase() {
    for (name, wf) in scenarios() {
        assert_snapshot!(format!("graph_tree_{name}"), tree(&wf, PLAIN));
    }
}

#[test]
fn graph_tree_in_ascii() {
    assert_snapshot!("graph_tree_ascii_failed", tree(&fixtures::failed(), ASCII));
    assert_snapshot!(
        "graph_tree_ascii_diamond",
        tree(&fixtures::diamond(), ASCII)
    );
}

#[test]
fn graph_tree_in_color() {
    assert_snapshot!(
        "graph_tree_color_started",
        tree(&fixtures::started(), COLOR)
    );
    assert_snapshot!("graph_tree_color_failed", tree(&fixtures::failed(), COLOR));
    assert_snapshot!(
        "graph_tree_color_ascii_failed",
        tree(&fixtures::failed(), COLOR_ASCII)
    );
}

#[test]
fn graph_exports() {
    let now = now();
    for (name, wf) in [("failed", fixtures::failed()), ("new", fixtures::new())] {
        assert_snapshot!(
            format!("graph_json_{name}"),
            graph(&wf, GraphFormat::Json, PLAIN, now)
        );
    }
    let failed = fixtures::failed();
    assert_snapshot!(
        "graph_yaml_failed",
        graph(&failed, GraphFormat::Yaml, PLAIN, now)
    );
    assert_snapshot!(
        "graph_dot_failed",
        graph(&failed, GraphFormat::Dot, PLAIN, now)
    );
    assert_snapshot!(
        "graph_mermaid_failed",
        graph(&failed, GraphFormat::Mermaid, PLAIN, now)
    );
    let diamond = fixtures::diamond();
    assert_snapshot!(
        "graph_dot_diamond",
        graph(&diamond, GraphFormat::Dot, PLAIN, now)
    );
    assert_snapshot!(
        "graph_mermaid_diamond",
        graph(&diamond, GraphFormat::Mermaid, PLAIN, now)
    );
}

#[test]
fn json_and_yaml_carry_the_same_document() {
    let wf = fixtures::failed();
    let from_json: serde_json::Value =
        serde_json::from_str(&graph(&wf, GraphFormat::Json, PLAIN, now())).unwrap();
    let from_yaml: serde_json::Value =
        serde_saphyr::from_str(&graph(&wf, GraphFormat::Yaml, PLAIN, now())).unwrap();
    assert_eq!(from_json, from_yaml);
    assert_eq!(from_json["steps"][2]["name"], "unit-tests");
    assert_eq!(from_json["steps"][2]["exitCode"], 2);
    assert_eq!(from_json["steps"][0]["durationSeconds"], 4);
    assert_eq!(from_json["steps"][0]["attempt"], 1);
    assert_eq!(from_json["steps"][0]["maxAttempts"], 1);
    assert!(from_json["steps"][0]["instances"].is_null());
}

#[test]
fn json_carries_attempts_and_instance_counts() {
    let out = graph(
        &fixtures::retries_and_fan_out(),
        GraphFormat::Json,
        PLAIN,
        now(),
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let step = |name: &str| {
        doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(step("prepare")["attempt"], 3);
    assert_eq!(step("prepare")["maxAttempts"], 4);
    assert_eq!(step("flaky")["attempt"], 2);
    assert_eq!(step("flaky")["nextRetryAt"], "2026-03-01T10:10:08Z");
    assert!(
        step("build")["attempt"].is_null(),
        "instances have their own"
    );
    assert_eq!(
        step("build")["instances"],
        serde_json::json!({"total": 50, "succeeded": 44, "running": 2, "failed": 1,
                           "stopped": 0, "waiting": 3})
    );
    assert_eq!(step("test")["instances"]["waiting"], 3);
    assert!(step("ship")["attempt"].is_null(), "not started");
    assert_eq!(doc["progress"], "1/5", "a fan-out counts as one step");
}

#[test]
fn describe_every_phase() {
    for (name, wf) in scenarios() {
        let events = if name == "failed" {
            failed_events()
        } else {
            vec![]
        };
        assert_snapshot!(
            format!("describe_{name}"),
            describe(&wf, &events, &[], PLAIN, now())
        );
    }
    assert_snapshot!(
        "describe_color_failed",
        describe(&fixtures::failed(), &failed_events(), &[], COLOR, now())
    );
}

#[test]
fn list_of_workflows() {
    let wfs: Vec<Workflow> = scenarios().into_iter().map(|(_, wf)| wf).collect();
    assert_snapshot!("list", list(&wfs, false, PLAIN));
    let mut elsewhere = fixtures::completed();
    elsewhere.metadata.namespace = Some("team-payments".into());
    elsewhere.metadata.name = Some("nightly-settlement".into());
    let mut all = wfs.clone();
    all.push(elsewhere);
    assert_snapshot!("list_all_namespaces", list(&all, true, PLAIN));
    assert_snapshot!("list_color", list(&wfs, false, COLOR));
}

#[test]
fn an_empty_table_is_a_note() {
    for format in [ListFormat::Table, ListFormat::Wide] {
        assert_eq!(
            list_as(&[], format, false, PLAIN),
            Listing {
                text: String::new(),
                note: Some("No resources found in default namespace.".into())
            }
        );
        assert_eq!(
            list_as(&[], format, true, PLAIN).note.as_deref(),
            Some("No resources found")
        );
    }
    // Scripts get what they asked for: nothing, or an empty List.
    assert_eq!(
        list_as(&[], ListFormat::Name, false, PLAIN),
        Listing {
            text: String::new(),
            note: None
        }
    );
    let json = list_as(&[], ListFormat::Json, false, PLAIN);
    assert_eq!(json.note, None);
    assert!(json.text.contains("\"items\": []"), "{}", json.text);
}

#[test]
fn list_wide_adds_the_message_as_a_column() {
    let wfs: Vec<Workflow> = scenarios().into_iter().map(|(_, wf)| wf).collect();
    let wide = list_as(&wfs, ListFormat::Wide, false, PLAIN).text;
    assert_snapshot!("list_wide", wide);
    // The same table as without -o wide, plus the one column.
    let table = list(&wfs, false, PLAIN);
    for (wide_line, line) in wide.lines().zip(table.lines()) {
        assert!(
            wide_line.starts_with(line),
            "{wide_line:?} extends {line:?}"
        );
    }
    let color = list_as(&wfs, ListFormat::Wide, true, COLOR).text;
    assert_eq!(
        strip_ansi(&color),
        list_as(&wfs, ListFormat::Wide, true, PLAIN).text
    );
}

#[test]
fn list_wide_aligns_cjk_and_emoji() {
    let mut wide_names = Vec::new();
    for (name, mut wf) in [
        ("数据管道", fixtures::failed()),
        ("🚀-launch", fixtures::completed()),
        ("nightly", fixtures::started()),
    ] {
        wf.metadata.name = Some(name.into());
        wide_names.push(wf);
    }
    // Namespaces are DNS labels, names too in the API server; the renderer must not care.
    wide_names[0].metadata.namespace = Some("团队".into());
    let wide = list_as(&wide_names, ListFormat::Wide, true, PLAIN).text;
    assert_snapshot!("list_wide_cjk_and_emoji", wide);
    let message_columns: Vec<usize> = wide
        .lines()
        .filter_map(|line| {
            let at = line
                .find("MESSAGE")
                .or_else(|| line.find("step unit-tests"))?;
            Some(super::visible_width(&line[..at]))
        })
        .collect();
    assert_eq!(message_columns.len(), 2, "{wide}");
    assert_eq!(message_columns[0], message_columns[1], "{wide}");
    let phase_columns: Vec<usize> = wide
        .lines()
        .map(|line| {
            let at = ["PHASE", "Failed", "Completed", "Started"]
                .iter()
                .find_map(|word| line.find(word))
                .unwrap();
            super::visible_width(&line[..at])
        })
        .collect();
    assert!(phase_columns.windows(2).all(|w| w[0] == w[1]), "{wide}");
}

#[test]
fn list_names_and_exports() {
    let wfs = vec![fixtures::failed(), fixtures::diamond()];
    assert_eq!(
        list_as(&wfs, ListFormat::Name, false, PLAIN).text,
        "workflow.kwf.dev/release\nworkflow.kwf.dev/diamond\n"
    );
    let json = list_as(&wfs, ListFormat::Json, false, PLAIN).text;
    let yaml = list_as(&wfs, ListFormat::Yaml, false, PLAIN).text;
    let from_json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let from_yaml: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(from_json, from_yaml);
    assert_eq!(from_json["kind"], "List");
    assert_eq!(from_json["items"][1]["metadata"]["name"], "diamond");
    let round_trip: Vec<Workflow> = serde_json::from_value(from_json["items"].clone()).unwrap();
    assert_eq!(round_trip, wfs);
}

#[test]
fn problems_name_source_and_step() {
    let mut wf = kwf_api::fixtures::workflow(
        "broken",
        &[
            ("a", &["c"]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &["nope"]),
        ],
    );
    wf.spec.containers[1].image = None;
    let errors = validate(&wf.spec).expect_err("the spec has problems");
    assert_snapshot!(
        "problems",
        problems("broken.yaml (document 2)", &errors, PLAIN)
    );
    assert_snapshot!("problems_color", problems("broken.yaml", &errors, COLOR));
}

/// Removes SGR/CSI escape sequences: what a terminal without color would show.
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            assert_eq!(chars.next(), Some('['), "only CSI sequences are written");
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn colors_never_move_a_column() {
    for (name, wf) in scenarios() {
        for (plain, color) in [(PLAIN, COLOR), (ASCII, COLOR_ASCII)] {
            let events = failed_events();
            let pairs = [
                (tree(&wf, plain), tree(&wf, color)),
                (
                    describe(&wf, &events, &[], plain, now()),
                    describe(&wf, &events, &[], color, now()),
                ),
                (
                    list(std::slice::from_ref(&wf), true, plain),
                    list(std::slice::from_ref(&wf), true, color),
                ),
            ];
            for (plain_out, color_out) in pairs {
                assert_ne!(plain_out, color_out, "{name}: color output has no color");
                assert_eq!(strip_ansi(&color_out), plain_out, "{name}");
            }
        }
    }
}

#[test]
fn no_color_means_no_escape_and_ascii_means_ascii() {
    for (name, wf) in scenarios() {
        let out = tree(&wf, ASCII) + &describe(&wf, &failed_events(), &[], ASCII, now());
        assert!(!out.contains('\x1b'), "{name}");
        assert!(out.is_ascii(), "{name}: {out}");
    }
}

/// The name cell of each step line in a plain unicode tree (after the glyphs), and the rest.
fn tree_lines(out: &str) -> Vec<(String, String)> {
    out.lines()
        .skip_while(|l| !l.starts_with("STEP"))
        .skip(2) // the column titles and the workflow's own line
        .map(|line| {
            let start = line
                .find(['✔', '✖', '●', '◷', '○'])
                .expect("a glyph on each step line");
            let rest = &line[start..];
            let mut words = rest.split_whitespace().skip(1);
            let name = words.next().unwrap_or_default().to_owned();
            (name, rest.to_owned())
        })
        .collect()
}

#[test]
fn each_step_drawn_once_and_every_edge_shown() {
    for (name, wf) in scenarios().into_iter().filter(|(n, _)| *n != "invalid") {
        let out = tree(&wf, PLAIN);
        let lines = tree_lines(&out);
        let drawn: Vec<&str> = lines.iter().map(|(n, _)| n.as_str()).collect();
        let spec: Vec<&str> = wf
            .spec
            .containers
            .iter()
            .map(|s| s.step_name.as_str())
            .collect();
        let mut sorted_drawn = drawn.clone();
        sorted_drawn.sort();
        let mut sorted_spec = spec.clone();
        sorted_spec.sort();
        assert_eq!(sorted_drawn, sorted_spec, "{name}: each step exactly once");
        for step in &wf.spec.containers {
            let (_, line) = lines.iter().find(|(n, _)| *n == step.step_name).unwrap();
            if let Some((_, others)) = step.depends_on.split_first() {
                for other in others {
                    assert!(
                        line.contains(other.as_str()),
                        "{name}: {} after {other}",
                        step.step_name
                    );
                }
            }
        }
    }
}

#[test]
fn a_step_sits_under_its_first_dependency() {
    let out = tree(&fixtures::diamond(), PLAIN);
    let column = |step: &str| {
        out.lines()
            .find_map(|l| l.find(&format!(" {step} ")).filter(|_| l.contains('─')))
            .unwrap()
    };
    // d is drawn one level under b (its first dependency), not under c.
    assert!(column("d") > column("b"));
    let d_line = out.lines().find(|l| l.contains(" d ")).unwrap();
    assert!(d_line.contains("← also after c"), "{d_line}");
}

#[test]
fn two_thousand_steps_each_drawn_once() {
    let wf = kwf_api::fixtures::layered("big", 50, 40, &[0, 1]);
    let lines = tree_lines(&tree(&wf, PLAIN));
    assert_eq!(lines.len(), 2000);
    let distinct: std::collections::HashSet<&str> = lines.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(distinct.len(), 2000);
    // Each step but the first layer names its second dependency.
    let also_after = lines
        .iter()
        .filter(|(_, l)| l.contains("← also after"))
        .count();
    assert_eq!(also_after, 2000 - 40);
}

#[test]
fn a_long_chain_fits_a_small_thread_stack() {
    // Worker threads (tokio's, the test harness's) have 2 MiB stacks; drawing recurses once
    // per level, so a 2,000-step chain must fit.
    let out = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| tree(&kwf_api::fixtures::layered("big", 2000, 1, &[0, 1]), PLAIN))
        .unwrap()
        .join()
        .expect("no stack overflow");
    assert_eq!(tree_lines(&out).len(), 2000);
}

/// The last lines of the failed step's log, and (for the section alone) a failed step whose
/// pod is gone.
fn unit_test_tails() -> Vec<LogTail> {
    let log: String = (1..=12)
        .map(|i| format!("test case {i:03} ... ok\n"))
        .chain(["test suite: 3 of 120 tests failed\n".to_owned()])
        .collect();
    vec![
        LogTail {
            step: "unit-tests".into(),
            pod: Some("release-unit-tests-1-x7k2p".into()),
            text: Ok(log),
        },
        LogTail {
            step: "lint".into(),
            pod: None,
            text: Err("no pod with a log is left (deleted, or it never started)".into()),
        },
    ]
}

#[test]
fn describe_shows_the_tail_of_each_failed_step_s_log() {
    let out = describe(
        &fixtures::failed(),
        &failed_events(),
        &unit_test_tails()[..1],
        PLAIN,
        now(),
    );
    assert_snapshot!("describe_failed_with_log_tails", out);
    // Bounded: the first three of the thirteen lines are cut.
    assert!(!out.contains("test case 003"), "{out}");
    assert!(out.contains("test case 004"), "{out}");
}

#[test]
fn graph_watch_prints_the_failed_logs_under_the_last_frame() {
    assert_snapshot!("failed_logs", failed_logs(&unit_test_tails(), PLAIN));
    assert_snapshot!("failed_logs_color", failed_logs(&unit_test_tails(), COLOR));
}

#[test]
fn a_stopped_workflow_in_every_view() {
    let wf = fixtures::stopped();
    assert_snapshot!("tree_stopped", graph(&wf, GraphFormat::Tree, PLAIN, now()));
    assert_snapshot!(
        "tree_stopped_ascii",
        graph(&wf, GraphFormat::Tree, ASCII, now())
    );
    assert_snapshot!("describe_stopped", describe(&wf, &[], &[], PLAIN, now()));
    assert_snapshot!(
        "mermaid_stopped",
        graph(&wf, GraphFormat::Mermaid, PLAIN, now())
    );
}

#[test]
fn a_suspended_workflow_says_suspended_in_graph_describe_and_list() {
    let wf = fixtures::suspended();
    let tree = graph(&wf, GraphFormat::Tree, PLAIN, now());
    assert_snapshot!("tree_suspended", tree);
    let described = describe(&wf, &[], &[], PLAIN, now());
    assert_snapshot!("describe_suspended", described);
    let listing = super::list(
        &[fixtures::started(), wf.clone(), fixtures::stopped()],
        ListFormat::Wide,
        Some("default"),
        PLAIN,
        now(),
    )
    .unwrap();
    assert_snapshot!("list_suspended_and_stopped", listing.text);
    for out in [&tree, &described, &listing.text] {
        assert!(out.contains("Suspended"), "{out}");
    }
}

fn tree_with_instances(wf: &Workflow, style: Style) -> String {
    graph(wf, GraphFormat::TreeWithInstances, style, now())
}

#[test]
fn a_fan_out_is_one_line_of_counts_and_attempts_sit_on_their_step() {
    let wf = fixtures::retries_and_fan_out();
    let out = tree(&wf, PLAIN);
    let line = |step: &str| {
        out.lines()
            .find(|l| l.contains(&format!(" {step} ")))
            .unwrap_or_else(|| panic!("no line of {step} in\n{out}"))
    };
    // 44 succeeded, 2 running (one waiting to retry), 1 failed, 3 not started: 50.
    assert!(line("build").contains("build ×50"), "{out}");
    assert!(line("build").contains("44 ✔  2 ●  1 ✖  3 ◷"), "{out}");
    assert!(
        line("test").contains("test ×3") && line("test").contains("3 ◷"),
        "{out}"
    );
    assert!(line("prepare").contains("attempt 3/4"), "{out}");
    assert!(line("flaky").contains("attempt 2/2, retry in 8s"), "{out}");
    assert!(!out.contains("build["), "instances only on request: {out}");
    // Progress counts steps: a fan-out is one step, not 50.
    assert!(out.contains("Progress:   1/5"), "{out}");
    assert_snapshot!("graph_tree_ascii_matrix", tree(&wf, ASCII));
    assert_snapshot!("graph_tree_color_matrix", tree(&wf, COLOR));
}

#[test]
fn instances_expand_under_their_step_on_request() {
    let wf = fixtures::retries_and_fan_out();
    let out = tree_with_instances(&wf, PLAIN);
    assert_snapshot!("graph_tree_instances_matrix", out);
    assert_snapshot!(
        "graph_tree_instances_ascii_matrix",
        tree_with_instances(&wf, ASCII)
    );
    assert_snapshot!(
        "graph_tree_instances_color_matrix",
        tree_with_instances(&wf, COLOR)
    );
    let instance_lines: Vec<&str> = out.lines().filter(|l| l.contains("build[")).collect();
    assert_eq!(instance_lines.len(), 3, "the listed instances: {out}");
    assert!(instance_lines[0].contains("build[3]") && instance_lines[0].contains("Failed"));
    assert!(
        instance_lines[0].contains("item: target-03-linux-amd64"),
        "{out}"
    );
    assert!(instance_lines[0].contains("attempt 3/3"), "{out}");
    assert!(
        instance_lines[2].contains("attempt 2/3, retry in 8s"),
        "{out}"
    );
    // The rest in one line: the listed ones plus it make the total.
    assert!(
        out.contains("… 47 more") && out.contains("44 ✔  3 ◷"),
        "{out}"
    );
    // The instances sit between their step and the steps drawn under it.
    let at = |text: &str| out.find(text).unwrap();
    assert!(at("build ×50") < at("build[3]") && at("build[46]") < at("… 47 more"));
    assert!(at("… 47 more") < at("flaky"), "{out}");
    // Nothing else changes: the tree without the instance lines is the counted tree (but
    // for the padding of its columns, which the instance lines widen).
    let words = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
    let counted: Vec<String> = out
        .lines()
        .filter(|l| !l.contains("build[") && !l.contains(" more "))
        .map(words)
        .collect();
    let plain: Vec<String> = tree(&wf, PLAIN).lines().map(words).collect();
    assert_eq!(counted, plain);
    for style in [ASCII, COLOR_ASCII] {
        let out = tree_with_instances(&wf, style);
        assert!(out.is_ascii(), "{out}");
    }
    assert_eq!(
        strip_ansi(&tree_with_instances(&wf, COLOR)),
        out,
        "colors never move a column"
    );
}

#[test]
fn an_object_item_is_compact_json_cut_to_a_sane_width() {
    let mut wf = fixtures::retries_and_fan_out();
    let status = wf.status.as_mut().unwrap();
    let mut test = kwf_api::fixtures::step_status(
        &fixtures::retries_and_fan_out(),
        "test",
        kwf_api::StepPhase::Running,
    );
    test.job_name = None;
    test.instances = Some(kwf_api::fan_out::InstancesStatus {
        total: 3,
        started: 2,
        succeeded: 0,
        active: [0, 1]
            .map(|index| kwf_api::fan_out::InstanceStatus {
                index,
                phase: kwf_api::StepPhase::Running,
                ..Default::default()
            })
            .to_vec(),
        ..Default::default()
    });
    status.steps.push(test);
    let out = tree_with_instances(&wf, PLAIN);
    assert!(
        out.contains(r#"item: {"arch":"amd64","os":"linux"}"#),
        "{out}"
    );
    let long = out.lines().find(|l| l.contains("test[1]")).unwrap();
    let item = long[long.find("item: ").unwrap() + 6..]
        .split("   ")
        .next()
        .unwrap();
    assert_eq!(item.chars().count(), 40, "{long}");
    assert!(item.ends_with('…'), "{long}");
    assert!(out.contains("… 1 more") && out.contains("1 ◷"), "{out}");
}

#[test]
fn describe_lists_failed_attempts_and_instances() {
    let wf = fixtures::retries_and_fan_out();
    let out = describe(&wf, &[], &[], PLAIN, now());
    for expected in [
        "Failed Attempts:",
        "prepare     1/4       matrix-prepare-1",
        "build[3]    2/3       matrix-build-1-i3-a1   2      exit code 2",
        "build[46]   1/3       matrix-build-1-i46     137    OOMKilled",
        "flaky       1/2",
        "build:  50 in all: 44 succeeded, 2 running, 1 failed, 3 waiting",
        "test:  3 in all: 3 waiting",
    ] {
        assert!(out.contains(expected), "{expected:?} in\n{out}");
    }
    assert_snapshot!(
        "describe_ascii_matrix",
        describe(&wf, &[], &[], ASCII, now())
    );
}
