//! Property tests of the cgroup-line parser (decision-maker.md 10.2):
//! `parse_cgroup_file` over whole `/proc/<pid>/cgroup` contents and
//! `identity_from_path` over one path.

use gthulhu_proc_scanner::cgroup::{CgroupIdentity, identity_from_path, parse_cgroup_file};
use proptest::prelude::*;

/// A pod UID as kubelet writes it: the canonical dashed form (what the
/// parser must return) and the hex groups, whose case is kept.
#[derive(Clone, Debug)]
struct Uid {
    groups: [String; 5],
}

impl Uid {
    fn dashed(&self) -> String {
        self.groups.join("-")
    }

    fn underscored(&self) -> String {
        self.groups.join("_")
    }

    /// The UID as it appears in a path: dashes (cgroupfs driver),
    /// underscores (systemd driver) or, since the pattern accepts either
    /// separator at each position, a mix of both.
    fn in_path(&self, separators: &[bool; 4]) -> String {
        let mut out = self.groups[0].clone();
        for (group, underscore) in self.groups[1..].iter().zip(separators) {
            out.push(if *underscore { '_' } else { '-' });
            out.push_str(group);
        }
        out
    }
}

fn hex_group(len: usize) -> impl Strategy<Value = String> {
    // Mostly lowercase (what kubelet writes); uppercase is preserved too.
    prop_oneof![
        3 => proptest::string::string_regex(&format!("[0-9a-f]{{{len}}}")).unwrap(),
        1 => proptest::string::string_regex(&format!("[0-9a-fA-F]{{{len}}}")).unwrap(),
    ]
}

fn uid() -> impl Strategy<Value = Uid> {
    (hex_group(8), hex_group(4), hex_group(4), hex_group(4), hex_group(12)).prop_map(|(a, b, c, d, e)| Uid {
        groups: [a, b, c, d, e],
    })
}

/// A container ID: exactly 64 lowercase hex characters.
fn container_id() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[0-9a-f]{64}").unwrap()
}

fn qos() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![Just(None), Just(Some("burstable")), Just(Some("besteffort"))]
}

#[derive(Clone, Copy, Debug)]
enum Runtime {
    Containerd,
    Crio,
    Docker,
}

fn runtime() -> impl Strategy<Value = Runtime> {
    prop_oneof![Just(Runtime::Containerd), Just(Runtime::Crio), Just(Runtime::Docker)]
}

/// What follows the pod segment.
#[derive(Clone, Debug)]
enum Container {
    /// A container of this runtime, with this ID.
    Id(Runtime, String),
    /// CRI-O's conmon: not a container process, so no ID.
    Conmon(String),
    /// A process in the pod cgroup itself: no container segment.
    None,
}

impl Container {
    fn expected_id(&self) -> &str {
        match self {
            Container::Id(_, id) => id,
            Container::Conmon(_) | Container::None => "",
        }
    }
}

