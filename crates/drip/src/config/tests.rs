//! Configuration tests: layering, the original deployment's names, errors that name the
//! key, redaction, and the key table of `docs/configuration.md` against [`Raw`]. Each test
//! runs in a figment [`Jail`] (its own working directory, the environment cleared and
//! restored).

use std::collections::{BTreeMap, BTreeSet};

use figment::Jail;
use figment::value::Value;

use super::*;

/// Runs `test` in a jail whose environment holds only `vars`.
#[allow(clippy::result_large_err)] // figment's signature
fn jailed(vars: &[(&str, &str)], test: impl FnOnce(&mut Jail)) {
    Jail::expect_with(|jail| {
        jail.clear_env();
        for (name, value) in vars {
            jail.set_env(name, value);
        }
        test(jail);
        Ok(())
    });
}

/// Loads the configuration in a jail whose environment holds only `vars` and hands it to
/// `check`.
fn loaded(vars: &[(&str, &str)], check: impl FnOnce(Config)) {
    jailed(vars, |_| check(Config::load(None).unwrap()));
}

/// What an error says, its sources included.
fn message(err: &ConfigError) -> String {
    let ConfigError::Invalid(source) = err;
    format!("{err}: {source}")
}

#[test]
fn the_test_suites_variables_are_not_configuration() {
    let vars = [("DRIP_TEST_S3_ENDPOINT", "http://127.0.0.1:9"), ("DRIP_TEST_TUS_JS", "/tmp/x")];
    loaded(&vars, |c| assert!(c.is_embedded()));
}

#[test]
fn quotas_and_resumable_uploads_read_their_settings() {
    loaded(&[], |c| {
        assert_eq!(c.default_quota_bytes, None, "0 (the default) is no limit");
        assert_eq!((c.resumable_expiry.as_secs(), c.resumable_part_bytes), (24 * 3600, 16 << 20));
    });
    let vars = [
        ("DRIP_LIMITS__DEFAULT_QUOTA_MIB", "5"),
        ("DRIP_UPLOADS__EXPIRY_HOURS", "2"),
        ("DRIP_UPLOADS__PART_MIB", "1"),
    ];
    loaded(&vars, |c| {
        assert_eq!(c.default_quota_bytes, Some(5 << 20));
        assert_eq!((c.resumable_expiry.as_secs(), c.resumable_part_bytes), (7200, 1 << 20));
    });
}

#[test]
fn defaults_are_embedded() {
    loaded(&[], |c| {
        assert!(matches!(&c.database, DatabaseConfig::Sqlite { path } if path == Path::new(".drip/drip.db")));
        assert!(matches!(&c.storage, StorageConfig::Local { path } if path == Path::new(".drip/objects")));
        assert_eq!(c.listen, "127.0.0.1:4000".parse().unwrap());
        assert!(c.is_embedded());
        assert!(c.jwt_secret.is_none());
    });
}

#[test]
fn job_settings_default_to_the_runner_defaults_and_are_configurable() {
    loaded(&[], |c| assert_eq!(c.jobs, JobSettings::default()));
    let vars = [
        ("DRIP_JOBS__MAX_ATTEMPTS", "2"),
        ("DRIP_JOBS__BACKOFF_BASE_MS", "100"),
        ("DRIP_JOBS__BACKOFF_CAP_SECS", "1"),
        ("DRIP_JOBS__POLL_SECS", "0"),
        ("DRIP_JOBS__LEASE_SECS", "7"),
    ];
    loaded(&vars, |c| {
        assert_eq!(
            c.jobs,
            JobSettings {
                lease: Duration::from_secs(7),
                poll_interval: Duration::from_secs(1),
                max_attempts: 2,
                backoff_base: Duration::from_millis(100),
                backoff_cap: Duration::from_secs(1),
            },
            "a zero poll interval is raised to a second"
        );
    });
}

