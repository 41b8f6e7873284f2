//! The deployment files against Drip itself: every variable the `Dockerfile`,
//! `deploy/compose.yaml`, `deploy/kubernetes/` and `deploy/systemd/` give Drip goes
//! through the real configuration parser (`Config::figment` + `Config::from_figment`, in
//! a `figment::Jail`), so an unknown or malformed key fails here and not at a rollout;
//! and their wiring: compose's services and the order they start in, the kustomization
//! listing every manifest, selectors, probes on the listen port, the pod hardening of
//! docs/deployment.md, placeholders instead of secrets. The schemas themselves are
//! `cargo xtask deploy-lint`'s (hadolint, kubernetes-validate).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error as _;
use std::path::{Path, PathBuf};

use drip::{Config, DatabaseConfig};
use yaml_rust2::{Yaml, YamlLoader};

/// A container's environment: name → value.
type Env = BTreeMap<String, String>;

/// The port the image and every deployment listen on.
const PORT: u16 = 4000;

/// The runtime user of the image (distroless' `nonroot`).
const UID: i64 = 65532;

/// What `fieldRef: metadata.name` gives a pod.
const POD_NAME: &str = "drip-7c9d6b5f4-x2x7q";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The documents of a YAML file, with merge keys (`<<: *anchor`) applied.
fn yaml(relative: &str) -> Vec<Yaml> {
    let docs = YamlLoader::load_from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
    docs.into_iter().map(merge_keys).collect()
}

/// Applies YAML merge keys as compose does: the merged mapping's entries, unless the
/// mapping sets them itself.
fn merge_keys(node: Yaml) -> Yaml {
    match node {
        Yaml::Hash(hash) => {
            let mut own = yaml_rust2::yaml::Hash::new();
            let mut merged = Vec::new();
            for (key, value) in hash {
                let value = merge_keys(value);
                if key.as_str() == Some("<<") {
                    match value {
                        Yaml::Array(list) => merged.extend(list),
                        other => merged.push(other),
                    }
                } else {
                    own.insert(key, value);
                }
            }
            for source in merged {
                let Yaml::Hash(source) = source else { panic!("a merge key takes mappings: {source:?}") };
                for (key, value) in source {
                    own.entry(key).or_insert(value);
                }
            }
            Yaml::Hash(own)
        }
        Yaml::Array(list) => Yaml::Array(list.into_iter().map(merge_keys).collect()),
        other => other,
    }
}

/// A scalar as the environment sees it.
fn scalar(node: &Yaml) -> String {
    match node {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn str_of<'a>(node: &'a Yaml, what: &str) -> &'a str {
    node.as_str().unwrap_or_else(|| panic!("{what} is not a string: {node:?}"))
}

fn keys(node: &Yaml) -> BTreeSet<String> {
    node.as_hash().map(|h| h.keys().map(scalar).collect()).unwrap_or_default()
}

/// The image's `ENV` (`ENV A=1 \` continued over lines; no quoting).
fn image_env() -> Env {
    let dockerfile = read("Dockerfile").replace("\\\n", " ");
    let mut env = Env::new();
    for line in dockerfile.lines().filter_map(|l| l.trim().strip_prefix("ENV ")) {
        for pair in line.split_whitespace() {
            assert!(!pair.contains(['"', '\'']), "the test reads unquoted ENV only: {pair}");
            let (name, value) = pair.split_once('=').unwrap_or_else(|| panic!("ENV {pair}: not NAME=value"));
            env.insert(name.to_owned(), value.to_owned());
        }
    }
    assert!(!env.is_empty(), "the Dockerfile sets ENV");
    env
}

/// Loads `env` (and nothing else of the process' environment) into Drip's configuration.
#[allow(clippy::result_large_err)] // figment's signature
fn configure(env: &Env) -> Result<Config, String> {
    let mut outcome = None;
    figment::Jail::expect_with(|jail| {
        jail.clear_env();
        for (name, value) in env {
            jail.set_env(name, value);
        }
        outcome = Some(Config::from_figment(&Config::figment(None)).map_err(|e| {
            let mut message = e.to_string();
            let mut source = e.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            message
        }));
        Ok(())
    });
    outcome.expect("the jail ran")
}

