//! First-run secrets: with the embedded defaults, a JWT secret and a master key are
//! generated into `<data_dir>/secrets/` (mode 0600) and reused on later runs; production
//! settings (PostgreSQL or GCS) refuse to start without explicit secrets.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use secrecy::{ExposeSecret as _, SecretString};

use crate::config::Config;

/// Why secrets could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Production settings without explicit secrets.
    #[error(
        "{0} must be configured explicitly when using PostgreSQL or GCS (set DRIP_AUTH__JWT_SECRET and DRIP_KEYS__MASTER_KEYS=id:base64key)"
    )]
    Missing(&'static str),
    /// A secrets file could not be read or written.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The random source failed.
    #[error("the operating system's random source failed")]
    Random,
}

/// The secrets in force, and which of them were generated now.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// HS256 secret of access tokens.
    pub jwt_secret: SecretString,
    /// Master keys `(id, base64 key)`.
    pub master_keys: Vec<(String, SecretString)>,
    /// Files created on this run (to tell the operator).
    pub generated: Vec<PathBuf>,
}

/// Takes the configured secrets, or — with embedded settings only — loads or generates
/// them under the data directory.
///
/// # Errors
/// [`SecretsError::Missing`] for production settings without secrets; I/O errors.
pub fn provide(config: &Config) -> Result<Secrets, SecretsError> {
    let dir = config.data_dir.join("secrets");
    let mut generated = Vec::new();
    let jwt_secret = match (&config.jwt_secret, config.is_embedded()) {
        (Some(secret), _) => secret.clone(),
        (None, false) => return Err(SecretsError::Missing("the JWT secret")),
        (None, true) => load_or_generate(&dir.join("jwt_secret"), || random_base64(48), &mut generated)?,
    };
    let master_keys = match (config.master_keys.is_empty(), config.is_embedded()) {
        (false, _) => config.master_keys.clone(),
        (true, false) => return Err(SecretsError::Missing("a master key")),
        (true, true) => {
            let line = load_or_generate(
                &dir.join("master_keys"),
                || Ok(SecretString::from(format!("local-1:{}", random_base64(32)?.expose_secret()))),
                &mut generated,
            )?;
            line.expose_secret()
                .split(',')
                .filter_map(|entry| entry.trim().split_once(':'))
                .map(|(id, key)| (id.to_owned(), SecretString::from(key)))
                .collect()
        }
    };
    Ok(Secrets { jwt_secret, master_keys, generated })
}

fn random_base64(len: usize) -> Result<SecretString, SecretsError> {
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SecretsError::Random)?;
    Ok(SecretString::from(STANDARD.encode(bytes)))
}

fn load_or_generate(
    path: &Path,
    make: impl FnOnce() -> Result<SecretString, SecretsError>,
    generated: &mut Vec<PathBuf>,
) -> Result<SecretString, SecretsError> {
    let io = |source| SecretsError::Io { path: path.to_owned(), source };
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(SecretString::from(text.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let secret = make()?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(secret.expose_secret().as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    generated.push(path.to_owned());
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_secrets_are_generated_once_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::embedded(dir.path()).unwrap();
        let first = provide(&config).unwrap();
        assert_eq!(first.generated.len(), 2);
        let second = provide(&config).unwrap();
        assert!(second.generated.is_empty());
        assert_eq!(first.jwt_secret.expose_secret(), second.jwt_secret.expose_secret());
        let exposed = |keys: &[(String, SecretString)]| -> Vec<(String, String)> {
            keys.iter().map(|(id, key)| (id.clone(), key.expose_secret().to_owned())).collect()
        };
        assert_eq!(exposed(&first.master_keys), exposed(&second.master_keys));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets/jwt_secret")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn production_settings_need_explicit_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::embedded(dir.path()).unwrap();
        config.database =
            crate::config::DatabaseConfig::Postgres { url: SecretString::from("postgres://x"), pool_size: 1 };
        assert!(matches!(provide(&config), Err(SecretsError::Missing(_))));
        assert!(!dir.path().join("secrets").exists(), "nothing generated for production settings");
        config.jwt_secret = Some(SecretString::from("x".repeat(40)));
        config.master_keys = vec![("k".into(), SecretString::from("AAAA"))];
        assert!(provide(&config).is_ok());
    }
}