#[test]
fn the_trash_keeps_files_30_days_by_default_and_0_days_means_no_trash() {
    loaded(&[], |c| assert_eq!(c.trash_retention, Some(Duration::from_secs(30 * 24 * 3600))));
    loaded(&[("DRIP_STORAGE__TRASH_DAYS", "7")], |c| {
        assert_eq!(c.trash_retention, Some(Duration::from_secs(7 * 24 * 3600)));
    });
    loaded(&[("DRIP_STORAGE__TRASH_DAYS", "0")], |c| assert_eq!(c.trash_retention, None));
}

#[test]
fn embedded_is_the_defaults_without_reading_the_environment() {
    jailed(&[("DRIP_DATABASE__KIND", "memory"), ("PORT", "8080")], |_| {
        let c = Config::embedded("/srv/drip").unwrap();
        assert!(
            matches!(&c.database, DatabaseConfig::Sqlite { path } if path == Path::new("/srv/drip/drip.db"))
        );
        assert_eq!(c.listen, "127.0.0.1:4000".parse().unwrap());
    });
}

#[test]
fn environment_overrides_the_file() {
    let vars =
        [("DRIP_DATABASE__URL", "postgres://env"), ("DRIP_LIMITS__MAX_UPLOAD_MIB", "5"), ("PORT", "8080")];
    jailed(&vars, |jail| {
        jail.create_file(
            "drip.toml",
            "data_dir = \"/srv/drip\"\n[database]\nkind = \"postgres\"\nurl = \"postgres://file\"\npool_size = 3\n[storage]\nkind = \"memory\"\n",
        )
        .unwrap();
        let c = Config::load(Some(Path::new("drip.toml"))).unwrap();
        assert!(matches!(
            &c.database,
            DatabaseConfig::Postgres { url, pool_size: 3 } if url.expose_secret() == "postgres://env"
        ));
        assert!(matches!(c.storage, StorageConfig::Memory));
        assert_eq!(c.max_upload_bytes, 5 * 1024 * 1024);
        assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
        assert!(!c.is_embedded());
    });
}

#[test]
fn flags_override_the_environment_and_derived_paths_follow_the_data_dir() {
    jailed(&[("DRIP_DATA_DIR", "/env"), ("DRIP_SERVER__LISTEN", "0.0.0.0:1")], |_| {
        let figment = Config::figment(None)
            .merge(("data_dir", "/flag"))
            .merge(("server.listen", "127.0.0.1:9".parse::<SocketAddr>().unwrap()));
        let c = Config::from_figment(&figment).unwrap();
        assert_eq!(c.data_dir, Path::new("/flag"));
        assert!(matches!(&c.database, DatabaseConfig::Sqlite { path } if path == Path::new("/flag/drip.db")));
        assert!(matches!(&c.storage, StorageConfig::Local { path } if path == Path::new("/flag/objects")));
        assert_eq!(c.listen, "127.0.0.1:9".parse().unwrap());
    });
}

#[test]
fn the_original_names_stay_below_the_drip_keys() {
    let vars = [
        ("DRIP_DATABASE__KIND", "postgres"),
        ("DATABASE_URL", "postgres://original"),
        ("PORT", "8080"),
        ("DRIP_SERVER__LISTEN", "127.0.0.1:7"),
    ];
    loaded(&vars, |c| {
        assert!(
            matches!(&c.database, DatabaseConfig::Postgres { url, .. } if url.expose_secret() == "postgres://original")
        );
        assert_eq!(c.listen, "127.0.0.1:7".parse().unwrap());
    });
    // A DATABASE_URL does not matter to SQLite.
    loaded(&[("DATABASE_URL", "postgres://original")], |c| {
        assert!(matches!(c.database, DatabaseConfig::Sqlite { .. }));
    });
}

#[test]
fn gcs_takes_the_original_credentials_variable() {
    let vars = [
        ("DRIP_STORAGE__KIND", "gcs"),
        ("DRIP_STORAGE__BUCKET", "drip"),
        ("GOOGLE_STORAGE_CREDENTIALS", "e30="),
    ];
    loaded(&vars, |c| {
        assert!(matches!(c.storage, StorageConfig::Gcs { credentials: GcsCredentials::Base64(_), .. }));
    });
}