/// Asserts that `env` loads, listening on `PORT` with PostgreSQL metadata.
fn assert_loads(what: &str, env: &Env) {
    let config = configure(env).unwrap_or_else(|e| panic!("{what}: {e}\nvariables: {:?}", env.keys()));
    assert_eq!(config.listen.port(), PORT, "{what}");
    assert!(matches!(config.database, DatabaseConfig::Postgres { .. }), "{what}: {:?}", config.database);
}

// ---------------------------------------------------------------------------------------
// systemd

#[test]
fn the_systemd_unit_loads_into_the_configuration() {
    let unit = read("deploy/systemd/drip.service");
    let env: Env = unit
        .lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or_else(|| panic!("Environment={pair}"));
            (name.to_owned(), value.to_owned())
        })
        .collect();
    assert!(!env.is_empty(), "the unit sets variables");
    let config = configure(&env).unwrap_or_else(|e| panic!("deploy/systemd/drip.service: {e}"));
    assert_eq!(config.listen.to_string(), format!("127.0.0.1:{PORT}"));
    assert!(matches!(config.database, DatabaseConfig::Sqlite { .. }), "{:?}", config.database);
    assert!(unit.contains("--data-dir /var/lib/drip serve") && unit.contains("StateDirectory=drip\n"));
}

// ---------------------------------------------------------------------------------------
// compose

const COMPOSE: &str = "deploy/compose.yaml";
const DRIP_SERVICES: [&str; 3] = ["migrate", "node1", "node2"];

fn compose() -> Yaml {
    yaml(COMPOSE).into_iter().next().expect("one document")
}

/// The variables of deploy/.env.example, with their (committed) values.
fn env_example() -> Env {
    read("deploy/.env.example")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.split_once('=').unwrap_or_else(|| panic!(".env.example: {l}"));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// Values of the right shape for the secrets deploy/.env holds.
fn sample_secret(name: &str) -> String {
    match name {
        "DRIP_MASTER_KEYS" => "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned(),
        _ => format!("sample-{}", name.to_ascii_lowercase()),
    }
}

/// Compose's interpolation of `${NAME}`, `${NAME:?message}`, `${NAME:-default}` and `$$`;
/// `used` collects the names read from deploy/.env (those without a default).
fn interpolate(text: &str, used: &mut BTreeSet<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').unwrap_or_else(|| panic!("unclosed ${{ in {text}"));
            let expression = &inner[..end];
            let name_end = expression.find([':', '-', '?']).unwrap_or(expression.len());
            let (name, modifier) = expression.split_at(name_end);
            if let Some(default) = modifier.strip_prefix(":-") {
                out.push_str(default);
            } else {
                assert!(modifier.is_empty() || modifier.starts_with(":?"), "${{{expression}}} in {text}");
                used.insert(name.to_owned());
                out.push_str(&sample_secret(name));
            }
            rest = &inner[end + 1..];
        } else {
            panic!("a bare $ in {text}: write $$ or ${{NAME}}");
        }
    }
    out.push_str(rest);
    out
}

/// A compose service's environment (the mapping form), interpolated.
fn service_env(service: &Yaml, used: &mut BTreeSet<String>) -> Env {
    let environment = &service["environment"];
    let hash = environment.as_hash().unwrap_or_else(|| panic!("environment is a mapping: {environment:?}"));
    hash.iter().map(|(name, value)| (scalar(name), interpolate(&scalar(value), used))).collect()
}

fn condition(service: &Yaml, on: &str) -> String {
    str_of(&service["depends_on"][on]["condition"], &format!("depends_on.{on}.condition")).to_owned()
}

