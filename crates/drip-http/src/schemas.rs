//! The OpenAPI schemas of the values the API parses (file names, folder paths, usernames,
//! emails, cursors, page sizes, sort keys): written from the domain parsers' rules, so that
//! what the document allows is what the server accepts; the tests hold the patterns to
//! the parsers. Documentation only: handlers parse with the domain types.

use std::borrow::Cow;

use drip_core::storage::model::{
    MAX_NAME_BYTES, MAX_PAGE_SIZE, MAX_PATH_BYTES, MAX_PATH_DEPTH, MAX_TOP_USERS,
};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// A character of a name: anything but `/`, control characters (`char::is_control`) and
/// bidirectional controls (`is_bidi_control` of the domain).
const NAME_CHAR: &str = r"[^/\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]";
/// A name's first character when it is not a dot.
const NAME_START: &str = r"[^/\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069.]";

/// A file name or folder segment without anchors: 1 to 255 characters, not `.` nor `..`
/// (written without look-ahead, which JSON Schema validators do not all support). The
/// limit is bytes; a pattern can only count characters.
fn segment() -> String {
    let rest = MAX_NAME_BYTES - 1;
    let after_dot = MAX_NAME_BYTES - 2;
    format!(
        r"(?:{NAME_START}{NAME_CHAR}{{0,{rest}}}|\.{NAME_START}{NAME_CHAR}{{0,{after_dot}}}|\.\.{NAME_CHAR}{{1,{after_dot}}})"
    )
}

/// The pattern of a file name.
pub(crate) fn name_pattern() -> String {
    format!("^{}$", segment())
}

/// The pattern of a folder path: `$` or `$/` and names joined by `/` (the depth limit is
/// left to the description: 64 bounded repetitions of a name make a pattern too large for
/// regex engines).
pub(crate) fn folder_pattern() -> String {
    format!(r"^\$(?:/{})*$", segment())
}

/// The pattern of a folder below the root: `$/` and names joined by `/` (what a folder
/// move or delete takes: `$` itself is neither).
pub(crate) fn subfolder_pattern() -> String {
    format!(r"^\$(?:/{})+$", segment())
}

/// Usernames as the API documents them (the server also takes non-ASCII letters and
/// digits, and trims surrounding white space).
pub(crate) const USERNAME_PATTERN: &str = "^[A-Za-z0-9_.-]{1,30}$";

/// The original's email pattern, spelled out case-insensitively.
pub(crate) const EMAIL_PATTERN: &str = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$";

/// The alphabet of a cursor (base64url without padding); empty means the first page.
pub(crate) const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]*$";

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).description(Some(description))
}

fn integer(description: &str, maximum: u32, default: u32) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int32)))
        .minimum(Some(1))
        .maximum(Some(maximum))
        .default(Some(default.into()))
        .description(Some(description))
        .build()
}

fn one_of(description: &str, values: &[&str]) -> Object {
    string(description).enum_values(Some(values.iter().copied())).build()
}