#[test]
fn s3_from_the_environment() {
    let vars = [
        ("DRIP_STORAGE__KIND", "s3"),
        ("DRIP_STORAGE__BUCKET", "drip-media"),
        ("DRIP_STORAGE__REGION", "eu-central-1"),
        ("DRIP_STORAGE__ENDPOINT", "http://127.0.0.1:9000"),
        ("DRIP_STORAGE__PREFIX", "prod/media"),
        ("DRIP_STORAGE__ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("DRIP_STORAGE__SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
        ("DRIP_STORAGE__SESSION_TOKEN", "FwoGZXIvYXdzE"),
        ("DRIP_STORAGE__PATH_STYLE", "false"),
        ("DRIP_STORAGE__ALLOW_HTTP", "true"),
    ];
    loaded(&vars, |c| {
        assert!(!c.is_embedded(), "s3 is a production store");
        let StorageConfig::S3 { bucket, region, endpoint, prefix, credentials, path_style, allow_http } =
            &c.storage
        else {
            panic!("{:?}", c.storage)
        };
        assert_eq!((bucket.as_str(), region.as_str()), ("drip-media", "eu-central-1"));
        assert_eq!(endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(prefix.as_deref(), Some("prod/media"));
        assert!((!path_style, *allow_http) == (true, true));
        let S3Credentials::Static { access_key_id, secret_access_key, session_token } = credentials else {
            panic!("{credentials:?}")
        };
        assert_eq!(access_key_id, "AKIDEXAMPLE");
        assert_eq!(secret_access_key.expose_secret(), "wJalrXUtnFEMI");
        assert_eq!(session_token.as_ref().map(|t| t.expose_secret()), Some("FwoGZXIvYXdzE"));
    });
}

#[test]
fn s3_defaults_to_aws_path_style_https_and_the_environments_credentials() {
    loaded(&[("DRIP_STORAGE__KIND", "s3"), ("DRIP_STORAGE__BUCKET", "drip")], |c| {
        assert!(
            matches!(
                &c.storage,
                StorageConfig::S3 {
                    region,
                    endpoint: None,
                    prefix: None,
                    credentials: S3Credentials::Environment,
                    path_style: true,
                    allow_http: false,
                    ..
                } if region == "us-east-1"
            ),
            "{:?}",
            c.storage
        );
        assert!(!c.is_embedded());
    });
}

#[test]
fn the_s3_region_falls_back_to_the_aws_environment() {
    let s3 = [("DRIP_STORAGE__KIND", "s3"), ("DRIP_STORAGE__BUCKET", "drip")];
    let region = |c: Config| match c.storage {
        StorageConfig::S3 { region, .. } => region,
        other => panic!("{other:?}"),
    };
    loaded(&[s3[0], s3[1], ("AWS_DEFAULT_REGION", "eu-west-3")], |c| assert_eq!(region(c), "eu-west-3"));
    let both = [s3[0], s3[1], ("AWS_DEFAULT_REGION", "eu-west-3"), ("AWS_REGION", "ap-south-1")];
    loaded(&both, |c| assert_eq!(region(c), "ap-south-1"));
    let configured = [s3[0], s3[1], ("AWS_REGION", "ap-south-1"), ("DRIP_STORAGE__REGION", "eu-central-1")];
    loaded(&configured, |c| assert_eq!(region(c), "eu-central-1"));
}

#[test]
fn s3_combinations_that_cannot_work_are_errors_naming_the_key() {
    let s3 = |extra: &[(&'static str, &'static str)]| {
        let mut vars = vec![("DRIP_STORAGE__KIND", "s3"), ("DRIP_STORAGE__BUCKET", "drip")];
        vars.extend_from_slice(extra);
        vars
    };
    for (vars, key) in [
        (s3(&[("DRIP_STORAGE__ACCESS_KEY_ID", "AKID")]), "storage.secret_access_key"),
        (s3(&[("DRIP_STORAGE__SECRET_ACCESS_KEY", "secret")]), "storage.access_key_id"),
        (s3(&[("DRIP_STORAGE__SESSION_TOKEN", "token")]), "storage.session_token"),
        (s3(&[("DRIP_STORAGE__ENDPOINT", "http://minio:9000")]), "storage.allow_http"),
        (s3(&[("DRIP_STORAGE__ENDPOINT", "minio:9000")]), "storage.endpoint"),
        (s3(&[("DRIP_STORAGE__REGION", "")]), "storage.region"),
        (vec![("DRIP_STORAGE__KIND", "s3"), ("DRIP_STORAGE__BUCKET", " ")], "storage.bucket"),
        (vec![("DRIP_STORAGE__KIND", "s3")], "DRIP_STORAGE__BUCKET"),
        (s3(&[("DRIP_STORAGE__BASE_URL", "http://gcs")]), "DRIP_STORAGE__BASE_URL"),
    ] {
        jailed(&vars, |_| {
            let err = Config::load(None).unwrap_err();
            assert!(message(&err).contains(key), "{vars:?}: {}", message(&err));
        });
    }
    // Plain HTTP is fine once allowed; HTTPS always.
    loaded(
        &s3(&[("DRIP_STORAGE__ENDPOINT", "http://minio:9000"), ("DRIP_STORAGE__ALLOW_HTTP", "true")]),
        |c| {
            assert!(matches!(c.storage, StorageConfig::S3 { allow_http: true, .. }));
        },
    );
    loaded(&s3(&[("DRIP_STORAGE__ENDPOINT", "https://minio.example")]), |c| {
        assert!(matches!(c.storage, StorageConfig::S3 { endpoint: Some(_), allow_http: false, .. }));
    });
}

#[test]
fn bad_values_are_clear_errors() {
    for pairs in [
        vec![("DRIP_DATABASE__KIND", "mysql")],
        vec![("DRIP_DATABASE__KIND", "postgres")],
        vec![("DRIP_STORAGE__KIND", "gcs")],
        vec![("DRIP_STORAGE__KIND", "gcs"), ("DRIP_STORAGE__BUCKET", "drip")],
        vec![("DRIP_NOPE", "1")],
        vec![("DRIP_SERVER__LISTEN", "not an address")],
        vec![("DRIP_KEYS__MASTER_KEYS", "no-colon")],
        vec![("DRIP_HTTP__REQUEST_TIMEOUT_SECS", "soon")],
        vec![("DRIP_HTTP____X", "1")],
        vec![("PORT", "http")],
    ] {
        jailed(&pairs, |_| {
            let err = Config::load(None).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid(_)), "{pairs:?}: {err}");
        });
    }
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    for (vars, file, key) in [
        (vec![("DRIP_HTTP__METRICS_TOKN", "x")], "", "DRIP_HTTP__METRICS_TOKN"),
        (vec![("DRIP_NOPE", "1")], "", "DRIP_NOPE"),
        (vec![("DRIP_DATABASE__PATHX", "/x")], "", "DRIP_DATABASE__PATHX"),
        (vec![("DRIP_STORAGE__KIND", "gcs"), ("DRIP_STORAGE__BUKET", "b")], "", "DRIP_STORAGE__BUKET"),
        // A key of another kind is unknown to this one.
        (vec![("DRIP_DATABASE__KIND", "postgres"), ("DRIP_DATABASE__PATH", "/x")], "", "DRIP_DATABASE__PATH"),
        (vec![], "[http]\nmetrics_tokn = \"x\"\n", "\"http.metrics_tokn\""),
        (vec![], "[storage]\nkind = \"memory\"\npath = \"/x\"\n", "\"storage.path\""),
        (vec![("DRIP_STORAGE__KIND", "gcs")], "", "DRIP_STORAGE__BUCKET"),
    ] {
        jailed(&vars, |jail| {
            jail.create_file("drip.toml", file).unwrap();
            let err = Config::load(Some(Path::new("drip.toml"))).unwrap_err();
            assert!(message(&err).contains(key), "{vars:?} {file:?}: {}", message(&err));
        });
    }
}

