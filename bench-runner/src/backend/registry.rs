//! `backend_kinds!`: the one list of backend kinds (in `backend/mod.rs`) turned into what must
//! name every kind, so that a kind is registered in one line (beside its `pub mod`):
//!
//! - [`BACKEND_KINDS`](super::BACKEND_KINDS), the names a config's `kind` may take;
//! - [`BackendKind`](super::BackendKind), a config entry's own settings by kind, with
//!   `keys_of` (the keys a kind takes, read from its `KindConfig::Raw`), `parse` and
//!   `check_inputs`;
//! - [`Backend`](super::Backend), the connected backend by kind, with `connect`;
//! - `each_kind!`, the one `match` through which [`Backend`](super::Backend) delegates to
//!   [`BackendImpl`](super::BackendImpl).
//!
//! Rust's enums must name their variants, so a macro writes them; each line gives the variant,
//! the `kind` name, the config type (a `KindConfig`) and the backend type (a `BackendImpl`).

macro_rules! backend_kinds {
    ($($variant:ident = $name:literal => $config:ty, $backend:ty;)+) => {
        /// The kinds this build understands, in registration order (error messages list them).
        pub const BACKEND_KINDS: &[&str] = &[$($name),+];

        /// A backend entry's own settings, by kind (the shared ones are in [`BackendConfig`]).
        #[derive(Debug, Clone, PartialEq)]
        pub enum BackendKind {
            $($variant($config),)+
        }

        impl BackendKind {
            /// The `kind` name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(BackendKind::$variant(_) => $name,)+
                }
            }

            /// The keys kind `kind` takes besides the common ones; `None` for no such kind.
            pub(crate) fn keys_of(kind: &str) -> Option<&'static [&'static str]> {
                match kind {
                    $($name => Some(entry::keys_of::<<$config as entry::KindConfig>::Raw>()),)+
                    _ => None,
                }
            }

            /// Kind `kind`'s own part of an entry (the common keys removed); `None` for no
            /// such kind.
            pub(crate) fn parse(
                kind: &str,
                at: &entry::Entry<'_>,
                own: toml::Spanned<toml::de::DeValue<'_>>,
            ) -> Option<Result<Self>> {
                match kind {
                    $($name => Some(entry::parse_own::<$config>(at, own).map(BackendKind::$variant)),)+
                    _ => None,
                }
            }

            /// See [`BackendConfig::check_inputs`].
            pub(crate) fn check_inputs(&self, backend: &str) -> Result<()> {
                match self {
                    $(BackendKind::$variant(c) => entry::KindConfig::check_inputs(c, backend),)+
                }
            }
        }

        /// The implementations, picked by config kind. (A run holds one backend at a time, so
        /// the variants' size difference does not matter.)
        #[allow(clippy::large_enum_variant)]
        pub enum Backend {
            $($variant($backend),)+
        }

        impl Backend {
            /// Connects to (or, with a `launch` block, starts; or, in process, loads) the
            /// backend an entry of the config describes. `run_dir` receives a launched server's
            /// log.
            pub async fn connect(bc: &BackendConfig, run_dir: &std::path::Path) -> Result<Backend> {
                Ok(match &bc.kind {
                    $(BackendKind::$variant(_) => {
                        Backend::$variant(<$backend as BackendImpl>::open(bc, run_dir).await?)
                    })+
                })
            }
        }

        backend_kinds!(@each_kind [$] $($variant)+);
    };
    // `each_kind!(self, b => b.method(args))`: the one place [`Backend`] delegates to its kind;
    // `b` is bound to the kind's value and the call goes through [`BackendImpl`] (named
    // explicitly, so an inherent method of the same name on a kind cannot shadow it). `[$]`
    // hands the inner macro its `$`.
    (@each_kind [$d:tt] $($variant:ident)+) => {
        macro_rules! each_kind {
            ($d self:expr, $d b:ident => $d b2:ident . $d method:ident ( $d($d arg:expr),* ) $d(.$d await:ident)?) => {
                match $d self {
                    $(Backend::$variant($d b) => BackendImpl::$d method($d b $d(, $d arg)*) $d(.$d await)?,)+
                }
            };
        }
    };
}