fn container() -> impl Strategy<Value = Container> {
    prop_oneof![
        6 => (runtime(), container_id()).prop_map(|(r, id)| Container::Id(r, id)),
        1 => container_id().prop_map(Container::Conmon),
        1 => Just(Container::None),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Driver {
    /// `kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice/<runtime>-<id>.scope`
    Systemd,
    /// The kind layout: everything under `kubelet.slice`, slices prefixed `kubelet-`.
    SystemdKind,
    /// Seen from a private cgroup namespace: `/../../kubepods-<qos>.slice/...`.
    SystemdRelative,
    /// `kubepods/<qos>/pod<uid>/<id>`
    Cgroupfs,
}

fn driver() -> impl Strategy<Value = Driver> {
    prop_oneof![
        Just(Driver::Systemd),
        Just(Driver::SystemdKind),
        Just(Driver::SystemdRelative),
        Just(Driver::Cgroupfs),
    ]
}

/// One pod (or container) cgroup path the way the kubelet and the runtime
/// lay it out, and the identity 10.2 derives from it.
#[derive(Clone, Debug)]
struct PodPath {
    path: String,
    expected: CgroupIdentity,
}

fn pod_path_for(uid: Uid) -> impl Strategy<Value = PodPath> {
    (driver(), qos(), any::<[bool; 4]>(), any::<bool>(), container()).prop_map(
        move |(driver, qos, separators, underscores, container)| {
            // systemd escapes the UID's dashes as underscores; the pattern
            // accepts either, so both forms are generated for both drivers.
            let uid_text = if underscores {
                uid.underscored()
            } else {
                uid.in_path(&separators)
            };
            let path = match driver {
                Driver::Systemd | Driver::SystemdKind | Driver::SystemdRelative => {
                    let (root, prefix) = match driver {
                        Driver::SystemdKind => ("/kubelet.slice/kubelet-kubepods.slice", "kubelet-kubepods"),
                        Driver::SystemdRelative => ("/../..", "kubepods"),
                        _ => ("/kubepods.slice", "kubepods"),
                    };
                    let mut path = root.to_owned();
                    let pod_slice = match qos {
                        Some(q) => {
                            path.push_str(&format!("/{prefix}-{q}.slice"));
                            format!("{prefix}-{q}-pod{uid_text}.slice")
                        }
                        None => format!("{prefix}-pod{uid_text}.slice"),
                    };
                    path.push('/');
                    path.push_str(&pod_slice);
                    match &container {
                        Container::Id(Runtime::Containerd, id) => path.push_str(&format!("/cri-containerd-{id}.scope")),
                        Container::Id(Runtime::Crio, id) => path.push_str(&format!("/crio-{id}.scope")),
                        Container::Id(Runtime::Docker, id) => path.push_str(&format!("/docker-{id}.scope")),
                        Container::Conmon(id) => path.push_str(&format!("/crio-conmon-{id}.scope")),
                        Container::None => {}
                    }
                    path
                }
                Driver::Cgroupfs => {
                    let mut path = "/kubepods".to_owned();
                    if let Some(q) = qos {
                        path.push('/');
                        path.push_str(q);
                    }
                    path.push_str(&format!("/pod{uid_text}"));
                    match &container {
                        // containerd and Docker name the container cgroup by
                        // the bare ID under cgroupfs; CRI-O prefixes `crio-`
                        // (10.2 table: `docker-<id>` without `.scope` is not
                        // a known form).
                        Container::Id(Runtime::Crio, id) => path.push_str(&format!("/crio-{id}")),
                        Container::Id(Runtime::Containerd | Runtime::Docker, id) => path.push_str(&format!("/{id}")),
                        Container::Conmon(id) => path.push_str(&format!("/crio-conmon-{id}")),
                        Container::None => {}
                    }
                    path
                }
            };
            PodPath {
                path,
                expected: CgroupIdentity {
                    pod_uid: uid.dashed(),
                    container_id: container.expected_id().to_owned(),
                },
            }
        },
    )
}

fn pod_path() -> impl Strategy<Value = PodPath> {
    uid().prop_flat_map(pod_path_for)
}

/// The `hierarchy-id:controllers:` head of a line: v2 (`0::`) or a v1 controller.
fn line_head() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0::".to_owned()),
        (
            1u32..=13,
            prop_oneof![
                Just("cpu,cpuacct"),
                Just("memory"),
                Just("pids"),
                Just("cpuset"),
                Just("devices"),
                Just("name=systemd"),
                Just("net_cls,net_prio"),
            ]
        )
            .prop_map(|(n, c)| format!("{n}:{c}:")),
    ]
}

/// A line without the substring `kubepods`: never yields a pod, even when
/// its path holds a pod-shaped segment.
fn unrelated_line() -> impl Strategy<Value = String> {
    prop_oneof![
        line_head().prop_map(|h| format!("{h}/system.slice/containerd.service")),
        line_head().prop_map(|h| format!("{h}/user.slice/user-1000.slice/session-2.scope")),
        line_head().prop_map(|h| format!("{h}/")),
        (line_head(), uid(), container_id()).prop_map(|(h, u, c)| format!("{h}/system.slice/pod{}/{c}", u.dashed())),
        "[^\n\r]{0,40}".prop_filter("no kubepods", |s| !s.contains("kubepods")),
    ]
}