#[test]
fn compose_runs_the_expected_services_in_order() {
    let compose = compose();
    let services = &compose["services"];
    let names: BTreeSet<String> =
        ["postgres", "minio", "create-bucket", "migrate", "node1", "node2"].map(String::from).into();
    assert_eq!(keys(services), names);
    assert_eq!(condition(&services["create-bucket"], "minio"), "service_healthy");
    assert_eq!(condition(&services["migrate"], "postgres"), "service_healthy");
    assert_eq!(condition(&services["migrate"], "create-bucket"), "service_completed_successfully");
    let mut nodes = BTreeSet::new();
    for (node, host_port) in [("node1", 4001), ("node2", 4002)] {
        let service = &services[node];
        assert_eq!(condition(service, "postgres"), "service_healthy", "{node}");
        assert_eq!(condition(service, "create-bucket"), "service_completed_successfully", "{node}");
        assert_eq!(condition(service, "migrate"), "service_completed_successfully", "{node}");
        let ports: Vec<String> = service["ports"].as_vec().unwrap().iter().map(scalar).collect();
        assert_eq!(ports, [format!("127.0.0.1:{host_port}:{PORT}")], "{node}");
        let test: Vec<String> = service["healthcheck"]["test"].as_vec().unwrap().iter().map(scalar).collect();
        assert_eq!(
            test,
            ["CMD", "/usr/local/bin/drip", "healthcheck", "--url", &format!("http://127.0.0.1:{PORT}/ready")],
            "{node}"
        );
        let env = service_env(service, &mut BTreeSet::new());
        nodes.insert(env.get("DRIP_EVENTS__NODE").cloned().unwrap_or_else(|| panic!("{node} names itself")));
    }
    assert_eq!(nodes.len(), 2, "each node has its own events name: {nodes:?}");
    for service in ["postgres", "minio"] {
        assert!(!services[service]["healthcheck"]["test"].is_badvalue(), "{service} has a healthcheck");
    }
    for one_shot in ["create-bucket", "migrate"] {
        assert_eq!(scalar(&services[one_shot]["restart"]), "no", "{one_shot} runs once");
    }
    for service in DRIP_SERVICES {
        assert_eq!(scalar(&services[service]["image"]), "drip:local", "{service}");
        assert_eq!(scalar(&services[service]["build"]["dockerfile"]), "Dockerfile", "{service}");
    }
}

#[test]
fn compose_takes_its_secrets_from_the_env_file_and_none_is_committed() {
    let compose = compose();
    let mut used = BTreeSet::new();
    for (_, service) in compose["services"].as_hash().unwrap() {
        if !service["environment"].is_badvalue() {
            service_env(service, &mut used);
        }
    }
    let example = env_example();
    assert_eq!(
        used,
        example.keys().cloned().collect(),
        "deploy/.env.example lists what compose.yaml requires"
    );
    for (name, value) in &example {
        assert!(value.is_empty(), "deploy/.env.example gives {name} a value: secrets are never committed");
    }
    let ignored = read(".gitignore");
    assert!(ignored.lines().any(|l| l == "/deploy/.env"), ".gitignore leaves deploy/.env out");
}

#[test]
fn every_drip_container_of_compose_loads_into_the_configuration() {
    let compose = compose();
    for name in DRIP_SERVICES {
        let mut env = image_env();
        env.extend(service_env(&compose["services"][name], &mut BTreeSet::new()));
        assert_loads(&format!("{COMPOSE} {name}"), &env);
    }
}

// ---------------------------------------------------------------------------------------
// Kubernetes

const KUBERNETES: &str = "deploy/kubernetes";

/// Every object of deploy/kubernetes/ (but the kustomization), by kind.
fn objects() -> BTreeMap<String, Yaml> {
    let mut objects = BTreeMap::new();
    for file in manifest_files() {
        for doc in yaml(&format!("{KUBERNETES}/{file}")) {
            let kind = str_of(&doc["kind"], "kind").to_owned();
            assert!(objects.insert(kind.clone(), doc).is_none(), "one {kind}");
        }
    }
    objects
}

/// The `.yaml` files of deploy/kubernetes/ but kustomization.yaml.
fn manifest_files() -> BTreeSet<String> {
    std::fs::read_dir(root().join(KUBERNETES))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect()
}