#[test]
fn logging_variables_are_not_configuration() {
    jailed(&[("DRIP_LOG", "warn"), ("DRIP_LOG_FORMAT", "json")], |_| {
        assert!(Config::load(None).is_ok());
    });
}

#[test]
fn every_http_setting_is_reachable() {
    let vars = [
        ("DRIP_HTTP__METRICS_TOKEN", "scrape-me"),
        ("DRIP_HTTP__WS_HEARTBEAT_SECS", "7"),
        ("DRIP_HTTP__READY_TIMEOUT_SECS", "2"),
        ("DRIP_HTTP__RETRY_AFTER_SECS", "3"),
        ("DRIP_HTTP__CORS_ORIGINS", "[\"https://a.example\", \"https://b.example\"]"),
        ("DRIP_HTTP__COOKIES__SECURE", "false"),
        ("DRIP_HTTP__COOKIES__DOMAIN", "example.com"),
        ("DRIP_LIMITS__MAX_TRANSFERS_PER_USER", "0"),
        ("DRIP_LIMITS__MAX_TRANSFERS_PER_IP", "3"),
        ("DRIP_LIMITS__MAX_JSON_KIB", "8"),
        ("DRIP_HTTP__TRANSFER_IDLE_SECS", "5"),
        ("DRIP_HTTP__HEADER_READ_TIMEOUT_SECS", "2"),
        ("DRIP_HTTP__CLIENT_IP_HEADER", "X-Forwarded-For"),
    ];
    loaded(&vars, |c| {
        let http = c.http;
        assert_eq!(http.metrics_token.as_ref().map(|t| t.expose_secret()), Some("scrape-me"));
        assert_eq!(http.ws_heartbeat, Duration::from_secs(7));
        assert_eq!(http.ready_timeout, Duration::from_secs(2));
        assert_eq!(http.retry_after_secs, 3);
        assert_eq!(http.cors_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(http.cookies.secure, Some(false));
        assert_eq!(http.cookies.domain.as_deref(), Some("example.com"));
        assert_eq!(http.cookies.access_name, "drip_session");
        assert_eq!(http.max_transfers_per_user, 0);
        assert_eq!(http.max_transfers_per_ip, 3);
        assert_eq!(http.max_json_bytes, 8 * 1024);
        assert_eq!(http.transfer_idle, Duration::from_secs(5));
        assert_eq!(http.header_read_timeout, Duration::from_secs(2));
        assert_eq!(http.client_ip_header.as_deref(), Some("X-Forwarded-For"));
    });
}

#[test]
fn transfers_are_fair_and_cut_when_idle_by_default() {
    loaded(&[], |c| {
        assert_eq!(c.http.max_transfers_per_user, 4);
        assert_eq!(c.http.max_transfers_per_ip, 16);
        assert!(c.http.max_transfers_per_user < c.max_concurrent_transfers);
        assert_eq!(c.http.transfer_idle, Duration::from_secs(30));
        assert_eq!(c.http.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.http.client_ip_header, None);
    });
}

#[test]
fn the_transfer_idle_timeout_never_outlasts_the_upload_lease() {
    // Unset, it follows a shorter lease.
    loaded(&[("DRIP_LIMITS__UPLOAD_LEASE_SECS", "4")], |c| {
        assert_eq!(c.http.transfer_idle, Duration::from_secs(4));
    });
    loaded(&[("DRIP_LIMITS__UPLOAD_LEASE_SECS", "4"), ("DRIP_HTTP__TRANSFER_IDLE_SECS", "4")], |c| {
        assert_eq!(c.http.transfer_idle, Duration::from_secs(4));
    });
    // Set longer than the lease, it is refused, naming both keys.
    jailed(&[("DRIP_LIMITS__UPLOAD_LEASE_SECS", "4"), ("DRIP_HTTP__TRANSFER_IDLE_SECS", "5")], |_| {
        let err = Config::load(None).unwrap_err();
        let text = message(&err);
        assert!(
            text.contains("http.transfer_idle_secs") && text.contains("limits.upload_lease_secs"),
            "{text}"
        );
    });
}

#[test]
fn the_client_ip_header_must_be_a_header_name() {
    for bad in ["X Forwarded For", "", "X-Forwarded-For:"] {
        jailed(&[("DRIP_HTTP__CLIENT_IP_HEADER", bad)], |_| {
            let err = Config::load(None).unwrap_err();
            assert!(message(&err).contains("client_ip_header"), "{bad:?}: {}", message(&err));
        });
    }
}

#[test]
fn secrets_never_print() {
    // Each secret's variable, its value, and a part of it that must not print.
    let secrets = [
        ("DRIP_AUTH__JWT_SECRET", "hunter2hunter2", "hunter2"),
        ("DRIP_KEYS__MASTER_KEYS", "k1:c2VjcmV0", "c2VjcmV0"),
        ("DRIP_HTTP__METRICS_TOKEN", "tok3n-tok3n", "tok3n"),
    ];
    let vars = secrets.map(|(name, value, _)| (name, value));
    loaded(&vars, |c| {
        let printed = format!("{c:?}");
        for (_, _, secret) in secrets {
            assert!(!printed.contains(secret), "{secret} printed");
        }
        assert_eq!(c.master_keys[0].0, "k1");
    });
    // The storage secrets of each kind.
    let storage_secrets = [
        ("DRIP_STORAGE__CREDENTIALS_BASE64", "eyJzZWNyZXQiOjF9", "eyJzZWNyZXQiOjF9", "gcs"),
        ("DRIP_STORAGE__SECRET_ACCESS_KEY", "wJalrXUtnFEMI", "wJalrXUtnFEMI", "s3"),
    ];
    for (name, value, secret, kind) in storage_secrets {
        let mut vars = vec![("DRIP_STORAGE__KIND", kind), ("DRIP_STORAGE__BUCKET", "b"), (name, value)];
        if kind == "s3" {
            vars.extend([
                ("DRIP_STORAGE__ACCESS_KEY_ID", "AKID"),
                ("DRIP_STORAGE__SESSION_TOKEN", "FwoGZXIv"),
            ]);
        }
        loaded(&vars, |c| {
            let printed = format!("{c:?}");
            assert!(!printed.contains(secret) && !printed.contains("FwoGZXIv"), "{kind}: {printed}");
        });
    }
}

/// One raw configuration per kind of database and per kind of storage, every optional key set: with
/// the defaults, their keys are every key there is. Give a new field a value here (the
/// struct literals make a missing one a compile error).
fn every_kind() -> Vec<Raw> {
    let secret = || Some(SecretString::from("x"));
    let databases = [
        RawDatabase::Sqlite { path: Some("drip.db".into()) },
        RawDatabase::Postgres { url: secret(), pool_size: 1 },
        RawDatabase::Memory {},
    ];
    let backends = [
        RawBackend::Local { path: Some("objects".into()) },
        RawBackend::S3 {
            bucket: "b".into(),
            region: Some("r".into()),
            endpoint: Some("http://s3".into()),
            prefix: Some("p".into()),
            access_key_id: Some("k".into()),
            secret_access_key: secret(),
            session_token: secret(),
            path_style: true,
            allow_http: true,
        },
        RawBackend::Gcs {
            bucket: "b".into(),
            prefix: Some("p".into()),
            credentials_file: Some("c.json".into()),
            credentials_base64: secret(),
            base_url: Some("http://gcs".into()),
        },
        RawBackend::Memory {},
    ];
    let with_database = databases.into_iter().map(|database| Raw { database, ..Raw::default() });
    let with_backend = backends.into_iter().map(|backend| {
        let defaults = Raw::default();
        Raw { storage: RawStorage { backend, ..defaults.storage }, ..defaults }
    });
    with_database.chain(with_backend).collect()
}

/// Every leaf key of `dict` as a dotted path, with its value.
fn leaves(prefix: &str, dict: &Dict, out: &mut BTreeMap<String, Value>) {
    for (key, value) in dict {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            Value::Dict(_, nested) => leaves(&path, nested, out),
            leaf => {
                out.insert(path, leaf.clone());
            }
        }
    }
}