/// A `kubepods` line with no pod segment (QoS-level slices), or one with
/// fewer than three `:`-separated parts: both yield nothing.
fn kubepods_line_without_pod() -> impl Strategy<Value = String> {
    prop_oneof![
        line_head().prop_map(|h| format!("{h}/kubepods.slice")),
        line_head().prop_map(|h| format!("{h}/kubepods.slice/kubepods-burstable.slice")),
        line_head().prop_map(|h| format!("{h}/kubepods/besteffort")),
        line_head().prop_map(|h| format!("{h}/kubepods/burstable/pod123abc-456def/docker-abcdef.scope")),
        pod_path().prop_map(|p| format!("0:{}", p.path.replace(':', ""))),
        pod_path().prop_map(|p| p.path),
    ]
}

/// One line of a generated cgroup file and what it yields on its own.
#[derive(Clone, Debug)]
struct Line {
    text: String,
    yields: Option<CgroupIdentity>,
}

fn line_with_pod(uid: Uid) -> impl Strategy<Value = Line> {
    (line_head(), pod_path_for(uid)).prop_map(|(head, p)| Line {
        text: format!("{head}{}", p.path),
        yields: Some(p.expected),
    })
}

/// A cgroup file's lines drawn from two pod UIDs (so that the "same UID
/// supplies the missing container ID" rule is exercised) and lines that
/// yield nothing.
fn cgroup_lines() -> impl Strategy<Value = Vec<Line>> {
    (uid(), uid()).prop_flat_map(|(a, b)| {
        let line = prop_oneof![
            3 => line_with_pod(a),
            1 => line_with_pod(b),
            1 => unrelated_line().prop_map(|text| Line { text, yields: None }),
            1 => kubepods_line_without_pod().prop_map(|text| Line { text, yields: None }),
        ];
        proptest::collection::vec(line, 0..8)
    })
}

/// 10.2 rule 5, written independently of the parser: the first line
/// yielding a UID sets it; while the container ID is unknown, a later line
/// with the same UID may supply one.
fn reference(lines: &[Line]) -> Option<CgroupIdentity> {
    let mut found: Option<CgroupIdentity> = None;
    for yielded in lines.iter().filter_map(|l| l.yields.as_ref()) {
        match &mut found {
            None => found = Some(yielded.clone()),
            Some(f) if f.container_id.is_empty() && f.pod_uid == yielded.pod_uid => {
                f.container_id = yielded.container_id.clone();
            }
            Some(_) => {}
        }
    }
    found
}

fn join(lines: &[String], trailing_newline: bool) -> String {
    let mut content = lines.join("\n");
    if trailing_newline && !content.is_empty() {
        content.push('\n');
    }
    content
}

/// Text made of the pieces cgroup lines are made of, so that random input
/// reaches the pattern and container-ID code, not only the `kubepods` filter.
fn cgroup_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("kubepods".to_owned()),
        Just("pod".to_owned()),
        Just(":".to_owned()),
        Just("/".to_owned()),
        Just("-".to_owned()),
        Just("_".to_owned()),
        Just(".slice".to_owned()),
        Just(".scope".to_owned()),
        Just("cri-containerd-".to_owned()),
        Just("crio-".to_owned()),
        Just("crio-conmon-".to_owned()),
        Just("docker-".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        "[0-9a-fA-F]{1,12}",
        "[0-9a-f]{64}",
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..48).prop_map(|p| p.concat())
}