fn pod_spec<'a>(objects: &'a BTreeMap<String, Yaml>, kind: &str) -> &'a Yaml {
    &objects[kind]["spec"]["template"]["spec"]
}

/// The ConfigMap's data and the Secret's stringData, checking the names the containers
/// refer to.
fn env_sources(objects: &BTreeMap<String, Yaml>, container: &Yaml) -> Env {
    let refs: Vec<(String, String)> = container["envFrom"]
        .as_vec()
        .expect("envFrom")
        .iter()
        .map(|from| match (&from["configMapRef"]["name"], &from["secretRef"]["name"]) {
            (Yaml::String(name), Yaml::BadValue) => ("ConfigMap".to_owned(), name.clone()),
            (Yaml::BadValue, Yaml::String(name)) => ("Secret".to_owned(), name.clone()),
            other => panic!("an envFrom entry names one ConfigMap or Secret: {other:?}"),
        })
        .collect();
    let mut env = Env::new();
    for (kind, name) in refs {
        let object = &objects[&kind];
        assert_eq!(str_of(&object["metadata"]["name"], "name"), name, "envFrom names the {kind}");
        let data = if kind == "Secret" { &object["stringData"] } else { &object["data"] };
        for (key, value) in data.as_hash().unwrap_or_else(|| panic!("the {kind} has data")) {
            env.insert(scalar(key), scalar(value));
        }
    }
    env
}

/// A container's own `env`: values, and the pod's name through the downward API.
fn container_env(container: &Yaml) -> Env {
    let Some(list) = container["env"].as_vec() else { return Env::new() };
    list.iter()
        .map(|var| {
            let name = scalar(&var["name"]);
            let value = match (&var["value"], &var["valueFrom"]["fieldRef"]["fieldPath"]) {
                (Yaml::BadValue, Yaml::String(path)) if path == "metadata.name" => POD_NAME.to_owned(),
                (value, Yaml::BadValue) => scalar(value),
                other => panic!("{name}: a value or the pod's name: {other:?}"),
            };
            (name, value)
        })
        .collect()
}

/// What a container of `kind` sees: the image's ENV, then envFrom, then env (Kubernetes'
/// precedence).
fn kubernetes_env(objects: &BTreeMap<String, Yaml>, kind: &str) -> Env {
    let containers = pod_spec(objects, kind)["containers"].as_vec().unwrap();
    assert_eq!(containers.len(), 1, "{kind}: one container");
    let mut env = image_env();
    env.extend(env_sources(objects, &containers[0]));
    env.extend(container_env(&containers[0]));
    env
}

#[test]
fn every_drip_container_of_kubernetes_loads_into_the_configuration() {
    let objects = objects();
    for kind in ["Deployment", "Job"] {
        assert_loads(&format!("{KUBERNETES} {kind}"), &kubernetes_env(&objects, kind));
    }
}

#[test]
fn a_misspelled_or_malformed_variable_fails_the_configuration() {
    // Keys of sections that sort before `events`, so that each mutation is the first
    // error Drip reports, whichever of the other keys it knows.
    let base = kubernetes_env(&objects(), "Deployment");
    let mutations = [
        ("DRIP_AUTH__JWT_SECRT", "x", "DRIP_AUTH__JWT_SECRT"),
        ("DRIP_DATABSE__KIND", "postgres", "found `databse`"),
        ("DRIP_DATABASE__POOL_SIZE", "ten", "found string \"ten\", expected u32"),
        ("DRIP_AUTH____JWT_SECRET", "x", "malformed variable name"),
    ];
    for (name, value, reported) in mutations {
        let mut env = base.clone();
        env.insert(name.to_owned(), value.to_owned());
        let error = configure(&env).err().unwrap_or_else(|| panic!("{name}={value} was accepted"));
        assert!(error.contains(reported), "{name}={value}: {error}");
    }
}