/// The keys of the table under `## Keys` in `docs/configuration.md`, with their default
/// column.
fn documented() -> BTreeMap<String, String> {
    let doc = include_str!("../../../../docs/configuration.md");
    let table = doc.split("\n## Keys\n").nth(1).expect("a Keys section").split("\n## ").next().unwrap_or("");
    table
        .lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix("| `")?.splitn(3, '|');
            let key = cells.next()?.trim().trim_end_matches('`');
            Some((key.to_owned(), cells.next()?.trim().to_owned()))
        })
        .collect()
}

#[test]
fn the_documentation_lists_every_key_with_its_default() {
    let mut keys = BTreeMap::new();
    for raw in every_kind() {
        let data = Serialized::defaults(raw).data().unwrap();
        leaves("", &data[&Profile::Default], &mut keys);
    }
    let documented = documented();
    let in_code: BTreeSet<&String> = keys.keys().collect();
    let in_doc: BTreeSet<&String> = documented.keys().collect();
    assert_eq!(
        in_code.difference(&in_doc).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "keys missing from docs/configuration.md"
    );
    assert_eq!(
        in_doc.difference(&in_code).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "docs/configuration.md lists keys that do not exist"
    );
    // Plain defaults appear in the default column.
    let mut defaults = BTreeMap::new();
    leaves("", &Serialized::defaults(Raw::default()).data().unwrap()[&Profile::Default], &mut defaults);
    for (key, value) in defaults {
        let shown = match value {
            Value::String(_, s) => s,
            Value::Num(_, n) => n.to_u128().map_or_else(String::new, |n| n.to_string()),
            Value::Bool(_, b) => b.to_string(),
            Value::Array(_, items) if items.is_empty() => "[]".to_owned(),
            _ => continue,
        };
        let column = &documented[&key];
        assert!(column.contains(&shown), "the default of {key} is {shown}; the doc says {column}");
    }
}