fn is_canonical_uid(uid: &str) -> bool {
    uid.len() == 36
        && uid.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = parse_cgroup_file(&text);
        let _ = identity_from_path(&text);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_cgroup_file(&text);
        let _ = identity_from_path(&text);
    }

    /// Whatever the input, a UID found is a canonical dashed UUID taken from
    /// the input, and a container ID is a single path segment.
    #[test]
    fn results_are_well_formed(text in cgroup_soup()) {
        // A path is split on `/` only; a file is also split into lines.
        let from_file = parse_cgroup_file(&text).map(|i| (i, &['/', '\n'][..]));
        let from_path = identity_from_path(&text).map(|i| (i, &['/'][..]));
        for (identity, never_in_id) in from_file.into_iter().chain(from_path) {
            prop_assert!(is_canonical_uid(&identity.pod_uid), "uid {:?} from {:?}", identity.pod_uid, text);
            let hex: String = identity.pod_uid.chars().filter(|c| *c != '-').collect();
            let input_hex: String = text.chars().filter(|c| *c != '-' && *c != '_').collect();
            prop_assert!(input_hex.contains(&hex), "uid {:?} not in {:?}", identity.pod_uid, text);
            prop_assert!(
                !identity.container_id.contains(never_in_id),
                "container {:?} from {:?}",
                identity.container_id,
                text
            );
        }
    }

    /// Rules 2 and 4 on one path: the generated UID (dashed) and container ID.
    #[test]
    fn path_parses_to_its_pod_and_container(p in pod_path()) {
        prop_assert_eq!(identity_from_path(&p.path), Some(p.expected));
    }

    /// One v1 or v2 line, with or without a trailing newline or CR.
    #[test]
    fn line_parses_to_its_pod_and_container(
        p in pod_path(),
        head in line_head(),
        end in prop_oneof![Just(""), Just("\n"), Just("\r\n")],
    ) {
        let content = format!("{head}{}{end}", p.path);
        prop_assert_eq!(parse_cgroup_file(&content), Some(p.expected));
    }

    /// cgroup v1 (one line per controller, the same path) and hybrid hosts
    /// (plus a `0::` line): the same identity, once.
    #[test]
    fn v1_and_hybrid_files_parse_to_their_pod(
        p in pod_path(),
        heads in proptest::collection::vec(line_head(), 1..12),
    ) {
        let lines: Vec<String> = heads.iter().map(|h| format!("{h}{}", p.path)).collect();
        prop_assert_eq!(parse_cgroup_file(&join(&lines, true)), Some(p.expected));
    }

    /// Whole files mixing pod lines of two UIDs, QoS-slice lines, malformed
    /// lines and host lines agree with the rule-5 reference.
    #[test]
    fn file_agrees_with_reference(lines in cgroup_lines(), trailing_newline in any::<bool>()) {
        let text: Vec<String> = lines.iter().map(|l| l.text.clone()).collect();
        let content = join(&text, trailing_newline);
        prop_assert_eq!(parse_cgroup_file(&content), reference(&lines), "content {:?}", content);
    }

    /// Lines without `kubepods` yield no pod, even with pod-shaped segments.
    #[test]
    fn lines_without_kubepods_yield_no_pod(lines in proptest::collection::vec(unrelated_line(), 0..8)) {
        prop_assert_eq!(parse_cgroup_file(&join(&lines, true)), None);
    }

    /// A pod path whose line lacks `kubepods` (e.g. a relative cgroupfs
    /// path seen from a cgroup namespace) is skipped.
    #[test]
    fn pod_path_without_kubepods_is_skipped(p in pod_path(), head in line_head()) {
        let stripped = p.path.replace("kubepods", "k8s");
        prop_assume!(!stripped.contains("kubepods"));
        prop_assert_eq!(parse_cgroup_file(&format!("{head}{stripped}")), None);
    }

    /// Lines without `kubepods`, however odd, change nothing wherever they go.
    #[test]
    fn unrelated_lines_change_nothing(
        lines in cgroup_lines(),
        noise in proptest::collection::vec(
            (any::<prop::sample::Index>(), "[^\n\r]{0,40}".prop_filter("no kubepods", |s| !s.contains("kubepods"))),
            0..6,
        ),
    ) {
        let mut text: Vec<String> = lines.iter().map(|l| l.text.clone()).collect();
        let before = parse_cgroup_file(&join(&text, false));
        for (at, line) in noise {
            let at = at.index(text.len() + 1);
            text.insert(at, line);
        }
        prop_assert_eq!(parse_cgroup_file(&join(&text, false)), before);
    }
}