#[test]
fn the_manifests_are_wired_together() {
    let objects = objects();
    let kinds: BTreeSet<&str> = objects.keys().map(String::as_str).collect();
    assert_eq!(kinds, ["ConfigMap", "Deployment", "Job", "PodDisruptionBudget", "Secret", "Service"].into());
    let kustomization = yaml(&format!("{KUBERNETES}/kustomization.yaml")).remove(0);
    let listed: BTreeSet<String> = kustomization["resources"].as_vec().unwrap().iter().map(scalar).collect();
    assert_eq!(listed, manifest_files(), "kustomization.yaml lists every manifest");

    let deployment = &objects["Deployment"];
    assert_eq!(deployment["spec"]["replicas"].as_i64(), Some(3));
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    let labels = deployment["spec"]["template"]["metadata"]["labels"].as_hash().unwrap();
    for (key, value) in selector.as_hash().unwrap() {
        assert_eq!(labels.get(key), Some(value), "the pods carry the selector's labels");
    }
    assert_eq!(&objects["Service"]["spec"]["selector"], selector, "the Service selects the servers");
    assert_eq!(&objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"], selector);

    let container = &pod_spec(&objects, "Deployment")["containers"][0];
    let port = &container["ports"][0];
    assert_eq!(port["containerPort"].as_i64(), Some(i64::from(PORT)));
    let port_name = str_of(&port["name"], "the port's name");
    assert_eq!(scalar(&objects["Service"]["spec"]["ports"][0]["targetPort"]), port_name);
    for (probe, path) in
        [("startupProbe", "/health"), ("livenessProbe", "/health"), ("readinessProbe", "/ready")]
    {
        let get = &container[probe]["httpGet"];
        assert_eq!(
            (scalar(&get["path"]).as_str(), scalar(&get["port"])),
            (path, port_name.to_owned()),
            "{probe}"
        );
    }
    assert_eq!(container_env(container).get("DRIP_EVENTS__NODE").map(String::as_str), Some(POD_NAME));
    let job_container = &pod_spec(&objects, "Job")["containers"][0];
    assert_eq!(job_container["image"], container["image"], "the Job migrates with the servers' image");
    assert_eq!(scalar(&job_container["args"][0]), "migrate");
    assert_eq!(scalar(&container["args"][0]), "serve");
}

#[test]
fn the_pods_run_hardened_and_the_secret_holds_placeholders() {
    let objects = objects();
    assert!(read("Dockerfile").lines().any(|l| l == format!("USER {UID}:{UID}")), "the image runs as {UID}");
    for kind in ["Deployment", "Job"] {
        let spec = pod_spec(&objects, kind);
        // Service links would add DRIP_* variables Drip refuses (a Service named drip
        // gives DRIP_PORT, DRIP_SERVICE_HOST...).
        assert_eq!(spec["enableServiceLinks"].as_bool(), Some(false), "{kind}");
        assert_eq!(spec["automountServiceAccountToken"].as_bool(), Some(false), "{kind}");
        let pod = &spec["securityContext"];
        assert_eq!(pod["runAsNonRoot"].as_bool(), Some(true), "{kind}");
        assert_eq!(pod["runAsUser"].as_i64(), Some(UID), "{kind}");
        assert_eq!(scalar(&pod["seccompProfile"]["type"]), "RuntimeDefault", "{kind}");
        let container = &spec["containers"][0];
        let security = &container["securityContext"];
        assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false), "{kind}");
        assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true), "{kind}");
        assert_eq!(security["capabilities"]["drop"], Yaml::Array(vec![Yaml::String("ALL".into())]), "{kind}");
        for bound in ["requests", "limits"] {
            assert_eq!(
                keys(&container["resources"][bound]),
                ["cpu", "memory"].map(String::from).into(),
                "{kind}"
            );
        }
    }
    let secret = &objects["Secret"];
    assert!(secret["data"].is_badvalue(), "the template is stringData only");
    for (name, value) in secret["stringData"].as_hash().unwrap() {
        assert!(scalar(value).contains("REPLACE_ME"), "{}: a placeholder, never a secret", scalar(name));
    }
}