/// Declares a documentation-only type whose schema is `$schema` under the component name
/// `$name`.
macro_rules! documented {
    ($(#[$doc:meta])* $ty:ident = $name:literal, $schema:expr) => {
        $(#[$doc])*
        pub(crate) struct $ty;

        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                Schema::Object($schema).into()
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

documented!(
    /// The tus protocol version a request speaks.
    TusVersionSchema = "TusVersion",
    one_of("The tus protocol version: `1.0.0` (anything else, or none, is `412`)", &["1.0.0"])
);

documented!(
    /// A file name.
    FileNameSchema = "FileName",
    string(&format!(
        "A file name: at most {MAX_NAME_BYTES} bytes of UTF-8, no `/`, no control characters, not `.` or `..`"
    ))
    .min_length(Some(1))
    .max_length(Some(MAX_NAME_BYTES))
    .pattern(Some(name_pattern()))
    .build()
);

documented!(
    /// A folder path.
    FolderPathSchema = "FolderPath",
    string(&format!(
        "A folder: `$` (the root) or `$/` and file names joined by `/`, at most {MAX_PATH_BYTES} bytes and {MAX_PATH_DEPTH} names deep"
    ))
    .max_length(Some(MAX_PATH_BYTES))
    .pattern(Some(folder_pattern()))
    .build()
);

documented!(
    /// A folder below the root.
    SubfolderSchema = "Subfolder",
    string(&format!(
        "A folder below the root: `$/` and file names joined by `/` (not `$` itself), at most {MAX_PATH_BYTES} bytes and {MAX_PATH_DEPTH} names deep"
    ))
    .min_length(Some(3))
    .max_length(Some(MAX_PATH_BYTES))
    .pattern(Some(subfolder_pattern()))
    .build()
);

documented!(
    /// A file name in a form upload, where empty means the file part's filename.
    FileNameOrEmptySchema = "FileNameOrEmpty",
    string("A file name as in `FileName`, or empty for the file part's filename")
        .max_length(Some(MAX_NAME_BYTES))
        .pattern(Some(format!("^$|{}", name_pattern())))
        .build()
);

documented!(
    /// A folder path in a query or a form, where empty means the root.
    FolderQuerySchema = "FolderPathOrEmpty",
    string(&format!("A folder as in `FolderPath`, or empty for `$`; at most {MAX_PATH_BYTES} bytes"))
        .max_length(Some(MAX_PATH_BYTES))
        .pattern(Some(format!("^$|{}", folder_pattern())))
        .build()
);

documented!(
    /// A username at registration.
    UsernameSchema = "Username",
    string("1–30 letters, digits, `_`, `-` or `.`; unique case-insensitively (the server also takes non-ASCII letters and digits, and trims surrounding white space)")
        .pattern(Some(USERNAME_PATTERN))
        .build()
);

documented!(
    /// An email address at registration.
    EmailSchema = "Email",
    string("An email address (the original's pattern, case-insensitive), at most 254 bytes")
        .max_length(Some(254))
        .pattern(Some(EMAIL_PATTERN))
        .build()
);

documented!(
    /// A pagination cursor.
    CursorSchema = "Cursor",
    string("The `next_cursor` of the previous page, or empty for the first (opaque: other text is refused with `invalid_cursor`)")
        .max_length(Some(crate::cursor::MAX_CURSOR_CHARS))
        .pattern(Some(CURSOR_PATTERN))
        .build()
);

documented!(
    /// A page size.
    PageLimitSchema = "PageLimit",
    integer("Page size", MAX_PAGE_SIZE, crate::cursor::DEFAULT_PAGE_SIZE)
);

documented!(
    /// How many users a ranking holds.
    TopLimitSchema = "TopLimit",
    integer("How many users", MAX_TOP_USERS, crate::routes::search::DEFAULT_TOP_USERS)
);

documented!(
    /// What users are ranked by.
    UsageSortSchema = "UsageSort",
    one_of("What users are ranked by", &["media_count", "disk_usage", "username"])
);

documented!(
    /// What a folder's files are ordered by.
    FileSortSchema = "FileSort",
    one_of("What the files are ordered by", &["name", "size", "modified"])
);

documented!(
    /// What an upload does when the user has a file of that name there.
    UploadConflictSchema = "UploadConflict",
    one_of(
        "`fail` (default): refuse with `409 already_exists`; `replace`: store the upload as the file's new version (it keeps its id, shares and links)",
        &["fail", "replace"]
    )
);

documented!(
    /// A sort direction.
    SortOrderSchema = "SortOrder",
    one_of("Sort direction", &["asc", "desc"])
);

#[cfg(test)]
mod tests {
    use super::*;
    use drip_core::accounts::model::{Email, Username};
    use drip_core::storage::model::{FileName, FolderPath};
    use proptest::prelude::*;
    use regex::Regex;
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};

    static COMPILED: LazyLock<Mutex<HashMap<String, Regex>>> = LazyLock::new(Mutex::default);

    /// Whether `text` matches `pattern` (each pattern compiled once: the bounded
    /// repetitions make them slow to build).
    fn matches(pattern: &str, text: &str) -> bool {
        let mut compiled = COMPILED.lock().unwrap();
        compiled.entry(pattern.to_owned()).or_insert_with(|| Regex::new(pattern).unwrap()).is_match(text)
    }

    #[test]
    fn the_patterns_agree_with_the_parsers_on_edge_cases() {
        let (longest, too_long) = ("x".repeat(MAX_NAME_BYTES), "x".repeat(MAX_NAME_BYTES + 1));
        let dots = [".".repeat(MAX_NAME_BYTES), ".".repeat(MAX_NAME_BYTES + 1)];
        let bidi = ["invoice\u{202e}txt.exe", "a\u{2066}b", "\u{200e}", "a\u{61c}", "a\u{2069}", "a\u{2070}"];
        for name in ["a", ".", "..", "...", ".a", "..a", "a/b", "a\u{0}", "a\u{85}", "tab\t", "ünï", ""]
            .into_iter()
            .chain([&longest, &too_long, &dots[0], &dots[1]].map(String::as_str))
            .chain(bidi)
        {
            assert_eq!(matches(&name_pattern(), name), FileName::parse(name).is_ok(), "{name:?}");
        }
        let deep = format!("$/{}", vec!["a"; MAX_PATH_DEPTH].join("/"));
        let long = format!("$/{too_long}");
        for path in ["$", "$/", "$/a", "$/a/", "/a", "a", "$/./a", "$/../a", "$/a b/c", "$$", &deep, &long] {
            assert_eq!(matches(&folder_pattern(), path), FolderPath::parse(path).is_ok(), "{path:?}");
        }
        // The one rule only the description states.
        let deeper = format!("{deep}/a");
        assert!(matches(&folder_pattern(), &deeper) && FolderPath::parse(&deeper).is_err());
        for user in ["a", "a.b-c_d", "", "a b", &"a".repeat(30), &"a".repeat(31)] {
            assert_eq!(matches(USERNAME_PATTERN, user), Username::parse(user).is_ok(), "{user:?}");
        }
        for email in ["a@b.cc", "A.B+c@d-e.org", "a@b.c", "a@b", "@b.cc", ""] {
            assert_eq!(matches(EMAIL_PATTERN, email), Email::parse(email).is_ok(), "{email:?}");
        }
    }

    proptest! {
        #[test]
        fn names_match_the_pattern_exactly_when_they_parse(name in "[a./\\x00\\x1f\\x7f\\x85ü \u{202e}\u{2066}]{0,8}") {
            prop_assert_eq!(matches(&name_pattern(), &name), FileName::parse(&name).is_ok());
        }

        #[test]
        fn folders_match_the_pattern_exactly_when_they_parse(path in "[$a./\\x00\\x85 ]{0,10}") {
            prop_assert_eq!(matches(&folder_pattern(), &path), FolderPath::parse(&path).is_ok());
        }

        #[test]
        fn subfolders_match_their_pattern_exactly_when_they_parse_below_the_root(path in "[$a./\\x00\\x85 ]{0,10}") {
            let below_root = FolderPath::parse(&path).is_ok_and(|folder| !folder.is_root());
            prop_assert_eq!(matches(&subfolder_pattern(), &path), below_root);
        }

        #[test]
        fn ascii_usernames_match_the_pattern_exactly_when_they_parse(user in "[a-z0-9_.\\-@!]{0,32}") {
            prop_assert_eq!(matches(USERNAME_PATTERN, &user), Username::parse(&user).is_ok());
        }

        #[test]
        fn emails_match_the_pattern_exactly_when_they_parse(email in "[aZ0.%+@\\-!]{0,12}") {
            prop_assert_eq!(matches(EMAIL_PATTERN, &email), Email::parse(&email).is_ok());
        }
    }
}