#[test]
fn events_follow_the_database_unless_set() {
    loaded(&[], |c| {
        assert_eq!(c.events.kind, EventsKind::Local);
        assert_eq!(c.events.node, None);
        assert_eq!(c.events.heartbeat, Duration::from_secs(5));
        assert_eq!(c.events.missed_heartbeats, 3);
    });
    let postgres = [("DRIP_DATABASE__KIND", "postgres"), ("DATABASE_URL", "postgres://db/drip")];
    loaded(&postgres, |c| assert_eq!(c.events.kind, EventsKind::Postgres));
    let local = [postgres[0], postgres[1], ("DRIP_EVENTS__KIND", "local")];
    loaded(&local, |c| assert_eq!(c.events.kind, EventsKind::Local));
    let named = [("DRIP_EVENTS__NODE", "drip-0"), ("DRIP_EVENTS__HEARTBEAT_MS", "250")];
    loaded(&named, |c| {
        assert_eq!(c.events.node.as_ref().map(NodeName::as_str), Some("drip-0"));
        assert_eq!(c.events.heartbeat, Duration::from_millis(250));
    });
}

#[test]
fn events_refuse_postgres_without_its_database_and_bad_node_names() {
    jailed(&[("DRIP_EVENTS__KIND", "postgres")], |_| {
        let err = message(&Config::load(None).unwrap_err());
        assert!(err.contains("events.kind") && err.contains("database.kind"), "{err}");
    });
    jailed(&[("DRIP_EVENTS__NODE", "no spaces")], |_| {
        let err = message(&Config::load(None).unwrap_err());
        assert!(err.contains("events.node"), "{err}");
    });
    jailed(&[("DRIP_EVENTS__KIND", "nats")], |_| {
        assert!(Config::load(None).is_err());
    });
}
